"""Safety tables as DataFrames: adverse events, laboratory shifts and worst grades,
values over time, bleeding, and exposure-adjusted incidence.

Every function is pure (DataFrames in, a DataFrame out). Percentages are of
``n``, the safety population (enrolled patients who started the study drug),
to one decimal. The definitions are those of ``statistics/adverse_events.py``,
so the report's two views of adverse events agree:

- adverse-event tables take the **treatment-emergent** events
  (:func:`treatment_emergent`: onset from the start date through 30 days after
  the end date, any time after the start while ongoing);
- **stopped for an adverse event**: the study drug's last period has
  ``stop_reason = adverse_event``, or an event has ``action = discontinued``;
- **bleeding**: each patient's worst WHO grade dated after the start date.

Laboratory tables use the graded values' ``period`` (``treatment``: after the
start through ``SafetySettings.followup_days`` after the end). The
exposure-adjusted incidence counts events during the days on treatment only,
the time at risk it divides by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2

from itpcohort.safety.exposure import treatment_window

DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25
GRADES = (1, 2, 3, 4)


def percent(k: int, n: int) -> float | None:
    """``k`` of ``n`` in percent to one decimal (None when ``n`` is 0)."""
    return round(100.0 * k / n, 1) if n else None


def treatment_emergent(
    adverse_events: pd.DataFrame, starts: pd.DataFrame, followup_days: int = 30
) -> pd.DataFrame:
    """The events with onset from the start date through ``followup_days`` after the end
    date (any time after the start while ongoing); patients without a start have none."""
    window = starts[["patient_id", "start_date", "end_date"]].astype({"patient_id": str})
    ae = adverse_events.assign(patient_id=adverse_events["patient_id"].astype(str))
    joined = ae[["patient_id"]].merge(window, on="patient_id", how="left")
    onset = pd.to_datetime(ae["onset_date"]).to_numpy()
    start = pd.to_datetime(joined["start_date"]).to_numpy()
    until = (pd.to_datetime(joined["end_date"]) + pd.Timedelta(days=followup_days)).to_numpy()
    inside = (onset >= start) & (pd.isna(until) | (onset <= until))
    return adverse_events[inside]


def adverse_events_by_grade(adverse_events: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per term: patients with the event (n, %) and patients by their worst grade.

    Columns ``term``, ``patients``, ``percent``, ``grade_1`` ... ``grade_5``,
    ``grade_unknown`` (a patient counts once per term, at the worst grade
    recorded; without any grade, under ``grade_unknown``). Ordered by patients,
    then term. A first row ``Any adverse event`` counts patients with any term.
    """
    columns = ["term", "patients", "percent", *(f"grade_{g}" for g in range(1, 6)), "grade_unknown"]
    if adverse_events.empty:
        return pd.DataFrame(columns=columns)
    ae = adverse_events.assign(
        grade=pd.to_numeric(adverse_events["grade"], errors="coerce"),
        patient_id=adverse_events["patient_id"].astype(str),
    )
    rows = [_term_row("Any adverse event", ae, n)]
    per_term = [_term_row(term, rows_, n) for term, rows_ in ae.groupby("term", sort=True)]
    rows += sorted(per_term, key=lambda r: (-int(str(r["patients"])), str(r["term"])))
    return pd.DataFrame(rows, columns=columns)


def _term_row(term: str, rows: pd.DataFrame, n: int) -> dict[str, object]:
    worst = rows.groupby("patient_id")["grade"].max()
    row: dict[str, object] = {
        "term": term,
        "patients": int(worst.size),
        "percent": percent(int(worst.size), n),
    }
    for g in range(1, 6):
        row[f"grade_{g}"] = int((worst == g).sum())
    row["grade_unknown"] = int(worst.isna().sum())
    return row


def related_adverse_events(adverse_events: pd.DataFrame, n: int) -> pd.DataFrame:
    """:func:`adverse_events_by_grade` of the events marked related to the study drug."""
    if adverse_events.empty or "related" not in adverse_events:
        return adverse_events_by_grade(adverse_events.iloc[0:0], n)
    related = adverse_events["related"].astype("boolean").fillna(False).astype(bool)
    return adverse_events_by_grade(adverse_events[related], n)


def adverse_events_leading_to_stop(
    adverse_events: pd.DataFrame, treatments: pd.DataFrame, study_drug: str, n: int
) -> pd.DataFrame:
    """Per term: patients whose event led to stopping the study drug (n, %).

    An event counts when its ``action`` is ``discontinued``. A patient whose
    study drug's last period stopped with ``stop_reason = adverse_event`` but
    has no such event is counted under ``(term not recorded)``. First row: any.
    """
    ae = adverse_events.assign(patient_id=adverse_events["patient_id"].astype(str))
    stops = ae[ae.get("action", pd.Series(dtype=object)).astype(str) == "discontinued"]
    study = treatments[
        (treatments["drug"].astype(str).str.lower() == study_drug.lower())
        & (treatments["role"] == "study")
    ]
    last = study.sort_values(["patient_id", "start_date"], kind="stable").groupby("patient_id")
    last = last.tail(1)
    stopped = set(last.loc[last["stop_reason"] == "adverse_event", "patient_id"].astype(str))
    unrecorded = sorted(stopped - set(stops["patient_id"]))
    pairs = list(zip(stops["term"], stops["patient_id"], strict=True))
    pairs += [("(term not recorded)", pid) for pid in unrecorded]
    frame = pd.DataFrame(pairs, columns=["term", "patient_id"]).drop_duplicates()
    rows = [("Any adverse event", frame["patient_id"].nunique())]
    rows += sorted(
        ((t, g["patient_id"].nunique()) for t, g in frame.groupby("term")),
        key=lambda r: (-r[1], r[0]),
    )
    return pd.DataFrame(
        [{"term": t, "patients": k, "percent": percent(k, n)} for t, k in rows],
        columns=["term", "patients", "percent"],
    )


def _grade_label(grades: pd.Series, present: bool, none_label: str) -> str:
    if not present:
        return none_label
    known = grades.dropna()
    return str(int(known.max())) if len(known) else "not graded"


def lab_shift(graded: pd.DataFrame) -> pd.DataFrame:
    """Shift tables: per test, patients by baseline grade (rows) and worst grade on
    treatment (columns ``0``-``4``, ``not graded``, ``no value``).

    Baseline grade: the grade of the baseline value (``missing`` without one).
    Worst: the highest grade of the values of period ``treatment``. Patients
    with any value of the test and a study-drug start are counted.
    """
    labels = ["0", "1", "2", "3", "4", "not graded"]
    columns = ["test", "term", "baseline_grade", *labels, "no value", "patients"]
    rows = []
    started = graded[graded["period"] != "no start"]
    for test, values in started.groupby("test", sort=True):
        per_patient = []
        for _, mine in values.groupby("patient_id"):
            base = mine[mine["period"] == "baseline"]
            post = mine[mine["period"] == "treatment"]
            per_patient.append(
                (
                    _grade_label(base["grade"], len(base) > 0, "missing"),
                    _grade_label(post["grade"], len(post) > 0, "no value"),
                )
            )
        shifts = pd.DataFrame(per_patient, columns=["baseline", "worst"])
        for base in [*labels, "missing"]:
            mine = shifts[shifts["baseline"] == base]
            if mine.empty:
                continue
            row: dict[str, object] = {
                "test": test,
                "term": values["term"].iloc[0],
                "baseline_grade": base,
            }
            for worst in [*labels, "no value"]:
                row[worst] = int((mine["worst"] == worst).sum())
            row["patients"] = len(mine)
            rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def lab_worst_grade(
    graded: pd.DataFrame, n: int, disease_tests: tuple[str, ...] = ("platelets",)
) -> pd.DataFrame:
    """Per test: patients with values on treatment, patients by worst grade (1-4), and
    grade 3 or more (n, % of the enrolled); a last row ``any`` for grade >= 3 in
    any test but ``disease_tests`` (in ITP the platelet count is the disease
    being treated, graded and shown but not counted as a toxicity)."""
    columns = ["test", "term", "patients_with_values", *(f"grade_{g}" for g in GRADES)]
    columns += ["grade_3_or_more", "percent_grade_3_or_more", "not_graded"]
    post = graded[graded["period"] == "treatment"]
    rows = []
    for test, values in post.groupby("test", sort=True):
        worst = values.groupby("patient_id")["grade"].max()
        row: dict[str, object] = {
            "test": test,
            "term": values["term"].iloc[0],
            "patients_with_values": int(worst.size),
        }
        for g in GRADES:
            row[f"grade_{g}"] = int((worst == g).sum())
        severe = int((worst >= 3).sum())
        row["grade_3_or_more"], row["percent_grade_3_or_more"] = severe, percent(severe, n)
        row["not_graded"] = int(worst.isna().sum())
        rows.append(row)
    toxicity = post[~post["test"].isin(disease_tests)]
    severe_any = toxicity.loc[toxicity["grade"] >= 3, "patient_id"].nunique()
    but = f" (not {', '.join(disease_tests)})" if disease_tests else ""
    rows.append(
        {
            "test": "any",
            "term": f"Any graded laboratory value{but}",
            "patients_with_values": int(toxicity["patient_id"].nunique()),
            "grade_3_or_more": int(severe_any),
            "percent_grade_3_or_more": percent(int(severe_any), n),
        }
    )
    out = pd.DataFrame(rows, columns=columns)
    counts = [c for c in columns if c.startswith(("grade_", "not_", "patients"))]
    return out.astype({c: "Int64" for c in counts})


def by_month(values: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles by month since the start.

    ``values`` has ``patient_id``, ``days`` (since the start; 0 or less is the
    baseline, month 0) and ``value``. A day after the start belongs to the
    nearest whole month (days / 30.4375, rounded; at least month 1), so the
    visits of weeks 2 and 4 are month 1 and day 61 month 2. Each patient counts
    once a month (the median of their values that month). Columns ``month``, ``patients``,
    ``median``, ``q1``, ``q3`` (quartiles by linear interpolation).
    """
    columns = ["month", "patients", "median", "q1", "q3"]
    if values.empty:
        return pd.DataFrame(columns=columns)
    nearest = np.maximum(1, np.floor(values["days"] / DAYS_PER_MONTH + 0.5))
    month = np.where(values["days"] <= 0, 0, nearest)
    per_patient = values.assign(month=month.astype(int)).groupby(["month", "patient_id"])["value"]
    per_patient = per_patient.median().reset_index()
    rows = []
    for m, g in per_patient.groupby("month", sort=True):
        q1, med, q3 = np.quantile(g["value"].to_numpy(float), [0.25, 0.5, 0.75])
        rows.append(
            {
                "month": int(m),
                "patients": len(g),
                "median": round(float(med), 2),
                "q1": round(float(q1), 2),
                "q3": round(float(q3), 2),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def lab_by_month(graded: pd.DataFrame, test: str) -> pd.DataFrame:
    """:func:`by_month` of one graded test: the baseline value and values on treatment."""
    mine = graded[(graded["test"] == test) & graded["period"].isin(["baseline", "treatment"])]
    return by_month(mine.rename(columns={"study_day": "days"})[["patient_id", "days", "value"]])


def trough_by_month(troughs: pd.DataFrame, starts: pd.DataFrame) -> pd.DataFrame:
    """:func:`by_month` of the troughs on treatment (``troughs_on_treatment``)."""
    window = treatment_window(starts)
    t = troughs.merge(window, on="patient_id", how="inner")
    t = t.assign(days=(t["date"] - t["start_date"]).dt.days)
    return by_month(t[["patient_id", "days", "value"]])


def bleeding_worst_grade(bleeding: pd.DataFrame, starts: pd.DataFrame, n: int) -> pd.DataFrame:
    """Patients by their worst WHO bleeding grade dated after the start (0 = none): n, %."""
    window = treatment_window(starts)
    b = bleeding.assign(
        patient_id=bleeding["patient_id"].astype(str), date=pd.to_datetime(bleeding["date"])
    ).merge(window, on="patient_id", how="inner")
    b = b[b["date"] > b["start_date"]]
    worst = b.groupby("patient_id")["who_grade"].max()
    counts = {g: int((worst == g).sum()) for g in range(1, 5)}
    counts[0] = n - int(worst.size)
    return pd.DataFrame(
        [
            {
                "who_grade": g,
                "label": "no bleeding" if g == 0 else f"WHO grade {g}",
                "patients": counts[g],
                "percent": percent(counts[g], n),
            }
            for g in range(5)
        ]
    )


def poisson_rate(events: int, patient_years: float, alpha: float = 0.05) -> dict[str, float | None]:
    """Events per 100 patient-years with the exact (Garwood) Poisson interval."""
    if patient_years <= 0:
        return {"rate": None, "ci_low": None, "ci_high": None}
    low = 0.0 if events == 0 else chi2.ppf(alpha / 2, 2 * events) / 2
    high = chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    scale = 100.0 / patient_years
    return {
        "rate": round(events * scale, 2),
        "ci_low": round(float(low) * scale, 2),
        "ci_high": round(float(high) * scale, 2),
    }


def exposure_adjusted_incidence(
    adverse_events: pd.DataFrame, starts: pd.DataFrame
) -> tuple[pd.DataFrame, float]:
    """Adverse events on treatment per 100 patient-years, with exact Poisson 95% CIs.

    Time at risk: each patient's days on treatment (``treatment_days``; the
    start counts, so a patient with 0 days still adds nothing). Events: onset
    from the start date through the last day on treatment, every event (a
    patient's repeated events all count). Returns the table (``term``,
    ``events``, ``patients``, ``rate``, ``ci_low``, ``ci_high``; first row any
    term) and the patient-years.
    """
    days = pd.to_numeric(starts.get("treatment_days"), errors="coerce").fillna(0)
    patient_years = float(days.clip(lower=0).sum()) / DAYS_PER_YEAR
    window = treatment_window(starts)
    ae = adverse_events.assign(
        patient_id=adverse_events["patient_id"].astype(str),
        onset=pd.to_datetime(adverse_events["onset_date"]),
    ).merge(window, on="patient_id", how="inner")
    ae = ae[(ae["onset"] >= ae["start_date"]) & (ae["onset"] <= ae["last_day"])]
    by_term = sorted(ae.groupby("term"), key=lambda kv: (-len(kv[1]), kv[0]))
    groups = [("Any adverse event", ae), *by_term]
    rows = [
        {
            "term": term,
            "events": len(g),
            "patients": int(g["patient_id"].nunique()),
            **poisson_rate(len(g), patient_years),
        }
        for term, g in groups
    ]
    columns = ["term", "events", "patients", "rate", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns), round(patient_years, 2)
