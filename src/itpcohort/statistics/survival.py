"""Kaplan-Meier and Aalen-Johansen estimates with R's conventions (``survival`` 3.5).

Written with numpy (linear in the data after one sort) and checked number for
number against R's ``survfit`` in ``tests/test_survival_r.py`` (fixtures made by
``tests/r/reference.R``):

- **Kaplan-Meier**: the product-limit estimate; Greenwood's variance; 95%
  intervals on the log-log scale (``survfit(..., conf.type = "log-log")``),
  undefined (None) where the estimate is 0 or 1.
- **Aalen-Johansen**: the cumulative incidence of an event with a competing
  event, ``survfit(Surv(time, status_factor) ~ 1)``: the all-cause
  Kaplan-Meier just before each time times the cause's hazard at it. Its
  standard error is the infinitesimal jackknife R uses for multi-state curves;
  its 95% interval uses the same log-log transform, of the incidence itself.
  (lifelines' ``AalenJohansenFitter`` is not used: it breaks tied times by
  random jitter, and days of follow-up tie often, so its estimate is not R's
  and changes with the seed.)
- **Quantiles** (the median): R's ``quantile.survfit``: the first time the
  curve reaches the probability; when it lies exactly on it (to
  ``sqrt(machine epsilon)``) over a flat stretch, the midpoint of that stretch
  (of the stretch and the last observed time when it is the last one). The
  interval is read off the interval curves the same way; an interval curve
  that never reaches it leaves the limit "not reached" (None).
- **Numbers at risk** at time t: patients whose time is t or later (still
  followed, no event before t), as R's ``summary(fit, times = t)`` gives them.
- Ties: events before censorings at the same time (censored patients are at
  risk at their censoring time).

Times are days; :data:`DAYS_PER_MONTH` converts for printing only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from itpcohort.errors import ItpCohortError
from itpcohort.statistics.descriptive import DAYS_PER_MONTH

#: R's tolerance for "exactly on" a probability in quantiles
TOLERANCE = float(np.sqrt(np.finfo(float).eps))
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Curve:
    """A step function estimated from right-censored times.

    ``kind`` is ``survival`` (Kaplan-Meier: starts at 1, falls) or
    ``incidence`` (Aalen-Johansen: starts at 0, rises). Arrays are per
    distinct observed time (events and censorings), as R's ``survfit$time``.
    ``other`` is the competing event's cumulative incidence (incidence only).
    """

    name: str
    kind: str
    time: np.ndarray
    estimate: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_other: np.ndarray
    n_censor: np.ndarray
    durations: np.ndarray  # every patient's time, sorted (for numbers at risk)
    other: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.durations.size)

    @property
    def events(self) -> int:
        return int(self.n_event.sum())

    @property
    def competing(self) -> int:
        return int(self.n_other.sum())

    @property
    def censored(self) -> int:
        return int(self.n_censor.sum())

    @property
    def empty(self) -> bool:
        return self.n == 0


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval (None where undefined or not reached)."""

    value: float | None
    lower: float | None
    upper: float | None


def _clean(durations: pd.Series | np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(pd.Series(durations).astype(float), float)
    if np.isnan(values).any():
        raise ItpCohortError(f"{what}: a missing time cannot enter a survival estimate")
    if (values < 0).any():
        raise ItpCohortError(f"{what}: a negative time ({values.min():g} days) is not a duration")
    return values


def _counts(durations: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct times and, per time, events (1), competing events (2), censorings (0), at risk."""
    time, index = np.unique(durations, return_inverse=True)
    counts = np.zeros((3, time.size))
    np.add.at(counts, (status.astype(int), index), 1.0)
    leaving = counts.sum(axis=0)
    at_risk = durations.size - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
    return time, counts[1], counts[2], counts[0], at_risk


def loglog_interval(p: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's ``survfit_confint(p, se, logse = FALSE, "log-log")``: NaN where p is 0 or 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        xx = np.where((p == 0) | (p == 1), np.nan, p)
        se_log = np.where(se == 0, 0.0, se / xx)
        width = Z95 * se_log / np.log(xx)
        lower = np.exp(-np.exp(np.log(-np.log(xx)) - width))
        upper = np.exp(-np.exp(np.log(-np.log(xx)) + width))
    return lower, upper


def empty_curve(name: str, kind: str = "survival") -> Curve:
    nothing = np.zeros(0)
    return Curve(name, kind, *([nothing] * 10))


def kaplan_meier(
    name: str, durations: pd.Series | np.ndarray, events: pd.Series | np.ndarray
) -> Curve:
    """Kaplan-Meier survival with Greenwood's variance and log-log 95% intervals."""
    times = _clean(durations, name)
    if times.size == 0:
        return empty_curve(name)
    status = np.asarray(pd.Series(events).astype(bool), bool).astype(int)
    time, d, _, c, n = _counts(times, status)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n)
        greenwood = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
        se = surv * np.sqrt(greenwood)
    se = np.where(surv == 0, np.inf, se)
    lower, upper = loglog_interval(surv, se)
    return Curve(name, "survival", time, surv, se, lower, upper, n, d, 0 * d, c, np.sort(times))


def reverse_kaplan_meier(
    name: str, durations: pd.Series | np.ndarray, events: pd.Series | np.ndarray
) -> Curve:
    """The Kaplan-Meier estimate of follow-up: censoring is the event (Schemper and Smith)."""
    return kaplan_meier(name, durations, ~np.asarray(pd.Series(events).astype(bool), bool))


def aalen_johansen(
    name: str, durations: pd.Series | np.ndarray, status: pd.Series | np.ndarray
) -> Curve:
    """Cumulative incidence of status 1 with status 2 competing (0 = censored).

    Standard errors by the infinitesimal jackknife, as ``survfit`` gives them
    for a multi-state model; computed per distinct (time, status), so the cost
    is the number of distinct times squared, not the number of patients.
    """
    times = _clean(durations, name)
    if times.size == 0:
        return empty_curve(name, "incidence")
    codes = np.asarray(pd.Series(status).astype(int), int)
    if not np.isin(codes, (0, 1, 2)).all():
        raise ItpCohortError(f"{name}: status must be 0 (censored), 1 (event) or 2 (competing)")
    time, d1, d2, c, n = _counts(times, codes)
    h = np.vstack([d1 / n, d2 / n])
    surv = np.cumprod(1.0 - h.sum(axis=0))
    before = np.concatenate([[1.0], surv[:-1]])
    incidence = np.cumsum(before * h, axis=1)
    se = _jackknife_se(times, codes, time, n, h, surv, before)
    lower, upper = loglog_interval(incidence[0], se)
    return Curve(
        name,
        "incidence",
        time,
        incidence[0],
        se,
        lower,
        upper,
        n,
        d1,
        d2,
        c,
        np.sort(times),
        other=incidence[1],
    )


def _jackknife_se(
    times: np.ndarray,
    codes: np.ndarray,
    time: np.ndarray,
    n: np.ndarray,
    h: np.ndarray,
    surv: np.ndarray,
    before: np.ndarray,
) -> np.ndarray:
    """Infinitesimal-jackknife standard error of the cause-1 incidence at every time.

    The derivative of the estimate with respect to one patient's case weight:
    dh_kj = (dN_k(t_j) - h_kj Y(t_j)) / n_j; dS_j = -S_j sum_{l<=j} dh_l / (1 - h_l);
    dF_j = sum_{l<=j} dS_{l-1} h_1l + S_{l-1} dh_1l. Patients with the same time and
    status have the same derivative; the variance is the weighted sum of squares.
    """
    index = np.searchsorted(time, times)
    keys, weight = np.unique(index * 3 + codes, return_counts=True)
    where, what = keys // 3, keys % 3
    total = h.sum(axis=0)
    variance = np.zeros(time.size)
    columns = np.arange(time.size)
    for chunk in range(0, keys.size, 256):
        at = where[chunk : chunk + 256, None]
        kind = what[chunk : chunk + 256, None]
        at_risk = (columns[None, :] <= at).astype(float)
        hit = columns[None, :] == at
        dh1 = ((hit & (kind == 1)) - h[0] * at_risk) / n
        dh2 = ((hit & (kind == 2)) - h[1] * at_risk) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(total < 1, (dh1 + dh2) / (1 - total), 0.0)
        ds = -surv * np.cumsum(step, axis=1)
        ds_before = np.hstack([np.zeros((ds.shape[0], 1)), ds[:, :-1]])
        df = np.cumsum(ds_before * h[0] + before * dh1, axis=1)
        variance += (weight[chunk : chunk + 256, None] * df**2).sum(axis=0)
    return np.sqrt(variance)


def _findq(x: np.ndarray, y: np.ndarray, p: float) -> float | None:
    """R's ``survival:::findq``: the time a rising step function ``y`` reaches ``p``."""
    keep = ~np.isnan(y)
    if not keep.any() or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    first = ~_duplicated(y)
    x, y = x[first], y[first]
    last = y[-1]
    ok = ~np.isnan(y)
    xs, positions = y[ok], np.flatnonzero(ok)

    def index(shift: float) -> int | None:
        at = int(np.searchsorted(xs + shift, p, side="left"))
        if at >= xs.size or p < xs[0] + shift:
            return None
        return int(positions[at])

    i1, i2 = index(TOLERANCE), index(-TOLERANCE)
    if i1 is None:
        return None
    if not np.isnan(last) and abs(p - last) < TOLERANCE:
        return float((x[i1] + xmax) / 2)
    if i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


def _duplicated(y: np.ndarray) -> np.ndarray:
    """R's ``duplicated`` (NaN equals NaN)."""
    seen: set[object] = set()
    out = np.zeros(y.size, bool)
    for i, v in enumerate(y):
        key = "nan" if np.isnan(v) else float(v)
        out[i] = key in seen
        seen.add(key)
    return out


def quantile(curve: Curve, p: float = 0.5) -> Estimate:
    """The time (days) a survival curve falls to 1 - ``p`` / an incidence curve rises to ``p``.

    For survival curves ``p`` is the probability of the event (0.5: the median).
    """
    if curve.empty:
        return Estimate(None, None, None)
    x = np.concatenate([[0.0], curve.time])
    if curve.kind == "survival":
        rise = (1 - curve.estimate, 1 - curve.lower, 1 - curve.upper)
    else:
        rise = (curve.estimate, curve.upper, curve.lower)
    value, low, high = (_findq(x, np.concatenate([[0.0], y]), p) for y in rise)
    return Estimate(value, low, high)


def at(curve: Curve, day: float) -> Estimate:
    """The estimate and its interval at ``day`` (the last step at or before it).

    None beyond the last observed time (as R's ``summary(fit, times)``, which
    does not extend a curve past its data).
    """
    if curve.empty or day > curve.time[-1]:
        return Estimate(None, None, None)
    i = int(np.searchsorted(curve.time, day, side="right")) - 1
    if i < 0:  # before the first observed time: the curve's start, as R's summary gives it
        start = 1.0 if curve.kind == "survival" else 0.0
        return Estimate(start, start, start)
    low, high = curve.lower[i], curve.upper[i]
    return Estimate(
        float(curve.estimate[i]),
        None if np.isnan(low) else float(low),
        None if np.isnan(high) else float(high),
    )


def at_risk(curve: Curve, days: np.ndarray | list[float]) -> list[int]:
    """Patients still at risk at each day: time at or after it."""
    times = curve.durations
    return [int(times.size - np.searchsorted(times, d, side="left")) for d in days]


def months(days: float | None, digits: int = 1) -> float | None:
    return None if days is None else round(days / DAYS_PER_MONTH, digits)


def percent(p: float | None) -> float | None:
    return None if p is None else round(100 * p, 1)
