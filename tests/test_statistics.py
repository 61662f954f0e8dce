"""Statistics against references: scipy's exact binomial interval, hand-worked
Kaplan-Meier and quartiles, and R's fisher.test on the tea-tasting example."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from itpcohort.statistics import months, quartiles_months, rate
from itpcohort.statistics.analysis import as_flag
from itpcohort.statistics.survival import kaplan_meier


def test_clopper_pearson_matches_scipy_exact_interval() -> None:
    for k, n in [(49, 61), (30, 61), (6, 61), (1, 20), (135, 135)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        r = rate(k, n)
        assert r["ci_low"] == round(100 * ci.low, 1)
        assert r["ci_high"] == round(100 * ci.high, 1)


def test_clopper_pearson_worked_example_zero_of_ten() -> None:
    # upper limit 1 - 0.025^(1/10) = 0.3085
    assert rate(0, 10) == {"n": 0, "of": 10, "percent": 0.0, "ci_low": 0.0, "ci_high": 30.8}


def test_percent_and_months_conventions() -> None:
    assert rate(49, 61)["percent"] == 80.3
    assert rate(2, 61)["percent"] == 3.3
    assert months(746) == 24.5  # 746 / 30.4375 = 24.51
    assert months(298) == 9.8


def test_quartiles_by_linear_interpolation() -> None:
    # sorted 14, 30, 61, 91, 122: q1 = 30 (1.0 month), median 61 (2.0), q3 91 (3.0)
    assert quartiles_months([91, 14, 122, 61, 30]) == {"median": 2.0, "q1": 1.0, "q3": 3.0}
    # four values 10, 20, 30, 40 days: q1 = 17.5 days, median 25, q3 32.5 (type 7)
    q = quartiles_months([10, 20, 30, 40])
    assert q == {"median": months(25), "q1": months(17.5), "q3": months(32.5)}
    assert quartiles_months([]) == {"median": None, "q1": None, "q3": None}


def test_kaplan_meier_hand_worked() -> None:
    # times 2 (event), 3 (censored), 4 (event), 5 (event), 6 (censored)
    # S(2) = 4/5 = 0.8; S(4) = 0.8 x 2/3 = 0.533; S(5) = 0.533 x 1/2 = 0.267 -> median 5 days
    durations = pd.Series([2, 3, 4, 5, 6])
    events = pd.Series([True, False, True, True, False])
    km = kaplan_meier("x", durations, events)
    surv = km.fitter.survival_function_.iloc[:, 0]
    assert surv.loc[2.0] == pytest.approx(0.8)
    assert surv.loc[4.0] == pytest.approx(0.8 * 2 / 3)
    assert surv.loc[5.0] == pytest.approx(0.8 * 2 / 3 / 2)
    assert km.fitter.median_survival_time_ == 5.0
    assert (km.n, km.events) == (5, 3)


def test_fisher_exact_matches_r_tea_tasting() -> None:
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value = 0.4857
    assert stats.fisher_exact([[3, 1], [1, 3]])[1] == pytest.approx(0.4857, abs=1e-4)


def test_flags_from_text() -> None:
    flags = as_flag(pd.Series(["yes", "N", "1", "", None, "maybe"]))
    assert flags.tolist()[:3] == [True, False, True]
    assert flags.isna().tolist()[3:] == [True, True, True]
