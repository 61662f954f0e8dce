"""CTCAE v5.0 laboratory grading from data: hand-worked grades at every boundary.

Each case is (value, unit, expected grade, expected threshold row), worked by
hand from the CTCAE v5.0 wording cited in ``safety/ctcae_v5.csv``: just below,
on and just above each threshold, in SI and conventional units. The reference
ranges are fixed here (not the shipped defaults) so every case reads alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from itpcohort.safety import (
    GradingDataError,
    grade_labs,
    load_grading_criteria,
    load_reference_ranges,
    reference_ranges,
)

START = pd.Timestamp("2024-01-01")
#: hand-picked limits of normal, canonical units
RANGES = reference_ranges(
    [
        {"test": "platelets", "lln": 150, "uln": 400, "unit": "10^9/L"},
        {"test": "neutrophils", "lln": 2.0, "uln": 7.5, "unit": "10^9/L"},
        {"test": "hemoglobin", "lln": 120, "uln": 160, "unit": "g/L"},
        {"test": "creatinine", "lln": 45, "uln": 100, "unit": "umol/L"},
        {"test": "creatinine", "sex": "M", "lln": 50, "uln": 88.42, "unit": "umol/L"},
        {"test": "alt", "lln": 5, "uln": 40, "unit": "U/L"},
        {"test": "ast", "lln": 5, "uln": 40, "unit": "U/L"},
        {"test": "potassium", "lln": 3.5, "uln": 5.0, "unit": "mmol/L"},
        {"test": "magnesium", "lln": 0.7, "uln": 1.1, "unit": "mmol/L"},
    ],
    source="test ranges",
)


def graded(
    test: str,
    values: list[tuple[float, str]],
    *,
    baseline: tuple[float, str] | None = None,
    sex: str = "F",
    ranges: object = RANGES,
) -> pd.DataFrame:
    """Grade ``values`` of one patient 10 days after the start (baseline on the start day)."""
    rows = [("P1", START + pd.Timedelta(days=10), test, v, u) for v, u in values]
    if baseline is not None:
        rows.insert(0, ("P1", START, test, *baseline))
    labs = pd.DataFrame(rows, columns=["patient_id", "date", "test", "value", "unit"])
    starts = pd.DataFrame({"patient_id": ["P1"], "start_date": [START], "end_date": [pd.NaT]})
    out = grade_labs(
        labs, pd.DataFrame({"patient_id": ["P1"], "sex": [sex]}), starts, ranges=ranges
    )
    return out[out["period"] != "baseline"].reset_index(drop=True)


def check(out: pd.DataFrame, cases: list[tuple[float, str, int, str]]) -> None:
    got = list(zip(out["grade"].astype(int), out["threshold_row"], strict=True))
    want = [(g, row) for _, _, g, row in cases]
    assert got == want, "\n".join(
        f"{v} {u}: got grade {a} ({ra or '-'}), want {g} ({r or '-'})"
        for (v, u, g, r), (a, ra) in zip(cases, got, strict=True)
        if (a, ra) != (g, r)
    )


def run_cases(test: str, cases: list[tuple[float, str, int, str]], **kw: object) -> None:
    check(graded(test, [(v, u) for v, u, _, _ in cases], **kw), cases)  # type: ignore[arg-type]


# -- platelet count decreased: <LLN-75.0; <75.0-50.0; <50.0-25.0; <25.0 x10e9/L ----------

PLATELETS_SI = [
    (150.1, "10^9/L", 0, ""),
    (150.0, "10^9/L", 0, ""),  # on the LLN: not below it
    (149.9, "10^9/L", 1, "PLT-1"),
    (75.1, "10^9/L", 1, "PLT-1"),
    (75.0, "10^9/L", 1, "PLT-1"),  # "<LLN - 75.0": 75.0 is grade 1
    (74.9, "10^9/L", 2, "PLT-2"),
    (50.1, "10^9/L", 2, "PLT-2"),
    (50.0, "10^9/L", 2, "PLT-2"),  # "<75.0 - 50.0": 50.0 is grade 2
    (49.9, "10^9/L", 3, "PLT-3"),
    (25.1, "10^9/L", 3, "PLT-3"),
    (25.0, "10^9/L", 3, "PLT-3"),
    (24.9, "10^9/L", 4, "PLT-4"),
    (0.0, "10^9/L", 4, "PLT-4"),
]
PLATELETS_CONVENTIONAL = [  # cells per microlitre (divided by 1000) and K/uL
    (150000, "/uL", 0, ""),
    (149900, "/uL", 1, "PLT-1"),
    (75000, "/uL", 1, "PLT-1"),
    (74900, "/uL", 2, "PLT-2"),
    (50000, "/uL", 2, "PLT-2"),
    (49900, "/uL", 3, "PLT-3"),
    (25000, "/uL", 3, "PLT-3"),
    (24900, "/uL", 4, "PLT-4"),
    (50.0, "K/uL", 2, "PLT-2"),
    (49.9, "10^3/uL", 3, "PLT-3"),
]


@pytest.mark.parametrize("cases", [PLATELETS_SI, PLATELETS_CONVENTIONAL], ids=["SI", "conv"])
def test_platelet_count_decreased(cases: list[tuple[float, str, int, str]]) -> None:
    run_cases("platelets", cases)


# -- neutrophil count decreased: <LLN-1.5; <1.5-1.0; <1.0-0.5; <0.5 x10e9/L --------------

NEUTROPHILS = [
    (2.01, "10^9/L", 0, ""),
    (2.0, "10^9/L", 0, ""),
    (1.99, "10^9/L", 1, "NEUT-1"),
    (1.51, "10^9/L", 1, "NEUT-1"),
    (1.5, "10^9/L", 1, "NEUT-1"),
    (1.49, "10^9/L", 2, "NEUT-2"),
    (1.01, "10^9/L", 2, "NEUT-2"),
    (1.0, "10^9/L", 2, "NEUT-2"),
    (0.99, "10^9/L", 3, "NEUT-3"),
    (0.51, "10^9/L", 3, "NEUT-3"),
    (0.5, "10^9/L", 3, "NEUT-3"),
    (0.49, "10^9/L", 4, "NEUT-4"),
    # conventional: cells/mm3 = cells/uL
    (1510, "/uL", 1, "NEUT-1"),
    (1500, "/uL", 1, "NEUT-1"),
    (1490, "/uL", 2, "NEUT-2"),
    (1000, "/uL", 2, "NEUT-2"),
    (990, "/uL", 3, "NEUT-3"),
    (500, "/uL", 3, "NEUT-3"),
    (490, "/uL", 4, "NEUT-4"),
]


def test_neutrophil_count_decreased() -> None:
    run_cases("neutrophils", NEUTROPHILS)


# -- anaemia: Hgb <LLN-100 g/L; <100-80 g/L; <80 g/L (g/dL: 10.0, 8.0) -------------------

ANAEMIA = [
    (120.1, "g/L", 0, ""),
    (120.0, "g/L", 0, ""),
    (119.9, "g/L", 1, "ANEM-1"),
    (100.1, "g/L", 1, "ANEM-1"),
    (100.0, "g/L", 1, "ANEM-1"),
    (99.9, "g/L", 2, "ANEM-2"),
    (80.1, "g/L", 2, "ANEM-2"),
    (80.0, "g/L", 2, "ANEM-2"),
    (79.9, "g/L", 3, "ANEM-3"),
    (12.0, "g/dL", 0, ""),
    (11.99, "g/dL", 1, "ANEM-1"),
    (10.01, "g/dL", 1, "ANEM-1"),
    (10.0, "g/dL", 1, "ANEM-1"),
    (9.99, "g/dL", 2, "ANEM-2"),
    (8.01, "g/dL", 2, "ANEM-2"),
    (8.0, "g/dL", 2, "ANEM-2"),
    (7.99, "g/dL", 3, "ANEM-3"),
    # mmol/L (x 16.114): CTCAE's 6.2 mmol/L is a rounding of 100 g/L; the SI figure
    # governs, so 6.2 mmol/L = 99.9 g/L is grade 2, and 6.21 = 100.07 g/L grade 1
    (6.21, "mmol/L", 1, "ANEM-1"),
    (6.2, "mmol/L", 2, "ANEM-2"),
    (4.97, "mmol/L", 2, "ANEM-2"),  # 80.09 g/L
    (4.96, "mmol/L", 3, "ANEM-3"),  # 79.93 g/L
]


def test_anaemia() -> None:
    run_cases("hemoglobin", ANAEMIA)


# -- creatinine increased: >ULN-1.5xULN; >1.5-3.0 x baseline or ULN; >3.0 x baseline or
# >3.0-6.0 x ULN; >6.0 x ULN. ULN 100 umol/L; no baseline: the ULN alone --------------

CREATININE_ULN = [
    (99.9, "umol/L", 0, ""),
    (100.0, "umol/L", 0, ""),
    (100.1, "umol/L", 1, "CREAT-1"),
    (149.9, "umol/L", 1, "CREAT-1"),
    (150.0, "umol/L", 1, "CREAT-1"),
    (150.1, "umol/L", 2, "CREAT-2U"),
    (300.0, "umol/L", 2, "CREAT-2U"),
    (300.1, "umol/L", 3, "CREAT-3U"),
    (600.0, "umol/L", 3, "CREAT-3U"),
    (600.1, "umol/L", 4, "CREAT-4"),
]
#: a man's ULN of 88.42 umol/L is 1.0 mg/dL: the multiples of ULN in mg/dL, with the
#: floating-point noise of the conversion (1.5 x 88.42 against 1.5 mg/dL x 88.42)
CREATININE_MG_DL = [
    (1.0, "mg/dL", 0, ""),
    (1.01, "mg/dL", 1, "CREAT-1"),
    (1.5, "mg/dL", 1, "CREAT-1"),
    (1.51, "mg/dL", 2, "CREAT-2U"),
    (3.0, "mg/dL", 2, "CREAT-2U"),
    (3.01, "mg/dL", 3, "CREAT-3U"),
    (6.0, "mg/dL", 3, "CREAT-3U"),
    (6.01, "mg/dL", 4, "CREAT-4"),
]


def test_creatinine_against_the_uln() -> None:
    run_cases("creatinine", CREATININE_ULN)


def test_creatinine_in_mg_dl_on_the_boundaries() -> None:
    run_cases("creatinine", CREATININE_MG_DL, sex="M")


def test_creatinine_normal_baseline_the_higher_grade_wins() -> None:
    # baseline 60 umol/L (within limits), ULN 100
    cases = [
        (90.0, "umol/L", 0, ""),  # 1.5 x baseline exactly: not above it
        (90.1, "umol/L", 2, "CREAT-2B"),  # > 1.5 x baseline although below the ULN
        (150.0, "umol/L", 2, "CREAT-2B"),  # 1.5 x ULN (grade 1) but 2.5 x baseline (grade 2)
        (180.0, "umol/L", 2, "CREAT-2U"),  # 1.8 x ULN and 3.0 x baseline: grade 2 both ways
        (180.1, "umol/L", 3, "CREAT-3B"),  # > 3.0 x baseline beats 1.8 x ULN (grade 2)
        (600.1, "umol/L", 4, "CREAT-4"),  # > 6 x ULN: only the ULN reaches grade 4
    ]
    run_cases("creatinine", cases, baseline=(60.0, "umol/L"))


def test_creatinine_abnormal_baseline() -> None:
    # baseline 150 umol/L (1.5 x ULN): the ULN criteria grade higher or equal
    cases = [
        (150.0, "umol/L", 1, "CREAT-1"),
        (225.0, "umol/L", 2, "CREAT-2U"),  # 1.5 x baseline exactly; 2.25 x ULN
        (450.0, "umol/L", 3, "CREAT-3U"),  # 3.0 x baseline exactly; 4.5 x ULN
        (450.1, "umol/L", 3, "CREAT-3U"),  # > 3 x baseline too: the first row of grade 3
        (600.1, "umol/L", 4, "CREAT-4"),
    ]
    run_cases("creatinine", cases, baseline=(150.0, "umol/L"))


def test_creatinine_in_mg_dl_against_baseline() -> None:
    # baseline 0.6 mg/dL (53.05 umol/L); 1.5 x baseline = 0.9 mg/dL
    cases = [(0.9, "mg/dL", 0, ""), (0.91, "mg/dL", 2, "CREAT-2B")]
    run_cases("creatinine", cases, baseline=(0.6, "mg/dL"), sex="M")


# -- ALT / AST increased: normal baseline against the ULN; abnormal baseline against the
# baseline (grade 1 "1.5 - 3.0 x baseline" includes 1.5) ----------------------------------

NORMAL_BASELINE = [  # baseline 30 U/L, ULN 40
    (40.0, "U/L", 0, ""),
    (40.1, "U/L", 1, "-1N"),
    (120.0, "U/L", 1, "-1N"),
    (120.1, "U/L", 2, "-2N"),
    (200.0, "U/L", 2, "-2N"),
    (200.1, "U/L", 3, "-3N"),
    (800.0, "U/L", 3, "-3N"),
    (800.1, "U/L", 4, "-4N"),
    (2.0, "ukat/L", 1, "-1N"),  # 120 U/L
    (2.01, "ukat/L", 2, "-2N"),  # 120.6 U/L
]
ABNORMAL_BASELINE = [  # baseline 60 U/L, above the ULN of 40
    (89.9, "U/L", 0, ""),  # above the ULN but below 1.5 x baseline: grade 0
    (90.0, "U/L", 1, "-1A"),  # 1.5 x baseline: grade 1 (no '>' in the wording)
    (180.0, "U/L", 1, "-1A"),
    (180.1, "U/L", 2, "-2A"),
    (300.0, "U/L", 2, "-2A"),
    (300.1, "U/L", 3, "-3A"),
    (1200.0, "U/L", 3, "-3A"),
    (1200.1, "U/L", 4, "-4A"),
    (1.5, "ukat/L", 1, "-1A"),  # 90 U/L
]


def _prefixed(test: str, cases: list[tuple[float, str, int, str]]) -> list:
    prefix = test.upper()
    return [(v, u, g, f"{prefix}{r}" if r else "") for v, u, g, r in cases]


@pytest.mark.parametrize("test", ["alt", "ast"])
def test_transaminase_with_a_normal_baseline(test: str) -> None:
    run_cases(test, _prefixed(test, NORMAL_BASELINE), baseline=(30.0, "U/L"))


@pytest.mark.parametrize("test", ["alt", "ast"])
def test_transaminase_with_an_abnormal_baseline(test: str) -> None:
    run_cases(test, _prefixed(test, ABNORMAL_BASELINE), baseline=(60.0, "U/L"))


@pytest.mark.parametrize("test", ["alt", "ast"])
def test_transaminase_baseline_on_the_uln_is_normal(test: str) -> None:
    out = graded(test, [(40.1, "U/L")], baseline=(40.0, "U/L"))
    assert out.loc[0, "baseline_status"] == "within limits"
    assert (out.loc[0, "grade"], out.loc[0, "threshold_row"]) == (1, f"{test.upper()}-1N")


@pytest.mark.parametrize("test", ["alt", "ast"])
def test_transaminase_without_baseline_uses_the_uln(test: str) -> None:
    out = graded(test, [(89.9, "U/L")])
    assert out.loc[0, "baseline_status"] == "none"
    assert (out.loc[0, "grade"], out.loc[0, "threshold_row"]) == (1, f"{test.upper()}-1N")


# -- hyperkalaemia: >ULN-5.5; >5.5-6.0; >6.0-7.0; >7.0 mmol/L ------------------------------

HYPERKALAEMIA = [
    (5.0, "mmol/L", 0, ""),
    (5.01, "mmol/L", 1, "HYPERK-1"),
    (5.49, "mmol/L", 1, "HYPERK-1"),
    (5.5, "mmol/L", 1, "HYPERK-1"),
    (5.51, "mmol/L", 2, "HYPERK-2"),
    (6.0, "mmol/L", 2, "HYPERK-2"),
    (6.01, "mmol/L", 3, "HYPERK-3"),
    (7.0, "mmol/L", 3, "HYPERK-3"),
    (7.01, "mmol/L", 4, "HYPERK-4"),
    (5.5, "mEq/L", 1, "HYPERK-1"),  # mEq/L = mmol/L for potassium
    (5.51, "mEq/L", 2, "HYPERK-2"),
    (6.0, "meq/l", 2, "HYPERK-2"),
    (6.01, "mEq/L", 3, "HYPERK-3"),
    (7.01, "mEq/L", 4, "HYPERK-4"),
]


def test_hyperkalaemia() -> None:
    run_cases("potassium", HYPERKALAEMIA)


# -- hypomagnesaemia: <LLN-0.5; <0.5-0.4; <0.4-0.3; <0.3 mmol/L ----------------------------

HYPOMAGNESAEMIA = [
    (0.71, "mmol/L", 0, ""),
    (0.7, "mmol/L", 0, ""),
    (0.69, "mmol/L", 1, "HYPOMG-1"),
    (0.51, "mmol/L", 1, "HYPOMG-1"),
    (0.5, "mmol/L", 1, "HYPOMG-1"),
    (0.49, "mmol/L", 2, "HYPOMG-2"),
    (0.4, "mmol/L", 2, "HYPOMG-2"),
    (0.39, "mmol/L", 3, "HYPOMG-3"),
    (0.3, "mmol/L", 3, "HYPOMG-3"),
    (0.29, "mmol/L", 4, "HYPOMG-4"),
    # mEq/L (x 0.5): exact conversions
    (1.0, "mEq/L", 1, "HYPOMG-1"),  # 0.5 mmol/L
    (0.98, "mEq/L", 2, "HYPOMG-2"),
    (0.8, "mEq/L", 2, "HYPOMG-2"),  # 0.4
    (0.78, "mEq/L", 3, "HYPOMG-3"),
    (0.6, "mEq/L", 3, "HYPOMG-3"),  # 0.3
    (0.58, "mEq/L", 4, "HYPOMG-4"),
    # mg/dL (x 0.4114): CTCAE's mg/dL column is rounded; the SI figure governs
    (1.71, "mg/dL", 0, ""),  # 0.7035 mmol/L
    (1.7, "mg/dL", 1, "HYPOMG-1"),  # 0.6994 mmol/L, below the LLN
    (1.22, "mg/dL", 1, "HYPOMG-1"),  # 0.5019 mmol/L
    (1.2, "mg/dL", 2, "HYPOMG-2"),  # 0.4937 mmol/L (the mg/dL column would say grade 1)
    (0.98, "mg/dL", 2, "HYPOMG-2"),  # 0.4032
    (0.97, "mg/dL", 3, "HYPOMG-3"),  # 0.3991
    (0.73, "mg/dL", 3, "HYPOMG-3"),  # 0.3003
    (0.72, "mg/dL", 4, "HYPOMG-4"),  # 0.2962
]


def test_hypomagnesaemia() -> None:
    run_cases("magnesium", HYPOMAGNESAEMIA)


# -- where a value comes from, and what it says ---------------------------------------------


def test_each_graded_value_names_its_row_threshold_and_wording() -> None:
    out = graded("platelets", [(50.0, "10^9/L")])
    row = out.iloc[0]
    assert (row["threshold_row"], row["threshold"]) == ("PLT-2", 75.0)
    assert row["term"] == "Platelet count decreased"
    assert row["ctcae_criterion"] == "<75,000 - 50,000/mm3; <75.0 - 50.0 x 10e9 /L"
    criteria = load_grading_criteria()
    assert criteria.row("PLT-2").describe() == "< 75 10^9/L"


def test_a_missing_reference_range_is_a_message_not_grade_0() -> None:
    # a patient of sex 'X' and a creatinine range given for F and M only
    ranges = reference_ranges(
        [
            {"test": "creatinine", "sex": "F", "lln": 45, "uln": 90, "unit": "umol/L"},
            {"test": "creatinine", "sex": "M", "lln": 60, "uln": 110, "unit": "umol/L"},
        ]
    )
    out = graded("creatinine", [(70.0, "umol/L")], sex="X", ranges=ranges)
    assert pd.isna(out.loc[0, "grade"])
    assert out.loc[0, "threshold_row"] == ""
    note = out.loc[0, "note"]
    assert "no ULN for creatinine" in note and "sex 'X'" in note and "add a reference range" in note


def test_without_an_lln_absolute_grades_still_hold() -> None:
    ranges = reference_ranges([{"test": "potassium", "lln": 3.5, "uln": 5.0, "unit": "mmol/L"}])
    out = graded(
        "platelets", [(20.0, "10^9/L"), (60.0, "10^9/L"), (100.0, "10^9/L")], ranges=ranges
    )
    assert out["grade"].tolist()[:2] == [4, 2]  # below 25 and 75 whatever the LLN
    assert pd.isna(out.loc[2, "grade"])  # 100: grade 0 or 1 depends on the LLN
    assert "no LLN for platelets" in out.loc[2, "note"]


def test_pre_treatment_values_ignore_the_baseline_criteria() -> None:
    labs = pd.DataFrame(
        {
            "patient_id": ["P1"] * 3,
            "date": [START - pd.Timedelta(days=40), START, START + pd.Timedelta(days=5)],
            "test": ["creatinine"] * 3,
            "value": [95.0, 50.0, 95.0],
            "unit": ["umol/L"] * 3,
        }
    )
    starts = pd.DataFrame({"patient_id": ["P1"], "start_date": [START], "end_date": [pd.NaT]})
    out = grade_labs(
        labs, pd.DataFrame({"patient_id": ["P1"], "sex": ["F"]}), starts, ranges=RANGES
    )
    assert out["period"].tolist() == ["before", "baseline", "treatment"]
    assert out["grade"].tolist() == [0, 0, 2]  # 95 = 1.9 x baseline only after the start
    assert out["threshold_row"].tolist() == ["", "", "CREAT-2B"]


def test_baseline_window_and_followup_periods() -> None:
    dates = [-30, -29, 0, 1, 40, 71, 72]
    labs = pd.DataFrame(
        {
            "patient_id": ["P1"] * len(dates),
            "date": [START + pd.Timedelta(days=d) for d in dates],
            "test": ["potassium"] * len(dates),
            "value": [4.0, 4.1, 4.2, 4.3, 4.4, 4.5, 4.6],
            "unit": ["mmol/L"] * len(dates),
        }
    )
    end = START + pd.Timedelta(days=41)  # + 30 days of follow-up: day 71 is the last
    starts = pd.DataFrame({"patient_id": ["P1"], "start_date": [START], "end_date": [end]})
    out = grade_labs(labs, pd.DataFrame({"patient_id": ["P1"]}), starts, ranges=RANGES)
    assert out["period"].tolist() == [
        "before",
        "before",
        "baseline",
        "treatment",
        "treatment",
        "treatment",
        "after",
    ]
    assert set(out["baseline"]) == {4.2}
    # without the start-day value, the day -29 value is the baseline; day -30 is too early
    later = grade_labs(labs.drop(index=2), pd.DataFrame({"patient_id": ["P1"]}), starts)
    assert later.loc[later["period"] == "baseline", "value"].tolist() == [4.1]


def test_no_start_no_baseline() -> None:
    labs = pd.DataFrame(
        {"patient_id": ["P9"], "date": [START], "test": ["alt"], "value": [100.0], "unit": ["U/L"]}
    )
    out = grade_labs(labs, pd.DataFrame({"patient_id": ["P9"], "sex": ["M"]}), ranges=RANGES)
    assert (out.loc[0, "period"], out.loc[0, "grade"]) == ("no start", 1)


def test_other_tests_are_not_graded_and_unknown_units_refused() -> None:
    labs = pd.DataFrame(
        {
            "patient_id": ["P1", "P1"],
            "date": [START, START],
            "test": ["glucose", "tacrolimus_trough"],
            "value": [5.0, 6.0],
            "unit": ["mmol/L", "ng/mL"],
        }
    )
    assert grade_labs(labs, pd.DataFrame({"patient_id": ["P1"]})).empty
    bad = labs.assign(test="potassium", unit="mg/L")
    with pytest.raises(GradingDataError, match="potassium in 'mg/L'"):
        grade_labs(bad, pd.DataFrame({"patient_id": ["P1"]}))


# -- the grading data file is checked like data ----------------------------------------------


def _write_criteria(tmp_path: Path, edit: tuple[str, str]) -> Path:
    text = (Path(__file__).resolve().parents[1] / "src/itpcohort/safety/ctcae_v5.csv").read_text(
        encoding="utf-8"
    )
    assert edit[0] in text
    path = tmp_path / "criteria.csv"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            (
                "PLT-3,Platelet count decreased,platelets,3,value,<,50.0",
                "PLT-3,Platelet count decreased,platelets,3,value,<,80.0",
            ),
            "PLT-3 (grade 3, < 80 10^9/L) is not stricter than PLT-2",
        ),
        (
            (
                "HYPERK-2,Hyperkalemia,potassium,2,value,>,",
                "HYPERK-2,Hyperkalemia,potassium,2,value,=>,",
            ),
            "operator '=>'",
        ),
        (
            (
                "PLT-2,Platelet count decreased,platelets,2,value,<,75.0,10^9/L",
                "PLT-2,Platelet count decreased,platelets,2,value,<,75.0,/uL",
            ),
            "canonical unit '10^9/L'",
        ),
        (
            (
                "HYPOMG-4,Hypomagnesemia,magnesium,4,value,<",
                "HYPOMG-4,Hypomagnesemia,magnesium,4,value,>",
            ),
            "mixes < and >",
        ),
        (("ALT-4A,", "ALT-3A,"), "row_id 'ALT-3A' appears more than once"),
    ],
    ids=["swapped-number", "operator", "unit", "direction", "duplicate-id"],
)
def test_grading_file_problems_are_refused(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    with pytest.raises(GradingDataError, match=re.escape(message)):
        load_grading_criteria(_write_criteria(tmp_path, edit))


def test_the_shipped_files_load_and_cite_ctcae() -> None:
    criteria = load_grading_criteria()
    assert set(criteria.tests) == {
        "platelets",
        "neutrophils",
        "hemoglobin",
        "creatinine",
        "alt",
        "ast",
        "potassium",
        "magnesium",
    }
    assert all(r.ctcae_criterion and r.term for r in criteria.rows)
    ranges = load_reference_ranges()
    assert set(ranges.table["test"]) == set(criteria.tests)
    assert ranges.table["source"].str.len().min() > 20


def test_reference_range_problems_are_refused() -> None:
    with pytest.raises(GradingDataError, match="lln 5 must be at least 0 and below uln 4"):
        reference_ranges([{"test": "potassium", "lln": 5, "uln": 4, "unit": "mmol/L"}])
    with pytest.raises(GradingDataError, match="canonical unit 'umol/L'"):
        reference_ranges([{"test": "creatinine", "lln": 0.5, "uln": 1.1, "unit": "mg/dL"}])


def test_most_specific_reference_range_wins() -> None:
    ranges = reference_ranges(
        [
            {"test": "potassium", "lln": 3.5, "uln": 5.0, "unit": "mmol/L"},
            {"test": "potassium", "sex": "M", "lln": 3.5, "uln": 5.1, "unit": "mmol/L"},
            {"test": "potassium", "site": "A", "lln": 3.5, "uln": 5.2, "unit": "mmol/L"},
            {
                "test": "potassium",
                "sex": "M",
                "site": "A",
                "lln": 3.5,
                "uln": 5.3,
                "unit": "mmol/L",
            },
        ]
    )
    frame = pd.DataFrame(
        {"test": ["potassium"] * 4, "sex": ["F", "m", "F", "M"], "site": ["B", "B", "A", "A"]}
    )
    assert ranges.attach(frame)["uln"].tolist() == [5.0, 5.1, 5.2, 5.3]
