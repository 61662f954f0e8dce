"""Adverse-event and bleeding counts: patients, with their denominators.

- **Safety population**: enrolled patients who started the study drug.
- **Treatment-emergent** adverse events: onset on or after the study drug's
  start and no later than :data:`TEAE_WINDOW_DAYS` (30) days after its end
  date (any time after the start while treatment is ongoing). Events outside
  the window are counted apart, not in the rates.
- **Related** means ``related`` is true; an empty ``related`` is "unknown",
  counted in its own row, never as related. The abstract's "side effects" are
  patients with a related treatment-emergent event.
- **Stopped for an adverse event**: the study drug's *last* period has
  ``stop_reason = adverse_event``, or a treatment-emergent event has
  ``action = discontinued``.
- **Bleeding**: each patient's worst WHO grade of the bleeding events dated
  after the start date (grade 0 when none was recorded), over the safety
  population.
- With no ``adverse_events`` (or ``bleeding``) file the counts are "not
  recorded" (None), not zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from itpcohort.statistics.descriptive import rate

TEAE_WINDOW_DAYS = 30
WHO_GRADES = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class SafetyData:
    """What the safety counts read: the cohort's tables and whether each was supplied."""

    treated: pd.DataFrame  # patient_id, start_date, end_date of the safety population
    adverse_events: pd.DataFrame | None  # None: no adverse_events file
    bleeding: pd.DataFrame | None  # None: no bleeding file
    last_stop_reason: pd.Series  # patient_id -> stop_reason of the study drug's last period


def last_stop_reasons(treatments: pd.DataFrame, drug: str) -> pd.Series:
    """``stop_reason`` of each patient's last period (latest start) of the study drug."""
    study = treatments[(treatments["role"] == "study") & (treatments["drug"] == drug)]
    last = (
        study.sort_values(["patient_id", "start_date"], kind="stable").groupby("patient_id").tail(1)
    )
    return last.set_index("patient_id")["stop_reason"]


def treatment_emergent(
    events: pd.DataFrame, treated: pd.DataFrame, window_days: int = TEAE_WINDOW_DAYS
) -> pd.Series:
    """Whether each adverse event falls in the treatment-emergent window (module docstring)."""
    joined = events[["patient_id", "onset_date"]].merge(
        treated[["patient_id", "start_date", "end_date"]], on="patient_id", how="left"
    )
    onset = pd.to_datetime(joined["onset_date"])
    start = pd.to_datetime(joined["start_date"])
    until = pd.to_datetime(joined["end_date"]) + pd.Timedelta(days=window_days)
    inside = (onset >= start) & (until.isna() | (onset <= until))
    return pd.Series(inside.fillna(False).to_numpy(bool), index=events.index)


def _related(values: pd.Series) -> pd.Series:
    """True / False / NA (unknown) from a bool or text column."""
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(("true", "1", "yes", "y", "1.0"))] = True
    out[text.isin(("false", "0", "no", "n", "0.0"))] = False
    return out


def adverse_event_counts(s: SafetyData, window_days: int = TEAE_WINDOW_DAYS) -> dict[str, object]:
    """Patients with any / related / unknown-relatedness / grade >= 3 TEAEs and stops, with CIs."""
    n = len(s.treated)
    ids = set(s.treated["patient_id"])
    stop_ae = {p for p, r in s.last_stop_reason.items() if r == "adverse_event" and p in ids}
    if s.adverse_events is None:
        return {
            "recorded": False,
            "window_days": window_days,
            "of": n,
            "any": None,
            "related": None,
            "relatedness_unknown": None,
            "grade_3_or_more": None,
            "stopped": rate(len(stop_ae), n),
            "outside_window": None,
        }
    ae = s.adverse_events[s.adverse_events["patient_id"].isin(ids)]
    emergent = ae[treatment_emergent(ae, s.treated, window_days)]
    related = _related(emergent["related"])
    grade = pd.to_numeric(emergent["grade"], errors="coerce")
    discontinued = emergent["action"].astype("string").str.strip().str.lower() == "discontinued"

    def patients(mask: pd.Series) -> dict[str, object]:
        return rate(emergent.loc[mask.fillna(False).to_numpy(bool), "patient_id"].nunique(), n)

    everything = pd.Series(True, index=emergent.index)
    return {
        "recorded": True,
        "window_days": window_days,
        "of": n,
        "any": patients(everything),
        "related": patients(related == True),  # noqa: E712 (nullable boolean)
        "relatedness_unknown": patients(related.isna()),
        "grade_3_or_more": patients(grade >= 3),
        "stopped": rate(
            len(stop_ae | set(emergent.loc[discontinued.fillna(False), "patient_id"])), n
        ),
        "outside_window": int(len(ae) - len(emergent)),
    }


def adverse_events_by_term(s: SafetyData, window_days: int = TEAE_WINDOW_DAYS) -> pd.DataFrame:
    """Patients per term and their worst grade of it (treatment-emergent events only)."""
    if s.adverse_events is None or s.adverse_events.empty:
        return pd.DataFrame(columns=["term", "worst_grade", "patients"])
    ids = set(s.treated["patient_id"])
    ae = s.adverse_events[s.adverse_events["patient_id"].isin(ids)]
    ae = ae[treatment_emergent(ae, s.treated, window_days)]
    worst = (
        ae.assign(grade=pd.to_numeric(ae["grade"], errors="coerce"))
        .groupby(["term", "patient_id"], dropna=False)["grade"]
        .max()
        .reset_index()
    )
    table = worst.groupby(["term", "grade"], dropna=False)["patient_id"].nunique().reset_index()
    return table.rename(columns={"grade": "worst_grade", "patient_id": "patients"})


def bleeding_counts(s: SafetyData) -> dict[str, object]:
    """Patients by their worst WHO bleeding grade after the start (0 = none recorded)."""
    n = len(s.treated)
    if s.bleeding is None:
        return {"recorded": False, "of": n, "worst_grade": None}
    b = s.bleeding.merge(s.treated[["patient_id", "start_date"]], on="patient_id")
    after = b[pd.to_datetime(b["date"]) > pd.to_datetime(b["start_date"])]
    worst = after.groupby("patient_id")["who_grade"].max()
    grades = worst.reindex(list(s.treated["patient_id"])).fillna(0).astype(int)
    counts = grades.value_counts()
    return {
        "recorded": True,
        "of": n,
        "worst_grade": {str(g): rate(int(counts.get(g, 0)), n) for g in WHO_GRADES},
    }
