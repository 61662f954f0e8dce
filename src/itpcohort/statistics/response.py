"""Response statistics: the summary entries and Table 2, estimates first.

Order of presentation (what a reviewer expects first): best response with
exact intervals; the Aalen-Johansen cumulative incidence of response; the
Kaplan-Meier duration of response with its median (or "not reached" and the
lower limit), the probabilities of remaining in response at 12 and 24 months
and the median follow-up by reverse Kaplan-Meier; loss under treatment and
after stopping as separate rows. The abstract's descriptive figures follow,
labelled as the abstract's (medians of observed times, loss in any phase).
"""

from __future__ import annotations

import pandas as pd

from itpcohort.statistics import formats as fmt
from itpcohort.statistics.descriptive import DAYS_PER_MONTH, quartiles_months, rate
from itpcohort.statistics.survival import Estimate, at, quantile
from itpcohort.statistics.time_to_event import Curves

RESPONDED = ("CR", "R")
#: months at which the cumulative incidence of response is reported
INCIDENCE_MONTHS = (1, 3, 6, 12)
#: months at which remaining in response / loss under treatment are reported
LANDMARK_MONTHS = (12, 24)
ABSTRACT = "\u2020"  # dagger: the abstract's statistic


def _pct(e: Estimate) -> dict[str, float | None]:
    def p(x: float | None) -> float | None:
        return None if x is None else round(100 * x, 1)

    return {"percent": p(e.value), "ci_low": p(e.lower), "ci_high": p(e.upper)}


def _months(e: Estimate) -> dict[str, float | None]:
    def m(x: float | None) -> float | None:
        return None if x is None else round(x / DAYS_PER_MONTH, 1)

    return {"value": m(e.value), "ci_low": m(e.lower), "ci_high": m(e.upper)}


def _complement(e: Estimate) -> Estimate:
    def c(x: float | None) -> float | None:
        return None if x is None else 1 - x

    return Estimate(c(e.value), c(e.upper), c(e.lower))


def time_to_response_summary(curves: Curves, endpoints: pd.DataFrame) -> dict[str, object]:
    """Aalen-Johansen cumulative incidence of response (competing: stopped without response)."""
    c = curves.time_to_response
    responders = endpoints[endpoints["best_response"].isin(RESPONDED)]
    last = float(c.time[-1]) if c.n else None
    plateau = _pct(at(c, last)) if last is not None else _pct(Estimate(None, None, None))
    return {
        "evaluable": c.n,
        "not_evaluable": curves.not_evaluable,
        "responders": c.events,
        "stopped_without_response": c.competing,
        "censored": c.censored,
        "cumulative_incidence": {str(m): _pct(at(c, m * DAYS_PER_MONTH)) for m in INCIDENCE_MONTHS},
        "plateau": {
            **plateau,
            "at_months": None if last is None else round(last / DAYS_PER_MONTH, 1),
        },
        "median_months": _months(quantile(c, 0.5)),
        "among_responders_months": quartiles_months(responders["days_to_response"]),
    }


def duration_summary(curves: Curves, endpoints: pd.DataFrame) -> dict[str, object]:
    """Kaplan-Meier duration of response, landmarks, reverse-KM follow-up, observed median."""
    c = curves.response_duration
    responders = endpoints[endpoints["best_response"].isin(RESPONDED)]
    return {
        "responders": c.n,
        "events": c.events,
        "censored": c.censored,
        "median_months": _months(quantile(c, 0.5)),
        "in_response": {str(m): _pct(at(c, m * DAYS_PER_MONTH)) for m in LANDMARK_MONTHS},
        "follow_up_months": _months(quantile(curves.follow_up, 0.5)),
        "observed_months": quartiles_months(responders["response_duration_days"]),
    }


def loss_summary(curves: Curves, endpoints: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Loss under treatment (full dose, taper; Kaplan-Meier landmarks) and after stopping."""
    r = endpoints[endpoints["best_response"].isin(RESPONDED)]
    phase = r["loss_phase"].astype("string")
    k = len(r)
    full, taper, off = (int((phase == p).sum()) for p in ("full", "taper", "off"))
    stopped = r[r["end_date"].notna() & ~phase.isin(["full", "taper"]).fillna(False)]
    return {
        "loss_under_treatment": {
            **rate(full + taper, k),
            "full": rate(full, k),
            "taper": rate(taper, k),
            "probability": {
                str(m): _pct(_complement(at(curves.response_duration, m * DAYS_PER_MONTH)))
                for m in LANDMARK_MONTHS
            },
        },
        "loss_after_stopping": rate(off, len(stopped)),
    }


def _rate_row(label: str, r: dict[str, object]) -> tuple[str, str, str]:
    return (label, fmt.count_percent(r["n"], r["percent"]), fmt.rate_ci(r))  # type: ignore[arg-type]


def _pct_row(label: str, p: dict[str, float | None]) -> tuple[str, str, str]:
    if p["percent"] is None:
        return (label, "not estimable", "")
    return (label, f"{fmt.number(p['percent'])}%", fmt.interval(p["ci_low"], p["ci_high"]))


def _median_row(label: str, m: dict[str, float | None]) -> tuple[str, str, str]:
    """A median and its interval; "not reached" with the lower limit (NR when it is not either)."""
    if m["value"] is None:
        low = "NR" if m["ci_low"] is None else fmt.number(m["ci_low"])
        return (label, "not reached", f"{low}{fmt.DASH}NR")
    return (label, fmt.number(m["value"]), fmt.interval(m["ci_low"], m["ci_high"]))


def response_rows(s: dict[str, object], data: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Table 2's rows: (characteristic, value, 95% CI); indented rows start with spaces."""
    n = len(data)
    counts = data["best_response"].value_counts()
    rows = [(f"Best response, all enrolled patients (N = {n})", "", "")]
    rows.append(
        _rate_row(
            "  Overall response (CR + R)", rate(int(counts.get("CR", 0) + counts.get("R", 0)), n)
        )
    )
    for key, label in (
        ("CR", "Complete response (CR)"),
        ("R", "Response (R)"),
        ("NR", "No response (NR)"),
        ("NE", "Not evaluable (NE)"),
    ):
        rows.append(_rate_row(f"  {label}", rate(int(counts.get(key, 0)), n)))
    rows += _time_to_response_rows(s["time_to_response"])  # type: ignore[arg-type]
    rows += _duration_rows(s["duration_of_response"])  # type: ignore[arg-type]
    rows += _loss_rows(s)
    sus = rate(int(s["sustained_off_treatment"]["n"]), n)  # type: ignore[index]
    rows.append(_rate_row(f"Sustained response after stopping, of all {n} patients", sus))
    rows.append(
        (
            f"Treatment duration, months, median (IQR){ABSTRACT}",
            fmt.quartiles(s["treatment_months"]),
            "",
        )  # type: ignore[arg-type]
    )
    return rows


def _time_to_response_rows(t: dict) -> list[tuple[str, str, str]]:
    rows = [(f"Time to response, evaluable patients (n = {t['evaluable']})", "", "")]
    for m, p in t["cumulative_incidence"].items():
        unit = "month" if m == "1" else "months"
        rows.append(_pct_row(f"  Cumulative incidence of response at {m} {unit}", p))
    rows.append(
        _median_row("  Median time to response, months (Aalen-Johansen)", t["median_months"])
    )
    rows.append(
        ("  Stopped without response (competing event), n", str(t["stopped_without_response"]), "")
    )
    if t["not_evaluable"]:
        rows.append(
            (
                "  Not evaluable (no baseline count), not in the risk set, n",
                str(t["not_evaluable"]),
                "",
            )
        )
    rows.append(
        (
            f"  Among responders (conditional on responding), months, median (IQR){ABSTRACT}",
            fmt.quartiles(t["among_responders_months"]),
            "",
        )
    )
    return rows


def _duration_rows(d: dict) -> list[tuple[str, str, str]]:
    rows = [
        (
            f"Duration of response under treatment, responders (n = {d['responders']}; "
            f"{d['events']} losses, {d['censored']} censored)",
            "",
            "",
        )
    ]
    rows.append(_median_row("  Median duration, months (Kaplan-Meier)", d["median_months"]))
    for m, p in d["in_response"].items():
        rows.append(_pct_row(f"  In response at {m} months", p))
    rows.append(
        _median_row(
            "  Median follow-up after response, months (reverse Kaplan-Meier)",
            d["follow_up_months"],
        )
    )
    rows.append(
        (
            f"  Observed duration (censored included), months, median (IQR){ABSTRACT}",
            fmt.quartiles(d["observed_months"]),
            "",
        )
    )
    return rows


def _loss_rows(s: dict) -> list[tuple[str, str, str]]:
    under, after = s["loss_under_treatment"], s["loss_after_stopping"]
    legacy = s["loss_of_response"]
    k = under["of"]
    rows = [_rate_row(f"Loss of response under treatment, of {k} responders", under)]
    rows.append(_rate_row("  during full-dose treatment", under["full"]))
    rows.append(_rate_row("  during tapering", under["taper"]))
    for m, p in under["probability"].items():
        rows.append(_pct_row(f"  Probability of loss by {m} months (Kaplan-Meier)", p))
    rows.append(
        _rate_row(
            f"Loss of response after stopping, of {after['of']} responders who stopped in response",
            after,
        )
    )
    rows.append(
        (
            f"Loss of response in any phase, of {k} responders{ABSTRACT}",
            fmt.count_percent(legacy["n"], legacy["percent"]) if k else fmt.DASH,
            "",
        )
    )
    return rows
