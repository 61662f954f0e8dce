"""Shared fixtures: cohort folders built from tiny hand-aligned tables, and engines."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
START = dt.date(2024, 1, 1)


def day(n: int) -> str:
    """ISO date of study day ``n`` (day 0 = 2024-01-01), for hand-worked cases."""
    return (START + dt.timedelta(days=n)).isoformat()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def write_cohort(
    folder: Path,
    *,
    patients: Iterable[Sequence[object]],
    treatments: Iterable[Sequence[object]],
    labs: Iterable[Sequence[object]],
    bleeding: Iterable[Sequence[object]] | None = None,
    adverse_events: Iterable[Sequence[object]] | None = None,
) -> Path:
    """Write a cohort folder of CSVs; rows follow the column orders below."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "patients.csv",
        ["patient_id", "enrollment_date", "excluded", "followup_end_date"],
        patients,
    )
    write_csv(
        folder / "treatments.csv",
        ["patient_id", "drug", "role", "start_date", "end_date", "phase"],
        treatments,
    )
    write_csv(folder / "labs.csv", ["patient_id", "date", "test", "value", "unit"], labs)
    if bleeding is not None:
        write_csv(folder / "bleeding.csv", ["patient_id", "date", "who_grade"], bleeding)
    if adverse_events is not None:
        write_csv(
            folder / "adverse_events.csv",
            ["patient_id", "onset_date", "term", "grade"],
            adverse_events,
        )
    return folder


def spark_missing_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'itpcohort[spark]')"
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return "no Java runtime for Spark"
    return None


SPARK_SKIP = spark_missing_reason()
ENGINES = [
    "duckdb",
    pytest.param(
        "spark",
        marks=[
            pytest.mark.spark,
            pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or ""),
        ],
    ),
]


@pytest.fixture(scope="session", autouse=True)
def _stop_spark_at_end() -> Iterable[None]:
    yield
    from itpcohort import engines

    if engines._spark_session is not None:
        engines._spark_session.stop()


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data, or skip saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared public test data sits beside the repo in CI")
    return path
