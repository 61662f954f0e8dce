"""Why a patient's endpoints are what they are: the timeline in words.

The pipeline's own tables for one patient (baseline, each day's level, the
confirmations, the episode stream, the endpoints), each event with the reason
the profile gives for it, so that "why is P07 a CR?" has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.criteria import Criteria
from itpcohort.errors import CohortDataError

if TYPE_CHECKING:
    from itpcohort.pipeline import Evaluation


@dataclass(frozen=True)
class Explanation:
    """One patient's timeline and endpoints."""

    patient_id: str
    criteria: Criteria
    periods: pd.DataFrame  # study-drug and rescue periods
    baseline: pd.DataFrame  # baseline_date, baseline_platelets (0 or 1 row)
    days: pd.DataFrame  # every day after the start with a count or a bleeding
    events: pd.DataFrame  # the episode stream: date, event, why
    endpoints: pd.Series


def explain_patient(
    cohort: Cohort | str | Path,
    patient_id: str,
    criteria: str | Path | Criteria = "iwg2009",
    *,
    study_drug: str | None = None,
) -> Explanation:
    """The timeline behind one enrolled patient's endpoints (DuckDB engine)."""
    from itpcohort.pipeline import run

    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    status = cohort.patient_status(patient_id)
    if status is None:
        raise CohortDataError(f"patient '{patient_id}' is not in patients")
    if status != "enrolled":
        raise CohortDataError(
            f"patient '{patient_id}' was excluded ({status}) and has no endpoints"
        )
    evaluation = run(cohort, criteria, "duckdb", study_drug=study_drug, patient_ids=[patient_id])
    return explanation_of(evaluation, patient_id)


def explanation_of(evaluation: Evaluation, patient_id: str) -> Explanation:
    """One patient's :class:`Explanation` from an evaluation that includes the patient."""
    e = evaluation

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[frame["patient_id"] == patient_id].drop(columns="patient_id")
        return rows.reset_index(drop=True)

    days, periods = mine(e.days), mine(e.periods)
    events = mine(e.events)
    events["why"] = [
        _why(row.date, row.event, days, periods, e.criteria) for row in events.itertuples()
    ]
    endpoints = e.endpoints.set_index("patient_id").loc[patient_id]
    return Explanation(
        patient_id,
        e.criteria,
        _as_dates(periods),
        _as_dates(mine(e.baseline)),
        _as_dates(days),
        _as_dates(events[["date", "event", "why"]]),
        pd.concat([pd.Series({"patient_id": patient_id}), endpoints]),
    )


def _as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Calendar dates (``datetime.date``) in every date column, for display."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
    return out


def _confirmed_by(days: pd.DataFrame, date: pd.Timestamp, gap: int) -> str:
    """The first evaluable day at least ``gap`` days after ``date`` (the confirming day)."""
    later = days[days["evaluable"] & (days["date"] >= date + pd.Timedelta(days=gap))]
    return str(later["date"].iloc[0].date()) if len(later) else "?"


def _why(
    date: pd.Timestamp, event: str, days: pd.DataFrame, periods: pd.DataFrame, criteria: Criteria
) -> str:
    """The profile's reason for one event of the episode stream (rules 4 and 5)."""
    if event == "response achieved":
        gap = criteria.response_confirm_days
        return (
            f"level >= R on this day and on every evaluable day to "
            f"{_confirmed_by(days, date, gap)} (at least {gap} days later)"
        )
    today = days[days["date"] == date]
    grade = today["bleeding"].max() if len(today) else None
    if grade is not None and pd.notna(grade):
        return f"bleeding, WHO grade {int(grade)} (>= {criteria.bleeding_min_grade})"
    rescues = periods[(periods["role"] == "rescue") & (periods["start_date"] == date)]
    if len(rescues):
        return f"rescue therapy started ({', '.join(rescues['drug'])})"
    gap = criteria.loss_confirm_days
    if gap == 1:
        later = days[days["evaluable"] & (days["date"] > date)]
        nxt = str(later["date"].iloc[0].date()) if len(later) else "?"
        return f"level < R on this day and on the next evaluable day ({nxt})"
    return (
        f"level < R on this day and on every evaluable day to "
        f"{_confirmed_by(days, date, gap)} (at least {gap} days later)"
    )
