"""Kaplan-Meier estimates (lifelines) for time to response and duration of response.

Time to response: responders are events at ``days_to_response``; the other
treated patients are censored at ``treatment_days`` (time on the study drug).
Duration of response: responders, events when the loss fell under treatment,
censored as rule 9 of ``shared/spec/response-criteria.md`` says.

A curve with no patient (no treated patient, or no responder for the duration
of response) is an empty curve: n = 0, no fitter, no median; figures draw it as
"no data".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from itpcohort.statistics.descriptive import DAYS_PER_MONTH


@dataclass
class KaplanMeier:
    """One fitted curve: median with its 95% CI (months) and the fitter for plotting.

    ``fitter`` is None for an empty curve (no patient to estimate it from).
    """

    name: str
    fitter: KaplanMeierFitter | None
    n: int
    events: int
    median_months: float | None
    ci_low_months: float | None
    ci_high_months: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "events": self.events,
            "median_months": self.median_months,
            "ci_low_months": self.ci_low_months,
            "ci_high_months": self.ci_high_months,
        }


def _finite_months(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(value / DAYS_PER_MONTH, 1)


def kaplan_meier(name: str, durations: pd.Series, events: pd.Series) -> KaplanMeier:
    """Fit a Kaplan-Meier curve on day counts; medians are reported in months.

    With no durations the curve is empty (n = 0, no fitter, medians None).
    """
    if len(durations) == 0:
        return KaplanMeier(name, None, 0, 0, None, None, None)
    fitter = KaplanMeierFitter(label=name)
    fitter.fit(durations.astype(float), event_observed=events.astype(bool))
    ci = median_survival_times(fitter.confidence_interval_)
    low, high = (float(ci.iloc[0, 0]), float(ci.iloc[0, 1])) if len(ci) else (np.inf, np.inf)
    return KaplanMeier(
        name,
        fitter,
        len(durations),
        int(events.astype(bool).sum()),
        _finite_months(float(fitter.median_survival_time_)),
        _finite_months(low),
        _finite_months(high),
    )


def time_to_response(endpoints: pd.DataFrame) -> KaplanMeier:
    treated = endpoints[endpoints["treatment_days"].notna()]
    responded = treated["days_to_response"].notna()
    durations = treated["days_to_response"].where(responded, treated["treatment_days"])
    return kaplan_meier("time to response", durations, responded)


def response_duration(endpoints: pd.DataFrame) -> KaplanMeier:
    responders = endpoints[endpoints["response_duration_days"].notna()]
    events = ~responders["response_duration_censored"].astype(bool)
    return kaplan_meier("duration of response", responders["response_duration_days"], events)
