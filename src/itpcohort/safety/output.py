"""Writing graded labs: CSV (ISO dates, spreadsheet-safe) or Parquet, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from itpcohort.errors import ItpCohortError
from itpcohort.outputs import atomic_path, write_csv

FORMATS = (".csv", ".parquet")


def check_graded_path(path: str | Path) -> Path:
    """``path`` if it names a CSV or Parquet file; else a clear error."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise ItpCohortError(
            f"cannot write graded labs to '{target.name}': use a .csv or .parquet file name"
        )
    return target


def write_graded_labs(graded: pd.DataFrame, path: str | Path) -> Path:
    """Write :func:`~itpcohort.safety.grade_labs`' table (every value with its threshold row)."""
    target = check_graded_path(path)
    frame = graded.copy()
    if target.suffix.lower() == ".csv":
        for column in ("date", "baseline_date"):
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
        return write_csv(frame, target)
    for column in ("date", "baseline_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return target


def grading_summary(graded: pd.DataFrame, limit: int = 10) -> tuple[str, list[str]]:
    """What ``itpcohort grade`` prints: a count per test and worst grade, and the
    distinct notes of values left ungraded (at most ``limit`` of them)."""
    lines = []
    for test, rows in graded.groupby("test", sort=True):
        grades = rows["grade"]
        counts = ", ".join(
            f"grade {g}: {int((grades == g).sum())}" for g in range(1, 5) if (grades == g).any()
        )
        ungraded = int(grades.isna().sum())
        extra = f"; {ungraded} not graded" if ungraded else ""
        lines.append(f"{test}: {len(rows)} values ({counts or 'all grade 0'}{extra})")
    notes = [n for n in dict.fromkeys(graded["note"]) if n]
    shown = notes[:limit]
    if len(notes) > limit:
        shown.append(f"... and {len(notes) - limit} more kinds of note (see the note column)")
    return "\n".join(lines) or "no values of a graded test", shown
