"""Time the patient page's response part per patient on a large cohort, without the app.

What the study app does for one patient once the study's evaluation is cached
(``study/timelines.py``): the patient's rows of the cached tables, the engine's
explanation from the cached frames, ``itpcohort explain``'s words, and the
figure drawn and written as SVG. The frames are computed once first (as the
app's snapshot is).

    python benchmarks/generate.py --patients 10000 --output benchmarks/data/10k
    python benchmarks/bench_patient_timeline.py benchmarks/data/10k --patients 20
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt

import itpcohort
from itpcohort.report import console
from itpcohort.report.timeline import timeline_figure, timeline_from_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--patients", type=int, default=20, help="patients timed")
    args = parser.parse_args()
    started = time.perf_counter()
    cohort = itpcohort.read_cohort(args.cohort)
    evaluation = itpcohort.run(cohort)
    for name in ("endpoints", "days", "events", "periods", "baseline"):
        getattr(evaluation, name)
    labs = cohort.labs
    tables = {
        "platelets": labs[labs["test"] == "platelets"],
        "bleeding": cohort.bleeding,
        "adverse_events": cohort.adverse_events,
        "patients": cohort.patients,
    }
    print(f"cohort read and evaluated once: {time.perf_counter() - started:.1f} s")
    ids = evaluation.endpoints["patient_id"].iloc[
        :: max(1, len(evaluation.endpoints) // args.patients)
    ]
    words, drawing = [], []
    for pid in ids[: args.patients]:
        t0 = time.perf_counter()
        rows = {k: v[v["patient_id"] == pid] for k, v in tables.items()}
        timeline = timeline_from_frames(evaluation, pid, evaluation.study_drug, rows)
        console.explanation(timeline.explanation)
        t1 = time.perf_counter()
        fig = timeline_figure(timeline)
        fig.savefig(io.BytesIO(), format="svg", bbox_inches="tight")
        plt.close(fig)
        words.append(t1 - t0)
        drawing.append(time.perf_counter() - t1)
    n = len(evaluation.endpoints)
    for label, times in (("rows + explanation + words", words), ("figure as SVG", drawing)):
        ms = sorted(1000 * x for x in times)
        print(
            f"{label}: median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms "
            f"({len(ms)} of {n:,} patients)"
        )


if __name__ == "__main__":
    main()
