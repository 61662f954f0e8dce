"""Overall response by subgroup: rates, effect sizes and exact tests (exploratory).

Grouping a patients column (``--by COLUMN``, several allowed):

- a yes/no column: groups ``true`` and ``false`` (reference ``false``);
- a numeric column needs cut points, ``--by age:50`` (``<50``, ``>=50``: a value
  equal to a cut point goes to the upper group) or ``--by age:40,60``
  (``<40``, ``40-<60``, ``>=60``); the lowest group is the reference. Numeric
  columns with at most :data:`MAX_NUMERIC_LEVELS` distinct values (a score,
  a stage) may be grouped by value instead;
- a text column: one group per value, at most :data:`MAX_LEVELS`; the most
  frequent value is the reference;
- patients with a missing value form their own row, ``missing``; they are
  shown, not dropped, and left out of the effect sizes and the test.

Each group: responders, n, percent and exact (Clopper-Pearson) 95% CI; each
non-reference group against the reference: the risk difference with Newcombe's
95% CI and the odds ratio with its exact conditional 95% CI. One test across
the known groups: Fisher's exact test (two groups) or the Fisher-Freeman-Halton
exact test (more). Subgroup analyses of a single-arm cohort are exploratory.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from itpcohort.cohort.cells import FALSE_WORDS, TRUE_WORDS
from itpcohort.errors import ItpCohortError
from itpcohort.statistics.descriptive import rate
from itpcohort.statistics.formats import DASH, GEQ
from itpcohort.statistics.proportions import fisher_exact, freeman_halton, newcombe, odds_ratio

RESPONDED = ("CR", "R")
MISSING = "missing"
MAX_LEVELS = 12
MAX_NUMERIC_LEVELS = 5
LABELS = {
    "sle": "SLE",
    "aps": "APS",
    "lupus_anticoagulant": "Lupus anticoagulant",
    "sex": "Sex",
    "age": "Age, years",
    "site": "Site",
    "acl_igg": "aCL IgG, GPL units",
    "acl_igm": "aCL IgM, MPL units",
    "ab2gpi_igg": "Anti-\u03b22GPI IgG, units",
    "ab2gpi_igm": "Anti-\u03b22GPI IgM, units",
}
LEVEL_LABELS = {"true": "Yes", "false": "No", MISSING: "Missing", "F": "Female", "M": "Male"}


@dataclass(frozen=True)
class GroupBy:
    """A ``--by`` argument: a patients column, and cut points for a numeric one."""

    column: str
    cuts: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        return LABELS.get(self.column, self.column.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Grouping:
    """Each patient's group (``missing`` when the value is), the groups in order, the reference."""

    spec: GroupBy
    values: pd.Series
    levels: list[str]
    reference: str | None


def parse_by(by: str | Sequence[str] | None) -> list[GroupBy]:
    """``"sle"``, ``["sle", "age:50"]`` or ``"age:40,60"`` as :class:`GroupBy` objects."""
    if by is None:
        return []
    items = [by] if isinstance(by, str) else list(by)
    specs = []
    for item in items:
        column, _, cuts = item.partition(":")
        try:
            points = tuple(sorted(float(c) for c in cuts.split(","))) if cuts else ()
        except ValueError:
            raise ItpCohortError(
                f"grouping '{item}': cut points must be numbers separated by commas, "
                "e.g. age:50 or age:40,60"
            ) from None
        specs.append(GroupBy(column.strip(), points))
    return specs


def as_flag(values: pd.Series) -> pd.Series:
    """Booleans from bool columns or yes/no text (covariates are read as text)."""
    if values.dtype == bool or str(values.dtype) == "boolean":
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(TRUE_WORDS)] = True
    out[text.isin(FALSE_WORDS)] = False
    return out


def _cut_label(low: float | None, high: float | None) -> str:
    def g(x: float) -> str:
        return f"{x:g}"

    if low is None:
        return f"<{g(high)}"  # type: ignore[arg-type]
    if high is None:
        return f">={g(low)}"
    return f"{g(low)}-<{g(high)}"


def level_label(level: str) -> str:
    """How a group key is printed (``>=50`` as ``≥50``, ``true`` as ``Yes``)."""
    text = LEVEL_LABELS.get(level, level)
    return text.replace(">=", GEQ).replace("-<", f"{DASH}<")


def _cut(spec: GroupBy, values: pd.Series) -> Grouping:
    numbers = pd.to_numeric(values, errors="coerce")
    if (numbers.isna() & values.notna() & (values.astype("string").str.strip() != "")).any():
        raise ItpCohortError(f"cannot cut '{spec.column}' at numbers: it holds text")
    edges = [None, *spec.cuts, None]
    labels = [_cut_label(lo, hi) for lo, hi in itertools.pairwise(edges)]
    index = np.searchsorted(np.asarray(spec.cuts), numbers.to_numpy(float), side="right")
    out = pd.Series(np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)])
    out.index = values.index
    out[numbers.isna()] = MISSING
    return Grouping(spec, out.astype("string"), labels, labels[0])


def grouping(data: pd.DataFrame, spec: GroupBy) -> Grouping:
    """Group the patients by one ``--by`` argument (rules in the module docstring)."""
    if spec.column not in data.columns:
        raise ItpCohortError(
            f"cannot group by '{spec.column}': no such column in patients; use one of "
            + ", ".join(c for c in data.columns if not c.startswith("_"))
        )
    values = data[spec.column]
    if spec.cuts:
        return _cut(spec, values)
    text = values.astype("string").str.strip().replace("", pd.NA)
    flags = as_flag(values)
    if text.notna().any() and flags.notna().sum() == text.notna().sum():
        out = flags.map({True: "true", False: "false"}).astype("string").fillna(MISSING)
        return Grouping(spec, out, ["true", "false"], "false")
    numbers = pd.to_numeric(text, errors="coerce")
    numeric = text.notna().any() and numbers.notna().sum() == text.notna().sum()
    distinct = sorted(numbers.dropna().unique()) if numeric else sorted(text.dropna().unique())
    if numeric and len(distinct) > MAX_NUMERIC_LEVELS:
        raise ItpCohortError(
            f"cannot group by '{spec.column}': it is continuous ({len(distinct)} distinct values); "
            f"cut it at stated points, e.g. '{spec.column}:50' (groups <50 and >=50)"
        )
    if len(distinct) > MAX_LEVELS:
        raise ItpCohortError(
            f"cannot group by '{spec.column}': {len(distinct)} distinct values (at most "
            f"{MAX_LEVELS} groups); group them into fewer categories in patients first"
        )
    levels = [f"{v:g}" for v in distinct] if numeric else [str(v) for v in distinct]
    out = (numbers.map(lambda v: f"{v:g}") if numeric else text).astype("string").fillna(MISSING)
    counts = out[out != MISSING].value_counts()
    reference = max(levels, key=lambda v: (counts.get(v, 0), -levels.index(v))) if levels else None
    return Grouping(spec, out, levels, reference)


def check_groupings(patients: pd.DataFrame, by: str | Sequence[str] | None) -> list[GroupBy]:
    """Parse ``by`` and check each grouping on the enrolled patients, before any evaluation."""
    specs = parse_by(by)
    for spec in specs:
        grouping(patients, spec)
    return specs


def _effects(k: int, n: int, k0: int, n0: int) -> dict[str, object]:
    """Risk difference (percentage points, Newcombe) and odds ratio (exact) vs the reference."""
    if not n or not n0:
        return {"risk_difference": None, "odds_ratio": None}
    d, lo, hi = newcombe(k, n, k0, n0)
    est, olo, ohi = odds_ratio([[k, n - k], [k0, n0 - k0]])

    def finite(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    return {
        "risk_difference": {
            "estimate": round(100 * d, 1),
            "ci_low": round(100 * lo, 1),
            "ci_high": round(100 * hi, 1),
        },
        "odds_ratio": {"estimate": finite(est), "ci_low": finite(olo), "ci_high": finite(ohi)},
    }


def subgroup(data: pd.DataFrame, spec: GroupBy) -> dict[str, object]:
    """Rates per group, effect sizes against the reference, and the exact test."""
    g = grouping(data, spec)
    responded = data["best_response"].isin(RESPONDED).to_numpy()
    groups: dict[str, dict[str, object]] = {}
    shown = g.levels + ([MISSING] if (g.values == MISSING).any() else [])
    counts = {}
    for level in shown:
        mask = (g.values == level).to_numpy()
        counts[level] = (int(responded[mask].sum()), int(mask.sum()))
    k0, n0 = counts.get(g.reference, (0, 0)) if g.reference else (0, 0)
    for level in shown:
        k, n = counts[level]
        entry: dict[str, object] = {"label": level_label(level), **rate(k, n)}
        if level not in (g.reference, MISSING) and g.reference is not None:
            entry.update(_effects(k, n, k0, n0))
        groups[level] = entry
    known = [lv for lv in g.levels if counts[lv][1] > 0]
    test = _test([counts[lv] for lv in known])
    return {
        "label": spec.label,
        "cuts": list(spec.cuts),
        "reference": g.reference,
        "groups": groups,
        "test": test[0],
        "p_value": test[1],
    }


def _test(counts: list[tuple[int, int]]) -> tuple[str | None, float | None]:
    if len(counts) < 2:
        return None, None
    if len(counts) == 2:
        (a, n1), (c, n2) = counts
        return "Fisher's exact test", fisher_exact([[a, n1 - a], [c, n2 - c]])
    result = freeman_halton(np.array([k for k, _ in counts]), np.array([n for _, n in counts]))
    return result.name, result.p_value
