"""Benchmark the study database (issue 10): import, pages and saves under load, export.

A synthetic study (``generate.py``: N patients, about 30 platelet counts each, spread
over three sites) is imported into a fresh embedded PostgreSQL; the app is served
by ``itpcohort serve`` (gunicorn) on 127.0.0.1; C clients, each logged in as the
administrator, loop for S seconds over: the patient list (a random page), a
patient page (a random patient) and a visit save (the visit form, then its POST
with a platelet count). Then the whole study is exported as a cohort folder and
the audit chain verified. Goal (issue 10): p95 under 300 ms for pages and saves,
export under 10 s.

Monitoring (issue 11), after the load test, the server still up: the dashboard
with the results cached (C clients for M seconds, random pages of its visit
grid; the first request evaluates the study after the load test's saves), each
dashboard figure drawn once then served from its cache, the patient page with
the results cached, and a full re-evaluation after an edit (a count saved, then
``monitoring.snapshot()``: export and the one pipeline), three times. Goals: the
dashboard under 1 s at p95, a re-evaluation under 5 s, a patient page under 300 ms.

    python benchmarks/bench_study.py                       # 10,000 x 30, 10 clients, 60 s
    python benchmarks/bench_study.py --patients 1000 --seconds 20 --monitoring-seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "bench-password-long-enough"


def prepare(patients: int, counts: int, folder: Path) -> None:
    """The synthetic cohort, with a site column (three sites)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (folder / "patients.parquet").exists():
        return
    generate(patients, counts, folder)
    table = pq.read_table(folder / "patients.parquet")
    sites = [f"SITE-{i % 3 + 1}" for i in range(table.num_rows)]
    pq.write_table(table.append_column("site", pa.array(sites)), folder / "patients.parquet")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def session(base: str):  # type: ignore[no-untyped-def]
    """A requests session logged in as the benchmark's administrator."""
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=60)
    s.post(f"{base}/login/", data={"username": "bench", "password": PASSWORD,
                                   "csrfmiddlewaretoken": TOKEN.search(page.text).group(1)},
           timeout=600)
    return s


def reader(base: str, paths: list[str], until: float, out: list[float], errors: list[str],
           seed: int) -> None:
    """GET random paths of ``paths`` until ``until``; the latency of each (ms) into ``out``."""
    rng = random.Random(seed)
    s = session(base)
    while time.monotonic() < until:
        path = rng.choice(paths)
        t = time.perf_counter()
        r = s.get(f"{base}{path}", timeout=600)
        if r.status_code != 200:
            errors.append(f"{path} {r.status_code}")
        else:
            out.append((time.perf_counter() - t) * 1000)


def timed_reads(base: str, paths: list[str], clients: int, seconds: float) -> dict[str, object]:
    out: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=reader, args=(base, paths, until, out, errors, n))
               for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {**latencies(out), "errors": len(errors)}


def latencies(values: list[float]) -> dict[str, object]:
    if not values:
        return {}
    return {"n": len(values), "p50_ms": round(statistics.median(values)),
            "p95_ms": round(percentile(values, 0.95))}


def monitoring_figures(base: str, ids: list[str], args: argparse.Namespace) -> dict[str, object]:
    """The dashboard, its figures and the patient page with the results cached."""
    s = session(base)
    out: dict[str, object] = {}
    t = time.perf_counter()
    page = s.get(f"{base}/dashboard/", timeout=600)
    out["dashboard_first_after_saves_s"] = round(time.perf_counter() - t, 2)
    figures = [u.replace("&amp;", "&") for u in re.findall(r'<img src="(/dashboard/[^"]+)"',
                                                            page.text)]
    drawn = {}
    for url in figures:
        name = url.split("/")[-1].split(".")[0]
        t = time.perf_counter()
        first = s.get(f"{base}{url}", timeout=600)
        drawn[name] = round((time.perf_counter() - t) * 1000)
        assert first.status_code == 200, (url, first.status_code)
    out["figure_first_draw_ms"] = drawn
    pages = max(1, len(ids) // 25)
    out["dashboard"] = timed_reads(
        base, [f"/dashboard/?page={n}" for n in range(1, pages + 1)], args.clients,
        args.monitoring_seconds)
    out["figure_cached"] = timed_reads(base, figures, args.clients, args.monitoring_seconds / 3)
    out["patient_page"] = timed_reads(
        base, [f"/patients/{pid}/" for pid in ids], args.clients, args.monitoring_seconds)
    return out


def re_evaluation(ids: list[str], times: int = 3) -> dict[str, object]:
    """A count saved (as the app saves it), then the study evaluated again, ``times`` times."""
    import datetime as dt

    from itpcohort.study import monitoring, records
    from itpcohort.study.models import Lab, Patient

    rng = random.Random(7)
    runs = []
    for _ in range(times):
        patient = Patient.objects.get(patient_id=rng.choice(ids))
        records.create(Lab, {"patient": patient, "date": dt.date(2031, 1, rng.randint(1, 28)),
                             "test": "platelets", "value": float(rng.randint(5, 400)),
                             "unit": "10^9/L"})
        t = time.perf_counter()
        s = monitoring.snapshot()
        runs.append({"total_s": round(time.perf_counter() - t, 2), **s.seconds,
                     "version": s.version})
    return {"runs": runs, "median_s": statistics.median(r["total_s"] for r in runs)}


def client(base: str, ids: list[str], until: float, out: dict[str, list[float]],
           errors: list[str], seed: int) -> None:

    rng = random.Random(seed)
    s = session(base)
    while time.monotonic() < until:
        kind = rng.choice(("list", "patient", "save"))
        pid = rng.choice(ids)
        t = time.perf_counter()
        if kind == "list":
            r = s.get(f"{base}/patients/?page={rng.randint(1, max(1, len(ids) // 50))}",
                      timeout=60)
        elif kind == "patient":
            r = s.get(f"{base}/patients/{pid}/", timeout=60)
        else:
            form = s.get(f"{base}/patients/{pid}/visit/", timeout=60)
            t = time.perf_counter()  # the save itself, not the form before it
            day = f"2030-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            r = s.post(f"{base}/patients/{pid}/visit/", timeout=60, allow_redirects=False,
                       data={"date": day, "platelets_value": str(rng.randint(5, 400)),
                             "platelets_unit": "10^9/L", "confirm": "on",
                             "csrfmiddlewaretoken": TOKEN.search(form.text).group(1)})
        elapsed = (time.perf_counter() - t) * 1000
        if r.status_code not in (200, 302):
            errors.append(f"{kind} {r.status_code}")
        else:
            out[kind].append(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--counts", type=int, default=30)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--monitoring-seconds", type=float, default=30,
                        help="seconds of dashboard and of patient pages with results cached")
    parser.add_argument("--after-save", choices=("inline", "background"), default="inline",
                        help="the server's ITPCOHORT_STUDY_AFTER_SAVE (a save's alerts and "
                        "automatic queries in the request, or in a thread after it)")
    args = parser.parse_args()

    root = HERE / "data" / f"study-{args.patients}x{args.counts}"
    cohort, data = root / "cohort", root / "study"
    prepare(args.patients, args.counts, cohort)
    shutil.rmtree(data, ignore_errors=True)
    os.environ.pop("ITPCOHORT_STUDY_DB", None)

    from itpcohort.study import runtime

    runtime.setup(data, https=False)
    from itpcohort.study import people
    from itpcohort.study.audit import verify_chain
    from itpcohort.study.exchange import export_cohort, import_cohort
    from itpcohort.study.models import Lab, Patient

    figures: dict[str, object] = {"patients": args.patients, "counts_per_patient": args.counts,
                                  "cpus": os.cpu_count(),
                                  "load_average_at_start": round(os.getloadavg()[0], 1)}
    t = time.perf_counter()
    result = import_cohort(cohort, reason="benchmark")
    figures["import_s"] = round(time.perf_counter() - t, 1)
    figures["imported"] = result.counts
    people.add_user("bench", "administrator", [], PASSWORD, by="bench")
    ids = list(Patient.objects.filter(excluded="").values_list("patient_id", flat=True))

    from django.db import connections

    connections.close_all()
    env = {**os.environ, "ITPCOHORT_STUDY_DB": os.environ["ITPCOHORT_STUDY_DB"],
           "ITPCOHORT_STUDY_AFTER_SAVE": args.after_save}
    figures["after_save"] = args.after_save
    server = subprocess.Popen(
        [sys.executable, "-m", "itpcohort", "serve", "--data", str(data), "--port",
         str(args.port), "--workers", str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait(base)
        out: dict[str, list[float]] = {"list": [], "patient": [], "save": []}
        errors: list[str] = []
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(base, ids, until, out, errors, n))
                   for n in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        figures["load_average_before_monitoring"] = round(os.getloadavg()[0], 1)
        figures["monitoring"] = monitoring_figures(base, ids, args)
        figures["monitoring"]["re_evaluation_after_an_edit"] = re_evaluation(ids)
        figures["load_average_after_monitoring"] = round(os.getloadavg()[0], 1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    for kind, values in out.items():
        figures[kind] = {"n": len(values), "p50_ms": round(statistics.median(values)),
                         "p95_ms": round(percentile(values, 0.95))} if values else {}
    figures["errors"] = len(errors)
    # other work on the machine during the load test skews the latencies: say how much
    figures["load_average_after_load_test"] = round(os.getloadavg()[0], 1)
    figures["labs_after"] = Lab.objects.count()
    shutil.rmtree(root / "export", ignore_errors=True)
    t = time.perf_counter()
    export_cohort(root / "export")
    figures["export_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    report = verify_chain()
    figures["verify_audit_s"] = round(time.perf_counter() - t, 1)
    figures["audit_links"] = report.links
    figures["chain_ok"] = report.ok
    print(json.dumps(figures, indent=2))
    (root / "bench_study.json").write_text(json.dumps(figures, indent=2))


def _wait(base: str) -> None:
    import requests

    for _ in range(120):
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
