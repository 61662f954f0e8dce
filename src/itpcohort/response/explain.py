"""Why a patient's endpoints are what they are: the day-by-day timeline.

The same derivations as :func:`itpcohort.evaluate`, run on one patient's rows,
kept at every step (baseline, each day's level, confirmations, the episode
stream) so that "why is P07 a CR?" has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from ibis import _

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.criteria import Criteria, load_criteria
from itpcohort.engines import open_engine
from itpcohort.errors import CohortDataError
from itpcohort.response import derive as d
from itpcohort.response.evaluate import normalise_endpoints, study_drug_of

LEVEL_NAMES = {d.NR: "NR", d.R: "R", d.CR: "CR"}


@dataclass
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
    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    settings = load_criteria(criteria)
    drug = study_drug_of(cohort, study_drug)
    tables = open_engine(cohort, "duckdb")
    one = {name: t.filter(t.patient_id == patient_id) for name, t in tables.tables.items()}
    enrolled = d.enrolled_patients(one["patients"]).to_pandas()
    if enrolled.empty:
        known = cohort.con.sql(
            "SELECT excluded FROM patients WHERE patient_id = $1", params=[patient_id]
        ).fetchall()
        why = (
            f"was excluded ({known[0][0]}) and has no endpoints" if known else "is not in patients"
        )
        raise CohortDataError(f"patient '{patient_id}' {why}")
    tl = d.derive_timeline(
        one["patients"], one["treatments"], one["labs"], one["bleeding"], settings, drug
    )
    endpoints = d.derive_endpoints(
        one["patients"], one["treatments"], one["labs"], one["bleeding"], settings, drug
    )

    flags = tl.confirmations.select(
        "patient_id", "date", "r_confirmed", "cr_confirmed", "loss_confirmed"
    )
    days = tl.days.to_pandas().merge(flags.to_pandas(), on=["patient_id", "date"], how="left")
    # a bleeding day is evaluable (NR) even inside a washout
    days["evaluable"] = ~days["washed"].astype(bool) | days["bleeding"].notna()
    days["level"] = days["level"].map(LEVEL_NAMES)
    days = days.sort_values("date").reset_index(drop=True)
    periods = (
        one["treatments"]
        .filter((_.role == "rescue") | ((_.role == "study") & (_.drug == drug)))
        .order_by("start_date")
        .to_pandas()
    )
    stream = tl.events.to_pandas().sort_values("date").reset_index(drop=True)
    stream["event"] = stream["kind"].map({d.ACHIEVEMENT: "response achieved", d.LOSS: "loss"})
    bleeding = one["bleeding"].to_pandas()
    stream["why"] = [
        _why(
            row.date,
            row.kind,
            days,
            one_bleeding=bleeding,
            periods=periods,
            settings=settings,
        )
        for row in stream.itertuples()
    ]
    return Explanation(
        patient_id,
        settings,
        _as_dates(periods),
        _as_dates(tl.baseline.to_pandas()),
        _as_dates(days),
        _as_dates(stream[["date", "event", "why"]]),
        normalise_endpoints(endpoints.to_pandas()).iloc[0],
    )


def _as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Calendar dates (``datetime.date``) in every date column, for display."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
    return out


def _why(
    date: object,
    kind: int,
    days: pd.DataFrame,
    *,
    one_bleeding: pd.DataFrame,
    periods: pd.DataFrame,
    settings: Criteria,
) -> str:
    ts = pd.Timestamp(date)
    later = days[(pd.to_datetime(days["date"]) > ts) & days["level"].notna()]
    if kind == d.ACHIEVEMENT:
        gap = settings.response_confirm_days
        confirm = later[pd.to_datetime(later["date"]) >= ts + pd.Timedelta(days=gap)]
        when = pd.Timestamp(confirm["date"].iloc[0]).date() if len(confirm) else "?"
        return f"level >= R on this day and every evaluable day to {when} (>= {gap} days later)"
    bleeds = one_bleeding[
        (pd.to_datetime(one_bleeding["date"]) == ts)
        & (one_bleeding["who_grade"] >= settings.bleeding_min_grade)
    ]
    if len(bleeds):
        return f"bleeding, WHO grade {int(bleeds['who_grade'].max())}"
    rescues = periods[(periods["role"] == "rescue") & (pd.to_datetime(periods["start_date"]) == ts)]
    if len(rescues):
        return f"rescue therapy started ({', '.join(rescues['drug'])})"
    nxt = pd.Timestamp(later["date"].iloc[0]).date() if len(later) else "?"
    return f"level < R on this day and on the next evaluable day ({nxt})"
