"""Spark's settings for speed (issue 14): kept tables computed at once, the
per-patient tables broadcast, local mode's collector and compression."""

from __future__ import annotations

from typing import Any

import pytest

from itpcohort import engines
from itpcohort.pipeline import run
from tests.conftest import ROOT, SPARK_SKIP

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"


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
