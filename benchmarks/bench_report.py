"""Benchmark: ``itpcohort report`` on a large cohort, in a fresh process.

Generates the cohort (``generate.py``, Parquet, about 30 platelet counts per
patient) if absent, runs ``itpcohort report COHORT -o OUT --by sle`` as a
subprocess and prints the wall time, the peak memory of that process (maximum
resident set size) and the size of the largest image and of report.html.
Goal on the 2-core machine: 200,000 patients within 60 s and 2 GB. The CPU time
and the load average are printed too: other work on the machine stretches the
wall time.

    python benchmarks/bench_report.py                       # 200,000 patients
    python benchmarks/bench_report.py --patients 20000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = """
import json, resource, sys, time
from itpcohort.cli import main
t0 = time.perf_counter()
sys.argv = ["itpcohort", "report", sys.argv[1], "-o", sys.argv[2], "--by", "sle"]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mib": usage.ru_maxrss / 1024,
                  "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def ensure(patients: int, counts: int, folder: Path | None) -> Path:
    folder = folder or HERE / "data" / f"{patients}x{counts}"
    if not (folder / "labs.parquet").exists():
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--patients", str(patients),
             "--counts", str(counts), "--output", str(folder)],
            check=True,
        )  # fmt: skip
    return folder


def largest_image(folder: Path) -> tuple[str, int, int]:
    from PIL import Image

    sizes = []
    for png in sorted((folder / "figures").glob("*.png")):
        with Image.open(png) as image:
            sizes.append((png.name, *image.size))
    return max(sizes, key=lambda s: s[1] * s[2])


def run(cohort: Path) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="itpcohort-bench-report-"))
    try:
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(cohort), str(out / "report")],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t0
        result = json.loads(done.stdout.strip().splitlines()[-1])
        name, width, height = largest_image(out / "report")
        html_mb = (out / "report" / "report.html").stat().st_size / 1e6
        load = os.getloadavg()[0]
        return {
            **result,
            "wall_s": wall,
            "image": (name, width, height),
            "html_mb": html_mb,
            "load": load,
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--counts", type=int, default=30)
    parser.add_argument("--cohort", type=Path, help="an existing cohort folder to report on")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cohort = ensure(args.patients, args.counts, args.cohort)
    for _ in range(args.runs):
        r = run(cohort)
        name, width, height = r["image"]  # type: ignore[misc]
        print(
            f"report {args.patients:,d} patients x {args.counts} counts: {r['seconds']:.1f} s "
            f"in the process ({r['wall_s']:.1f} s wall, Python start included; CPU "
            f"{r['cpu_s']:.1f} s; load average {r['load']:.1f}); peak memory "
            f"{r['peak_mib']:.0f} MiB; largest image {name} {width} x {height} px; "
            f"report.html {r['html_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
