"""Alerts for the study app: a new grade >= 3 laboratory value, a trough out of range.

Pure functions: DataFrames in, one row per alert out, each with a ``message``
a person can read. Nothing is stored; the caller decides what it has shown
already (``since``: only alerts dated after that day).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from itpcohort.safety.ctcae import GradingCriteria
from itpcohort.safety.exposure import TROUGH
from itpcohort.safety.grading import grade_labs, to_canonical
from itpcohort.safety.ranges import ReferenceRanges
from itpcohort.safety.settings import SafetySettings

LAB_ALERT_COLUMNS = [
    "patient_id",
    "date",
    "test",
    "term",
    "value",
    "unit",
    "grade",
    "previous_grade",
    "previous_date",
    "threshold_row",
    "ctcae_criterion",
    "message",
]
TROUGH_ALERT_COLUMNS = [
    "patient_id",
    "date",
    "value",
    "unit",
    "direction",
    "low",
    "high",
    "message",
]
#: values of these periods can raise an alert (not pre-treatment values)
ALERT_PERIODS = ("treatment", "after", "no start")


def _since(frame: pd.DataFrame, since: dt.date | str | None) -> pd.DataFrame:
    if since is None:
        return frame
    return frame[pd.to_datetime(frame["date"]) > pd.Timestamp(since)]


def new_grade3_labs(
    graded: pd.DataFrame,
    *,
    since: dt.date | str | None = None,
    min_grade: int = 3,
    disease_tests: tuple[str, ...] = SafetySettings().disease_tests,
) -> pd.DataFrame:
    """Graded values (:func:`~itpcohort.safety.grade_labs`) that newly reach ``min_grade``.

    A value alerts when its grade is at least ``min_grade`` and the patient's
    previous graded value of that test (by date; baseline and earlier values
    included) was below it or absent, so a run of grade 3 values alerts once,
    and again after a value below grade 3. Only values after the start (or of
    patients without a start) alert; ``disease_tests`` (the platelet count in
    ITP) never do. ``since``: only alerts dated after that day.
    """
    g = graded[~graded["test"].isin(disease_tests) & graded["grade"].notna()].copy()
    g = g.sort_values(["patient_id", "test", "date"], kind="stable")
    previous = g.groupby(["patient_id", "test"])
    g["previous_grade"] = previous["grade"].shift(1)
    g["previous_date"] = previous["date"].shift(1)
    new = (g["grade"] >= min_grade) & ~(g["previous_grade"] >= min_grade).fillna(False)
    alerts = _since(g[new & g["period"].isin(ALERT_PERIODS)], since).copy()
    alerts["message"] = [_lab_message(r) for r in alerts.to_dict("records")]
    alerts["previous_grade"] = alerts["previous_grade"].astype("Int64")
    return alerts[LAB_ALERT_COLUMNS].reset_index(drop=True)


def _lab_message(r: dict[str, Any]) -> str:
    def day(value: Any) -> str:
        return str(pd.Timestamp(value).date().isoformat())

    before = (
        f"previous grade {int(r['previous_grade'])} on {day(r['previous_date'])}"
        if not pd.isna(r["previous_grade"])
        else "no earlier value"
    )
    return (
        f"{r['patient_id']} {day(r['date'])}: {r['test']} {r['value']:g} {r['unit']} is "
        f"CTCAE v5.0 grade {r['grade']} {r['term']} ({r['threshold_row']}: "
        f"{r['ctcae_criterion']}); {before}"
    )


def lab_alerts(
    labs: pd.DataFrame,
    patients: pd.DataFrame,
    starts: pd.DataFrame | None = None,
    *,
    since: dt.date | str | None = None,
    criteria: GradingCriteria | None = None,
    ranges: ReferenceRanges | None = None,
    settings: SafetySettings | None = None,
) -> pd.DataFrame:
    """:func:`new_grade3_labs` straight from labs, patients and study-drug starts
    (``criteria``, ``ranges``, ``settings`` as for :func:`grade_labs`)."""
    settings = settings or SafetySettings()
    graded = grade_labs(labs, patients, starts, criteria=criteria, ranges=ranges, settings=settings)
    return new_grade3_labs(graded, since=since, disease_tests=settings.disease_tests)


def trough_out_of_range(
    labs: pd.DataFrame,
    starts: pd.DataFrame | None = None,
    *,
    low: float = SafetySettings().trough_low,
    high: float = SafetySettings().trough_high,
    since: dt.date | str | None = None,
) -> pd.DataFrame:
    """Every tacrolimus trough outside ``[low, high]`` ng/mL (both ends in range).

    With ``starts`` (``patient_id``, ``start_date``, ``end_date``, optionally
    ``treatment_days``), only troughs on treatment (after the start, up to the
    end; any time while ongoing) alert. Units are converted (nmol/L, ug/L).
    """
    troughs = labs[labs["test"].astype(str).str.strip().str.lower() == TROUGH]
    t = to_canonical(troughs).assign(date=lambda f: pd.to_datetime(f["date"]))
    t["patient_id"] = t["patient_id"].astype(str)
    if starts is not None:
        window = starts[["patient_id", "start_date", "end_date"]].copy()
        window["patient_id"] = window["patient_id"].astype(str)
        window["start_date"] = pd.to_datetime(window["start_date"])
        window["last_day"] = pd.to_datetime(window["end_date"]).fillna(pd.Timestamp.max)
        t = t.merge(window.drop(columns="end_date"), on="patient_id", how="inner")
        t = t[(t["date"] > t["start_date"]) & (t["date"] <= t["last_day"])]
    t = _since(t, since)
    t = t[(t["value"] < low) | (t["value"] > high)].copy()
    t["direction"] = np.where(t["value"] < low, "below", "above")
    t["low"], t["high"] = low, high
    t["message"] = [
        f"{p} {d.date().isoformat()}: tacrolimus trough {v:g} ng/mL is {w} the target "
        f"range {low:g}-{high:g} ng/mL"
        for p, d, v, w in zip(t["patient_id"], t["date"], t["value"], t["direction"], strict=True)
    ]
    return t.sort_values(["patient_id", "date"])[TROUGH_ALERT_COLUMNS].reset_index(drop=True)
