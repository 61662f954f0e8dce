"""Opening the compute engines, in one place: DuckDB (embedded, default) and Spark.

DuckDB runs on the cohort's own embedded database. Spark runs in local mode
unless a master URL is given (``spark://host:7077``, ``yarn``, ``k8s://...``);
one SparkSession serves the whole Python process. The cohort's clean tables
reach Spark as Parquet files written by DuckDB into a staging folder, which the
executors must be able to read at the same path: a temporary folder by default
(local mode, or a cluster on this machine), or the folder named by the
environment variable ``ITPCOHORT_SPARK_STAGING`` (a shared file system mounted
on the driver and on every executor: NFS, a Kubernetes volume, ``/dbfs`` on
Databricks).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from itpcohort.cohort import Cohort
from itpcohort.cohort.database import query_fraction
from itpcohort.cohort.progress import Fraction
from itpcohort.errors import EngineError

ENGINES: tuple[str, ...] = ("duckdb", "spark")
TABLES = ("patients", "treatments", "labs", "bleeding", "adverse_events")
#: the environment variable naming a staging folder the Spark executors can read
STAGING_VARIABLE = "ITPCOHORT_SPARK_STAGING"

#: the largest table Spark broadcasts to a join (``spark.sql.autoBroadcastJoinThreshold``)
BROADCAST_BYTES = "64m"
#: Spark in local mode (measured at 1,000,000 patients on 2 cores, issue 14): the
#: throughput collector instead of G1 (the JVM's CPU 127 -> 112 s), shuffle files not
#: compressed (they never leave the machine), cached tables not compressed (the kept
#: confirmations: 6 s less CPU, for more memory); a cluster keeps Spark's defaults
LOCAL_SETTINGS = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    "spark.shuffle.compress": "false",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}

_spark_session: Any = None
_spark_master: str | None = None
_spark_dir: tempfile.TemporaryDirectory[str] | None = None


@dataclass
class EngineTables:
    """The cohort's clean tables as ibis tables on one engine."""

    backend: Any
    tables: dict[str, ir.Table]
    #: the same rows without the text ``patient_id`` (``labs``: no join to get it)
    by_key: dict[str, ir.Table] = field(default_factory=dict)
    #: keeps a table that several later steps read (Spark: cached, not derived again for
    #: each; DuckDB keeps shared steps of one query itself)
    reuse: Callable[[ir.Table], ir.Table] | None = None
    #: how far the engine's running query is (for a progress display; may be asked from
    #: another thread)
    fraction: Fraction | None = None

    def __getitem__(self, name: str) -> ir.Table:
        return self.tables[name]

    def keyed(self, name: str) -> ir.Table:
        """Table ``name`` with the integer key ``_pid`` as its ``patient_id``.

        The derivations join and sort on it, faster than on text IDs.
        """
        table = self.by_key.get(name, self.tables[name])
        return table.mutate(patient_id=table._pid).drop("_pid")


def open_engine(cohort: Cohort, engine: str = "duckdb", master: str | None = None) -> EngineTables:
    """The cohort's tables on ``engine`` (``duckdb`` or ``spark``)."""
    if engine == "duckdb":
        backend = ibis.duckdb.from_connection(cohort.con)
        return EngineTables(
            backend,
            {name: backend.table(name) for name in TABLES},
            {"labs": backend.table("labs_keyed")},
            fraction=lambda: query_fraction(cohort.con),
        )
    if engine == "spark":
        return _spark_tables(cohort, master)
    raise EngineError(f"unknown engine '{engine}': use one of {', '.join(ENGINES)}")


def spark_session(master: str | None = None) -> Any:
    """The process's one SparkSession (local mode with all cores by default).

    Spark allows one session per process: asking again with another master is an
    error, never the running session silently.
    """
    global _spark_session, _spark_master
    wanted = master or "local[*]"
    if _spark_session is not None:
        if wanted != _spark_master:
            raise EngineError(
                f"Spark is already running on {_spark_master} in this process; it cannot also "
                f"run on {wanted} (one Spark session per process: start a new process)"
            )
        return _spark_session
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "the Spark engine needs pyspark: pip install 'itpcohort[spark]' (and Java 17+)"
        ) from None
    try:
        builder = (
            SparkSession.builder.appName("itpcohort")
            .master(wanted)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.memory", "4g")
            .config("spark.sql.ansi.enabled", "false")
            # the per-patient tables (kept, so sized as they are: 1M patients, about 20 MB
            # each) are broadcast to the counts instead of 30M counts shuffled to them; the
            # labs are never kept, and Spark estimates them from their Parquet (1M: 70 MB)
            .config("spark.sql.autoBroadcastJoinThreshold", BROADCAST_BYTES)
            # results reach Python as Arrow batches, not one pickled row at a time
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        for key, value in LOCAL_SETTINGS.items() if wanted.startswith("local") else ():
            builder = builder.config(key, value)
        _spark_session = builder.getOrCreate()
        _spark_master = wanted
        _spark_session.sparkContext.setLogLevel("ERROR")
    except Exception as exc:  # py4j and JVM start-up errors have no common base
        raise EngineError(f"cannot start Spark ({master or 'local mode'}): {exc}") from None
    return _spark_session


def _staging_root() -> str | None:
    """The shared staging folder named by :data:`STAGING_VARIABLE` (None: the system's)."""
    root = os.environ.get(STAGING_VARIABLE, "").strip()
    if not root:
        return None
    if not Path(root).is_dir():
        raise EngineError(
            f"{STAGING_VARIABLE} names '{root}', which is not a folder: give a folder on "
            "storage that the driver and every Spark executor see at that path"
        )
    return str(Path(root).resolve())


def _spark_tables(cohort: Cohort, master: str | None) -> EngineTables:
    global _spark_dir
    staging = _staging_root()
    spark = spark_session(master)
    if _spark_dir is None:
        _spark_dir = tempfile.TemporaryDirectory(prefix="itpcohort-spark-", dir=staging)
    folder = Path(_spark_dir.name) / uuid.uuid4().hex
    folder.mkdir()
    backend = ibis.pyspark.connect(spark)
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        # labs go by key (no join to text IDs on the way); the relational API takes the
        # path as a value (no SQL text to escape)
        cohort.con.table("labs_keyed" if name == "labs" else name).write_parquet(str(path))
        view = f"itp_{folder.name}_{name}"
        # a file: URI, not a bare path: a cluster whose default file system is HDFS (YARN)
        # or DBFS (Databricks) would look for a bare path there
        spark.read.parquet(path.as_uri()).createOrReplaceTempView(view)
        tables[name] = backend.table(view)
    return EngineTables(
        backend, tables, {"labs": tables["labs"]}, reuse=_cached, fraction=_spark_fraction
    )


def _spark_fraction() -> float | None:
    """Tasks done of the running Spark stages (None when none runs)."""
    if _spark_session is None:
        return None
    try:
        tracker = _spark_session.sparkContext.statusTracker()
        stages = [tracker.getStageInfo(i) for i in tracker.getActiveStageIds()]
    except Exception:  # py4j errors while Spark stops have no common base
        return None
    total = sum(s.numTasks for s in stages if s is not None)
    done = sum(s.numCompletedTasks for s in stages if s is not None)
    return done / total if total else None


def _cached(table: ir.Table) -> ir.Table:
    """``table`` computed once, now, and kept (Spark recomputes shared steps).

    Computed at once rather than when first needed, so Spark plans the later steps
    on its real size: a kept per-patient table is then small enough to broadcast
    (a table not yet computed is estimated from its plan, a join as the product of
    its sides).
    """
    kept = table.cache()
    kept.count().execute()
    return kept
