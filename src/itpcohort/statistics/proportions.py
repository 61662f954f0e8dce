"""Comparing proportions between groups, and two samples, as R computes them.

- **Risk difference** with Newcombe's hybrid score interval (method 10 of
  Newcombe 1998: each group's Wilson interval, combined), which R users get
  from ``prop.test(correct = FALSE)$conf.int`` per group.
- **Odds ratio**: the conditional maximum-likelihood estimate and its exact
  interval, as R's ``fisher.test`` computes them, root finding included
  (R's ``uniroot``: Brent's method with tolerance ``machine epsilon ^ 0.25``),
  so the printed limits are R's to the last digit shown.
- **Fisher's exact test** (2 x 2) and the **Fisher-Freeman-Halton** exact test
  (k groups x responded yes/no): the two-sided p-value sums the probabilities
  of the tables with the observed margins that are no more likely than the
  observed one (relative tolerance 1e-7, as R). The k x 2 test enumerates the
  tables; beyond :data:`MAX_TABLES` of them (large cohorts, where asymptotics
  hold) it is replaced by Pearson's chi-squared test, and says so.
- **Mann-Whitney U** (Wilcoxon rank-sum): exact when both groups have fewer
  than 50 values and there are no ties, otherwise the normal approximation
  with continuity and tie corrections: R's ``wilcox.test`` defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from itpcohort.statistics.survival import Z95

#: enumerate at most this many k x 2 tables for the Fisher-Freeman-Halton test
MAX_TABLES = 2_000_000
EPS = float(np.finfo(float).eps)
R_UNIROOT_TOL = EPS**0.25


@dataclass(frozen=True)
class Test:
    """A test's name and two-sided p-value (None when it cannot be computed)."""

    name: str
    p_value: float | None


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for k of n (``prop.test(k, n, correct = FALSE)``)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 and Newcombe's hybrid score 95% interval (proportions, not percent)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return float(d), float(low), float(high)


def uniroot(f: Callable[[float], float], lower: float, upper: float) -> float:
    """R's ``uniroot(f, c(lower, upper))$root``: Brent's method as in R's zeroin.c."""
    a, b = lower, upper
    fa, fb = f(a), f(b)
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(1001):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPS * abs(b) + R_UNIROOT_TOL / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            new_step = _interpolated(a, b, c, fa, fb, fc, prev_step, tol_act, new_step)
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _interpolated(
    a: float,
    b: float,
    c: float,
    fa: float,
    fb: float,
    fc: float,
    prev_step: float,
    tol_act: float,
    bisect: float,
) -> float:
    """One secant or inverse quadratic step of Brent's method, or the bisection step."""
    cb = c - b
    if a == c:
        t1 = fb / fa
        p, q = cb * t1, 1.0 - t1
    else:
        q, t1, t2 = fa / fc, fb / fc, fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
        return p / q
    return bisect


class _NoncentralHypergeometric:
    """The distribution of the top-left cell of a 2 x 2 table given its margins."""

    def __init__(self, table: np.ndarray) -> None:
        (a, b), (c, d) = table
        self.x = int(a)
        self.m, self.n, self.k = int(a + c), int(b + d), int(a + b)
        self.lo, self.hi = max(0, self.k - self.n), min(self.k, self.m)
        self.support = np.arange(self.lo, self.hi + 1)
        self.logdc = stats.hypergeom.logpmf(self.support, self.m + self.n, self.m, self.k)

    def density(self, ncp: float) -> np.ndarray:
        d = self.logdc + np.log(ncp) * self.support
        d = np.exp(d - d.max())
        return d / d.sum()

    def mean(self, ncp: float) -> float:
        if ncp == 0:
            return float(self.lo)
        if ncp == np.inf:
            return float(self.hi)
        return float((self.support * self.density(ncp)).sum())

    def tail(self, ncp: float, upper: bool) -> float:
        x = self.x
        if ncp == 0:
            return float(x <= self.lo if upper else x >= self.lo)
        if ncp == np.inf:
            return float(x <= self.hi if upper else x >= self.hi)
        if ncp == 1:
            total = self.m + self.n
            if upper:
                return float(stats.hypergeom.sf(x - 1, total, self.m, self.k))
            return float(stats.hypergeom.cdf(x, total, self.m, self.k))
        mask = self.support >= x if upper else self.support <= x
        return float(self.density(ncp)[mask].sum())


def odds_ratio(table: np.ndarray | list[list[int]]) -> tuple[float, float, float]:
    """Conditional MLE of the odds ratio and its exact 95% interval (R's ``fisher.test``).

    ``table`` is [[a, b], [c, d]]: rows the groups, columns responded yes / no.
    """
    h = _NoncentralHypergeometric(np.asarray(table, int))
    x, lo, hi = h.x, h.lo, h.hi

    def mle() -> float:
        if x == lo:
            return 0.0
        if x == hi:
            return float("inf")
        mu = h.mean(1)
        if mu > x:
            return uniroot(lambda t: h.mean(t) - x, 0, 1)
        if mu < x:
            return 1 / uniroot(lambda t: h.mean(1 / t) - x, EPS, 1)
        return 1.0

    def limit(upper_tail: bool, alpha: float = 0.025) -> float:
        if x == (lo if upper_tail else hi):
            return 0.0 if upper_tail else float("inf")
        p = h.tail(1, upper_tail)
        rising = p > alpha if upper_tail else p < alpha
        if p == alpha:
            return 1.0
        if rising:
            return uniroot(lambda t: h.tail(t, upper_tail) - alpha, 0, 1)
        return 1 / uniroot(lambda t: h.tail(1 / t, upper_tail) - alpha, EPS, 1)

    return mle(), limit(True), limit(False)


def fisher_exact(table: np.ndarray | list[list[int]]) -> float:
    """Two-sided p-value of Fisher's exact test on a 2 x 2 table (R's relative tolerance)."""
    h = _NoncentralHypergeometric(np.asarray(table, int))
    d = np.exp(h.logdc - h.logdc.max())
    observed = d[h.x - h.lo]
    return float(min(1.0, d[d <= observed * (1 + 1e-7)].sum() / d.sum()))


def _table_count(sizes: np.ndarray, total: int) -> float:
    """An upper bound on the number of k x 2 tables to enumerate."""
    return float(np.prod(np.minimum(sizes[1:], total) + 1.0))


def freeman_halton(responders: np.ndarray, sizes: np.ndarray) -> Test:
    """Exact test of equal response across k groups (Fisher-Freeman-Halton), or chi-squared.

    Enumerates every allocation of the responders to the groups with their
    sizes fixed: P(table) = prod C(n_i, x_i) / C(N, m).
    """
    responders, sizes = np.asarray(responders, int), np.asarray(sizes, int)
    total = int(responders.sum())
    if len(sizes) < 2 or total in (0, int(sizes.sum())):
        return Test("Fisher-Freeman-Halton exact test", 1.0)
    if _table_count(sizes, total) > MAX_TABLES:
        table = np.vstack([responders, sizes - responders]).T
        p = stats.chi2_contingency(table, correction=False)[1]
        return Test("Pearson's chi-squared test (too many tables for the exact test)", float(p))
    logp = np.zeros(1)
    used = np.zeros(1, int)
    for size in sizes:
        x = np.arange(size + 1)
        logp = (logp[:, None] + _log_choose(size, x)[None, :]).ravel()
        used = (used[:, None] + x[None, :]).ravel()
        keep = used <= total
        logp, used = logp[keep], used[keep]
    logp = logp[used == total]
    observed = float(sum(_log_choose(n, k) for n, k in zip(sizes, responders, strict=True)))
    scale = logp.max()
    mass = np.exp(logp - scale)
    p = mass[logp <= observed + np.log1p(1e-7)].sum() / mass.sum()
    return Test("Fisher-Freeman-Halton exact test", float(min(1.0, p)))


def _log_choose(n: int, k: np.ndarray | int) -> np.ndarray:
    return (
        special.gammaln(n + 1)
        - special.gammaln(np.asarray(k) + 1)
        - special.gammaln(n - np.asarray(k) + 1)
    )


def mann_whitney(x: np.ndarray, y: np.ndarray) -> Test:
    """Two-sided Wilcoxon rank-sum test with R's ``wilcox.test`` defaults."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        return Test("Mann-Whitney U test", None)
    ties = np.unique(np.concatenate([x, y])).size < x.size + y.size
    if x.size < 50 and y.size < 50 and not ties:
        p = stats.mannwhitneyu(x, y, method="exact").pvalue
        return Test("Mann-Whitney U test (exact)", float(p))
    p = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True).pvalue
    return Test("Mann-Whitney U test (normal approximation)", float(p))
