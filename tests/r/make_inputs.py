"""Write the inputs of ``tests/r/reference.R`` (run once; the outputs are fixtures).

    .venv/bin/python tests/r/make_inputs.py && Rscript tests/r/reference.R

Survival data sets (``time``, ``status``): the demo cohort's time to response
(0 censored, 1 response, 2 stopped without response) and duration of response
(1 loss under treatment), plus small hand-made sets that hit the edge cases;
tables and samples for the tests of proportions. ``tests/test_statistics_r.py``
checks that the demo sets still equal what the pipeline gives.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE.parent / "fixtures" / "r" / "inputs"
sys.path.insert(0, str(HERE.parents[1]))

#: name -> (times, statuses); km_* are Kaplan-Meier sets (status 0/1), aj_* Aalen-Johansen (0/1/2)
HAND_MADE = {
    # S = 3/4, 1/2, 1/4, 0: exactly 0.5 on [2, 3): median (2 + 3) / 2 = 2.5
    "km_flat_half": ([1, 2, 3, 4], [1, 1, 1, 1]),
    # S(3) = 5/6 x 4/5 x 3/4 = 0.5 in floating point only to 1e-16; next drop at 5: median 4
    "km_float_half": ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 0]),
    # S(3) = 0.5 and only censorings after: median (3 + last time 6) / 2 = 4.5
    "km_last_half": ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0]),
    "km_all_censored": ([5, 10, 15], [0, 0, 0]),
    # ties of events and censorings at the same times
    "km_ties": ([1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 7], [1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0]),
    "km_to_zero": ([1, 2, 3], [1, 1, 1]),
    "km_single": ([10], [1]),
    "aj_small": ([1, 2, 2, 3, 4, 4, 5, 6, 7, 8], [1, 2, 1, 0, 1, 1, 2, 0, 1, 0]),
    # no responder: the cumulative incidence stays 0
    "aj_no_events": ([3, 5, 8, 9], [2, 0, 2, 0]),
    # responses, competing events and censorings tied at the same times
    "aj_ties": ([2, 2, 2, 4, 4, 4, 4, 6, 6, 9, 9, 12], [1, 2, 0, 1, 1, 2, 0, 1, 2, 0, 1, 0]),
    # F = 1/4, then 1/2 exactly at 2, flat to the last time 4: median (2 + 4) / 2 = 3
    "aj_half": ([1, 2, 3, 4], [1, 1, 2, 0]),
}
TWO_BY_TWO = [  # responders, non-responders in group 1; the same in group 2
    (21, 2, 28, 10),  # the demo: SLE yes vs no
    (3, 1, 1, 3),
    (0, 10, 5, 5),
    (10, 0, 3, 7),
    (4, 4, 4, 4),
    (1, 19, 0, 20),
    (25, 2, 24, 10),
    (1200, 800, 1100, 900),
]
K_BY_TWO = [  # (responders per group, patients per group)
    ([2, 1, 1], [2, 2, 4]),
    ([5, 3, 8], [10, 10, 10]),
    ([0, 4, 7, 2], [5, 6, 8, 4]),
    ([30, 45, 20], [60, 70, 40]),
]
SAMPLES = {  # Mann-Whitney: no ties and small (exact), ties (normal), large (normal)
    "exact": ([1.1, 2.3, 3.7, 4.2, 8.9], [0.5, 1.9, 2.8, 3.1]),
    "ties": ([1, 2, 2, 3, 5, 5], [2, 3, 3, 4, 6]),
    # 20 and 25 distinct values: still exact in R (both below 50), not in scipy's "auto"
    "medium": ([i * 1.7 + 0.3 for i in range(20)], [i * 1.3 + 5.05 for i in range(25)]),
    "large": (
        [float(i % 37) + i / 1000 for i in range(60)],
        [float(i % 29) + 2.5 for i in range(55)],
    ),
}
BINOMIAL = [(49, 61), (30, 61), (0, 10), (10, 10), (6, 61), (1, 20)]


def _write(name: str, header: list[str], rows: list) -> None:
    with (INPUTS / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def demo_sets() -> dict[str, tuple[list[float], list[int]]]:
    """The demo cohort's time-to-response and duration-of-response data (from the pipeline)."""
    from itpcohort.pipeline import run
    from itpcohort.simulate import simulate
    from itpcohort.statistics.time_to_event import response_duration_data, time_to_response_data

    with tempfile.TemporaryDirectory() as tmp:
        simulate(Path(tmp) / "cohort")
        endpoints = run(Path(tmp) / "cohort").endpoints
    ttr = time_to_response_data(endpoints)
    dor = response_duration_data(endpoints)
    return {
        "aj_demo_ttr": (ttr["days"].tolist(), ttr["status"].astype(int).tolist()),
        "km_demo_dor": (dor["days"].tolist(), dor["event"].astype(int).tolist()),
        # 1 - Kaplan-Meier of the same data, stopping censored (summary.json's kaplan_meier)
        "km_demo_ttr": (ttr["days"].tolist(), (ttr["status"] == 1).astype(int).tolist()),
    }


def main() -> None:
    INPUTS.mkdir(parents=True, exist_ok=True)
    sets = {**demo_sets(), **HAND_MADE}
    rows = [
        (name, f"{t:g}", s)
        for name, (times, status) in sets.items()
        for t, s in zip(times, status, strict=True)
    ]
    _write("survival.csv", ["dataset", "time", "status"], rows)
    _write("two_by_two.csv", ["a", "b", "c", "d"], TWO_BY_TWO)
    _write(
        "k_by_two.csv",
        ["table", "group", "responders", "n"],
        [
            (i, g, k, n)
            for i, (ks, ns) in enumerate(K_BY_TWO)
            for g, (k, n) in enumerate(zip(ks, ns, strict=True))
        ],
    )
    _write(
        "samples.csv",
        ["sample", "group", "value"],
        [
            (s, g, v)
            for s, xy in SAMPLES.items()
            for g, values in zip("xy", xy, strict=True)
            for v in values
        ],
    )
    _write("binomial.csv", ["k", "n"], BINOMIAL)


if __name__ == "__main__":
    main()
