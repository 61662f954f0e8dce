"""Spark's plumbing for speed (issue 14): the JVM starting in the background, kept
tables computed at once, the per-patient tables broadcast."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from itpcohort import EngineError, engines
from itpcohort.pipeline import run
from tests.conftest import ROOT, SPARK_SKIP

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"


def test_spark_session_waits_for_the_start_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans: list[tuple[str, float, float]] = []

    def slow_start(master: str | None) -> str:
        began = time.perf_counter()
        time.sleep(0.3)
        spans.append((threading.current_thread().name, began, time.perf_counter()))
        return f"session on {master}"

    monkeypatch.setattr(engines, "_start_session", slow_start)
    engines.start_spark("local[1]")
    time.sleep(0.05)  # the background start holds the lock now
    assert engines.spark_session("local[1]") == "session on local[1]"
    (first, _, first_end), (second, second_began, _) = spans
    assert first == "itpcohort-spark-start" and second == threading.current_thread().name
    assert second_began >= first_end  # one start at a time: the second waited


def test_a_failed_start_in_the_background_is_raised_when_the_session_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(master: str | None) -> Any:
        raise EngineError("cannot start Spark (local mode): no Java")

    monkeypatch.setattr(engines, "_start_session", failing)
    engines.start_spark()
    with pytest.raises(EngineError, match="no Java"):
        engines.spark_session()


def test_the_staging_folder_is_checked_before_the_background_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(master: str | None) -> Any:
        raise AssertionError("Spark started with a staging folder that is not one")

    monkeypatch.setattr(engines, "_start_session", never)
    monkeypatch.setenv(engines.STAGING_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(EngineError, match="not a folder"):
        engines.start_spark()


@pytest.mark.spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_kept_tables_are_computed_when_kept_and_broadcast() -> None:
    spark = engines.spark_session()
    before = _cached_partitions(spark)
    evaluation = run(EXAMPLE, engine="spark")
    # treatment, baseline, starts, confirmations and episodes: computed by run(), before
    # any endpoint is asked for (lazily kept tables would still hold nothing)
    assert _cached_partitions(spark) - before >= 5
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") == "64m"
    assert len(evaluation.endpoints) == 5


def _cached_partitions(spark: Any) -> int:
    """RDDs that Spark holds in its cache with at least one partition computed."""
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return sum(1 for info in infos if info.numCachedPartitions() > 0)


@pytest.mark.spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_local_mode_runs_the_throughput_collector_without_compression() -> None:
    spark = engines.spark_session()  # the test session: local mode
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    collectors = {bean.getName() for bean in beans.getGarbageCollectorMXBeans()}
    assert collectors == {"PS Scavenge", "PS MarkSweep"}  # G1: G1 Young/Old Generation
    assert spark.conf.get("spark.shuffle.compress") == "false"
    assert spark.conf.get("spark.sql.inMemoryColumnarStorage.compressed") == "false"
