"""Benchmark: ``itpcohort evaluate`` at registry scale against a hand-written SQL peer.

Generates the cohorts (Parquet, about 30 platelet counts per patient) if
absent, then runs, each in a fresh process and each ``--repeat`` times:

- ``duckdb``: ``itpcohort evaluate COHORT -o endpoints.csv`` with the CLI's
  defaults (read, validate, evaluate, write);
- ``sql peer``: ``benchmarks/sql_peer.py``, the same rules in plain DuckDB SQL
  on DuckDB's defaults (no validation);
- ``spark``: ``itpcohort evaluate --engine spark`` in local mode.

Every output is compared byte for byte with the peer's (the run fails if one
differs). Printed per engine: patients, wall-clock seconds (the range over the
runs), process CPU seconds (user + system, Spark's JVM included; the check on a busy machine), peak
memory (resident set size of the whole process tree, sampled every 50 ms,
and the kernel's peak for the main process), patients per second and the
ratio to the peer's time (peer seconds / engine seconds, medians).

    python benchmarks/bench_evaluate.py                          # 1,000,000 patients, all three
    python benchmarks/bench_evaluate.py --patients 100000 --repeat 1 --engines duckdb,peer
    python benchmarks/bench_evaluate.py --patients 10000000 --engines duckdb   # out of core
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ENGINES = ("duckdb", "peer", "spark")
LABELS = {"duckdb": "DuckDB (CLI defaults)", "peer": "SQL peer (DuckDB)", "spark": "Spark local[*]"}


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    peak_tree_mib: float
    peak_main_mib: float


@dataclass
class Result:
    engine: str
    patients: int
    runs: list[Run] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)


def ensure(patients: int, counts: int) -> Path:
    """The benchmark cohort of ``patients`` x ``counts`` (generated once, then reused)."""
    folder = HERE / "data" / f"{patients}x{counts}"
    if not (folder / "labs.parquet").exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate.py"),
                "--patients",
                str(patients),
                "--counts",
                str(counts),
                "--output",
                str(folder),
            ],
            check=True,
        )
    return folder


def command(engine: str, folder: Path, output: Path) -> list[str]:
    if engine == "peer":
        return [sys.executable, str(HERE / "sql_peer.py"), str(folder), str(output)]
    cli = [sys.executable, "-m", "itpcohort", "evaluate", str(folder), "-o", str(output)]
    return cli + (["--engine", "spark"] if engine == "spark" else [])


def measure(cmd: list[str]) -> Run:
    """Run ``cmd`` in a fresh process: wall clock, CPU, peak RSS of the process tree."""
    started = time.perf_counter()
    process = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    child_cpu: dict[int, float] = {}  # CPU of descendants (Spark's JVM), last seen
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                children = process.children(recursive=True)
            except psutil.Error:
                children = []
            rss = 0
            for p in [process, *children]:
                try:
                    rss += p.memory_info().rss
                    if p is not process:
                        times = p.cpu_times()
                        child_cpu[p.pid] = times.user + times.system
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], rss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({process.returncode}):\n{stderr.decode()[-3000:]}")
    # Spark's JVM is not waited for by Python, so its CPU is not in ``usage``: sampled
    return Run(
        seconds,
        usage.ru_utime + usage.ru_stime + sum(child_cpu.values()),
        peak[0] / 2**20,
        usage.ru_maxrss / 1024,  # KiB on Linux
    )


def same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as x, b.open("rb") as y:
        while True:
            chunk_a, chunk_b = x.read(1 << 20), y.read(1 << 20)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True


def span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{lo:{fmt}}-{hi:{fmt}}"


def table(results: list[Result], peer: Result | None) -> str:
    lines = [
        "| engine | patients | seconds | CPU seconds | peak memory (process tree) | "
        "patients/s | speed vs the SQL peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        seconds = [x.seconds for x in r.runs]
        rates = [r.patients / s for s in seconds]
        gib = [x.peak_tree_mib / 1024 for x in r.runs]
        ratio = "-"
        if peer is not None and peer.patients == r.patients and r.engine != "peer":
            ratio = f"{peer.median_s / r.median_s:.1f}x"
        lines.append(
            f"| {LABELS[r.engine]} | {r.patients:,} | {span(seconds, '.1f')} | "
            f"{span([x.cpu_seconds for x in r.runs], '.1f')} | {span(gib, '.2f')} GB | "
            f"{span(rates, ',.0f')} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000, help="DuckDB and the peer")
    parser.add_argument("--spark-patients", type=int, default=None, help="default: --patients")
    parser.add_argument("--counts", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine")
    parser.add_argument("--engines", default=",".join(ENGINES), help="of: " + ", ".join(ENGINES))
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    sizes = {e: args.patients for e in engines}
    if "spark" in sizes and args.spark_patients:
        sizes["spark"] = args.spark_patients
    results: dict[str, Result] = {}
    outputs: dict[tuple[str, int], Path] = {}
    with tempfile.TemporaryDirectory(prefix="itpcohort-bench-") as scratch:
        # the peer first: every other output is compared with its output
        for engine in sorted(engines, key=lambda e: e != "peer"):
            n = sizes[engine]
            folder = ensure(n, args.counts)
            result = results[engine] = Result(engine, n)
            for i in range(args.repeat):
                output = Path(scratch) / f"{engine}-{n}-{i}.csv"
                run = measure(command(engine, folder, output))
                result.runs.append(run)
                reference = outputs.setdefault(("peer", n), output) if engine == "peer" else None
                check = outputs.get(("peer", n))
                verdict = ""
                if check is not None and output != reference:
                    if not same_bytes(output, check):
                        sys.exit(f"{engine}: {output} differs from the SQL peer's {check}")
                    verdict = ", same bytes as the peer"
                print(
                    f"{engine:6s} {n:>11,d} patients: {run.seconds:6.1f} s, CPU "
                    f"{run.cpu_seconds:6.1f} s, peak {run.peak_tree_mib:,.0f} MiB (tree), "
                    f"{run.peak_main_mib:,.0f} MiB (main process){verdict}",
                    flush=True,
                )
                if engine != "peer" or i:
                    output.unlink()
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} cores; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print(table([results[e] for e in engines], results.get("peer")))


if __name__ == "__main__":
    main()
