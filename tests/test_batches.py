"""Out of core (issue 14): DuckDB evaluates a registry in batches of consecutive
patients (``pipeline.BATCH_PATIENTS``) and writes the endpoints a batch at a time.

The batched result must be the unbatched one, byte for byte: here the batch size
is made tiny (1 or 3 patients, so a demo cohort of 6 runs in several batches,
one of them holding only the excluded patient) and the files, the counts and the
command's closing line are compared with one batch's.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import itpcohort
from itpcohort import pipeline
from itpcohort.cli import app
from itpcohort.criteria import Criteria
from itpcohort.response import table, write_endpoints
from tests.conftest import ROOT
from tests.oracle import PatientData
from tests.test_response_properties import _write, cohorts

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"
ONE_BATCH = 10**9


def _evaluate_cli(folder: Path, output: Path, batch: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(pipeline, "BATCH_PATIENTS", batch)
    result = CliRunner().invoke(app, ["evaluate", str(folder), "-o", str(output)])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1]  # the closing line


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_the_demo_in_batches_gives_the_same_file_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, batch: int
) -> None:
    whole, parts = tmp_path / f"whole{suffix}", tmp_path / f"parts{suffix}"
    line = _evaluate_cli(EXAMPLE, whole, ONE_BATCH, monkeypatch)
    assert _evaluate_cli(EXAMPLE, parts, batch, monkeypatch) == line.replace("whole", "parts")
    # tacrolimus-mini: 6 screened, P04 excluded (a batch of its own when batch == 1)
    assert "5 patients (CR 1, R 2, NR 1, NE 1)" in line
    assert "of 6 screened, 5 enrolled and 1 excluded" in line
    assert parts.read_bytes() == whole.read_bytes()


def test_the_batches_are_consecutive_patients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_PATIENTS", 3)
    with itpcohort.read_cohort(EXAMPLE) as cohort:
        evaluation = pipeline.run(cohort)
        assert evaluation.batch_count == 2  # keys 1-3 and 4-6
        ids = [list(b["patient_id"]) for b in evaluation.endpoint_batches()]
    assert ids == [["P01", "P02", "P03"], ["P05", "P06"]]  # P04 excluded


def test_spark_is_never_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_PATIENTS", 1)
    with itpcohort.read_cohort(EXAMPLE) as cohort:
        evaluation = pipeline.run(cohort)
        assert evaluation.batch_count == 6
        # the key ranges only: no Spark session is started here
        object.__setattr__(evaluation, "engine", "spark")
        assert evaluation._key_ranges() == [None]


def _files(folder: Path, c: Criteria, out: Path) -> tuple[bytes, bytes, Counter[str]]:
    """The endpoints written a batch at a time, as CSV and Parquet, and their counts;
    with one batch, also by ``write_endpoints`` of the whole table in ``out/old``."""
    with itpcohort.read_cohort(folder) as cohort:
        evaluation = pipeline.run(cohort, c)
        counts = pipeline.write_endpoints_in_batches(evaluation, out / "e.csv")
        again = pipeline.write_endpoints_in_batches(evaluation, out / "e.parquet")
        assert again == counts
        if evaluation.batch_count == 1:
            write_endpoints(evaluation.endpoints, out / "old.csv")
            write_endpoints(evaluation.endpoints, out / "old.parquet")
    return (out / "e.csv").read_bytes(), (out / "e.parquet").read_bytes(), counts


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cohorts(min_size=4, max_size=12))
def test_property_cohorts_in_batches_are_byte_identical(
    case: tuple[Criteria, list[PatientData]],
) -> None:
    c, patients = case
    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as mp:
        root = Path(scratch)
        folder = _write(root / "cohort", patients)
        for name in ("one", "many"):
            (root / name).mkdir()
        mp.setattr(table, "ROW_GROUP_ROWS", 4)  # row groups across batches
        mp.setattr(pipeline, "BATCH_PATIENTS", ONE_BATCH)
        one = _files(folder, c, root / "one")
        old = (root / "one" / "old.csv").read_bytes(), (root / "one" / "old.parquet").read_bytes()
        mp.setattr(pipeline, "BATCH_PATIENTS", 3)
        many = _files(folder, c, root / "many")
    assert many[:2] == one[:2] == old
    assert many[2] == one[2]
    assert sum(one[2].values()) == len(patients)  # all enrolled, every one counted once


def test_parquet_row_groups_do_not_follow_the_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with itpcohort.read_cohort(EXAMPLE) as cohort:
        endpoints = pipeline.run(cohort).endpoints
    batches = [endpoints.iloc[:1], endpoints.iloc[1:1], endpoints.iloc[1:4], endpoints.iloc[4:]]
    monkeypatch.setattr(table, "ROW_GROUP_ROWS", 2)
    table.write_endpoint_batches(batches, tmp_path / "e.parquet")
    written = pq.ParquetFile(tmp_path / "e.parquet").metadata
    sizes = [written.row_group(i).num_rows for i in range(written.num_row_groups)]
    assert sizes == [2, 2, 1]  # 5 rows in groups of 2, whatever the batches (1, 0, 3, 1)
    assert pd.read_parquet(tmp_path / "e.parquet").equals(
        pd.read_parquet(_whole(endpoints, tmp_path))
    )


def _whole(endpoints: pd.DataFrame, folder: Path) -> Path:
    return write_endpoints(endpoints, folder / "whole.parquet")


def test_duckdb_gives_a_query_s_memory_back_at_once() -> None:
    # jemalloc's background threads return what a query freed to the system; without
    # them a 1M-patient evaluate kept 1.7 GB resident while writing (peak 2.4 GB)
    with itpcohort.read_cohort(EXAMPLE) as cohort:
        sql = "SELECT current_setting('allocator_background_threads')"
        assert cohort.con.sql(sql).fetchall() == [(True,)]
