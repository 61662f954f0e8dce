"""Time-to-event data from the endpoints table, and the curves estimated from them.

Every time is in days from the endpoints (``shared/spec/response-criteria.md``);
nothing here re-derives response.

- **Time to response** (Aalen-Johansen): evaluable patients (a baseline count,
  best response not NE) who started the study drug. A responder has the event
  at ``days_to_response``. A patient without response whose study drug has an
  end date has the *competing* event "stopped without response" at
  ``treatment_days`` (rule 4 attributes no later response to the drug); one
  still on treatment is censored at ``treatment_days`` (the last observation).
  NE patients cannot respond and are reported apart, outside the risk set.
- **Duration of response** (Kaplan-Meier): responders, from the first response
  to the first loss under treatment (event) or censored (rule 9).
- **Follow-up after response** (reverse Kaplan-Meier): the same times with
  censoring as the event.
- **Cumulative response, Kaplan-Meier** (``kaplan_meier.time_to_response`` of
  summary.json, kept for scripts that read it): 1 - KM with non-responders
  censored at ``treatment_days``. It treats stopping as uninformative and so
  overstates response; the report shows the Aalen-Johansen estimate instead.

A negative ``treatment_days`` (an ongoing patient whose observations all precede
the start) is an error, not a data point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from itpcohort.errors import ItpCohortError
from itpcohort.statistics.survival import (
    Curve,
    aalen_johansen,
    kaplan_meier,
    reverse_kaplan_meier,
)

RESPONDED = ("CR", "R")
#: status codes of the time-to-response data
CENSORED, RESPONSE, STOPPED = 0, 1, 2


@dataclass(frozen=True)
class Curves:
    """The time-to-event estimates of one cohort."""

    time_to_response: Curve  # Aalen-Johansen, competing event: stopped without response
    response_duration: Curve  # Kaplan-Meier
    follow_up: Curve  # reverse Kaplan-Meier of the response durations
    cumulative_response_km: Curve  # 1 - KM, kept for summary.json's kaplan_meier key
    not_evaluable: int  # enrolled patients outside the time-to-response risk set


def check_times(endpoints: pd.DataFrame) -> None:
    """Refuse negative treatment durations, naming the patients."""
    days = pd.to_numeric(endpoints["treatment_days"], errors="coerce")
    bad = endpoints.loc[days < 0, ["patient_id", "treatment_days"]]
    if len(bad):
        shown = ", ".join(
            f"{r.patient_id} ({r.treatment_days} days)" for r in bad.head(5).itertuples()
        )
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ItpCohortError(
            f"negative time on treatment for {shown}{more}: the study drug is ongoing and every "
            "observation of the patient precedes its start date; add the patient's "
            "followup_end_date (last contact) or the study drug's end_date"
        )


def time_to_response_data(endpoints: pd.DataFrame) -> pd.DataFrame:
    """Per evaluable patient: ``days`` and ``status`` (0 censored, 1 response, 2 stopped)."""
    check_times(endpoints)
    e = endpoints[(endpoints["best_response"] != "NE") & endpoints["treatment_days"].notna()]
    responded = e["days_to_response"].notna().to_numpy()
    stopped = e["end_date"].notna().to_numpy()
    days = np.where(
        responded,
        e["days_to_response"].astype("Float64").fillna(0).to_numpy(float),
        e["treatment_days"].astype(float).to_numpy(),
    )
    status = np.where(responded, RESPONSE, np.where(stopped, STOPPED, CENSORED))
    return pd.DataFrame({"patient_id": e["patient_id"].to_numpy(), "days": days, "status": status})


def response_duration_data(endpoints: pd.DataFrame) -> pd.DataFrame:
    """``patient_id``, ``days`` and ``event`` (loss under treatment) per responder (rule 9)."""
    r = endpoints[endpoints["response_duration_days"].notna()]
    return pd.DataFrame(
        {
            "patient_id": r["patient_id"].to_numpy(),
            "days": r["response_duration_days"].astype(float).to_numpy(),
            "event": ~r["response_duration_censored"].astype(bool).to_numpy(),
        }
    )


def estimate_curves(endpoints: pd.DataFrame) -> Curves:
    """Fit every time-to-event curve of the report."""
    ttr = time_to_response_data(endpoints)
    dor = response_duration_data(endpoints)
    return Curves(
        time_to_response=aalen_johansen("time to response", ttr["days"], ttr["status"]),
        response_duration=kaplan_meier("duration of response", dor["days"], dor["event"]),
        follow_up=reverse_kaplan_meier("follow-up after response", dor["days"], dor["event"]),
        cumulative_response_km=kaplan_meier(
            "time to response (Kaplan-Meier)", ttr["days"], ttr["status"] == RESPONSE
        ),
        not_evaluable=len(endpoints) - len(ttr),
    )
