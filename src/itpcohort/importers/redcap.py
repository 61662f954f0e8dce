"""REDCap -> cohort folder, driven by a mapping file (TOML) that names the fields.

Reads raw ("flat", coded) record exports: one row per record per event
(``redcap_event_name``) and per repeating-instrument instance
(``redcap_repeat_instrument`` / ``redcap_repeat_instance``), checkbox fields
expanded to ``field___code`` columns. The data dictionary (the 18 standard
REDCap headers) decodes coded choices (``1, Female | 2, Male``) to their
labels, checkbox columns to the labels ticked, and converts dates by their
validation type (``date_ymd``, ``date_mdy``, ``date_dmy``, ``datetime_*``).

Mapping file::

    record_id = "record_id"            # optional: the dictionary's first field

    [patients]                          # one row per record
    form = "enrolment"                  # rows of this form (instrument)
    enrollment_date = "enrol_date"      # cohort column = REDCap field ...
    site = { value = "PUMCH" }          # ... or a constant

    [[labs]]                            # a table can come from several forms
    form = "visit_labs"
    date = "lab_date"
    test = { value = "platelets" }
    value = "plt"
    unit = { value = "10^9/L" }

Each section may also name ``event`` (a ``redcap_event_name``, or a list) to
take only those rows. A row belongs to a section when it is of its form (or
repeating instrument) and event, and its defining field is filled (treatments:
``drug``; labs: ``value``; bleeding: ``who_grade``; adverse events: ``term``;
patients, or a constant there: any mapped field). A field mapped as
``{ field = "x", map = { label = "cohort word" } }`` is decoded, then mapped.
"""

from __future__ import annotations

import io
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from itpcohort.importers.common import (
    COHORT_COLUMNS,
    MappingError,
    Reconciliation,
    write_cohort_folder,
)

DICTIONARY_HEADERS = {
    "variable / field name": "field_name",
    "form name": "form_name",
    "field type": "field_type",
    "choices, calculations, or slider labels": "choices",
    "text validation type or show slider number": "validation",
}
#: the column whose field, when filled, makes a row one of the table's rows
KEY_COLUMN = {
    "treatments": "drug",
    "labs": "value",
    "bleeding": "who_grade",
    "adverse_events": "term",
}
SPECIAL = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
)


@dataclass(frozen=True)
class Field:
    name: str
    form: str
    kind: str
    choices: dict[str, str]
    validation: str


def read_dictionary(source: str | Path | io.StringIO) -> dict[str, Field]:
    """Fields of a REDCap data dictionary CSV (its standard headers, any order)."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    rename = {
        c: DICTIONARY_HEADERS[c.strip().lower()]
        for c in frame.columns
        if c.strip().lower() in DICTIONARY_HEADERS
    }
    frame = frame.rename(columns=rename)
    missing = {"field_name", "form_name", "field_type"} - set(frame.columns)
    if missing:
        raise MappingError(
            "data dictionary: column(s) "
            + ", ".join(k for k, v in DICTIONARY_HEADERS.items() if v in missing)
            + " missing: export it from REDCap (Project Setup > Data Dictionary)"
        )
    fields = {}
    for row in frame.to_dict("records"):
        choices = {}
        if row["field_type"] in ("radio", "dropdown", "checkbox") and row.get("choices"):
            for part in row["choices"].split("|"):
                code, _, label = part.strip().partition(",")
                choices[code.strip()] = label.strip()
        if row["field_type"] == "yesno":
            choices = {"1": "yes", "0": "no"}
        if row["field_type"] == "truefalse":
            choices = {"1": "true", "0": "false"}
        fields[row["field_name"]] = Field(
            row["field_name"],
            row["form_name"],
            row["field_type"],
            choices,
            row.get("validation", "") or "",
        )
    return fields


def read_records(text: str) -> pd.DataFrame:
    """Raw records CSV (strings); exact duplicate rows (from batches) dropped later."""
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}")
_DAY_FIRST = re.compile(r"^(\d{2})[-/](\d{2})[-/](\d{4})")


def _decode(value: str, f: Field | None) -> str:
    if not value or f is None:
        return value
    if f.choices and f.kind != "checkbox":
        return f.choices.get(value, value)
    v = f.validation
    if not v.startswith("date"):  # date_* and datetime_* validations
        return value
    if _YMD.match(value):  # Y-M-D (as raw exports write dates): kept, whatever the validation
        return value[:10]
    shaped = _DAY_FIRST.match(value)
    if shaped is None or ("mdy" not in v and "dmy" not in v):
        return value  # not a date of this field's shape: the reader reports it, with its line
    a, b, y = shaped.groups()
    m, d = (a, b) if "mdy" in v else (b, a)
    return f"{y}-{m}-{d}"


class _Section:
    def __init__(self, table: str, spec: dict, fields: dict[str, Field], where: str) -> None:
        self.table = table
        self.form = spec.get("form")
        events = spec.get("event")
        self.events = [events] if isinstance(events, str) else events
        self.columns: dict[str, str | dict] = {
            k: v for k, v in spec.items() if k not in ("form", "event")
        }
        unknown = (
            set(self.columns)
            - set(COHORT_COLUMNS[table])
            - (set() if table != "patients" else set(self.columns))
        )
        if unknown:
            raise MappingError(
                f"{where}: {', '.join(sorted(unknown))} is not a column of {table} (cohort format)"
            )
        for column, source in self.columns.items():
            name = source.get("field") if isinstance(source, dict) else source
            if isinstance(source, dict) and "value" in source:
                continue
            if not isinstance(name, str):
                raise MappingError(f"{where}.{column}: give a field name or {{ value = ... }}")
            if name not in fields:
                raise MappingError(
                    f"{where}.{column}: field '{name}' is not in the data dictionary"
                )
        if self.form and self.form not in {f.form for f in fields.values()}:
            raise MappingError(
                f"{where}.form: '{self.form}' is not a form (instrument) of the data dictionary"
            )
        self.fields = fields

    def source_fields(self) -> list[str]:
        return [
            s.get("field") if isinstance(s, dict) else s
            for s in self.columns.values()
            if not (isinstance(s, dict) and "value" in s)
        ]

    def rows(self, data: pd.DataFrame) -> pd.Series:
        mask = pd.Series(True, index=data.index)
        if self.events:
            if "redcap_event_name" not in data.columns:
                raise MappingError(
                    "mapping names events but the export has no "
                    "redcap_event_name column (not a longitudinal project)"
                )
            mask &= data["redcap_event_name"].isin(self.events)
        if self.form and "redcap_repeat_instrument" in data.columns:
            repeat = data["redcap_repeat_instrument"]
            repeating = set(repeat[repeat != ""])
            mask &= (repeat == self.form) if self.form in repeating else (repeat == "")
        key = self.columns.get(KEY_COLUMN.get(self.table, ""))
        if key is not None and not (isinstance(key, dict) and "value" in key):
            # a row is a measurement (treatment, event) when its defining field is filled
            name = key.get("field") if isinstance(key, dict) else key
            return mask & (self._column(data, name) != "")
        filled = pd.Series(False, index=data.index)
        for name in self.source_fields():
            filled |= self._column(data, name) != ""
        return mask & filled

    def _column(self, data: pd.DataFrame, name: str) -> pd.Series:
        f = self.fields.get(name)
        if f is not None and f.kind == "checkbox":
            ticked = [c for c in data.columns if c.startswith(f"{name}___")]
            return (
                data[ticked].apply(
                    lambda row: "; ".join(
                        f.choices.get(c.split("___", 1)[1], c) for c, v in row.items() if v == "1"
                    ),
                    axis=1,
                )
                if ticked
                else pd.Series("", index=data.index)
            )
        if name not in data.columns:
            raise MappingError(
                f"field '{name}' is in the dictionary but not in the records "
                "export: export all fields"
            )
        return data[name]

    def build(self, data: pd.DataFrame, record_id: str) -> pd.DataFrame:
        out = pd.DataFrame({"patient_id": data[record_id]})
        for column, source in self.columns.items():
            if isinstance(source, dict) and "value" in source:
                out[column] = str(source["value"])
            else:
                name = source.get("field") if isinstance(source, dict) else source
                values = self._column(data, name).map(
                    lambda v, n=name: _decode(v, self.fields.get(n))
                )
                if isinstance(source, dict) and "map" in source:
                    values = values.map(lambda v, m=source["map"]: m.get(v, v))
                out[column] = values
        return out


def import_redcap(
    records: str | Path | pd.DataFrame,
    dictionary: str | Path | None,
    mapping: str | Path | None,
    output: str | Path,
) -> Reconciliation:
    """Turn a REDCap records export (CSV or DataFrame) into a cohort folder.

    Without a ``dictionary`` or ``mapping``, the shipped ITP project's are used
    (:func:`template_paths`).
    """
    shipped_dictionary, shipped_mapping = template_paths()
    dictionary, mapping = dictionary or shipped_dictionary, mapping or shipped_mapping
    fields = read_dictionary(dictionary)
    try:
        spec = tomllib.loads(Path(mapping).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping {mapping}: {exc}") from None
    data = (
        records
        if isinstance(records, pd.DataFrame)
        else read_records(Path(records).read_text(encoding="utf-8-sig"))
    )
    record_id = spec.get("record_id", next(iter(fields)))
    if record_id not in data.columns:
        raise MappingError(f"record id field '{record_id}' is not in the records export")
    rec = Reconciliation()
    source = "records"
    rec.read(source, len(data))
    key = [c for c in (record_id, *SPECIAL[:3]) if c in data.columns]
    duplicated = data.duplicated(keep="first")
    rec.set_aside(source, "duplicate row (exported twice)", int(duplicated.sum()))
    data = data[~duplicated]
    clash = data.duplicated(subset=key, keep=False)
    if clash.any():
        raise MappingError(
            f"{int(clash.sum())} rows share a record, event and instance with "
            "different values: re-export the project"
        )
    sections = _sections(spec, fields, mapping)
    used: dict[int, set[str]] = {i: set() for i in range(len(data))}
    tables: dict[str, list[pd.DataFrame]] = {}
    for section in sections:
        mask = section.rows(data)
        rows = section.build(data[mask], record_id)
        if section.table == "patients":
            rows = rows.drop_duplicates("patient_id", keep="first")
        tables.setdefault(section.table, []).append(rows)
        for i in mask.to_numpy().nonzero()[0]:
            used[int(i)].add(section.table)
    labels = pd.Series(["+".join(sorted(t)) for t in used.values()])
    for label, n in labels[labels != ""].value_counts().items():
        rec.imported(source, str(label), int(n))
    rec.set_aside(source, "no mapped field filled", int((labels == "").sum()))
    frames = {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}
    patients = frames["patients"]
    known = set(patients["patient_id"])
    for name, frame in frames.items():
        orphan = ~frame["patient_id"].isin(known)
        if orphan.any():
            raise MappingError(
                f"{int(orphan.sum())} {name} rows belong to records with no "
                "patients row: check the [patients] form and event"
            )
    write_cohort_folder(frames, output, rec)
    return rec


def _sections(spec: dict[str, Any], fields: Any, mapping: str | Path) -> list[_Section]:
    """The mapping's sections: one [patients], then any [[treatments]], [[labs]], ..."""
    if "patients" not in spec:
        raise MappingError(f"mapping {mapping}: no [patients] section")
    sections = [_Section("patients", spec["patients"], fields, "patients")]
    children = ("treatments", "labs", "bleeding", "adverse_events")
    for table in children:
        for i, part in enumerate(spec.get(table, [])):
            sections.append(_Section(table, part, fields, f"{table}[{i}]"))
    unknown = set(spec) - {"record_id", "patients", *children}
    if unknown:
        raise MappingError(f"mapping {mapping}: unknown section(s) {', '.join(sorted(unknown))}")
    return sections


def template_paths() -> tuple[Path, Path]:
    """The shipped ITP REDCap project: (dictionary.csv, mapping.toml)."""
    from importlib import resources

    folder = Path(str(resources.files("itpcohort.importers") / "redcap_itp"))
    return folder / "dictionary.csv", folder / "mapping.toml"


def write_template(output: str | Path) -> list[Path]:
    """Copy the shipped ITP REDCap project (dictionary.csv, mapping.toml) into ``output``."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in template_paths():
        target = folder / path.name
        target.write_bytes(path.read_bytes())
        written.append(target)
    return written
