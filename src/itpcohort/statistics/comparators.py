"""The cohort's overall response beside published second-line therapies.

Rates, intervals, populations and response definitions side by side, as
published (``comparators.toml``): a comparator with a published numerator gets
its exact Clopper-Pearson interval; one published as a percentage keeps its
published interval, and no count is rebuilt from a rounded percentage. Studies
differ in population, definition and time frame, so no p-value is shown by
default; ``tests=True`` adds Fisher's exact test against comparators with a
published numerator (never against a pooled estimate).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pandas as pd

from itpcohort.errors import ItpCohortError
from itpcohort.statistics.descriptive import rate
from itpcohort.statistics.proportions import fisher_exact

REQUIRED = ("therapy", "n", "citation")
COLUMNS = [
    "therapy",
    "study",
    "design",
    "population",
    "definition",
    "responders",
    "n",
    "percent",
    "ci_low",
    "ci_high",
    "ci_method",
    "citation",
]


def load_comparators(path: str | Path | None = None) -> list[dict[str, object]]:
    """Published comparators (``statistics/comparators.toml`` unless a file is given)."""
    if path is None:
        text = (resources.files("itpcohort.statistics") / "comparators.toml").read_text("utf-8")
        where = "comparators.toml"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        items = list(tomllib.loads(text).get("comparator", []))
    except tomllib.TOMLDecodeError as exc:
        raise ItpCohortError(f"{where}: not valid TOML ({exc})") from None
    for i, c in enumerate(items, 1):
        missing = [k for k in REQUIRED if k not in c]
        if "responders" not in c and "percent" not in c:
            missing.append("responders or percent")
        if missing:
            raise ItpCohortError(f"{where}: comparator {i} lacks {', '.join(missing)}")
    return items


def _row(c: dict[str, object]) -> dict[str, object]:
    n = int(c["n"])  # type: ignore[call-overload]
    row: dict[str, object] = {k: c.get(k, "") for k in COLUMNS}
    if "responders" in c:
        r = rate(int(c["responders"]), n)  # type: ignore[call-overload]
        row.update(percent=r["percent"], ci_low=r["ci_low"], ci_high=r["ci_high"])
        row["ci_method"] = "exact (Clopper-Pearson), from the published numerator"
    else:
        row["responders"] = None
        row["percent"] = float(c["percent"])  # type: ignore[arg-type]
        row["ci_low"] = c.get("ci_low")
        row["ci_high"] = c.get("ci_high")
        row["ci_method"] = c.get("ci_method", "as published") if "ci_low" in c else ""
    return row


def comparison_table(
    overall: dict[str, object],
    definition: str,
    population: str,
    path: str | Path | None = None,
    tests: bool = False,
    therapy: str = "this cohort",
) -> pd.DataFrame:
    """One row for the cohort (``therapy``), one per published comparator."""
    rows = [
        {
            "therapy": therapy,
            "study": "",
            "design": "cohort",
            "population": population,
            "definition": definition,
            "responders": overall["n"],
            "n": overall["of"],
            "percent": overall["percent"],
            "ci_low": overall["ci_low"],
            "ci_high": overall["ci_high"],
            "ci_method": "exact (Clopper-Pearson)",
            "citation": "",
        }
    ]
    rows += [_row(c) for c in load_comparators(path)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if tests:
        k, n = int(overall["n"]), int(overall["of"])  # type: ignore[call-overload]
        frame["p_vs_cohort"] = [
            None
            if i == 0 or r.responders is None or pd.isna(r.responders) or not n
            else fisher_exact([[k, n - k], [int(r.responders), int(r.n) - int(r.responders)]])
            for i, r in enumerate(frame.itertuples())
        ]
    return frame
