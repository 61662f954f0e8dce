"""What every importer shares: partial dates, merged periods, the reconciliation,
and writing a cohort folder that ``itpcohort validate`` accepts.

Partial dates (SDTM ``--DTC`` values, registry exports) follow one rule: a
start or onset date missing its day or month takes the first day of the
period (``2014`` -> ``2014-01-01``, ``2014-03`` -> ``2014-03-01``); an end
date takes the last day (``2014`` -> ``2014-12-31``, ``2014-02`` ->
``2014-02-29`` in a leap year). Each imputed date is listed in
``imputed_dates.csv`` in the cohort folder (beside ``reconciliation.csv``;
the reader ignores both). A time part is dropped.

Source rows set aside because of a problem with the row itself (a value that
is not a number, say) are also listed one by one, with the file and the line
or entry, in ``import_warnings.csv`` and on the console.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from rich.console import Console
from rich.table import Table

from itpcohort import outputs
from itpcohort.errors import ItpCohortError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:[T ].*)?$")

COHORT_COLUMNS = {
    "patients": [
        "patient_id",
        "enrollment_date",
        "excluded",
        "site",
        "sex",
        "age",
        "diagnosis_date",
        "sle",
        "aps",
        "lupus_anticoagulant",
        "followup_end_date",
    ],
    "treatments": [
        "patient_id",
        "drug",
        "role",
        "start_date",
        "end_date",
        "phase",
        "daily_dose_mg",
        "stop_reason",
    ],
    "labs": ["patient_id", "date", "test", "value", "unit"],
    "bleeding": ["patient_id", "date", "who_grade", "site"],
    "adverse_events": [
        "patient_id",
        "onset_date",
        "term",
        "grade",
        "related",
        "action",
        "end_date",
    ],
}


class MappingError(ItpCohortError):
    """A mapping file or a source that does not have the expected shape (names the field)."""


@dataclass
class SourceCount:
    source: str
    read: int = 0
    imported: Counter[str] = field(default_factory=Counter)  # cohort table -> rows
    set_aside: Counter[str] = field(default_factory=Counter)  # reason -> rows

    @property
    def accounted(self) -> int:
        return sum(self.imported.values()) + sum(self.set_aside.values())


@dataclass
class Reconciliation:
    """Every source row read, and where it went: imported into a table, or set aside (why)."""

    sources: dict[str, SourceCount] = field(default_factory=dict)
    imputed: list[dict[str, str]] = field(default_factory=list)
    #: rows set aside for a problem of their own: source, where (file, line/entry), message
    warnings: list[dict[str, str]] = field(default_factory=list)

    def source(self, name: str) -> SourceCount:
        return self.sources.setdefault(name, SourceCount(name))

    def read(self, name: str, n: int) -> None:
        self.source(name).read += n

    def imported(self, name: str, table: str, n: int) -> None:
        if n:
            self.source(name).imported[table] += n

    def set_aside(self, name: str, reason: str, n: int) -> None:
        if n:
            self.source(name).set_aside[reason] += n

    def warn(self, source: str, where: str, message: str) -> None:
        """Note one source row's problem, with its file and line or entry."""
        self.warnings.append({"source": source, "where": where, "message": message})

    def check(self) -> None:
        """Every row read is accounted for (imported or set aside), or this is a bug."""
        for s in self.sources.values():
            if s.read != s.accounted:
                raise AssertionError(
                    f"{s.source}: {s.read} rows read but {s.accounted} accounted for"
                )

    def write(self, out: Path) -> None:
        """reconciliation.csv, and imputed_dates.csv and import_warnings.csv where there are
        any, into ``out``: spreadsheet-safe and atomic (:mod:`itpcohort.outputs`)."""
        self.check()
        outputs.write_csv(self.frame(), out / "reconciliation.csv")
        if self.imputed:
            outputs.write_csv(pd.DataFrame(self.imputed), out / "imputed_dates.csv")
        (out / "import_warnings.csv").unlink(missing_ok=True)
        if self.warnings:
            outputs.write_csv(pd.DataFrame(self.warnings), out / "import_warnings.csv")

    def frame(self) -> pd.DataFrame:
        rows = []
        for s in self.sources.values():
            for table, n in sorted(s.imported.items()):
                rows.append((s.source, s.read, "imported", table, n))
            for reason, n in sorted(s.set_aside.items()):
                rows.append((s.source, s.read, "set aside", reason, n))
            if not s.imported and not s.set_aside:
                rows.append((s.source, s.read, "-", "", 0))
        return pd.DataFrame(
            rows, columns=["source", "rows_read", "outcome", "where_or_why", "rows"]
        )

    def print(self, console: Console) -> None:
        table = Table(title="Reconciliation: every source row", title_justify="left")
        for col in ("source", "read", "imported (table: rows)", "set aside (why: rows)"):
            table.add_column(col)
        for s in self.sources.values():
            table.add_row(
                s.source,
                str(s.read),
                "; ".join(f"{t}: {n}" for t, n in sorted(s.imported.items())) or "-",
                "; ".join(f"{r}: {n}" for r, n in sorted(s.set_aside.items())) or "-",
            )
        console.print(table)
        if self.imputed:
            console.print(f"{len(self.imputed)} partial dates imputed (imputed_dates.csv)")
        if self.warnings:
            console.print(
                f"{len(self.warnings)} row(s) set aside for a problem of their own "
                "(import_warnings.csv):",
                markup=False,
                highlight=False,
            )
            for w in self.warnings[:20]:
                console.print(f"  {w['where']}: {w['message']}", markup=False, highlight=False)


def first_line(exc: Exception) -> str:
    """The first line of an exception's message (DuckDB's run on with the query)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def complete_date(value: object, kind: Literal["start", "end"]) -> tuple[str | None, bool]:
    """An ISO date from a full or partial ISO 8601 value; (date, imputed?)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None, False
    text = str(value).strip()
    if not text:
        return None, False
    match = _DATE.match(text)
    if not match:
        return None, False
    year, month, day = match.groups()
    y, m = int(year), int(month or 1)
    if y < 1 or not 1 <= m <= 12:  # year 0000, month 00 or 13: not a date, as any other text
        return None, False
    last = calendar.monthrange(y, m)[1]
    if day:
        return (f"{year}-{month}-{day}", False) if 1 <= int(day) <= last else (None, False)
    if month:
        return f"{y:04d}-{m:02d}-{1 if kind == 'start' else last:02d}", True
    return (f"{y:04d}-01-01" if kind == "start" else f"{y:04d}-12-31"), True


def complete_dates(
    values: pd.Series,
    kind: Literal["start", "end"],
    rec: Reconciliation,
    source: str,
    column: str,
    ids: pd.Series,
) -> pd.Series:
    """:func:`complete_date` over a column, recording each imputation."""
    out = []
    for value, pid in zip(values, ids, strict=True):
        date, imputed = complete_date(value, kind)
        if imputed:
            rec.imputed.append(
                {
                    "source": source,
                    "patient_id": str(pid),
                    "column": column,
                    "original": str(value),
                    "imputed": str(date),
                    "rule": kind,
                }
            )
        out.append(date)
    return pd.Series(out, index=values.index, dtype="object")


def merge_periods(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Merge overlapping or touching periods of one drug and role per patient.

    The cohort format forbids overlapping periods of one drug; sources (EX, CM,
    prescriptions) often have them. Returns the merged rows and how many source
    rows were folded into another.
    """
    if frame.empty:
        return frame, 0
    far = "9999-12-31"
    f = frame.assign(_end=frame["end_date"].fillna(far).replace("", far)).sort_values(
        ["patient_id", "drug", "role", "start_date", "_end"]
    )
    rows, folded = [], 0
    for _, group in f.groupby(["patient_id", "drug", "role"], sort=False):
        current = None
        for row in group.to_dict("records"):
            if current is not None and row["start_date"] <= _next_day(current["_end"]):
                current["_end"] = max(current["_end"], row["_end"])
                folded += 1
                continue
            if current is not None:
                rows.append(current)
            current = dict(row)
        rows.append(current)
    out = pd.DataFrame(rows)
    out["end_date"] = out["_end"].where(out["_end"] != far, None)
    return out.drop(columns="_end"), folded


def _next_day(iso: str) -> str:
    if iso.startswith("9999"):
        return iso
    return (pd.Timestamp(iso) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")


def write_cohort_folder(
    tables: dict[str, pd.DataFrame], output: str | Path, rec: Reconciliation
) -> Path:
    """Write the cohort tables (CSV), the reconciliation and the imputed dates."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for name, columns in COHORT_COLUMNS.items():
        frame = tables.get(name)
        optional = name in ("bleeding", "adverse_events")
        if frame is None or (optional and frame.empty):
            if optional:
                (out / f"{name}.csv").unlink(missing_ok=True)
                continue
            frame = pd.DataFrame(columns=columns)
        if name == "patients":  # extra columns are covariates
            frame = (
                frame[[*columns, *[c for c in frame.columns if c not in columns]]]
                if set(columns) <= set(frame.columns)
                else frame
            )
        else:
            frame = frame.reindex(columns=columns)
        frame.to_csv(out / f"{name}.csv", index=False, lineterminator=outputs.line_end(frame))
    rec.write(out)
    return out


def merge_periods_sql(rows: str) -> str:
    """SQL twin of :func:`merge_periods` for engines: gaps and islands over exposures.

    ``rows`` is a query with patient_id, drug, role, start_date, end_date (DATE,
    not null). The result adds phase ('full' for the study drug), daily_dose_mg,
    stop_reason and ``rows_in`` (source rows merged into each period).
    """
    return f"""
        WITH d AS ({rows}),
        o AS (SELECT *, max(end_date) OVER (PARTITION BY patient_id, drug, role
                 ORDER BY start_date, end_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                 AS prev_end FROM d),
        g AS (SELECT *, sum(CASE WHEN prev_end IS NULL OR start_date > prev_end + 1 THEN 1
                 ELSE 0 END) OVER (PARTITION BY patient_id, drug, role
                 ORDER BY start_date, end_date) AS grp FROM o)
        SELECT patient_id, drug, role, min(start_date) AS start_date, max(end_date) AS end_date,
               CASE WHEN role = 'study' THEN 'full' END AS phase,
               NULL::DOUBLE AS daily_dose_mg, NULL::VARCHAR AS stop_reason, count(*) AS rows_in
        FROM g GROUP BY patient_id, drug, role, grp"""
