"""Cohort folder rows in and out, without Django: rows in typed by the reader's rules
(:func:`itpcohort.cohort.rows.read_rows`), rows out as the format's CSV."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from itpcohort.cohort.rows import Row, read_rows
from itpcohort.outputs import atomic_path

__all__ = ["Row", "cell", "read_rows", "write_table"]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
