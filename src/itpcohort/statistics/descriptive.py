"""Rates with exact confidence intervals, quartiles, months: the numbers of a results section.

Conventions (``shared/spec/reference-study.md``): percentages to one decimal;
months = days / 30.4375 to one decimal; quartiles by linear interpolation
(numpy's default, R's type 7); 95% intervals for a proportion by the exact
Clopper-Pearson method.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

DAYS_PER_MONTH = 30.4375


def percent(n: int, of: int) -> float | None:
    """``n`` of ``of`` as a percentage to one decimal (None when ``of`` is 0)."""
    return round(100.0 * n / of, 1) if of else None


def rate(n: int, of: int, alpha: float = 0.05) -> dict[str, float | int | None]:
    """n, percent and the exact (Clopper-Pearson) 95% interval, in percent to one decimal."""
    if not of:
        return {"n": n, "of": of, "percent": None, "ci_low": None, "ci_high": None}
    low, high = proportion_confint(n, of, alpha=alpha, method="beta")
    return {
        "n": int(n),
        "of": int(of),
        "percent": percent(n, of),
        "ci_low": round(100.0 * float(low), 1),
        "ci_high": round(100.0 * float(high), 1),
    }


def months(days: float) -> float:
    return round(days / DAYS_PER_MONTH, 1)


def quartiles_months(days: Iterable[float]) -> dict[str, float | None]:
    """Median and quartiles (linear interpolation) of day counts, in months to one decimal."""
    values = pd.to_numeric(pd.Series(days, dtype=object), errors="coerce").to_numpy(float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"median": None, "q1": None, "q3": None}
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return {"median": months(median), "q1": months(q1), "q3": months(q3)}
