"""The report's safety section: every table, the summary and the figures, from one call.

``safety_section(evaluation)`` grades the labs, measures exposure and builds
the tables below; the report writes them (``tables/<name>.csv``), puts the
summary under ``summary.json``'s ``"safety"`` key and draws the figures.

Patients: the safety population (enrolled patients who started the study
drug); adverse events: the treatment-emergent ones (``tables.py``).

Tables (:attr:`SafetySection.tables`):

``adverse_events``            patients per term and by worst grade (any event first)
``related_adverse_events``    the same, events related to the study drug
``adverse_events_stopping``   patients per term whose event led to stopping the drug
``lab_worst_grade``           per test: patients by worst grade on treatment, grade >= 3
``lab_shift``                 per test: baseline grade -> worst grade on treatment
``creatinine_by_month``       median, quartiles by month since the start
``trough_by_month``           the same for the tacrolimus trough
``bleeding``                  patients by worst WHO bleeding grade on treatment
``incidence``                 adverse events per 100 patient-years, exact Poisson CI
``exposure``                  per patient: troughs in range, time in range, dose (per kg)

Figures (:attr:`SafetySection.figures`): ``safety_worst_grades``,
``safety_creatinine``, ``safety_trough``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from itpcohort.safety import figures, tables
from itpcohort.safety.ctcae import GradingCriteria, load_grading_criteria
from itpcohort.safety.exposure import exposure, troughs_on_treatment
from itpcohort.safety.grading import grade_labs
from itpcohort.safety.ranges import ReferenceRanges, load_reference_ranges
from itpcohort.safety.settings import SafetySettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from itpcohort.pipeline import Evaluation


@dataclass(frozen=True)
class SafetySection:
    """What the report needs: tables (DataFrames), a JSON-safe summary, figures,
    and the graded labs and exposure they were built from."""

    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    figures: dict[str, Figure]
    graded: pd.DataFrame


def safety_section(
    evaluation: Evaluation,
    *,
    criteria: GradingCriteria | None = None,
    ranges: ReferenceRanges | None = None,
    settings: SafetySettings | None = None,
    draw: bool = True,
) -> SafetySection:
    """Grade, measure exposure and tabulate the safety of an evaluated cohort.

    ``draw=False`` skips the figures (the tables and summary are the same).
    """
    criteria = criteria or load_grading_criteria()
    ranges = ranges or load_reference_ranges()
    settings = settings or SafetySettings()
    cohort = evaluation.cohort
    starts = evaluation.endpoints[["patient_id", "start_date", "end_date", "treatment_days"]]
    starts = starts[starts["start_date"].notna()]  # the safety population
    n = len(starts)
    labs = safety_labs(evaluation, settings)
    ae = tables.treatment_emergent(cohort.adverse_events, starts, settings.followup_days)
    graded = grade_labs(
        labs, cohort.patients, starts, criteria=criteria, ranges=ranges, settings=settings
    )
    per_patient = exposure(evaluation, settings, labs=labs)
    incidence, patient_years = tables.exposure_adjusted_incidence(cohort.adverse_events, starts)
    t = {
        "adverse_events": tables.adverse_events_by_grade(ae, n),
        "related_adverse_events": tables.related_adverse_events(ae, n),
        "adverse_events_stopping": tables.adverse_events_leading_to_stop(
            ae, cohort.treatments, evaluation.study_drug, n
        ),
        "lab_worst_grade": tables.lab_worst_grade(graded, n, settings.disease_tests),
        "lab_shift": tables.lab_shift(graded),
        "creatinine_by_month": tables.lab_by_month(graded, "creatinine"),
        "trough_by_month": tables.trough_by_month(troughs_on_treatment(labs, starts), starts),
        "bleeding": tables.bleeding_worst_grade(cohort.bleeding, starts, n),
        "incidence": incidence,
        "exposure": per_patient,
    }
    summary = _summary(t, graded, per_patient, n, patient_years, settings, criteria, ranges)
    drawn = _figures(t, settings) if draw else {}
    return SafetySection(t, summary, drawn, graded)


def safety_labs(evaluation: Evaluation, settings: SafetySettings) -> pd.DataFrame:
    """The cohort's labs other than the disease's own (``settings.disease_tests``).

    In ITP the platelet count is the disease being treated, not a toxicity: it is
    graded by ``itpcohort grade`` but left out of the safety section. Filtered by
    the engine, so a registry's millions of platelet counts never reach pandas.
    """
    labs = evaluation.tables["labs"]
    kept = labs.filter(~labs.test.isin(list(settings.disease_tests)))
    frame = evaluation.tables.backend.to_pyarrow(kept).to_pandas(date_as_object=False)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values(["patient_id", "date", "test"], ignore_index=True)


def _figures(t: dict[str, pd.DataFrame], settings: SafetySettings) -> dict[str, Figure]:
    low, high = settings.trough_low, settings.trough_high
    return {
        "safety_worst_grades": figures.worst_grades(t["lab_worst_grade"], settings.disease_tests),
        "safety_creatinine": figures.over_time(
            t["creatinine_by_month"], "Serum creatinine by month", "Creatinine (umol/L)"
        ),
        "safety_trough": figures.over_time(
            t["trough_by_month"],
            "Tacrolimus trough by month on treatment",
            "Trough (ng/mL)",
            band=(low, high),
            band_label=f"target {low:g}-{high:g} ng/mL",
            xlabel="Months since the start",
        ),
    }


def _number(value: object) -> float | None:
    """A plain float for JSON (None for a missing value)."""
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _quartiles(values: pd.Series) -> dict[str, float | None]:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if v.size == 0:
        return {"median": None, "q1": None, "q3": None}
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return {"median": round(float(med), 1), "q1": round(float(q1), 1), "q3": round(float(q3), 1)}


def _summary(
    t: dict[str, pd.DataFrame],
    graded: pd.DataFrame,
    per_patient: pd.DataFrame,
    n: int,
    patient_years: float,
    settings: SafetySettings,
    criteria: GradingCriteria,
    ranges: ReferenceRanges,
) -> dict[str, Any]:
    """The JSON-safe numbers of the section (``summary.json`` ``"safety"``)."""
    worst = t["lab_worst_grade"].set_index("test")
    severe = {
        str(test): int(row["grade_3_or_more"])
        for test, row in worst.iterrows()
        if test != "any" and test not in settings.disease_tests and row["grade_3_or_more"] > 0
    }
    ae, stop, related = (
        t["adverse_events"],
        t["adverse_events_stopping"],
        t["related_adverse_events"],
    )
    troughs = int(per_patient["troughs"].sum())
    inside = int(per_patient["troughs_in_range"].sum())
    any_rate = t["incidence"].iloc[0]
    return {
        "grading": {
            "criteria": "CTCAE v5.0",
            "criteria_file": criteria.source,
            "reference_ranges": ranges.source,
            "values_graded": int(graded["grade"].notna().sum()),
            "values_not_graded": int(graded["grade"].isna().sum()),
        },
        "lab_grade_3_or_more": {
            "n": int(worst.loc["any", "grade_3_or_more"]),
            "of": n,
            "percent": tables.percent(int(worst.loc["any", "grade_3_or_more"]), n),
            "by_test": severe,
        },
        "adverse_events": {
            "patients": int(ae["patients"].iloc[0]) if len(ae) else 0,
            "related_patients": int(related["patients"].iloc[0]) if len(related) else 0,
            "stopping_patients": int(stop["patients"].iloc[0]),
            "of": n,
        },
        "incidence_per_100_patient_years": {
            "events": int(any_rate["events"]),
            "patient_years": float(patient_years),
            **{k: _number(any_rate[k]) for k in ("rate", "ci_low", "ci_high")},
        },
        "trough": {
            "target_ng_ml": [settings.trough_low, settings.trough_high],
            "troughs": troughs,
            "percent_in_range": tables.percent(inside, troughs),
            "patient_time_in_range_percent": _quartiles(per_patient["percent_time_in_range"]),
        },
        "dose_mg_per_kg": _quartiles(per_patient["mean_dose_mg_per_kg"]),
        "bleeding_worst_who_grade": {
            str(int(r.who_grade)): int(r.patients) for r in t["bleeding"].itertuples()
        },
    }
