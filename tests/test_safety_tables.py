"""Exposure and safety tables, worked by hand on tiny cohorts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import itpcohort
from itpcohort.safety import SafetySettings, grade_labs, reference_ranges
from itpcohort.safety import tables as t
from itpcohort.safety.exposure import dose_exposure, time_in_range, trough_exposure
from itpcohort.safety.section import safety_section
from tests.conftest import ROOT, write_csv

D0 = pd.Timestamp("2024-01-01")
RANGES = reference_ranges(
    [
        {"test": "creatinine", "lln": 45, "uln": 100, "unit": "umol/L"},
        {"test": "potassium", "lln": 3.5, "uln": 5.0, "unit": "mmol/L"},
        {"test": "platelets", "lln": 150, "uln": 400, "unit": "10^9/L"},
    ]
)


def day(n: int) -> pd.Timestamp:
    return D0 + pd.Timedelta(days=n)


def starts(*rows: tuple[str, int | None, int]) -> pd.DataFrame:
    """(patient, end day or None, treatment days) with every start on day 0."""
    return pd.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "start_date": [D0] * len(rows),
            "end_date": [day(r[1]) if r[1] is not None else pd.NaT for r in rows],
            "treatment_days": [r[2] for r in rows],
        }
    )


def labs(
    rows: list[tuple[str, int, str, float]], unit: dict[str, str] | None = None
) -> pd.DataFrame:
    units = {"creatinine": "umol/L", "potassium": "mmol/L", "tacrolimus_trough": "ng/mL"}
    units |= unit or {}
    return pd.DataFrame(
        [(p, day(d), test, v, units.get(test, "10^9/L")) for p, d, test, v in rows],
        columns=["patient_id", "date", "test", "value", "unit"],
    )


# -- time in range (Rosendaal, linear interpolation) -----------------------------------------


def test_time_in_range_by_hand() -> None:
    # 2 -> 6 over 10 days: in range (>= 4) the second half, 5 days
    # 6 -> 10: in range (<= 8) the first half, 5 days; 10 -> 10: none; 10 -> 6: 5 days
    days = np.array([1, 11, 21, 31, 41])
    values = np.array([2.0, 6.0, 10.0, 10.0, 6.0])
    assert time_in_range(days, values, 4.0, 8.0) == (15.0, 40.0)
    # both ends of the range are in range; a flat segment on the edge counts fully
    assert time_in_range(np.array([0, 7]), np.array([8.0, 8.0]), 4.0, 8.0) == (7.0, 7.0)
    # a segment crossing the whole range: 4 of 12 days (from 3 to 15, the range 4-8)
    assert time_in_range(np.array([0, 12]), np.array([3.0, 15.0]), 4.0, 8.0) == (4.0, 12.0)
    # a gap longer than the limit is left out of both
    assert time_in_range(days, values, 4.0, 8.0, max_gap=9) == (0.0, 0.0)
    assert time_in_range(np.array([0]), np.array([5.0]), 4.0, 8.0) == (0.0, 0.0)


def test_trough_exposure_on_treatment_only() -> None:
    rows = [
        ("P1", 0, "tacrolimus_trough", 20.0),  # the start day: not on treatment yet
        ("P1", 1, "tacrolimus_trough", 2.0),
        ("P1", 11, "tacrolimus_trough", 5.0),  # same day: mean 6.0
        ("P1", 11, "tacrolimus_trough", 7.0),
        ("P1", 21, "tacrolimus_trough", 10.0),
        ("P1", 31, "tacrolimus_trough", 10.0),
        ("P1", 41, "tacrolimus_trough", 6.0),
        ("P1", 60, "tacrolimus_trough", 4.0),  # after the end (day 41)
        ("P2", 5, "tacrolimus_trough", 8.0),  # one trough: no time in range
        ("P3", 5, "tacrolimus_trough", 5.0),  # 5 nmol/L = 4.02 ng/mL
    ]
    frame = labs(rows)
    frame.loc[frame["patient_id"] == "P3", "unit"] = "nmol/L"
    got = trough_exposure(frame, starts(("P1", 41, 41), ("P2", None, 30), ("P3", None, 30)))
    p1, p2, p3 = (got.iloc[i] for i in range(3))
    assert (p1["troughs"], p1["troughs_in_range"], p1["troughs_below"], p1["troughs_above"]) == (
        5,
        2,
        1,
        2,
    )
    assert p1["percent_troughs_in_range"] == 40.0
    assert (p1["ttr_days"], p1["days_in_range"], p1["percent_time_in_range"]) == (40, 15, 37.5)
    assert p1["median_trough"] == 6.0
    assert (p2["troughs"], p2["troughs_in_range"]) == (1, 1)  # 8.0 is in range
    assert np.isnan(p2["percent_time_in_range"])
    assert p3["troughs_in_range"] == 1 and p3["median_trough"] == pytest.approx(4.02)
    narrow = trough_exposure(frame, starts(("P2", None, 30)), SafetySettings(trough_high=7.9))
    assert narrow.iloc[0]["troughs_above"] == 1


def test_dose_per_kilogram() -> None:
    treatments = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P1"],
            "drug": ["tacrolimus", "tacrolimus", "tacrolimus", "prednisone"],
            "role": ["study", "study", "study", "concomitant"],
            "start_date": [day(0), day(100), day(0), day(0)],
            "end_date": [day(99), day(149), pd.NaT, day(10)],
            "daily_dose_mg": [2.0, 1.0, 3.0, 20.0],
        }
    )
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "weight_kg": [50.0, None]})
    got = dose_exposure(
        treatments, patients, starts(("P1", 149, 149), ("P2", None, 20)), "tacrolimus"
    )
    p1, p2 = got.iloc[0], got.iloc[1]
    # (2 mg x 100 days + 1 mg x 50 days) / 150 days = 1.667 mg; / 50 kg
    assert p1["starting_dose_mg"] == 2.0 and p1["mean_daily_dose_mg"] == pytest.approx(1.667)
    assert p1["starting_dose_mg_per_kg"] == 0.04
    assert p1["mean_dose_mg_per_kg"] == pytest.approx(0.0333)
    assert p2["mean_daily_dose_mg"] == 3.0 and np.isnan(p2["mean_dose_mg_per_kg"])  # no weight


# -- laboratory shift table and worst grades, by hand ---------------------------------------

SHIFT_LABS = [
    # P1: baseline 60 (grade 0); 95 = 1.58 x baseline (grade 2); 110 = 1.83 x baseline (2)
    ("P1", 0, "creatinine", 60.0),
    ("P1", 30, "creatinine", 95.0),
    ("P1", 60, "creatinine", 110.0),
    # P2: baseline 120 (> ULN: grade 1); 130 = 1.3 x ULN, 1.08 x baseline (grade 1)
    ("P2", -3, "creatinine", 120.0),
    ("P2", 30, "creatinine", 130.0),
    # P3: no baseline (the first value is after the start); 310 > 3 x ULN (grade 3)
    ("P3", 5, "creatinine", 310.0),
    # P4: baseline 70; a value only after the follow-up (end day 10 + 30): no value on treatment
    ("P4", 0, "creatinine", 70.0),
    ("P4", 45, "creatinine", 400.0),
    # potassium: P1 6.1 (grade 3) on treatment from a 4.0 baseline
    ("P1", 0, "potassium", 4.0),
    ("P1", 30, "potassium", 6.1),
]


def _graded() -> pd.DataFrame:
    window = starts(("P1", None, 90), ("P2", None, 90), ("P3", None, 90), ("P4", 10, 10))
    patients = pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P4"]})
    return grade_labs(labs(SHIFT_LABS), patients, window, ranges=RANGES)


def test_shift_table_by_hand() -> None:
    shift = t.lab_shift(_graded())
    creat = shift[shift["test"] == "creatinine"].set_index("baseline_grade")
    columns = ["0", "1", "2", "3", "4", "not graded", "no value", "patients"]
    assert creat.loc["0", columns].tolist() == [0, 0, 1, 0, 0, 0, 1, 2]  # P1 -> 2, P4 -> none
    assert creat.loc["1", columns].tolist() == [0, 1, 0, 0, 0, 0, 0, 1]  # P2 -> 1
    assert creat.loc["missing", columns].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]  # P3 -> 3
    assert list(creat.index) == ["0", "1", "missing"]
    potassium = shift[shift["test"] == "potassium"]
    assert potassium[["baseline_grade", "3", "patients"]].values.tolist() == [["0", 1, 1]]


def test_worst_grade_summary_by_hand() -> None:
    worst = t.lab_worst_grade(_graded(), n=4).set_index("test")
    creat = worst.loc["creatinine"]
    assert creat["patients_with_values"] == 3  # P4 has no value on treatment
    assert [creat[f"grade_{g}"] for g in (1, 2, 3, 4)] == [1, 1, 1, 0]
    assert (creat["grade_3_or_more"], creat["percent_grade_3_or_more"]) == (1, 25.0)
    # any test: P3 (creatinine) and P1 (potassium) -> 2 of 4
    assert (worst.loc["any", "grade_3_or_more"], worst.loc["any", "percent_grade_3_or_more"]) == (
        2,
        50.0,
    )


def test_platelets_are_the_disease_not_a_toxicity() -> None:
    rows = [("P1", 0, "platelets", 10.0), ("P1", 30, "platelets", 20.0)]
    graded = grade_labs(
        labs(rows), pd.DataFrame({"patient_id": ["P1"]}), starts(("P1", None, 60)), ranges=RANGES
    )
    worst = t.lab_worst_grade(graded, n=1).set_index("test")
    assert worst.loc["platelets", "grade_4"] == 1
    assert worst.loc["any", "grade_3_or_more"] == 0


def test_values_by_month() -> None:
    values = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P1", "P2", "P2", "P1"],
            "days": [0, 14, 30, 30, 61, 200],
            "value": [50.0, 60.0, 80.0, 100.0, 90.0, 70.0],
        }
    )
    got = t.by_month(values)
    # month 1: P1 median(60, 80) = 70 and P2 100 -> median 85, quartiles 77.5 / 92.5
    assert got.values.tolist() == [
        [0, 1, 50.0, 50.0, 50.0],
        [1, 2, 85.0, 77.5, 92.5],
        [2, 1, 90.0, 90.0, 90.0],
        [7, 1, 70.0, 70.0, 70.0],
    ]


# -- adverse events, bleeding, incidence -----------------------------------------------------

AE = pd.DataFrame(
    {
        "patient_id": ["P1", "P1", "P2", "P2", "P5"],
        "onset_date": [day(10), day(20), day(5), day(400), day(-5)],
        "term": ["Tremor", "Tremor", "Tremor", "Diarrhea", "Tremor"],
        "grade": [1, 3, 2, None, 1],
        "related": [True, False, True, None, True],
        "action": ["none", "discontinued", "none", "none", "none"],
    }
)


def test_adverse_events_by_term_and_worst_grade() -> None:
    got = t.adverse_events_by_grade(AE[AE["patient_id"] != "P5"], n=4).set_index("term")
    columns = ["patients", "percent", "grade_1", "grade_2", "grade_3", "grade_unknown"]
    assert got.loc["Any adverse event", columns].tolist() == [2, 50.0, 0, 1, 1, 0]
    assert got.loc["Tremor", columns].tolist() == [2, 50.0, 0, 1, 1, 0]  # P1 worst 3, P2 2
    assert got.loc["Diarrhea", columns].tolist() == [1, 25.0, 0, 0, 0, 1]
    related = t.related_adverse_events(AE[AE["patient_id"] != "P5"], n=4).set_index("term")
    assert related.loc["Tremor", ["patients", "grade_1", "grade_2"]].tolist() == [2, 1, 1]
    assert "Diarrhea" not in related.index


def test_adverse_events_leading_to_stop() -> None:
    treatments = pd.DataFrame(
        {
            "patient_id": ["P1", "P3", "P4", "P4"],
            "drug": ["tacrolimus"] * 4,
            "role": ["study"] * 4,
            "start_date": [day(0), day(0), day(0), day(100)],
            # P4's first period's reason does not count: only the last period's does
            "stop_reason": ["adverse_event", "adverse_event", "adverse_event", "completed"],
        }
    )
    got = t.adverse_events_leading_to_stop(AE, treatments, "tacrolimus", n=4)
    assert got.values.tolist() == [
        ["Any adverse event", 2, 50.0],
        ["(term not recorded)", 1, 25.0],
        ["Tremor", 1, 25.0],
    ]


def test_exposure_adjusted_incidence_exact_poisson() -> None:
    # 2 patient-years (365.25 + 365.25 days); events on treatment: P1 x2, P2 x1 (day 400 is
    # after P2's 365 days; P5 has no start)
    window = starts(("P1", None, 365.25), ("P2", None, 365.25))
    got, years = t.exposure_adjusted_incidence(AE, window)
    assert years == 2.0
    any_row = got.iloc[0]
    assert (any_row["events"], any_row["patients"], any_row["rate"]) == (3, 2, 150.0)
    # Garwood: 3 events -> (0.619, 8.767) events; per 100 patient-years over 2 years
    assert (any_row["ci_low"], any_row["ci_high"]) == (30.93, 438.36)
    assert t.poisson_rate(0, 10.0) == {"rate": 0.0, "ci_low": 0.0, "ci_high": 36.89}
    assert t.poisson_rate(2, 2.0) == {"rate": 100.0, "ci_low": 12.11, "ci_high": 361.23}


def test_bleeding_by_worst_who_grade() -> None:
    bleeding = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P3"],
            "date": [day(3), day(9), day(-10), day(50)],
            "who_grade": [1, 2, 3, 1],
        }
    )
    got = t.bleeding_worst_grade(
        bleeding, starts(("P1", None, 30), ("P2", None, 30), ("P3", 20, 20)), n=3
    )
    assert got[["who_grade", "patients", "percent"]].values.tolist() == [
        [0, 1, 33.3],  # P2 bled only before the start
        [1, 1, 33.3],  # P3 after the end: still after the start (statistics' definition)
        [2, 1, 33.3],
        [3, 0, 0.0],
        [4, 0, 0.0],
    ]


def test_treatment_emergent_adverse_events() -> None:
    # P1 ongoing: any onset from the start; P2 ended day 365: through day 395; P5 no start
    window = starts(("P1", None, 30), ("P2", 365, 365))
    got = t.treatment_emergent(AE, window)
    assert got["onset_date"].tolist() == [day(10), day(20), day(5)]  # P2's day 400 is out
    assert t.treatment_emergent(AE, window, followup_days=40)["patient_id"].tolist() == [
        "P1",
        "P1",
        "P2",
        "P2",
    ]


# -- the section on real cohort folders -------------------------------------------------------


def test_safety_section_on_the_example_cohort() -> None:
    with itpcohort.read_cohort(ROOT / "examples" / "tacrolimus-mini") as cohort:
        section = safety_section(itpcohort.run(cohort))
    assert set(section.tables) == {
        "adverse_events",
        "related_adverse_events",
        "adverse_events_stopping",
        "lab_worst_grade",
        "lab_shift",
        "creatinine_by_month",
        "trough_by_month",
        "bleeding",
        "incidence",
        "exposure",
    }
    assert set(section.figures) == {"safety_worst_grades", "safety_creatinine", "safety_trough"}
    s = section.summary
    assert s["grading"]["values_not_graded"] == 0
    assert s["adverse_events"]["of"] == len(section.tables["exposure"])
    import json

    json.dumps(s)  # JSON-safe


def test_safety_section_without_optional_tables(tmp_path: Path) -> None:
    write_csv(tmp_path / "patients.csv", ["patient_id", "enrollment_date"], [["P1", "2024-01-01"]])
    write_csv(
        tmp_path / "treatments.csv",
        ["patient_id", "drug", "role", "start_date"],
        [["P1", "tacrolimus", "study", "2024-01-01"]],
    )
    write_csv(
        tmp_path / "labs.csv",
        ["patient_id", "date", "test", "value", "unit"],
        [["P1", "2024-01-01", "platelets", "20", "10^9/L"]],
    )
    with itpcohort.read_cohort(tmp_path) as cohort:
        section = safety_section(itpcohort.run(cohort), draw=False)
    assert section.summary["adverse_events"]["patients"] == 0
    assert section.summary["trough"]["troughs"] == 0
    assert section.tables["creatinine_by_month"].empty
