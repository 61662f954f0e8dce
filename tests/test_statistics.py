"""Statistics against references: scipy's exact binomial interval, hand-worked
Kaplan-Meier and quartiles, and the project's subgroup and comparator tables on a
tiny cohort whose p-values and intervals are worked out by hand (hypergeometric
sums, the chi-squared tail exp(-x/2) for 2 degrees of freedom, Clopper-Pearson
limits at 0/n and n/n in closed form)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

import itpcohort
from itpcohort.statistics import analyse, months, quartiles_months, rate
from itpcohort.statistics.analysis import as_flag
from itpcohort.statistics.survival import kaplan_meier
from tests.conftest import day, write_cohort, write_csv


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


# Eight patients: a responder has counts 10 (day 0), 50 (day 10), 50 (day 17), R
# confirmed 7 days apart; a non-responder 10 then 10 (NR).
#   patient  responds  sle  site
SUBGROUP_COHORT = [
    ("P1", True, "yes", "A"),
    ("P2", True, "yes", "A"),
    ("P3", True, "yes", "B"),
    ("P4", True, "no", "C"),
    ("P5", False, "yes", "B"),
    ("P6", False, "no", "C"),
    ("P7", False, "no", "C"),
    ("P8", False, "no", "C"),
]


@pytest.fixture(scope="module")
def subgroup_cohort(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("subgroups")
    labs = []
    for pid, responds, _, _ in SUBGROUP_COHORT:
        later = 50 if responds else 10
        labs += [(pid, day(0), "platelets", 10, "10^9/L")]
        labs += [(pid, day(d), "platelets", later, "10^9/L") for d in (10, 17)]
    write_cohort(
        folder,
        patients=[],
        treatments=[
            (p[0], "tacrolimus", "study", day(0), day(100), "full") for p in SUBGROUP_COHORT
        ],
        labs=labs,
    )
    write_csv(
        folder / "patients.csv",
        ["patient_id", "enrollment_date", "sle", "site"],
        [(pid, day(0), sle, site) for pid, _, sle, site in SUBGROUP_COHORT],
    )
    cohort = itpcohort.read_cohort(folder)
    endpoints = itpcohort.evaluate(cohort)
    responders = endpoints.best_response.isin(["CR", "R"])
    assert dict(zip(endpoints.patient_id, responders, strict=True)) == {
        p[0]: p[1] for p in SUBGROUP_COHORT
    }
    return cohort, endpoints


def test_subgroup_two_groups_fisher_by_hand(subgroup_cohort) -> None:
    # sle yes: 3 of 4 respond, sle no: 1 of 4 -> the table [[3, 1], [1, 3]].
    # Margins 4, 4 / 4, 4 of 8: P(x responders among sle yes) = C(4,x) C(4,4-x) / C(8,4)
    # = 1, 16, 36, 16, 1 (/70) for x = 0..4; two-sided: the x as or less likely than
    # x = 3 (16/70): (1 + 16 + 16 + 1) / 70 = 0.4857 (R: fisher.test(matrix(c(3,1,1,3),2)))
    analysis = analyse(*subgroup_cohort, by="sle")
    assert analysis.summary["overall_response_by"] == {
        "sle": {
            "true": {"n": 3, "of": 4, "percent": 75.0},
            "false": {"n": 1, "of": 4, "percent": 25.0},
            "p_value": 0.4857,
            "test": "Fisher's exact test",
        }
    }
    table = analysis.tables["subgroup"].set_index("value")
    assert table.loc["true", ["responders", "n", "percent"]].tolist() == [3, 4, 75.0]
    assert table.loc["false", ["responders", "n", "percent"]].tolist() == [1, 4, 25.0]
    assert set(table.p_value) == {0.4857}


def test_subgroup_three_groups_chi_squared_by_hand(subgroup_cohort) -> None:
    # site A 2/2, B 1/2, C 1/4 respond; 4 of 8 overall, so expected responders
    # (= non-responders) are 1, 1, 2. Chi-squared (no continuity correction beyond
    # 2 x 2): A (2-1)^2/1 + (0-1)^2/1 = 2, B 0, C (1-2)^2/2 + (3-2)^2/2 = 1; total 3
    # on 2 degrees of freedom: p = exp(-3/2) = 0.2231
    by_site = analyse(*subgroup_cohort, by="site").summary["overall_response_by"]["site"]
    assert by_site == {
        "A": {"n": 2, "of": 2, "percent": 100.0},
        "B": {"n": 1, "of": 2, "percent": 50.0},
        "C": {"n": 1, "of": 4, "percent": 25.0},
        "p_value": 0.2231,
        "test": "chi-squared test",
    }


def test_comparators_by_hand(subgroup_cohort, tmp_path: Path) -> None:
    (tmp_path / "comparators.toml").write_text(
        """
[[comparator]]
therapy = "none"
responders = 0
n = 10
citation = "zero of ten"

[[comparator]]
therapy = "all"
percent = 100.0
n = 10

[[comparator]]
therapy = "half"
percent = 50.0
n = 8
""",
        encoding="utf-8",
    )
    analysis = analyse(*subgroup_cohort, comparators=tmp_path / "comparators.toml")
    rows = analysis.tables["comparison"].set_index("therapy")
    columns = ["responders", "n", "percent", "ci_low", "ci_high", "p_vs_cohort"]
    # this cohort 4 of 8: Clopper-Pearson limits solve P(X >= 4 | 8, p) = 0.025 and
    # P(X <= 4 | 8, p) = 0.025: 0.1570 and 0.8430 (R: binom.test(4, 8)$conf.int)
    assert rows.loc["this cohort", columns[:5]].tolist() == [4, 8, 50.0, 15.7, 84.3]
    # none: 0 of 10, interval 0 to 1 - 0.025^(1/10) = 0.3085. Fisher on [[4, 4], [0, 10]]:
    # margins 8, 10 / 4, 14 of 18; P(x cohort responders) = C(8,x) C(10,4-x) / C(18,4)
    # = 210, 960, 1260, 560, 70 (/3060) for x = 0..4; only x = 4 is as unlikely:
    # p = 70 / 3060 = 0.0229
    assert rows.loc["none", columns].tolist() == [0, 10, 0.0, 0.0, 30.8, 0.0229]
    # all: 100% of 10 = 10 responders, interval 0.025^(1/10) = 0.6915 to 1; Fisher on
    # [[4, 4], [10, 0]] is the mirror image (non-responders 4 of 8 vs 0 of 10): 0.0229
    assert rows.loc["all", columns].tolist() == [10, 10, 100.0, 69.2, 100.0, 0.0229]
    # half: 50% of 8 = 4, the same table as the cohort's [[4, 4], [4, 4]]: p = 1;
    # the same interval as the cohort's
    assert rows.loc["half", columns].tolist() == [4, 8, 50.0, 15.7, 84.3, 1.0]
    assert rows.loc["none", "citation"] == "zero of ten"


def test_flags_from_text() -> None:
    flags = as_flag(pd.Series(["yes", "N", "1", "", None, "maybe"]))
    assert flags.tolist()[:3] == [True, False, True]
    assert flags.isna().tolist()[3:] == [True, True, True]
