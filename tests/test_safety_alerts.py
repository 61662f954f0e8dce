"""Alerts for the study app: new grade >= 3 laboratory values and troughs out of range."""

from __future__ import annotations

import pandas as pd

from itpcohort.safety import grade_labs, reference_ranges
from itpcohort.safety.alerts import lab_alerts, new_grade3_labs, trough_out_of_range

D0 = pd.Timestamp("2024-01-01")
RANGES = reference_ranges(
    [
        {"test": "potassium", "lln": 3.5, "uln": 5.0, "unit": "mmol/L"},
        {"test": "creatinine", "lln": 45, "uln": 100, "unit": "umol/L"},
        {"test": "platelets", "lln": 150, "uln": 400, "unit": "10^9/L"},
    ]
)
PATIENTS = pd.DataFrame({"patient_id": ["P1", "P2"]})
STARTS = pd.DataFrame(
    {
        "patient_id": ["P1", "P2"],
        "start_date": [D0, D0],
        "end_date": [pd.NaT, D0 + pd.Timedelta(days=50)],
    }
)


def labs(rows: list[tuple[str, int, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(p, D0 + pd.Timedelta(days=d), t, v, u) for p, d, t, v, u in rows],
        columns=["patient_id", "date", "test", "value", "unit"],
    )


LABS = labs(
    [
        ("P1", -2, "potassium", 6.5, "mmol/L"),  # grade 3 before the start: no alert
        ("P1", 10, "potassium", 6.1, "mmol/L"),  # still grade 3 (previous was 3): no alert
        ("P1", 20, "potassium", 4.5, "mmol/L"),
        ("P1", 30, "potassium", 6.01, "mEq/L"),  # new grade 3 -> alert
        ("P1", 40, "potassium", 7.2, "mmol/L"),  # grade 4 after grade 3: already alerted
        ("P2", 0, "creatinine", 60.0, "umol/L"),
        ("P2", 10, "creatinine", 181.0, "umol/L"),  # > 3 x baseline: grade 3 -> alert
        ("P2", 12, "platelets", 10.0, "10^9/L"),  # the disease: never an alert
        ("P2", 20, "potassium", 6.0, "mmol/L"),  # grade 2 (6.0 is not > 6.0): no alert
    ]
)


def test_new_grade_3_values_alert_once() -> None:
    got = lab_alerts(LABS, PATIENTS, STARTS, ranges=RANGES)
    assert got[
        ["patient_id", "test", "grade", "previous_grade", "threshold_row"]
    ].values.tolist() == [
        ["P1", "potassium", 3, 0, "HYPERK-3"],
        ["P2", "creatinine", 3, 0, "CREAT-3B"],
    ]
    assert got.loc[0, "message"] == (
        "P1 2024-01-31: potassium 6.01 mmol/L is CTCAE v5.0 grade 3 Hyperkalemia "
        "(HYPERK-3: >6.0 - 7.0 mmol/L; hospitalization indicated); previous grade 0 on 2024-01-21"
    )


def test_since_keeps_later_alerts_only() -> None:
    got = lab_alerts(LABS, PATIENTS, STARTS, ranges=RANGES, since="2024-01-20")
    assert got["patient_id"].tolist() == ["P1"]
    assert lab_alerts(LABS, PATIENTS, STARTS, ranges=RANGES, since=D0 + pd.Timedelta(days=40)).empty


def test_grade_4_threshold_and_first_value() -> None:
    graded = lab_alerts(
        labs([("P1", 5, "potassium", 7.01, "mmol/L")]), PATIENTS, STARTS, ranges=RANGES
    )
    assert graded[["grade", "previous_grade"]].astype(object).values.tolist() == [[4, pd.NA]]
    assert graded.loc[0, "message"].endswith("no earlier value")
    empty = labs([]).astype({"value": float})
    assert new_grade3_labs(grade_labs(empty, PATIENTS, STARTS)).empty
    assert trough_out_of_range(empty, STARTS).empty


def test_trough_out_of_range() -> None:
    troughs = labs(
        [
            ("P1", 0, "tacrolimus_trough", 2.0, "ng/mL"),  # the start day: not on treatment
            ("P1", 5, "tacrolimus_trough", 4.0, "ng/mL"),  # on the edge: in range
            ("P1", 6, "tacrolimus_trough", 3.9, "ng/mL"),
            ("P1", 7, "tacrolimus_trough", 8.0, "ug/L"),
            ("P1", 8, "tacrolimus_trough", 10.0, "nmol/L"),  # 8.04 ng/mL
            ("P2", 60, "tacrolimus_trough", 12.0, "ng/mL"),  # after P2's end (day 50)
        ]
    )
    got = trough_out_of_range(troughs, STARTS)
    assert got[["patient_id", "direction"]].values.tolist() == [["P1", "below"], ["P1", "above"]]
    assert got.loc[0, "message"] == (
        "P1 2024-01-07: tacrolimus trough 3.9 ng/mL is below the target range 4-8 ng/mL"
    )
    # without starts every trough counts; a narrower range and since
    assert len(trough_out_of_range(troughs)) == 4
    assert trough_out_of_range(troughs, STARTS, low=5, high=9, since="2024-01-06")[
        "value"
    ].tolist() == [3.9]
