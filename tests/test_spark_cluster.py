"""Spark as a real cluster: a standalone master and worker on 127.0.0.1, identical endpoints.

The master and the worker are started with ``spark-class`` from the pyspark
installation (the launcher its own ``start-master.sh`` and ``start-worker.sh``
call), each on free ports bound to 127.0.0.1, their logs and work folders in
the test's temporary folder; both are stopped at the end. ``itpcohort
evaluate --engine spark --master spark://127.0.0.1:PORT`` then runs in a fresh
process (one Spark session per process) with the staging folder shared through
``ITPCOHORT_SPARK_STAGING``, and its endpoints file must equal DuckDB's byte for
byte. The worker's executor log shows that the tasks ran there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import itpcohort
from itpcohort.response import write_endpoints
from itpcohort.simulate import simulate
from tests.conftest import SPARK_SKIP

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or ""),
]
STARTUP_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    pytest.fail(f"{log.name}: no '{text}' within {STARTUP_SECONDS} s:\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _spark_env(folder: Path) -> dict[str, str]:
    import pyspark

    return {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",  # bind and advertise the loopback address only
        "SPARK_LOG_DIR": str(folder),
        "SPARK_PID_DIR": str(folder),
        "PYSPARK_PYTHON": sys.executable,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A standalone master and one worker (2 cores, 2 GB); yields (master URL, work folder)."""
    folder = tmp_path_factory.mktemp("spark-cluster")
    env = _spark_env(folder)
    spark_class = str(Path(env["SPARK_HOME"]) / "bin" / "spark-class")
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (folder / "master.log").open("wb") as log:
            master = subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(_free_port())],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder,
            )  # fmt: skip
        started.append(master)
        _wait_for(folder / "master.log", "I have been elected leader", master)
        work = folder / "work"
        with (folder / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--port", str(_free_port()), "--webui-port", str(_free_port()),
                 "--cores", "2", "--memory", "2g", "--work-dir", str(work), master_url],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder,
            )  # fmt: skip
        started.append(worker)
        _wait_for(folder / "worker.log", "Successfully registered with master", worker)
        yield master_url, work
    finally:
        for process in reversed(started):
            _stop(process)


def _evaluate_on_cluster(
    master_url: str, cohort: Path, output: Path, staging: Path, criteria: str
) -> None:
    staging.mkdir(exist_ok=True)
    env = {**_spark_env(output.parent), "ITPCOHORT_SPARK_STAGING": str(staging)}
    done = subprocess.run(
        [sys.executable, "-m", "itpcohort", "evaluate", str(cohort), "-o", str(output),
         "--criteria", criteria, "--engine", "spark", "--master", master_url],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("criteria", ["iwg2009", "iwg2009-or"])
def test_cluster_endpoints_equal_duckdb(
    cluster: tuple[str, Path], tmp_path: Path, criteria: str
) -> None:
    master_url, work = cluster
    # the reference study, scaled: rescue therapy, bleeding, tapers, follow-up ends
    simulate(tmp_path / "cohort", "tacrolimus-apl-2023", seed=11, patients=200)
    on_cluster = tmp_path / "spark.csv"
    _evaluate_on_cluster(
        master_url, tmp_path / "cohort", on_cluster, tmp_path / "staging", criteria
    )
    on_duckdb = tmp_path / "duckdb.csv"
    write_endpoints(itpcohort.evaluate(tmp_path / "cohort", criteria=criteria), on_duckdb)
    assert on_cluster.read_bytes() == on_duckdb.read_bytes()
    # the tasks ran in the worker's executor, not in the driver
    logs = [p.read_text(errors="replace") for p in work.glob("app-*/*/stderr")]
    assert any("Finished task" in text for text in logs)
    # the staging folder is cleaned up when the driver ends
    assert not any((tmp_path / "staging").iterdir())


def test_a_staging_folder_that_is_not_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itpcohort import EngineError, engines

    monkeypatch.setenv(engines.STAGING_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(EngineError, match="not a folder"):
        engines._staging_root()
    monkeypatch.setenv(engines.STAGING_VARIABLE, "relative-staging")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative-staging").mkdir()
    assert engines._staging_root() == str(tmp_path / "relative-staging")
