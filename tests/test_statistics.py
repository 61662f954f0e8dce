"""Statistics worked by hand: intervals, Kaplan-Meier and Aalen-Johansen on tiny data,
subgroups (Fisher and Fisher-Freeman-Halton p-values as hypergeometric sums, cut
points, missing values), p-value printing, the time-to-event data rules, safety
counts (treatment-emergent window, unknown relatedness, the last period's stop
reason, bleeding grade 0, "not recorded"), comparators and the baseline table.
The numbers R gives are in ``test_statistics_r.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import itpcohort
from itpcohort.errors import ItpCohortError
from itpcohort.statistics import analyse, months, quartiles_months, rate
from itpcohort.statistics import formats as fmt
from itpcohort.statistics.adverse_events import (
    SafetyData,
    adverse_event_counts,
    bleeding_counts,
    last_stop_reasons,
)
from itpcohort.statistics.analysis import as_flag
from itpcohort.statistics.baseline import baseline_table
from itpcohort.statistics.comparators import comparison_table
from itpcohort.statistics.subgroups import GroupBy, grouping, parse_by
from itpcohort.statistics.survival import aalen_johansen, at, kaplan_meier, quantile
from itpcohort.statistics.time_to_event import estimate_curves, time_to_response_data
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
    # Greenwood at 2: 0.8 x sqrt(1 / (5 x 4)) = 0.1789
    km = kaplan_meier("x", pd.Series([2, 3, 4, 5, 6]), pd.Series([1, 0, 1, 1, 0]))
    assert km.estimate.tolist() == pytest.approx([0.8, 0.8, 0.8 * 2 / 3, 0.8 / 3, 0.8 / 3])
    assert km.std_err[0] == pytest.approx(0.8 * np.sqrt(1 / 20))
    assert quantile(km).value == 5.0
    assert (km.n, km.events, km.censored) == (5, 3, 2)


def test_aalen_johansen_hand_worked_and_plateau_is_the_crude_rate() -> None:
    # 1 response, 2 stopped, 3 response, 4 response: F(1) = 1/4; all-cause S(1) = 3/4,
    # S(2) = 3/4 x 2/3 = 1/2; F(3) = 1/4 + 1/2 x 1/2 = 1/2; F(4) = 1/2 + 1/4 x 1 = 3/4
    # = 3 responders of 4: with everyone either responding or stopping, the plateau is the
    # crude rate (1 - KM with stopping censored would give 1: it overstates)
    aj = aalen_johansen("x", pd.Series([1, 2, 3, 4]), pd.Series([1, 2, 1, 1]))
    assert aj.estimate.tolist() == pytest.approx([0.25, 0.25, 0.5, 0.75])
    assert aj.other.tolist() == pytest.approx([0, 0.25, 0.25, 0.25])
    km = kaplan_meier("x", pd.Series([1, 2, 3, 4]), pd.Series([1, 0, 1, 1]))
    assert 1 - km.estimate[-1] == pytest.approx(1.0)
    assert quantile(aj).value == 3.5  # F = 0.5 exactly from 3 to 4: the midpoint, as R
    assert at(aj, 2.5).value == pytest.approx(0.25) and at(aj, 9).value is None


def _endpoints(rows: list[tuple]) -> pd.DataFrame:
    """(patient, best, days_to_response, treatment_days, ended)."""
    return pd.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "best_response": [r[1] for r in rows],
            "days_to_response": pd.array([r[2] for r in rows], dtype="Int64"),
            "treatment_days": pd.array([r[3] for r in rows], dtype="Int64"),
            "end_date": [pd.Timestamp("2024-06-01") if r[4] else pd.NaT for r in rows],
            "response_duration_days": pd.array([None] * len(rows), dtype="Int64"),
            "response_duration_censored": pd.array([None] * len(rows), dtype="boolean"),
        }
    )


def test_time_to_response_data_rules() -> None:
    e = _endpoints(
        [
            ("P1", "CR", 30, 200, True),  # response at 30
            ("P2", "NR", None, 90, True),  # stopped without response: competing at 90
            ("P3", "NR", None, 120, False),  # ongoing without response: censored at 120
            ("P4", "NE", None, 60, True),  # no baseline: not in the risk set
        ]
    )
    data = time_to_response_data(e)
    assert data.values.tolist() == [["P1", 30.0, 1], ["P2", 90.0, 2], ["P3", 120.0, 0]]
    curves = estimate_curves(e)
    assert curves.not_evaluable == 1 and curves.time_to_response.n == 3


def test_a_negative_time_is_an_error_naming_the_patient() -> None:
    e = _endpoints([("P1", "CR", 30, 200, True), ("P9", "NR", None, -4, False)])
    with pytest.raises(ItpCohortError, match=r"P9 \(-4 days\).*followup_end_date"):
        time_to_response_data(e)


def test_p_values_are_printed_honestly() -> None:
    assert fmt.p_value(0.11132165) == "p = 0.111"
    assert fmt.p_value(0.0469) == "p = 0.047"
    assert fmt.p_value(0.00049) == "p < 0.001"
    assert fmt.p_value(0.0) == "p < 0.001"
    assert fmt.p_value(1.0) == "p > 0.999"
    assert fmt.p_value(None) == "\u2013"
    assert fmt.p_value(0.0004, prefix=False) == "<\u20090.001"
    assert fmt.number(-3.74) == "\u22123.7" and fmt.number(-0.04) == "0.0"
    assert fmt.interval(-3.7, 34.5) == "\u22123.7 to 34.5"
    assert fmt.interval(68.2, 89.4) == "68.2\u201389.4"


# Eight patients: a responder has counts 10 (day 0), 50 (day 10), 50 (day 17), R
# confirmed 7 days apart; a non-responder 10 then 10 (NR).
#   patient  responds  sle  site  age
SUBGROUP_COHORT = [
    ("P1", True, "yes", "A", 30),
    ("P2", True, "yes", "A", 41),
    ("P3", True, "yes", "B", 50),
    ("P4", True, "no", "C", 66),
    ("P5", False, "yes", "B", 22),
    ("P6", False, "no", "C", 35),
    ("P7", False, "no", "C", 58),
    ("P8", False, "", "C", 47),
]


@pytest.fixture(scope="module")
def subgroup_cohort(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("subgroups")
    labs = []
    for pid, responds, *_ in SUBGROUP_COHORT:
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
        ["patient_id", "enrollment_date", "sle", "site", "age"],
        [(pid, day(0), sle, site, age) for pid, _, sle, site, age in SUBGROUP_COHORT],
    )
    cohort = itpcohort.read_cohort(folder)
    endpoints = itpcohort.evaluate(cohort)
    responders = endpoints.best_response.isin(["CR", "R"])
    assert dict(zip(endpoints.patient_id, responders, strict=True)) == {
        p[0]: p[1] for p in SUBGROUP_COHORT
    }
    return cohort, endpoints


def test_subgroup_two_groups_fisher_by_hand_with_missing_apart(subgroup_cohort) -> None:
    # sle yes: 3 of 4 respond, sle no: 1 of 3, P8 missing (0 of 1, shown, not tested).
    # Table [[3, 1], [1, 2]], margins 4, 3 / 4, 3 of 7: P(x responders among yes) =
    # C(4,x) C(3,4-x) / C(7,4) = 0, 4, 18, 12, 1 (/35) for x = 0..4 (x = 0 impossible);
    # two-sided: the x as or less likely than x = 3 (12/35): (4 + 12 + 1) / 35 = 0.4857
    s = analyse(*subgroup_cohort, by="sle").summary
    sle = s["subgroups"]["sle"]
    assert list(sle["groups"]) == ["true", "false", "missing"]
    assert (sle["groups"]["missing"]["n"], sle["groups"]["missing"]["of"]) == (0, 1)
    assert sle["p_value"] == pytest.approx(17 / 35, rel=1e-12)
    assert sle["test"] == "Fisher's exact test" and sle["reference"] == "false"
    # risk difference 75.0 - 33.3 = 41.7 percentage points
    assert sle["groups"]["true"]["risk_difference"]["estimate"] == 41.7
    assert "risk_difference" not in sle["groups"]["missing"]
    legacy = s["overall_response_by"]["sle"]
    assert legacy["true"] == {"n": 3, "of": 4, "percent": 75.0}
    assert legacy["missing"] == {"n": 0, "of": 1, "percent": 0.0}


def test_subgroup_three_groups_freeman_halton_by_hand(subgroup_cohort) -> None:
    # site A 2/2, B 1/2, C 1/4 respond; 4 of 8. Tables (xA, xB, xC) with the margins,
    # weights C(2,xA) C(2,xB) C(4,xC) (/ C(8,4) = 70): (0,0,4) 1, (0,1,3) 8, (0,2,2) 6,
    # (1,0,3) 8, (1,1,2) 24, (1,2,1) 8, (2,0,2) 6, (2,1,1) 8, (2,2,0) 1. Observed (2,1,1):
    # 8. As or less likely: all but (1,1,2): 46 / 70 = 0.6571 (R: fisher.test, 0.657143)
    site = analyse(*subgroup_cohort, by="site").summary["subgroups"]["site"]
    assert site["test"] == "Fisher-Freeman-Halton exact test"
    assert site["p_value"] == pytest.approx(46 / 70, rel=1e-12)
    assert site["reference"] == "C"  # the most frequent value
    assert [g["n"] for g in site["groups"].values()] == [2, 1, 1]


def test_numeric_by_needs_cut_points(subgroup_cohort) -> None:
    cohort, endpoints = subgroup_cohort
    with pytest.raises(ItpCohortError, match=r"continuous \(8 distinct values\).*'age:50'"):
        analyse(cohort, endpoints, by="age")
    # cut at 50: a value on the cut point goes to the upper group (P3, 50 -> >=50)
    age = analyse(cohort, endpoints, by="age:50").summary["subgroups"]["age:50"]
    assert {k: (g["n"], g["of"]) for k, g in age["groups"].items()} == {
        "<50": (2, 5),
        ">=50": (2, 3),
    }
    assert age["reference"] == "<50"
    assert parse_by(["sle", "age:60,40"]) == [GroupBy("sle"), GroupBy("age", (40.0, 60.0))]
    with pytest.raises(ItpCohortError, match="cut points must be numbers"):
        parse_by("age:fifty")


def test_a_text_column_with_too_many_values_is_refused() -> None:
    data = pd.DataFrame({"centre": [f"c{i}" for i in range(20)], "best_response": "CR"})
    with pytest.raises(ItpCohortError, match="20 distinct values"):
        grouping(data, GroupBy("centre"))


def test_flags_from_text() -> None:
    flags = as_flag(pd.Series(["yes", "N", "1", "", None, "maybe"]))
    assert flags.tolist()[:3] == [True, False, True]
    assert flags.isna().tolist()[3:] == [True, True, True]


def _safety(ae: pd.DataFrame | None, bleeding: pd.DataFrame | None = None) -> SafetyData:
    treated = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P4"],
            "start_date": pd.to_datetime(["2024-01-01"] * 4),
            "end_date": pd.to_datetime(["2024-03-01", "2024-03-01", None, "2024-03-01"]),
        }
    )
    treatments = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P3", "P4"],
            "drug": "tacrolimus",
            "role": "study",
            "start_date": pd.to_datetime(
                ["2024-01-01", "2024-02-01", "2024-01-01", "2024-01-01", "2024-01-01"]
            ),
            # P1 stopped its first period for an adverse event, then resumed: not counted;
            # P4's last (only) period stopped for an adverse event: counted
            "stop_reason": ["adverse_event", "completed", None, None, "adverse_event"],
        }
    )
    return SafetyData(treated, ae, bleeding, last_stop_reasons(treatments, "tacrolimus"))


def test_adverse_events_treatment_emergent_related_unknown_and_stops() -> None:
    ae = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P2", "P3"],
            # P1: before the start (not emergent), 30 days after the end (emergent);
            # P2: 31 days after the end (not emergent), on treatment; P3 ongoing: any time
            "onset_date": pd.to_datetime(
                ["2023-12-31", "2024-03-31", "2024-04-01", "2024-02-01", "2025-06-01"]
            ),
            "term": ["Tremor", "Tremor", "Rash", "Diarrhea", "Infection"],
            "grade": [1, 3, 2, 1, None],
            "related": [True, None, True, False, None],
            "action": ["none", "none", "discontinued", "none", "none"],
        }
    )
    c = adverse_event_counts(_safety(ae), window_days=30)
    # emergent: P1 (grade 3, relatedness unknown), P2 (diarrhoea, unrelated), P3 (unknown)
    assert (c["any"]["n"], c["any"]["of"]) == (3, 4)
    assert c["related"]["n"] == 0  # the related P1 event was before the start
    assert c["relatedness_unknown"]["n"] == 2  # P1 and P3: unknown, never "related"
    assert c["grade_3_or_more"]["n"] == 1
    assert c["stopped"]["n"] == 1  # P4 (last period); P2's discontinuation was not emergent
    assert c["outside_window"] == 2


def test_without_an_adverse_events_file_the_counts_are_not_recorded() -> None:
    c = adverse_event_counts(_safety(None))
    assert c["recorded"] is False and c["any"] is None and c["related"] is None
    assert c["stopped"]["n"] == 1  # stop reasons come from treatments
    assert bleeding_counts(_safety(None)) == {"recorded": False, "of": 4, "worst_grade": None}


def test_bleeding_by_worst_grade_with_grade_zero() -> None:
    bleeding = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P3"],
            # P1: grades 1 and 3 -> 3; P2: before the start only -> 0; P3 grade 2
            "date": pd.to_datetime(["2024-01-10", "2024-02-10", "2023-12-01", "2024-05-01"]),
            "who_grade": [1, 3, 4, 2],
        }
    )
    c = bleeding_counts(_safety(pd.DataFrame(), bleeding))
    assert {g: r["n"] for g, r in c["worst_grade"].items()} == {
        "0": 2,
        "1": 0,
        "2": 1,
        "3": 1,
        "4": 0,
    }
    assert c["worst_grade"]["0"]["of"] == 4 and c["worst_grade"]["0"]["percent"] == 50.0


def test_comparators_keep_published_numbers(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        """
[[comparator]]
therapy = "counted"
responders = 0
n = 10
citation = "zero of ten"

[[comparator]]
therapy = "pooled"
percent = 62.5
ci_low = 52.6
ci_high = 72.5
n = 313
citation = "a review"
""",
        encoding="utf-8",
    )
    overall = rate(4, 8)
    t = comparison_table(overall, "def", "pop", tmp_path / "c.toml").set_index("therapy")
    # 0 of 10: exact interval 0 to 1 - 0.025^(1/10) = 30.8%
    assert t.loc["counted", ["responders", "percent", "ci_low", "ci_high"]].tolist() == [
        0,
        0.0,
        0.0,
        30.8,
    ]
    # a pooled percentage: no count rebuilt (62.5% x 313 = 195.6), its published interval
    assert pd.isna(t.loc["pooled", "responders"])
    assert t.loc["pooled", ["percent", "ci_low", "ci_high"]].tolist() == [62.5, 52.6, 72.5]
    assert "p_vs_cohort" not in t.columns  # no naive p-value by default
    tested = comparison_table(overall, "d", "p", tmp_path / "c.toml", tests=True)
    # Fisher on [[4, 4], [0, 10]]: weights C(8,x) C(10,4-x) = 210, 960, 1260, 560, 70
    # (/3060); only x = 4 is as unlikely: 70 / 3060 = 0.0229
    assert tested.p_vs_cohort.tolist()[1] == pytest.approx(70 / 3060)
    assert tested.p_vs_cohort.isna().tolist() == [True, False, True]  # never vs a pooled rate
    (tmp_path / "bad.toml").write_text('[[comparator]]\ntherapy = "x"\nn = 3\n')
    with pytest.raises(ItpCohortError, match="lacks citation, responders or percent"):
        comparison_table(overall, "d", "p", tmp_path / "bad.toml")


def test_baseline_table_without_p_values_by_default(subgroup_cohort) -> None:
    cohort, endpoints = subgroup_cohort
    data = endpoints.merge(cohort.patients, on="patient_id")
    groups = grouping(data, GroupBy("sle"))
    frame, headers = baseline_table(data, groups)
    assert "p_value" not in frame.columns
    assert headers == {
        "characteristic": "Characteristic",
        "overall": "All patients (N = 8)",
        "group:true": "SLE: yes (N = 4)",
        "group:false": "SLE: no (N = 3)",
        "group:missing": "SLE: missing (N = 1)",
    }
    rows = frame.set_index("characteristic")
    # baseline count 10 for everyone
    assert rows.loc["Baseline platelet count, \u00d710\u2079/L, median [IQR]", "overall"] == (
        "10.0 [10.0, 10.0]"
    )
    # ages 30, 41, 50, 22 (sle yes): sorted 22, 30, 41, 50: median 35.5, q1 28, q3 43.25
    assert rows.loc["Age, years, median [IQR]", "group:true"] == "35.5 [28.0, 43.2]"
    tested, headers = baseline_table(data, groups, tests=True)
    assert headers["p_value"] == "p-value" and tested["p_value"].str.len().gt(0).any()


def test_disease_duration_from_the_diagnosis_date() -> None:
    from itpcohort.statistics.baseline import derived_columns

    data = pd.DataFrame(
        {
            "start_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
            # 60.875 days = 2.0 months (newly diagnosed); 365.25 = 12.0 (persistent); 400 (chronic)
            "diagnosis_date": pd.to_datetime(["2023-11-01", "2023-01-01", "2022-11-27"]),
        }
    )
    out = derived_columns(data)
    assert out["disease_months"].round(2).tolist() == [2.0, 11.99, 13.14]
    assert out["itp_phase"].str.split(" ").str[0].tolist() == [
        "newly",
        "persistent",
        "chronic",
    ]
