"""Benchmark: read + validate + evaluate a large cohort end to end, on DuckDB and Spark.

Generates the cohorts (Parquet) if absent, then times each run in a fresh
Python process and prints patients per second and the process's peak memory
(maximum resident set size). Goal on a 2-core machine: 1,000,000 patients
(about 30 counts each) in at most 20 s with at most 4 GB peak memory.

    python benchmarks/bench_evaluate.py                      # 1,000,000 on DuckDB, 100,000 on Spark
    python benchmarks/bench_evaluate.py --patients 200000 --spark-patients 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = """
import json, resource, sys, time
import itpcohort
t0 = time.perf_counter()
cohort = itpcohort.read_cohort(sys.argv[1], memory_limit=sys.argv[3] or None)
t1 = time.perf_counter()
endpoints = itpcohort.evaluate(cohort, engine=sys.argv[2])
t2 = time.perf_counter()
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"read_s": t1 - t0, "evaluate_s": t2 - t1, "total_s": t2 - t0,
                  "patients": len(endpoints), "peak_mib": peak_kib / 1024,
                  "children_peak_mib": children / 1024,
                  "best": endpoints.best_response.value_counts().to_dict()}))
"""


def ensure(patients: int, counts: int) -> Path:
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


def run(folder: Path, engine: str, memory_limit: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(folder), engine, memory_limit],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--spark-patients", type=int, default=100_000, help="0 to skip Spark")
    parser.add_argument("--counts", type=int, default=30)
    parser.add_argument(
        "--memory-limit", default="3500MB", help="DuckDB memory limit ('' for DuckDB's default)"
    )
    args = parser.parse_args()
    jobs = [("duckdb", args.patients)]
    if args.spark_patients:
        jobs.append(("spark", args.spark_patients))
    for engine, n in jobs:
        folder = ensure(n, args.counts)
        r = run(folder, engine, args.memory_limit)
        rate = n / float(r["total_s"])  # type: ignore[arg-type]
        jvm = " (+ the JVM)" if engine == "spark" else ""
        print(
            f"{engine:6s} {n:>9,d} patients x {args.counts} counts: read+validate "
            f"{r['read_s']:.1f} s, evaluate {r['evaluate_s']:.1f} s, total {r['total_s']:.1f} s "
            f"= {rate:,.0f} patients/s; peak memory {r['peak_mib']:.0f} MiB{jvm} "
            f"(memory limit {args.memory_limit or 'DuckDB default'}); {r['best']}"
        )


if __name__ == "__main__":
    main()
