"""The benchmark's SQL peer (``benchmarks/sql_peer.py``) writes what ``evaluate`` writes.

The peer is the yardstick of issue 14's speed goal; it stays honest only if it
computes the same endpoints. Checked on a small generated benchmark cohort and
on the simulated reference study (rescue therapy, bleeding, follow-up ends),
byte for byte.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import duckdb

import itpcohort
from itpcohort.response import write_endpoints
from itpcohort.simulate import simulate
from tests.conftest import ROOT


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _both(folder: Path, tmp_path: Path) -> tuple[bytes, bytes]:
    peer = _module("sql_peer")
    peer.run_peer(folder, tmp_path / "peer.csv")
    write_endpoints(itpcohort.evaluate(folder), tmp_path / "itpcohort.csv")
    return (tmp_path / "peer.csv").read_bytes(), (tmp_path / "itpcohort.csv").read_bytes()


def test_peer_matches_on_a_generated_cohort(tmp_path: Path) -> None:
    _module("generate").generate(3000, 30, tmp_path / "cohort", seed=7)
    peer, ours = _both(tmp_path / "cohort", tmp_path)
    assert peer.count(b"\n") == ours.count(b"\n") > 2900
    assert peer == ours


def test_peer_matches_on_the_reference_study(tmp_path: Path) -> None:
    simulate(tmp_path / "csv", "tacrolimus-apl-2023", seed=3, patients=150)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    con = duckdb.connect()
    for table in ("patients", "treatments", "labs", "bleeding"):
        source, target = tmp_path / "csv" / f"{table}.csv", cohort / f"{table}.parquet"
        con.read_csv(str(source)).write_parquet(str(target))
    peer, ours = _both(cohort, tmp_path)
    assert peer == ours
