"""Edit checks at entry, by the cohort reader's own rules.

Two layers, both from the reader:

- :func:`cell_findings`: each value against its column of the format
  (:mod:`itpcohort.cohort.schema`: required, minimum, maximum, choices; dates
  before 1900 or more than a year ahead are warnings) and each lab unit against
  the unit table (:mod:`itpcohort.cohort.units`), with the reader's messages. Fast
  enough for every save (the visit form uses only this layer, with the reader's
  two lab warnings: a count above 2000 x10^9/L, a date more than a year before
  enrolment). ``tests/study/test_checks.py`` holds these equal to
  :func:`itpcohort.validate_cohort` on the same rows.
- :func:`reader_findings`: the reader itself (:func:`itpcohort.validate_cohort`) on
  the patient's tables with the new or changed row in place, for the checks that
  span rows (end before start, overlapping periods of one drug, follow-up before
  enrolment, end of an adverse event before its onset). Its problems on the
  entered row go next to their field; other errors it causes go above the form.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from itpcohort.cohort import schema, units, validate_cohort
from itpcohort.cohort.schema import EARLIEST_PLAUSIBLE_DATE, ColumnSpec, TableSpec

PLATELET_WARNING_ABOVE = 2000.0
_LINE_REFERENCE = re.compile(r" ?\(line \d+\)| on line \d+| \(first on line \d+\)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class Finding:
    field: str | None
    message: str
    severity: Literal["error", "warning"] = "error"


def _num(value: float) -> str:
    return f"{value:g}"


def _cell(col: ColumnSpec, value: Any) -> list[Finding]:
    if value is None or value == "":
        if col.required:
            return [Finding(col.name, f"missing value: {col.name} is required")]
        if col.blank_warning:
            return [Finding(col.name, col.blank_warning, "warning")]
        return []
    found = []
    if isinstance(value, str) and _CONTROL.search(value):
        found.append(Finding(col.name, "one line of text, without tabs or control characters"))
    if col.kind == "date" and isinstance(value, dt.date):
        today = dt.datetime.now(dt.UTC).date()
        try:
            latest = today.replace(year=today.year + 1)
        except ValueError:
            latest = today.replace(year=today.year + 1, day=28)
        if value.isoformat() < EARLIEST_PLAUSIBLE_DATE:
            found.append(
                Finding(
                    col.name,
                    f"date {value} is before {EARLIEST_PLAUSIBLE_DATE}: check the year",
                    "warning",
                )
            )
        elif value > latest:
            found.append(
                Finding(
                    col.name,
                    f"date {value} is more than a year after today ({today}): check the year",
                    "warning",
                )
            )
    number = isinstance(value, int | float)
    low = col.minimum if col.minimum is not None else float("-inf")
    if number and col.maximum is None and value < low:
        hint = ": a count cannot be negative" if col.minimum == 0 else ""
        found.append(Finding(col.name, f"{col.name} {value} is below {_num(low)}{hint}"))
    # a value with a range (a grade) is outside it on either side, as the reader says
    if number and col.maximum is not None and not low <= value <= col.maximum:
        found.append(
            Finding(
                col.name,
                f"{col.name} {value} is outside {_num(col.minimum or 0)}-{_num(col.maximum)}",
            )
        )
    if col.choices and str(value).lower() not in col.choices:
        found.append(
            Finding(
                col.name,
                f"'{value}' is not one of: {', '.join(col.choices)}",
                "error" if col.choices_strict else "warning",
            )
        )
    return found


def cell_findings(spec: TableSpec, values: dict[str, Any]) -> list[Finding]:
    """Each given value against its column's rules (columns not given are not checked)."""
    found = [f for col in spec.columns if col.name in values for f in _cell(col, values[col.name])]
    if spec.name == "labs":
        found += unit_findings(values)
    return found


def unit_findings(values: dict[str, Any]) -> list[Finding]:
    """A lab's unit against the unit table; the reader's warnings on a count and a date."""
    test, unit, value = values.get("test"), values.get("unit"), values.get("value")
    if not test or not unit:
        return []
    known = units.TESTS.get(str(test).lower())
    if known is None:
        return []
    factor = known[1].get(units.normalise_unit(str(unit)))
    if factor is None:
        allowed = ", ".join(sorted(known[1]))
        return [
            Finding("unit", f"unknown unit '{unit}' for {str(test).lower()}: use one of {allowed}")
        ]
    found = []
    if str(test).lower() == "platelets" and isinstance(value, int | float):
        count = value * factor
        if count > PLATELET_WARNING_ABOVE:
            found.append(
                Finding(
                    "value",
                    f"platelet count {count:g} x10^9/L is above 2000: check the value and its unit",
                    "warning",
                )
            )
    enrolled, date = values.get("_enrollment_date"), values.get("date")
    if isinstance(enrolled, dt.date) and isinstance(date, dt.date):
        try:
            year_before = enrolled.replace(year=enrolled.year - 1)
        except ValueError:
            year_before = enrolled.replace(year=enrolled.year - 1, day=28)
        if date < year_before:
            found.append(
                Finding(
                    "date",
                    f"measurement on {date} is more than a year before "
                    f"enrolment ({enrolled}): check the date",
                    "warning",
                )
            )
    return found


def allowed_units(test: str) -> list[str]:
    """The units the unit table knows for a test (canonical first), as people write them."""
    known = units.TESTS.get(test)
    if known is None:
        return []
    canonical, table = known
    shown = [canonical]
    for key in table:
        label = display_unit(key, canonical)
        if units.normalise_unit(label) != units.normalise_unit(canonical) and label not in shown:
            shown.append(label)
    return shown


def display_unit(key: str, canonical: str) -> str:
    """A unit table key in its usual spelling: ``mg/dl`` -> ``mg/dL``, ``k/ul`` -> ``K/uL``."""
    if canonical == "10^9/L" and key == "g/l":
        return "G/L"
    out = key
    for old, new in (
        ("/l", "/L"),
        ("dl", "dL"),
        ("ml", "mL"),
        ("ul", "uL"),
        ("k/", "K/"),
        ("meq", "mEq"),
        ("iu/", "IU/"),
    ):
        out = out.replace(old, new)
    return "U/L" if out == "u/L" else out


# -- the reader itself ---------------------------------------------------------------------
def reader_findings(
    tables: dict[str, tuple[list[str], list[list[str]]]], table: str, columns: set[str]
) -> list[Finding]:
    """Validate the patient's tables (the entered row first in ``table``) with the reader.

    ``tables`` maps table name -> (header, rows as CSV text), as
    :func:`itpcohort.study.exchange.table_rows` gives them.
    """
    from itpcohort.study.tables import write_table

    with tempfile.TemporaryDirectory(prefix="itpcohort-check-") as folder:
        for name, (header, rows) in tables.items():
            write_table(Path(folder) / f"{name}.csv", header, rows)
        report, cohort = validate_cohort(folder)
        if cohort is not None:
            cohort.close()
    found = []
    for p in report.problems:
        on_row = p.file == f"{table}.csv" and p.line == 2
        if on_row and p.column in columns:
            found.append(Finding(p.column, p.message, p.severity))
        elif p.severity == "error":
            found.append(Finding(None, _LINE_REFERENCE.sub("", p.message)))
    return found


TABLE_OF = {spec.name: spec for spec in schema.TABLES}
