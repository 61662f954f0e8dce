"""Benchmark the patient page and its response part (issue 11) on a served study.

A synthetic study (``bench_study.prepare``: N patients x about 30 counts, three
sites) is imported into a fresh embedded PostgreSQL and served by ``itpcohort
serve``; one client, logged in as an administrator, opens P random patients:
the page (which never waits on the engine), its response part (the first one
computes the study's evaluation, the others read it from the cache), the
timeline figure (drawn once per patient and data version) and the figure again
(from the cache). Figures: p50/p95 per kind, and the first response part apart.

    python benchmarks/bench_patient_page.py --patients 10000 --sample 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_study import PASSWORD, TOKEN, _wait, percentile, prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=30, help="patients opened")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--root", type=Path, default=HERE / "data" / "patient-page")
    args = parser.parse_args()
    cohort, data = args.root / "cohort", args.root / "study"
    prepare(args.patients, 30, cohort)
    shutil.rmtree(data, ignore_errors=True)
    os.environ.pop("ITPCOHORT_STUDY_DB", None)

    from itpcohort.study import runtime

    runtime.setup(data, https=False)
    from django.db import connections

    from itpcohort.study import people
    from itpcohort.study.exchange import import_cohort
    from itpcohort.study.models import Patient

    import_cohort(cohort, reason="benchmark")
    people.add_user("bench", "administrator", [], PASSWORD, by="bench")
    ids = list(Patient.objects.filter(excluded="").values_list("patient_id", flat=True))
    connections.close_all()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "itpcohort",
            "serve",
            "--data",
            str(data),
            "--port",
            str(args.port),
            "--workers",
            "2",
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait(base)
        times = _client(base, random.Random(1).sample(ids, args.sample))
    finally:
        server.terminate()
        server.wait(timeout=60)
    figures: dict[str, object] = {
        "patients": args.patients,
        "opened": args.sample,
        "load_average": round(os.getloadavg()[0], 1),
        "first_response_part_ms": round(times.pop("first")[0]),
    }
    for kind, values in times.items():
        figures[kind] = {
            "p50_ms": round(statistics.median(values)),
            "p95_ms": round(percentile(values, 0.95)),
        }
    print(json.dumps(figures, indent=2))


def _client(base: str, ids: list[str]) -> dict[str, list[float]]:
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=60)
    s.post(
        f"{base}/login/",
        data={
            "username": "bench",
            "password": PASSWORD,
            "csrfmiddlewaretoken": TOKEN.search(page.text).group(1),
        },
        timeout=600,
    )
    out: dict[str, list[float]] = {
        "first": [],
        "page": [],
        "response part": [],
        "figure (drawn)": [],
        "figure (cached)": [],
    }
    for n, pid in enumerate(ids):
        for kind, url in (
            ("page", f"/patients/{pid}/"),
            ("response part", f"/patients/{pid}/response/"),
            ("figure (drawn)", f"/patients/{pid}/timeline.svg"),
            ("figure (cached)", f"/patients/{pid}/timeline.svg"),
        ):
            t = time.perf_counter()
            r = s.get(base + url, timeout=600)
            elapsed = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise SystemExit(f"{url}: {r.status_code}")
            out["first" if n == 0 and kind == "response part" else kind].append(elapsed)
    return out


if __name__ == "__main__":
    main()
