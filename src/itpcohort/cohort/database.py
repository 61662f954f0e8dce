"""The cohort's embedded DuckDB database: where it lives and how much memory it may take.

The database is a file in a temporary folder of its own, removed when the
cohort is closed: DuckDB keeps its tables compressed there and in memory only
the parts a query is reading, so a registry's labs (30 million rows for a
million patients, 300 million for ten) do not have to fit in memory. Queries
that need more than the memory limit (sorts, joins) spill to the system's
temporary folder (``itpcohort-duckdb`` in it).

The memory limit, unless given, is derived from the machine: a sixteenth of
its memory (or of the container's limit), at least 1 GB and at most 8 GB.
A 16 GB laptop gives DuckDB 1 GB, a 24 GB workstation 1.5 GB, and the rest
stays free for the Python process (the endpoints table, the report) and
everything else the machine runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from itpcohort.cohort.cells import literal
from itpcohort.errors import ItpCohortError

GB = 1024**3
#: the memory limit's share of the machine's memory, and its bounds
MEMORY_SHARE, MEMORY_FLOOR, MEMORY_CEILING = 1 / 16, 1 * GB, 8 * GB
#: the folder, under the system's temporary folder, that queries spill to
SPILL_FOLDER = "itpcohort-duckdb"


def machine_memory() -> int:
    """The memory this process may use: the machine's, or its container's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_memory_limit() -> str:
    """DuckDB's memory limit when none is given (see the module's docstring), e.g. ``1536MB``."""
    limit = min(max(int(machine_memory() * MEMORY_SHARE), MEMORY_FLOOR), MEMORY_CEILING)
    return f"{limit // 1024**2}MB"


def open_database(
    memory_limit: str | None = None,
) -> tuple[duckdb.DuckDBPyConnection, tempfile.TemporaryDirectory[str]]:
    """A new database file in a temporary folder of its own, and that folder (remove it
    after closing the connection). ``memory_limit`` like ``3GB`` or ``500MB``."""
    storage = tempfile.TemporaryDirectory(prefix="itpcohort-cohort-")
    try:
        con = duckdb.connect(str(Path(storage.name) / "cohort.duckdb"))
    except duckdb.Error:
        storage.cleanup()
        raise
    try:
        _configure(con, memory_limit or default_memory_limit())
    except BaseException:
        con.close()
        storage.cleanup()
        raise
    return con, storage


def _configure(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    # every table carries its source line in _line and every output is ordered
    # explicitly, so DuckDB may stream without keeping insertion order (faster, leaner)
    con.sql("SET preserve_insertion_order = false")
    # dates from time-zoned timestamps must not depend on the machine's zone
    con.sql("SET TimeZone = 'UTC'")
    # DuckDB tracks how far a query is (query_fraction) but must not print its own bar
    con.sql("SET enable_progress_bar = true")
    con.sql("SET enable_progress_bar_print = false")
    # memory a query freed goes back to the system at once (jemalloc's background
    # threads): else a 1M-patient evaluate kept 1.7 GB resident after its query
    # while pandas built and wrote the endpoints (benchmark peak 2.45 GB -> 1.90 GB)
    con.sql("SET allocator_background_threads = true")
    spill = Path(tempfile.gettempdir()) / SPILL_FOLDER
    con.sql(f"SET temp_directory = {literal(spill.as_posix())}")
    try:
        con.sql(f"SET memory_limit = {literal(memory_limit)}")
    except duckdb.Error:
        raise ItpCohortError(
            f"memory limit '{memory_limit}' is not a size: write it like 3GB or 500MB"
        ) from None


def query_fraction(con: duckdb.DuckDBPyConnection) -> float | None:
    """How far the query running on ``con`` is, from 0 to 1; None when none is running.

    Safe to ask from another thread while the query runs.
    """
    try:
        percent = float(con.query_progress())
    except duckdb.Error:  # closed, or no query
        return None
    return None if percent < 0 else min(percent / 100, 1.0)
