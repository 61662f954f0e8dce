"""Profile one visit save of the study app in-process: time and SQL queries of each part.

Against a study data folder (its embedded PostgreSQL; use a copy, e.g. of the one
``bench_study.py`` leaves in ``benchmarks/data/study-10000x30/study``: each save here
adds a platelet count): N visit saves through Django's test client as an
administrator, as the benchmark's clients post them (a random patient, a count
dated 2030), each part of the save wrapped to record its wall time and its SQL
queries. Parts nest (the visit states are computed inside the after-save work);
the figures are inclusive, medians over the saves.

    cp -a benchmarks/data/study-10000x30/study /tmp/copy
    flock /tmp/bench.lock python benchmarks/profile_save.py /tmp/copy --saves 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

#: module -> the functions wrapped, when the module has them (names differ across versions)
PARTS = {
    "itpcohort.study.records": ["create_many"],
    "itpcohort.study.followup": ["after_save", "visit_states"],
    "itpcohort.study.alerts": [
        "after_save",
        "raise_alerts",
        "low_platelet_candidates",
        "bleeding_candidates",
        "adverse_event_candidates",
        "overdue_candidates",
    ],
    "itpcohort.study.queries": [
        "after_save",
        "raise_automatic_queries",
        "_cell_findings",
        "_missing_visits",
    ],
    "itpcohort.study.schedule": ["patient_visit_states"],
}


def wrap(module: Any, name: str, seen: dict[str, list[tuple[float, int]]]) -> None:
    """Replace ``module.name`` by a wrapper recording (ms, SQL queries) per call;
    a generator's items are collected in the wrapper, so its work is counted there."""
    import inspect

    from django.db import connection

    inner = getattr(module, name)
    label = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"

    def timed(*args: Any, **kwargs: Any) -> Any:
        before, t = len(connection.queries), time.perf_counter()
        out = inner(*args, **kwargs)
        if inspect.isgenerator(out):
            out = list(out)
        seen[label].append(((time.perf_counter() - t) * 1000, len(connection.queries) - before))
        return out

    setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a study data folder (a copy: saves are added)")
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--sql", action="store_true", help="print the SQL of the last save")
    args = parser.parse_args()

    from itpcohort.study import runtime

    os.environ.pop("ITPCOHORT_STUDY_DB", None)
    runtime.setup(args.data, https=False, hosts="testserver")
    import importlib

    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client

    from itpcohort.study import people
    from itpcohort.study.models import Patient

    if not User.objects.filter(username="profile").exists():
        people.add_user("profile", "administrator", [], "profile-password-long", by="profile")
    seen: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for module_name, names in PARTS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            if hasattr(module, name):
                wrap(module, name, seen)
    ids = list(
        Patient.objects.filter(excluded="", deleted=False).values_list("patient_id", flat=True)
    )
    rng = random.Random(args.seed)
    client = Client()
    client.force_login(User.objects.get(username="profile"))
    connection.force_debug_cursor = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n in range(args.saves + 1):
        pid = rng.choice(ids)
        day = f"2030-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        reset_queries()
        t = time.perf_counter()
        response = client.post(
            f"/patients/{pid}/visit/",
            {
                "date": day,
                "platelets_value": str(rng.randint(5, 400)),
                "platelets_unit": "10^9/L",
                "confirm": "on",
            },
        )
        elapsed = (time.perf_counter() - t) * 1000
        assert response.status_code == 302, (pid, response.status_code)
        if n == 0:  # the first save warms the caches (settings, templates): not counted
            seen.clear()
            continue
        seen["POST visit (whole request)"].append((elapsed, len(connection.queries)))
    figures = {
        "saves": args.saves,
        "wall_s": round(time.perf_counter() - wall0, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "parts": {
            label: {
                "calls_per_save": round(len(rows) / args.saves, 2),
                "median_ms": round(statistics.median(ms for ms, _ in rows), 1),
                "median_queries": statistics.median(q for _, q in rows),
            }
            for label, rows in sorted(seen.items())
        },
    }
    if args.sql:
        for number, query in enumerate(connection.queries, start=1):
            print(f"{number:3} {query['time']:>6} {query['sql'][:300]}")
    json.dump(figures, sys.stdout, indent=2)
    print()
    runtime.stop_embedded()


if __name__ == "__main__":
    main()
