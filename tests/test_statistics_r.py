"""Every estimate against R: numbers computed once with R 4.2.2 and survival 3.5.3 by
``tests/r/reference.R`` on the inputs ``tests/r/make_inputs.py`` wrote, stored in
``tests/fixtures/r/expected`` (CI does not need R).

Kaplan-Meier (Greenwood, log-log intervals), reverse Kaplan-Meier, Aalen-Johansen
with a competing event (``survfit`` on a multi-state status: infinitesimal-jackknife
standard errors), medians by ``quantile.survfit``'s rule (flat stretch at exactly
0.5, the last point, all censored, ties), numbers at risk, landmark estimates;
Fisher's exact test, conditional odds ratios with exact intervals, Newcombe's
interval, the Fisher-Freeman-Halton test, Mann-Whitney and Clopper-Pearson.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itpcohort.statistics import descriptive, proportions
from itpcohort.statistics.survival import (
    Curve,
    aalen_johansen,
    at,
    at_risk,
    kaplan_meier,
    quantile,
    reverse_kaplan_meier,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r"
EXPECTED = FIXTURES / "expected"
SURVIVAL = pd.read_csv(FIXTURES / "inputs" / "survival.csv")
CURVES = pd.read_csv(EXPECTED / "curves.csv")
QUANTILES = pd.read_csv(EXPECTED / "quantiles.csv")
LANDMARKS = pd.read_csv(EXPECTED / "landmarks.csv")
REL = 1e-9  # R writes 15 significant digits


@pytest.fixture(scope="module")
def demo_endpoints(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from itpcohort.pipeline import run
    from itpcohort.simulate import simulate

    folder = tmp_path_factory.mktemp("demo") / "cohort"
    simulate(folder)
    return run(folder).endpoints


def _fit(dataset: str, kind: str) -> Curve:
    d = SURVIVAL[SURVIVAL.dataset == dataset]
    if kind == "aj":
        return aalen_johansen(dataset, d.time, d.status)
    fit = kaplan_meier if kind == "km" else reverse_kaplan_meier
    return fit(dataset, d.time, d.status == 1)


def _same(ours: np.ndarray | float | None, r: pd.Series | float) -> bool:
    a = np.atleast_1d(np.asarray([np.nan if v is None else v for v in np.atleast_1d(ours)], float))
    b = np.atleast_1d(np.asarray(r, float))
    return a.shape == b.shape and bool(
        np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=REL, atol=1e-12))
    )


CASES = sorted({(r.dataset, r.kind) for r in CURVES.itertuples()})


@pytest.mark.parametrize(("dataset", "kind"), CASES)
def test_curve_equals_survfit(dataset: str, kind: str) -> None:
    curve = _fit(dataset, kind)
    r = CURVES[(CURVES.dataset == dataset) & (CURVES.kind == kind)]
    assert _same(curve.time, r.time)
    assert _same(curve.n_risk, r.n_risk)
    assert at_risk(curve, r.time.tolist()) == r.n_risk.tolist()  # at risk at t: time >= t
    assert _same(curve.n_event, r.n_event)
    assert _same(curve.n_censor + curve.n_other, r.n_censor) or kind == "aj"
    assert _same(curve.estimate, r.estimate), (curve.estimate, r.estimate.to_numpy())
    finite = np.isfinite(r.std_err.to_numpy(float))
    assert _same(curve.std_err[finite], r.std_err[finite])
    assert _same(curve.lower, r.lower) and _same(curve.upper, r.upper)
    if kind == "aj":
        assert _same(curve.other, r.other)


@pytest.mark.parametrize(("dataset", "kind"), CASES)
def test_median_equals_quantile_survfit(dataset: str, kind: str) -> None:
    q = quantile(_fit(dataset, kind), 0.5)
    r = QUANTILES[(QUANTILES.dataset == dataset) & (QUANTILES.kind == kind)].iloc[0]
    assert _same(q.value, r["median"]) and _same(q.lower, r.lower) and _same(q.upper, r.upper)


@pytest.mark.parametrize(
    ("dataset", "kind"), sorted({(r.dataset, r.kind) for r in LANDMARKS.itertuples()})
)
def test_landmarks_and_numbers_at_risk_equal_summary_survfit(dataset: str, kind: str) -> None:
    curve = _fit(dataset, kind)
    r = LANDMARKS[(LANDMARKS.dataset == dataset) & (LANDMARKS.kind == kind)]
    for row in r.itertuples():
        e = at(curve, row.day)
        assert _same(e.value, row.estimate) and _same(e.lower, row.lower)
        assert _same(e.upper, row.upper)
    assert at_risk(curve, r.day.tolist()) == r.n_risk.tolist()


def test_the_edge_cases_are_what_r_says_by_hand() -> None:
    """The rules themselves, readable: R's numbers, as the fixtures hold them."""
    median = {
        (r.dataset, r.kind): None if math.isnan(r.median) else r.median
        for r in QUANTILES.itertuples()
    }
    assert median[("km_flat_half", "km")] == 2.5  # S = 0.5 on [2, 3): midpoint
    assert median[("km_float_half", "km")] == 4.0  # 5/6 x 4/5 x 3/4 = 0.5 to 1e-16: (3 + 5) / 2
    assert median[("km_last_half", "km")] == 4.5  # flat at 0.5 to the end: (3 + 6) / 2
    assert median[("km_all_censored", "km")] is None
    assert median[("aj_half", "aj")] == 3.0  # incidence 0.5 from 2 to the last time 4
    assert median[("aj_no_events", "aj")] is None
    # the demo: the cumulative incidence reaches one half at day 91 (3.0 months), 95% CI
    # 61-122 days; its plateau 49/61 = 80.3% is the crude rate
    assert (median[("aj_demo_ttr", "aj")], 49 / 61) == (91.0, 0.8032786885245902)
    demo = _fit("aj_demo_ttr", "aj")
    assert demo.estimate[-1] == pytest.approx(49 / 61, rel=1e-12)


def test_the_demo_inputs_are_what_the_pipeline_gives(demo_endpoints: pd.DataFrame) -> None:
    from itpcohort.statistics.time_to_event import (
        response_duration_data,
        time_to_response_data,
    )

    ttr = time_to_response_data(demo_endpoints)
    dor = response_duration_data(demo_endpoints)
    stored = SURVIVAL.groupby("dataset")
    assert stored.get_group("aj_demo_ttr")[["time", "status"]].to_numpy().tolist() == (
        np.column_stack([ttr.days, ttr.status]).tolist()
    )
    assert stored.get_group("km_demo_dor")[["time", "status"]].to_numpy().tolist() == (
        np.column_stack([dor.days, dor.event.astype(int)]).tolist()
    )


TWO = pd.read_csv(EXPECTED / "two_by_two.csv")


@pytest.mark.parametrize("row", list(TWO.itertuples()), ids=lambda r: f"{r.a}-{r.b}-{r.c}-{r.d}")
def test_two_by_two_equals_fisher_test_and_newcombe(row) -> None:
    table = [[row.a, row.b], [row.c, row.d]]
    assert proportions.fisher_exact(table) == pytest.approx(row.p_value, rel=1e-9)
    est, low, high = proportions.odds_ratio(table)
    # R's uniroot path is reproduced, so the limits agree far beyond the printed digits
    for ours, r in ((est, row.odds_ratio), (low, row.or_low), (high, row.or_high)):
        assert (math.isinf(ours) and math.isinf(r)) or ours == pytest.approx(r, rel=1e-9)
    d, lo, hi = proportions.newcombe(row.a, row.a + row.b, row.c, row.c + row.d)
    assert (d, lo, hi) == pytest.approx((row.difference, row.rd_low, row.rd_high), rel=1e-9)


def test_k_by_two_equals_fisher_test() -> None:
    groups = pd.read_csv(FIXTURES / "inputs" / "k_by_two.csv")
    expected = pd.read_csv(EXPECTED / "k_by_two.csv").set_index("table")
    for table, g in groups.groupby("table"):
        test = proportions.freeman_halton(g.responders.to_numpy(), g.n.to_numpy())
        assert test.name == "Fisher-Freeman-Halton exact test"
        assert test.p_value == pytest.approx(expected.p_value[table], rel=1e-6)


def test_k_by_two_falls_back_to_chi_squared_beyond_the_table_limit(monkeypatch) -> None:
    groups = pd.read_csv(FIXTURES / "inputs" / "k_by_two.csv")
    expected = pd.read_csv(EXPECTED / "k_by_two.csv").set_index("table")
    monkeypatch.setattr(proportions, "MAX_TABLES", 10)
    g = groups[groups.table == 3]
    test = proportions.freeman_halton(g.responders.to_numpy(), g.n.to_numpy())
    assert test.name.startswith("Pearson's chi-squared test")
    assert test.p_value == pytest.approx(expected.chisq_p[3], rel=1e-9)


def test_mann_whitney_equals_wilcox_test() -> None:
    samples = pd.read_csv(FIXTURES / "inputs" / "samples.csv")
    expected = pd.read_csv(EXPECTED / "samples.csv").set_index("sample")
    for name, s in samples.groupby("sample"):
        test = proportions.mann_whitney(s.value[s.group == "x"], s.value[s.group == "y"])
        assert test.p_value == pytest.approx(expected.p_value[name], rel=1e-9)
        assert ("exact" in test.name) == ("exact" in expected.method[name])


def test_clopper_pearson_equals_binom_test() -> None:
    for row in pd.read_csv(EXPECTED / "binomial.csv").itertuples():
        r = descriptive.rate(row.k, row.n)
        assert (r["ci_low"], r["ci_high"]) == (
            round(100 * row.ci_low, 1),
            round(100 * row.ci_high, 1),
        )
