"""Problems found while reading a cohort folder, and the per-table summary.

A problem always names the file, the line (CSV: the line number, header = 1;
Excel: the sheet row, header = 1; Parquet: the 1-based row number) and the
column, so that a data manager can go straight to the cell.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one cell, row, column or file."""

    file: str
    line: int | None
    column: str | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f" [{self.column}]"
        return f"{where}: {self.severity}: {self.message}"


@dataclass
class TableSummary:
    """How many rows of one table were read, used and set aside, and why."""

    table: str
    file: str | None
    read: int = 0
    set_aside: Counter[str] = field(default_factory=Counter)

    @property
    def used(self) -> int:
        return self.read - sum(self.set_aside.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "file": self.file,
            "read": self.read,
            "used": self.used,
            "set_aside": dict(self.set_aside),
        }


@dataclass
class ValidationReport:
    """Everything ``validate_cohort`` found: problems and per-table summaries."""

    folder: str
    problems: list[Problem]
    summaries: list[TableSummary]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors
