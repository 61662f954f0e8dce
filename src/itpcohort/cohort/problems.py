"""Problems found while reading a cohort folder, and the per-table summary.

A problem always names the file, the line (CSV: the line number, header = 1;
Excel: the sheet row, header = 1; Parquet: the 1-based row number) and the
column, so that a data manager can go straight to the cell.

What a problem shows cannot forge output: control and invisible characters
(line breaks, tabs, zero-width and bidirectional controls, look-alike hyphens
and spaces) in its file, column and message are escaped (``\\n``,
``\\u200b``), so one problem is always one line.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

#: at most this many problems of one kind (file, column, message with its values
#: blanked) are listed; one more problem says how many others there are
MAX_PER_KIND = 20

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: categories escaped: controls, format (zero-width, bidi), separators, private use,
#: unassigned, surrogates; dashes and spaces other than '-' and ' ' (look-alikes)
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _needs_escape(char: str) -> bool:
    if char.isascii():
        return not char.isprintable()
    category = unicodedata.category(char)
    return category in _ESCAPED_CATEGORIES or category in ("Pd", "Zs")


_SUSPECT = re.compile(r"[^\x20-\x7e]")


def escape(text: str) -> str:
    """``text`` with control and invisible characters written as escapes (``\\n``)."""
    if not _SUSPECT.search(text):
        return text
    return "".join(_escape_char(c) if _needs_escape(c) else c for c in text)


#: quoted values and numbers: blanked, they leave a message's kind (the same in SQL)
KIND_PATTERN = r"'[^']*'|[0-9][0-9.,]*"
_VALUES = re.compile(KIND_PATTERN)


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis) for a message."""
    return text if len(text) <= limit else text[:limit] + "…"


def kind_of(message: str) -> str:
    """The message with its quoted values and numbers blanked: problems of one kind."""
    return _VALUES.sub("?", message)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one cell, row, column or file."""

    file: str
    line: int | None
    column: str | None
    message: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", escape(self.file))
        object.__setattr__(self, "message", escape(self.message))
        if self.column is not None:
            object.__setattr__(self, "column", escape(self.column))

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


def cap_repeats(problems: Iterable[Problem], limit: int = MAX_PER_KIND) -> list[Problem]:
    """The problems with at most ``limit`` of each kind (file, column, severity, message
    with values blanked); for each kind cut short, one more says how many are not listed.
    """
    seen: Counter[tuple[str, str | None, Severity, str]] = Counter()
    kept: list[Problem] = []
    last: dict[tuple[str, str | None, Severity, str], Problem] = {}
    for problem in problems:
        key = (problem.file, problem.column, problem.severity, kind_of(problem.message))
        seen[key] += 1
        if seen[key] <= limit:
            kept.append(problem)
            last[key] = problem
    for key, n in seen.items():
        if n > limit:
            shown = last[key]
            kept.append(more_like(shown, n - limit))
    return kept


def more_like(problem: Problem, n: int) -> Problem:
    """One problem saying that ``n`` more like ``problem`` are not listed."""
    where = f"line {problem.line}" if problem.line is not None else "the one above"
    return Problem(
        problem.file,
        problem.line,
        problem.column,
        f"... and {n:,} more {problem.severity}s like {where} ('{clip(problem.message, 60)}') "
        "are not listed",
        problem.severity,
    )
