"""Tacrolimus exposure: troughs against a target range, time in range, dose per kilogram.

Per patient, over the days on the study drug (after the start date, up to the
end date; while ongoing, up to the last observation, ``treatment_days`` of the
endpoints):

``troughs``, ``troughs_in_range``, ``troughs_below``, ``troughs_above``,
``percent_troughs_in_range``
    trough levels (``tacrolimus_trough``, ng/mL) against the target range
    (``SafetySettings.trough_low`` - ``trough_high``, both ends in range;
    default 4-8 ng/mL). Several troughs on one day count as their mean.
``ttr_days``, ``days_in_range``, ``percent_time_in_range``
    time in range by linear interpolation between consecutive troughs, as
    Rosendaal's method does for the INR: the level is taken to move in a
    straight line from one trough to the next, and the share of that time
    spent inside the range is counted exactly (the continuous form; the
    original counts whole days). Only time between two troughs counts; a gap
    longer than ``ttr_max_gap_days`` is left out (no limit by default). Fewer
    than two troughs: empty.
``median_trough``
    the median of the day values
``weight_kg``, ``starting_dose_mg``, ``mean_daily_dose_mg``,
``starting_dose_mg_per_kg``, ``mean_dose_mg_per_kg``
    from the study drug's periods (``daily_dose_mg``); the mean weighs each
    period by its days on treatment. Per kilogram where ``patients`` has a
    ``weight_kg`` (or ``weight``) column, in kg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from itpcohort.safety.grading import to_canonical
from itpcohort.safety.settings import SafetySettings

if TYPE_CHECKING:
    from itpcohort.pipeline import Evaluation

TROUGH = "tacrolimus_trough"
EXPOSURE_COLUMNS = [
    "patient_id",
    "troughs",
    "troughs_in_range",
    "troughs_below",
    "troughs_above",
    "percent_troughs_in_range",
    "ttr_days",
    "days_in_range",
    "percent_time_in_range",
    "median_trough",
    "weight_kg",
    "starting_dose_mg",
    "mean_daily_dose_mg",
    "starting_dose_mg_per_kg",
    "mean_dose_mg_per_kg",
]


def treatment_window(starts: pd.DataFrame) -> pd.DataFrame:
    """``patient_id``, ``start_date`` and ``last_day`` on treatment (the end date; while
    ongoing, the start plus ``treatment_days``, or the start when that is missing)."""
    out = starts[["patient_id", "start_date", "end_date"]].copy()
    out["patient_id"] = out["patient_id"].astype(str).astype(object)
    out["start_date"] = pd.to_datetime(out["start_date"])
    end = pd.to_datetime(out["end_date"])
    days = (
        starts["treatment_days"] if "treatment_days" in starts else pd.Series(np.nan, starts.index)
    )
    ongoing = out["start_date"] + pd.to_timedelta(pd.to_numeric(days).fillna(0), unit="D")
    out["last_day"] = end.fillna(ongoing)
    return out[["patient_id", "start_date", "last_day"]]


def troughs_on_treatment(labs: pd.DataFrame, starts: pd.DataFrame) -> pd.DataFrame:
    """Trough days on treatment: ``patient_id``, ``date``, ``value`` (the day's mean, ng/mL)."""
    troughs = to_canonical(labs[labs["test"].astype(str).str.lower().str.strip() == TROUGH])
    troughs = troughs.assign(
        patient_id=troughs["patient_id"].astype(str), date=pd.to_datetime(troughs["date"])
    )
    window = treatment_window(starts)
    t = troughs.merge(window, on="patient_id", how="inner")
    t = t[(t["date"] > t["start_date"]) & (t["date"] <= t["last_day"])]
    days = t.groupby(["patient_id", "date"], as_index=False)["value"].mean()
    return days.sort_values(["patient_id", "date"]).reset_index(drop=True)


def time_in_range(
    days: np.ndarray, values: np.ndarray, low: float, high: float, max_gap: int | None = None
) -> tuple[float, float]:
    """(days in range, days counted) by linear interpolation between consecutive values.

    ``days`` are day numbers in increasing order, ``values`` the levels on them.
    Between two measurements the level moves in a straight line; the time it
    spends within ``[low, high]`` is counted exactly. A gap longer than
    ``max_gap`` days is not counted at all.

    Examples
    --------
    >>> time_in_range(np.array([0, 10]), np.array([2.0, 6.0]), 4.0, 8.0)
    (5.0, 10.0)
    """
    in_range = total = 0.0
    for d0, d1, v0, v1 in zip(days[:-1], days[1:], values[:-1], values[1:], strict=True):
        length = float(d1 - d0)
        if length <= 0 or (max_gap is not None and length > max_gap):
            continue
        total += length
        if v0 == v1:
            in_range += length if low <= v0 <= high else 0.0
            continue
        t_low, t_high = sorted(((low - v0) / (v1 - v0), (high - v0) / (v1 - v0)))
        in_range += length * max(0.0, min(1.0, t_high) - max(0.0, t_low))
    return in_range, total


def trough_exposure(
    labs: pd.DataFrame, starts: pd.DataFrame, settings: SafetySettings | None = None
) -> pd.DataFrame:
    """Per patient with a start: trough counts against the range and time in range."""
    settings = settings or SafetySettings()
    low, high = settings.trough_low, settings.trough_high
    days = troughs_on_treatment(labs, starts)
    day_numbers = (days["date"] - pd.Timestamp(0)).dt.days.to_numpy()
    values_all = days["value"].to_numpy(float)
    # one pass over the troughs (grouped once), not a filter per patient
    where = days.groupby("patient_id", sort=False).indices
    nothing = np.array([], dtype=int)
    rows = []
    for pid in treatment_window(starts)["patient_id"]:
        mine = where.get(pid, nothing)
        values = values_all[mine]
        n = len(values)
        inside = int(((values >= low) & (values <= high)).sum())
        ttr_in, ttr_total = time_in_range(
            day_numbers[mine], values, low, high, settings.ttr_max_gap_days
        )
        rows.append(
            {
                "patient_id": pid,
                "troughs": n,
                "troughs_in_range": inside,
                "troughs_below": int((values < low).sum()),
                "troughs_above": int((values > high).sum()),
                "percent_troughs_in_range": round(100.0 * inside / n, 1) if n else np.nan,
                "ttr_days": ttr_total if ttr_total else np.nan,
                "days_in_range": round(ttr_in, 1) if ttr_total else np.nan,
                "percent_time_in_range": round(100.0 * ttr_in / ttr_total, 1)
                if ttr_total
                else np.nan,
                "median_trough": float(np.median(values)) if n else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=EXPOSURE_COLUMNS[:10])


def dose_exposure(
    treatments: pd.DataFrame, patients: pd.DataFrame, starts: pd.DataFrame, study_drug: str
) -> pd.DataFrame:
    """Per patient: weight, starting and mean daily dose (mg), and both per kilogram."""
    window = treatment_window(starts)
    periods = treatments[
        (treatments["drug"].astype(str).str.lower() == study_drug.lower())
        & (treatments.get("role", "study") == "study")
    ].copy()
    periods["patient_id"] = periods["patient_id"].astype(str)
    periods = periods.merge(window, on="patient_id", how="inner")
    first = pd.to_datetime(periods["start_date_x"])
    last = pd.to_datetime(periods["end_date"]).fillna(periods["last_day"])
    periods["days"] = ((last - first).dt.days + 1).clip(lower=1)
    periods["dose"] = pd.to_numeric(periods.get("daily_dose_mg"), errors="coerce")
    periods = periods.sort_values(["patient_id", "start_date_x"])
    weight = _weights(patients)
    dosed = periods[periods["dose"].notna()]
    doses, lengths = dosed["dose"].to_numpy(float), dosed["days"].to_numpy(float)
    where = dosed.groupby("patient_id", sort=False).indices  # grouped once
    nothing = np.array([], dtype=int)
    rows = []
    for pid in window["patient_id"]:
        mine = where.get(pid, nothing)
        start_dose = float(doses[mine[0]]) if len(mine) else np.nan
        mean = float(np.average(doses[mine], weights=lengths[mine])) if len(mine) else np.nan
        kg = weight.get(pid, np.nan)
        rows.append(
            {
                "patient_id": pid,
                "weight_kg": kg,
                "starting_dose_mg": start_dose,
                "mean_daily_dose_mg": round(mean, 3) if not np.isnan(mean) else np.nan,
                "starting_dose_mg_per_kg": round(start_dose / kg, 4) if kg > 0 else np.nan,
                "mean_dose_mg_per_kg": round(mean / kg, 4) if kg > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["patient_id", *EXPOSURE_COLUMNS[10:]])


def _weights(patients: pd.DataFrame) -> dict[str, float]:
    column = next((c for c in ("weight_kg", "weight") if c in patients), None)
    if column is None:
        return {}
    kg = pd.to_numeric(patients[column], errors="coerce")
    return dict(zip(patients["patient_id"].astype(str), kg.astype(float), strict=True))


def exposure(
    evaluation: Evaluation,
    settings: SafetySettings | None = None,
    *,
    labs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per enrolled patient: troughs, time in range and dose (:data:`EXPOSURE_COLUMNS`).

    ``labs`` (default: the cohort's) need hold only the troughs.
    """
    cohort = evaluation.cohort
    starts = evaluation.endpoints[["patient_id", "start_date", "end_date", "treatment_days"]]
    troughs = trough_exposure(cohort.labs if labs is None else labs, starts, settings)
    doses = dose_exposure(cohort.treatments, cohort.patients, starts, evaluation.study_drug)
    return troughs.merge(doses, on="patient_id", how="left")[EXPOSURE_COLUMNS]
