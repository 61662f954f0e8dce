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
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pghistory
from django.db import connection, transaction
from django.db.models import Case, F, Func, Q, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, NullIf

from itpcohort.cohort import schema
from itpcohort.errors import ItpCohortError, OutputError
from itpcohort.outputs import atomic_path
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
    return {
        model.table.name: _rows_of(model, patients, [c.name for c in model.table.columns], first)
        for model in CLINICAL_MODELS
    }


def _rows_of(
    model: type[Clinical], patients: Any, names: list[str], first: Clinical | None = None
) -> tuple[list[str], list[list[str]]]:
    """One table's header (the format's columns, then the others) and rows as CSV text."""
    rows = _live(model, patients, names)
    if first is not None and isinstance(first, model):
        pk, *values, extra = _values_of(first, names)
        rows = [(pk, [cell(v) for v in values], extra)] + [r for r in rows if r[0] != pk]
    extras: dict[str, None] = {}
    for r in rows:
        extras.update(dict.fromkeys(r[2]))
    if not extras:
        return names, [r[1] for r in rows]
    return names + list(extras), [r[1] + [cell(r[2].get(e)) for e in extras] for r in rows]


def _lookup(model: type[Clinical], name: str) -> tuple[str, str]:
    """The query lookup of the format's column ``name`` (the patient's study ID and the
    site's code through their keys) and its model field's type."""
    lookup = name
    if name == "patient_id" and model is not Patient:
        lookup = "patient__patient_id"
    elif name == "site" and model is Patient:
        lookup = "site__code"
    return lookup, model._meta.get_field(lookup.split("__")[0]).get_internal_type()


def _as_text(lookup: str, kind: str, *, blank: str | None = "") -> Any:
    """The query expression giving a column as :func:`cell` writes it; a missing value as
    ``blank`` (None: NULL). Floats: None here (Python's ``repr`` writes them), except
    for COPY (``blank`` None), where :func:`_plain_floats` has checked they can be."""
    if kind == "BooleanField":
        yes, no = (
            When(**{lookup: True}, then=Value("true")),
            When(**{lookup: False}, then=Value("false")),
        )
        return Case(yes, no, default=Value(blank), output_field=TextField())
    if kind == "FloatField":
        return (
            None
            if blank is not None
            else Func(F(lookup), template=_FLOAT_TEXT, output_field=TextField())
        )
    if kind == "DateField":
        text: Any = Func(
            F(lookup), Value("YYYY-MM-DD"), function="to_char", output_field=TextField()
        )
    else:
        text = Cast(lookup, TextField())
    if blank is None:
        return NullIf(text, Value(""), output_field=TextField())
    return Coalesce(text, Value(blank), output_field=TextField())


#: a float as Python's ``repr`` writes it, for values 0 or 1e-4 <= |v| < 1e15 (both write
#: the shortest digits that read back exactly, without an exponent; an integral value
#: gets ".0"); others go through Python
_FLOAT_TEXT = (
    "CASE WHEN %(expressions)s = trunc(%(expressions)s) THEN %(expressions)s::text || '.0' "
    "ELSE %(expressions)s::text END"
)


def _query(model: type[Clinical], patients: Any) -> Any:
    if model is Patient:
        return patients.filter(deleted=False)
    return model.objects.filter(deleted=False, patient__in=patients.filter(deleted=False))


def _live(
    model: type[Clinical], patients: Any, names: list[str]
) -> list[tuple[Any, list[str], dict[str, Any]]]:
    """(pk, the format's columns as CSV text, extra) of the live rows, in key order.

    PostgreSQL writes the text of every column but the floats (Python's ``repr``
    here, as :func:`cell`); ``extra`` comes as JSON text, parsed only when not empty.
    """
    texts = {}
    for name in names:
        lookup, kind = _lookup(model, name)
        texts[name] = _as_text(lookup, kind) if kind != "FloatField" else F(lookup)
    floats = [i for i, name in enumerate(names) if isinstance(texts[name], F)]
    columns = {f"_c{i}": expr for i, expr in enumerate(texts.values())}
    query = _query(model, patients).annotate(**columns, _extra=Cast("extra", TextField()))
    out = []
    for pk, *values, extra in query.order_by("pk").values_list("pk", *columns, "_extra"):
        for i in floats:
            v = values[i]
            values[i] = "" if v is None else repr(v)
        out.append((pk, values, json.loads(extra) if extra != "{}" else {}))
    return out


def _plain_floats(model: type[Clinical], query: Any, names: list[str]) -> bool:
    """Whether every float of the rows is 0 or 1e-4 <= |v| < 1e15 (NaN and infinities
    are not: PostgreSQL orders them above every number)."""
    odd = Q()
    for name in names:
        lookup, kind = _lookup(model, name)
        if kind == "FloatField":
            tiny = Q(**{f"{lookup}__gt": -1e-4, f"{lookup}__lt": 1e-4}) & ~Q(**{lookup: 0})
            odd |= tiny | Q(**{f"{lookup}__gte": 1e15}) | Q(**{f"{lookup}__lte": -1e15})
    return not odd or not query.filter(odd).exists()


def _copied(model: type[Clinical], patients: Any, names: list[str]) -> bytes | None:
    """The table's rows as :func:`write_table` writes them (no header), by PostgreSQL's
    COPY; None when it cannot write them byte for byte as Python's csv module does:
    columns outside the format (``extra``), a float :func:`_plain_floats` refuses,
    or a cell it had to quote (a comma, a quote, a line break)."""
    import psycopg

    query = _query(model, patients)
    if query.exclude(extra={}).exists() or not _plain_floats(model, query, names):
        return None
    columns = {f"_c{i}": _as_text(*_lookup(model, n), blank=None) for i, n in enumerate(names)}
    sql, params = (
        query.annotate(**columns).order_by("pk").values_list(*columns).query.sql_with_params()
    )
    connection.ensure_connection()
    inline = psycopg.ClientCursor(connection.connection).mogrify(sql, params)
    data = bytearray()
    statement = f"COPY ({inline}) TO STDOUT WITH (FORMAT csv)"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for chunk in copy:
            data += chunk
    if b'"' in data or b"\r" in data:
        return None
    return bytes(data).replace(b"\n", b"\r\n")


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
    scope = patients if patients is not None else Patient.objects.all()
    counts = {}
    for model in CLINICAL_MODELS:
        name, names = model.table.name, [c.name for c in model.table.columns]
        data = _copied(model, scope, names)
        if data is None:  # written by Python, as the edit checks read them
            header, rows = _rows_of(model, scope, names)
            write_table(folder / f"{name}.csv", header, rows)
            counts[name] = len(rows)
            continue
        with atomic_path(folder / f"{name}.csv") as temporary:
            temporary.write_bytes((",".join(names) + "\r\n").encode() + data)
        counts[name] = data.count(b"\n")
    return counts
