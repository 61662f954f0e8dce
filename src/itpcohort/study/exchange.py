"""A cohort folder into the study database, and the database out as a cohort folder.

Import reads the folder through the cohort reader (:func:`itpcohort.study.tables.read_rows`:
every row, typed by the reader's rules, values and units as they came). Export writes
what is stored, one CSV per table, the format's columns first and the columns
it does not list after them, so that import then export gives every table and
every value back, up to row order and number formatting (``12`` may come back as
``12.0``, ``yes`` as ``true``).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pghistory
from django.db import transaction

from itpcohort.cohort import schema
from itpcohort.errors import ItpCohortError, OutputError
from itpcohort.study import audit
from itpcohort.study.models import CLINICAL_MODELS, Clinical, Patient, Site
from itpcohort.study.tables import Row, cell, read_rows, write_table

BATCH = 5000


# -- import ---------------------------------------------------------------------------
@dataclass
class ImportResult:
    counts: dict[str, int] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)


def _split(row: Row, spec: schema.TableSpec, skip: Iterable[str] = ()) -> tuple[Row, Row]:
    """(the format's columns as model fields, the other columns as text for ``extra``)."""
    known = {c.name for c in spec.columns}
    fields = {
        k: ("" if v is None and spec.column(k).kind == "text" else v)
        for k, v in row.items()
        if k in known and k not in skip
    }
    extra = {k: v for k, v in row.items() if k not in known and v is not None}
    return fields, extra


def import_cohort(folder: str | Path, *, reason: str | None = None) -> ImportResult:
    """Load a cohort folder into the study database (new patients only), audited."""
    rows = read_rows(folder)
    ids = [r["patient_id"] for r in rows["patients"]]
    clash = list(Patient.objects.filter(patient_id__in=ids).values_list("patient_id", flat=True))
    if clash:
        shown = ", ".join(sorted(clash)[:10])
        raise ItpCohortError(
            f"{len(clash)} patient(s) of {folder} are already in the study (e.g. {shown}): "
            "import adds new patients only; change them in the app, or import into an "
            "empty study"
        )
    result = ImportResult()
    why = reason or f"import of cohort folder {Path(folder).resolve()}"
    with (
        pghistory.context(username=f"cli:{getpass.getuser()}", reason=why),
        transaction.atomic(),
    ):
        audit.lock_chain()
        sites = _sites(rows["patients"], result)
        patients = _import_patients(rows["patients"], sites)
        result.counts["patients"] = len(patients)
        for model in CLINICAL_MODELS[1:]:
            result.counts[model.table.name] = _import_records(
                model, rows[model.table.name], patients
            )
    return result


def _sites(patients: list[Row], result: ImportResult) -> dict[str, Site]:
    codes = sorted({r["site"] for r in patients if r.get("site")})
    existing = {s.code: s for s in Site.objects.filter(code__in=codes)}
    for code in codes:
        if code not in existing:
            existing[code] = Site.objects.create(code=code, name=code)
            result.sites.append(code)
    return existing


def _import_patients(rows: list[Row], sites: dict[str, Site]) -> dict[str, Patient]:
    objs = []
    for row in rows:
        fields, extra = _split(row, schema.PATIENTS, skip=("site",))
        objs.append(Patient(**fields, site=sites.get(row.get("site") or ""), extra=extra))
    created = Patient.objects.bulk_create(objs, batch_size=BATCH)
    return {p.patient_id: p for p in created}


def _import_records(model: type[Clinical], rows: list[Row], patients: dict[str, Patient]) -> int:
    objs = []
    for row in rows:
        fields, extra = _split(row, model.table, skip=("patient_id",))
        objs.append(model(**fields, patient=patients[row["patient_id"]], extra=extra))
    model.objects.bulk_create(objs, batch_size=BATCH)
    return len(objs)


# -- export ---------------------------------------------------------------------------
def table_rows(
    patients: Any, first: Clinical | None = None
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Each table's header and rows (as CSV text) for the given patients' live records.

    ``first`` (a new or changed record, not saved) is put first in its table, in
    place of the stored row it changes: what the edit checks give the reader.
    """
    out: dict[str, tuple[list[str], list[list[str]]]] = {}
    for model in CLINICAL_MODELS:
        names = [c.name for c in model.table.columns]
        rows = _live(model, patients, names)
        if first is not None and isinstance(first, model):
            rows = [_values_of(first, names)] + [r for r in rows if r[0] != first.pk]
        extras: dict[str, None] = {}
        for r in rows:
            extras.update(dict.fromkeys(r[-1]))
        header = names + list(extras)
        out[model.table.name] = (
            header,
            [[cell(v) for v in r[1:-1]] + [cell(r[-1].get(e)) for e in extras] for r in rows],
        )
    return out


def _columns(model: type[Clinical], names: list[str]) -> list[str]:
    """The query columns for the format's columns: the patient's study ID and the site's code
    through their keys."""
    lookups = (
        {"patient_id": "patient__patient_id"} if model is not Patient else {"site": "site__code"}
    )
    return ["pk", *(lookups.get(n, n) for n in names), "extra"]


def _live(model: type[Clinical], patients: Any, names: list[str]) -> list[tuple[Any, ...]]:
    """(pk, the format's columns..., extra) of the live rows, in key order."""
    if model is Patient:
        query = patients.filter(deleted=False)
    else:
        query = model.objects.filter(deleted=False, patient__in=patients.filter(deleted=False))
    return list(query.order_by("pk").values_list(*_columns(model, names)))


def _values_of(record: Clinical, names: list[str]) -> tuple[Any, ...]:
    values: list[Any] = [record.pk]
    for name in names:
        if name == "patient_id" and not isinstance(record, Patient):
            values.append(record.patient.patient_id)  # type: ignore[attr-defined]
        elif name == "site" and isinstance(record, Patient):
            values.append(record.site.code if record.site else None)
        else:
            values.append(getattr(record, name))
    return (*values, record.extra or {})


def export_cohort(output: str | Path, patients: Any = None) -> dict[str, int]:
    """Write the study (or the given patients) as a cohort folder of CSV files."""
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"'{folder}' is a file: name a folder to write the cohort into")
    if folder.is_dir() and any(folder.iterdir()):
        raise OutputError(f"'{folder}' is not empty: name a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    tables = table_rows(patients if patients is not None else Patient.objects.all())
    counts = {}
    for name, (header, rows) in tables.items():
        write_table(folder / f"{name}.csv", header, rows)
        counts[name] = len(rows)
    return counts
