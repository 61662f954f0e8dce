"""CTCAE v5.0 laboratory grading criteria, as data (``ctcae_v5.csv``).

Each row of the file is one one-sided condition, "at least grade g when the
value <operator> factor x basis", written as numbers and an operator, never as
code (the admiral lesson: a ``<=``/``>=`` slip hid in string-coded criteria).
A value's grade is the highest grade whose row holds; CTCAE's ranges
(``<75.0 - 50.0``) are the gaps between consecutive rows, so a value exactly
on a boundary falls where the CTCAE wording puts it: platelets 50.0 hold
``< 75`` (grade 2) but not ``< 50`` (grade 3).

Columns of the file:

``row_id``
    unique name of the row; every graded value names the row that graded it
``term``
    the CTCAE v5.0 term (``Platelet count decreased``)
``test``
    the cohort's test name (``platelets``; ``shared/spec/cohort-format.md``)
``grade``
    1-4
``basis``
    what ``factor`` multiplies: ``value`` (an absolute threshold in ``unit``),
    ``lln`` / ``uln`` (the lower / upper limit of normal) or ``baseline``
``operator``
    ``<``, ``<=``, ``>`` or ``>=``: the value against ``factor x basis``
``factor``
    a positive number
``unit``
    for ``basis = value``, the test's canonical unit (``cohort/units.py``);
    empty for the relative rows
``baseline``
    ``any``, ``normal`` or ``abnormal``: the row applies to every value, or only
    when the baseline was within / above the upper limit of normal (ALT and AST
    have separate criteria for the two)
``ctcae_criterion``
    the CTCAE v5.0 wording of that grade's cell, cited

Source: Common Terminology Criteria for Adverse Events (CTCAE) v5.0, U.S.
Department of Health and Human Services, NIH, NCI, published 27 November 2017;
read through admiral's transcription (pharmaverse/admiral,
``data-raw/adlb_grading/ncictcaev5.json``) and checked against published
reproductions of the creatinine and ALT/AST rows. The grade 2+ cells of
hyperkalaemia and hypomagnesaemia, and grade 3 anaemia, also name clinical
conditions ("hospitalization indicated", "transfusion indicated"); graded
from a laboratory value alone, only their numbers apply.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from itpcohort.cohort import units
from itpcohort.errors import ItpCohortError

OPERATORS = ("<", "<=", ">", ">=")
BASES = ("value", "lln", "uln", "baseline")
BASELINE_STATUSES = ("any", "normal", "abnormal")
COLUMNS = (
    "row_id",
    "term",
    "test",
    "grade",
    "basis",
    "operator",
    "factor",
    "unit",
    "baseline",
    "ctcae_criterion",
)
DEFAULT_FILE = "ctcae_v5.csv"


class GradingDataError(ItpCohortError):
    """A grading-criteria or reference-range file that cannot be used; lists every problem."""


@dataclass(frozen=True)
class GradingRow:
    """One threshold: at least ``grade`` when ``value <operator> factor x basis``."""

    row_id: str
    term: str
    test: str
    grade: int
    basis: str
    operator: str
    factor: float
    unit: str
    baseline: str
    ctcae_criterion: str

    @property
    def lower(self) -> bool:
        """True for a 'decreased' criterion (``<``/``<=``)."""
        return self.operator.startswith("<")

    def describe(self) -> str:
        """The row as words: ``< 75 10^9/L``, ``> 1.5 x ULN``, ``>= 1.5 x baseline``."""
        if self.basis == "value":
            return f"{self.operator} {self.factor:g} {self.unit}"
        name = self.basis.upper() if self.basis != "baseline" else "baseline"
        return f"{self.operator} {self.factor:g} x {name}"


@dataclass(frozen=True)
class GradingCriteria:
    """The rows of a grading file, in file order (the order names ties)."""

    rows: tuple[GradingRow, ...]
    source: str

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.test for r in self.rows))

    def for_test(self, test: str) -> tuple[GradingRow, ...]:
        return tuple(r for r in self.rows if r.test == test)

    def term(self, test: str) -> str:
        return next(r.term for r in self.rows if r.test == test)

    def row(self, row_id: str) -> GradingRow:
        return next(r for r in self.rows if r.row_id == row_id)


def load_grading_criteria(path: str | Path | None = None) -> GradingCriteria:
    """Read and check a grading file; the shipped CTCAE v5.0 file when ``path`` is None.

    Raises :class:`GradingDataError` listing every problem (line and column).
    """
    if path is None:
        resource = resources.files("itpcohort.safety") / DEFAULT_FILE
        text, source = resource.read_text(encoding="utf-8"), DEFAULT_FILE
    else:
        file = Path(path)
        if not file.is_file():
            raise GradingDataError(f"grading criteria file {file} does not exist")
        text, source = file.read_text(encoding="utf-8-sig"), str(file)
    records = list(csv.DictReader(text.splitlines()))
    missing = [c for c in COLUMNS if records and c not in records[0]] if records else []
    if not records or missing:
        raise GradingDataError(
            f"{source}: a grading file needs a header and rows with the columns "
            f"{', '.join(COLUMNS)}" + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    problems: list[str] = []
    rows = [
        row
        for line, record in enumerate(records, start=2)
        if (row := _row(record, f"{source}:{line}", problems)) is not None
    ]
    problems += _consistency(rows, source)
    if problems:
        raise GradingDataError(
            f"{len(problems)} problem(s) in the grading criteria:\n  " + "\n  ".join(problems)
        )
    return GradingCriteria(tuple(rows), source)


def _row(record: dict[str, str], where: str, problems: list[str]) -> GradingRow | None:
    cell = {k: (record.get(k) or "").strip() for k in COLUMNS}
    found: list[str] = []
    if not cell["row_id"] or not cell["term"] or not cell["ctcae_criterion"]:
        found.append("row_id, term and ctcae_criterion must not be empty")
    if cell["test"] not in units.TESTS:
        found.append(f"test '{cell['test']}' is not a known test ({', '.join(units.TESTS)})")
    grade = _number(cell["grade"], "grade", found, integer=True)
    if grade is not None and not 1 <= grade <= 4:
        found.append(f"grade {grade:g} is not 1-4")
    factor = _number(cell["factor"], "factor", found)
    if factor is not None and factor <= 0:
        found.append(f"factor {factor:g} must be a positive number")
    if cell["basis"] not in BASES:
        found.append(f"basis '{cell['basis']}' is not one of {', '.join(BASES)}")
    if cell["operator"] not in OPERATORS:
        found.append(f"operator '{cell['operator']}' is not one of {' '.join(OPERATORS)}")
    if cell["baseline"] not in BASELINE_STATUSES:
        found.append(f"baseline '{cell['baseline']}' is not one of {', '.join(BASELINE_STATUSES)}")
    canonical = units.TESTS.get(cell["test"], ("",))[0]
    if cell["basis"] == "value" and cell["unit"] != canonical:
        found.append(
            f"an absolute threshold must be in the test's canonical unit '{canonical}', "
            f"not '{cell['unit']}'"
        )
    if cell["basis"] != "value" and cell["unit"]:
        found.append(f"unit must be empty for a threshold relative to {cell['basis']}")
    problems += [f"{where} ({cell['row_id'] or 'no row_id'}): {m}" for m in found]
    if found or grade is None or factor is None:
        return None
    return GradingRow(
        cell["row_id"],
        cell["term"],
        cell["test"],
        int(grade),
        cell["basis"],
        cell["operator"],
        float(factor),
        cell["unit"],
        cell["baseline"],
        cell["ctcae_criterion"],
    )


def _number(text: str, name: str, found: list[str], integer: bool = False) -> float | None:
    try:
        value = float(text)
    except ValueError:
        found.append(f"{name} '{text}' is not a number")
        return None
    if integer and value != int(value):
        found.append(f"{name} '{text}' is not a whole number")
        return None
    return value


def _consistency(rows: list[GradingRow], source: str) -> list[str]:
    """Unique row IDs, one term and one direction per test, stricter thresholds for
    higher grades of the same basis (a swapped pair of numbers is caught here)."""
    problems: list[str] = []
    seen: set[str] = set()
    for r in rows:
        if r.row_id in seen:
            problems.append(f"{source}: row_id '{r.row_id}' appears more than once")
        seen.add(r.row_id)
    for test in dict.fromkeys(r.test for r in rows):
        mine = [r for r in rows if r.test == test]
        if len({r.term for r in mine}) > 1:
            problems.append(f"{source}: test '{test}' has more than one term")
        if len({r.lower for r in mine}) > 1:
            problems.append(f"{source}: test '{test}' mixes < and > thresholds")
        for basis in BASES:
            for status in BASELINE_STATUSES:
                chain = sorted(
                    (r for r in mine if r.basis == basis and r.baseline == status),
                    key=lambda r: r.grade,
                )
                problems += _monotone(chain, source)
    return problems


def _monotone(chain: list[GradingRow], source: str) -> list[str]:
    problems = []
    for a, b in itertools.pairwise(chain):
        if a.grade == b.grade:
            problems.append(
                f"{source}: rows {a.row_id} and {b.row_id} give the same grade on the same basis"
            )
        elif (b.factor >= a.factor) if a.lower else (b.factor <= a.factor):
            problems.append(
                f"{source}: {b.row_id} (grade {b.grade}, {b.describe()}) is not stricter than "
                f"{a.row_id} (grade {a.grade}, {a.describe()})"
            )
    return problems
