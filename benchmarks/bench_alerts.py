"""Benchmark the alerts (issue 11): raising them over a whole study, per save, and the inbox.

The synthetic study of ``bench_study.py`` (N patients, about 30 platelet counts each,
three sites) is imported into a fresh embedded PostgreSQL; then, in this process:

- ``raise_alerts()`` over the whole study, the first time (every alert new) and a
  second time (nothing new: what the daily cron costs on a settled study);
- ``raise_alerts([patient])`` with every kind but losses: what each save adds
  after its commit (median and p95 over 200 patients);
- the inbox page (Django's test client), the count of unacknowledged alerts and
  the nav badge (that count, cached per user) for a one-site user.

E-mail is off (nobody has an address). Losses are left out: they come from the
engine's snapshot (``bench_study`` and the monitoring benchmark time that).

    python benchmarks/bench_alerts.py                 # 10,000 x 30
    python benchmarks/bench_alerts.py --patients 1000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_study import PASSWORD, percentile, prepare  # noqa: E402

KINDS = ("low_platelets", "bleeding", "adverse_event", "overdue_visit")


def timed(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--counts", type=int, default=30)
    args = parser.parse_args()

    root = HERE / "data" / f"study-{args.patients}x{args.counts}"
    cohort, data = root / "cohort", root / "alerts-study"
    prepare(args.patients, args.counts, cohort)
    shutil.rmtree(data, ignore_errors=True)
    os.environ.pop("ITPCOHORT_STUDY_DB", None)
    os.environ["ITPCOHORT_STUDY_HOSTS"] = "testserver"

    from itpcohort.study import runtime

    runtime.setup(data, https=False)
    from django.test import Client

    from itpcohort.study import alerts, people
    from itpcohort.study.exchange import import_cohort
    from itpcohort.study.models import Alert, Patient

    figures: dict[str, object] = {
        "patients": args.patients,
        "counts_per_patient": args.counts,
        "load_average_at_start": round(os.getloadavg()[0], 1),
    }
    _, figures["import_s"] = timed(import_cohort, cohort, reason="benchmark")
    raised, seconds = timed(alerts.raise_alerts, kinds=KINDS)
    figures["first_run"] = {
        "s": round(seconds, 2),
        "alerts": len(raised),
        "by_kind": alerts.count_by_kind(raised),
    }
    again, seconds = timed(alerts.raise_alerts, kinds=KINDS)
    figures["second_run"] = {"s": round(seconds, 2), "alerts": len(again)}
    pks = list(Patient.objects.filter(excluded="").values_list("pk", flat=True)[:200])
    per_save = [timed(alerts.raise_alerts, [pk], kinds=KINDS)[1] * 1000 for pk in pks]
    figures["per_save_ms"] = {
        "p50": round(statistics.median(per_save), 1),
        "p95": round(percentile(per_save, 0.95), 1),
    }
    people.add_user("bench_site", "coordinator", ["SITE-1"], PASSWORD, by="bench")
    c = Client()
    from django.contrib.auth.models import User

    user = User.objects.get(username="bench_site")
    c.force_login(user)
    pages = [timed(c.get, "/alerts/")[1] * 1000 for _ in range(20)]
    counts = [timed(alerts.unacknowledged_count, user)[1] * 1000 for _ in range(20)]
    badges = [timed(alerts.badge_count, user)[1] * 1000 for _ in range(20)]
    figures["inbox_page_ms"] = {
        "p50": round(statistics.median(pages)),
        "p95": round(percentile(pages, 0.95)),
    }
    figures["unacknowledged_count_ms"] = {
        "p50": round(statistics.median(counts), 1),
        "user_alerts": alerts.unacknowledged_count(user),
    }
    figures["nav_badge_ms"] = {
        "p50": round(statistics.median(badges), 1),
        "p95": round(percentile(badges, 0.95), 1),
    }
    figures["alerts_stored"] = Alert.objects.count()
    figures["load_average_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures, indent=2))
    (root / "bench_alerts.json").write_text(json.dumps(figures, indent=2))
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
