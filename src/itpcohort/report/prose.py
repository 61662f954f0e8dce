"""The Methods and Results paragraphs, written from the settings and the numbers.

Results lead with the estimates a reviewer asks for first (rates with exact
intervals, the Aalen-Johansen cumulative incidence of response, the
Kaplan-Meier duration of response) and end with the abstract's descriptive
figures, named as such.
"""

from __future__ import annotations

from typing import Any

from itpcohort import __version__
from itpcohort.criteria import Criteria
from itpcohort.statistics.formats import GEQ, interval, number, p_value


def _rate(r: dict[str, Any], of: bool = True) -> str:
    if r.get("percent") is None:
        return f"{r['n']} of {r.get('of', 0)}"
    text = f"{number(r['percent'])}% ({r['n']}/{r['of']}" if of else f"{number(r['percent'])}% ("
    if r.get("ci_low") is not None:
        text += (
            f"; 95% CI {interval(r['ci_low'], r['ci_high'])}"
            if of
            else (f"95% CI {interval(r['ci_low'], r['ci_high'])}")
        )
    return text + ")"


def _pct(p: dict[str, Any]) -> str:
    if p.get("percent") is None:
        return "not estimable"
    return f"{number(p['percent'])}% (95% CI {interval(p['ci_low'], p['ci_high'])})"


def _median(m: dict[str, Any]) -> str:
    if m["value"] is None:
        low = "not reached" if m["ci_low"] is None else f"{number(m['ci_low'])} months"
        return f"not reached (95% CI lower limit {low})"
    return f"{number(m['value'])} months (95% CI {interval(m['ci_low'], m['ci_high'])})"


def results_paragraph(s: dict[str, Any], by: list[str] | None, drug: str) -> str:
    """The results, estimates first, the abstract's descriptive figures last."""
    flow, n = s["flow"], s["patients_enrolled"]
    t = s["treatment_months"]
    parts = [
        f"Of {flow.get('screened', n)} patients screened, {n} {'was' if n == 1 else 'were'} "
        "enrolled and "
        f"{flow.get('started the study drug', n)} started {drug} (median treatment duration "
        f"{number(t['median'])} months, IQR {number(t['q1'])}\u2013{number(t['q3'])}).",
        f"The overall response rate was {_rate(s['overall_response'] | {'of': n})}, including "
        f"complete responses in {_rate(s['complete_response'] | {'of': n})}.",
    ]
    parts += _time_to_response(s["time_to_response"], drug)
    parts += _duration(s, drug)
    parts += _subgroups(s.get("subgroups", {}))
    parts += _safety(s, drug)
    parts.append(_abstract(s))
    return " ".join(p for p in parts if p)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _landmarks(values: dict[str, dict[str, Any]], months: tuple[str, ...]) -> str:
    """``60.7% (95% CI ...) at 3 months and ... at 12 months``, the estimable ones only."""
    shown = [f"{_pct(values[m])} at {m} months" for m in months if values[m]["percent"] is not None]
    return " and ".join(shown)


def _time_to_response(t: dict[str, Any], drug: str) -> list[str]:
    if not t["evaluable"]:
        return ["No patient was evaluable for response."]
    at = _landmarks(t["cumulative_incidence"], ("3", "12")) or (
        f"{_pct(t['plateau'])} at {number(t['plateau']['at_months'])} months"
    )
    apart = ""
    if t["not_evaluable"]:
        were = "was" if t["not_evaluable"] == 1 else "were"
        apart = f"; {_plural(t['not_evaluable'], 'patient')} without a baseline count {were} "
        apart += "not evaluable"
    out = [
        f"With stopping {drug} without response as a competing event, the cumulative incidence "
        f"of response was {at} (Aalen-Johansen, {t['evaluable']} evaluable patients{apart})."
    ]
    if t["median_months"]["value"] is not None:
        out.append(
            f"Half of the evaluable patients had responded by {_median(t['median_months'])}."
        )
    return out


def _duration(s: dict[str, Any], drug: str) -> list[str]:
    d, under, after = s["duration_of_response"], s["loss_under_treatment"], s["loss_after_stopping"]
    if not d["responders"]:
        return []
    landmarks = _landmarks(d["in_response"], ("12", "24"))
    remained = f"; remaining in response: {landmarks}" if landmarks else ""
    follow = d["follow_up_months"]["value"]
    follow_up = (
        ""
        if follow is None
        else f"; the median follow-up after response was {number(follow)} months (reverse "
        "Kaplan-Meier)"
    )
    sus = s["sustained_off_treatment"]
    responders = _plural(after["of"], "responder")
    return [
        f"Response was lost under treatment in {_rate(under)}: {under['full']['n']} during "
        f"full-dose treatment and {under['taper']['n']} during tapering. The median duration of "
        f"response under treatment (Kaplan-Meier) was {_median(d['median_months'])}{remained}"
        f"{follow_up}.",
        f"Of {responders} who stopped {drug} in response, {after['n']} lost it after stopping; "
        f"{sus['n']} of {s['patients_enrolled']} patients ({number(sus['percent'])}%) had a "
        "sustained response after stopping.",
    ]


def _subgroups(subgroups: dict[str, Any]) -> list[str]:
    out = []
    for result in subgroups.values():
        groups = list(result["groups"].items())
        described = ", ".join(
            f"{g['label'].lower()} {number(g['percent'])}% ({g['n']}/{g['of']})"
            for _, g in groups
            if g["of"]
        )
        name = result["label"].split(",")[0]
        name = name if name[:2].isupper() else name.lower()
        text = f"Overall response by {name}: {described}"
        diffs = [(k, g) for k, g in groups if g.get("risk_difference")]
        if len(diffs) == 1:
            rd = diffs[0][1]["risk_difference"]
            text += (
                f"; risk difference {number(rd['estimate'])} percentage points (95% CI "
                f"{interval(rd['ci_low'], rd['ci_high'])})"
            )
        if result["p_value"] is not None:
            text += f"; {result['test']}, {p_value(result['p_value'])}"
        out.append(text + "; exploratory.")
    return out


def _safety(s: dict[str, Any], drug: str) -> list[str]:
    ae = s["adverse_events"]
    stop = ae["stopped"]
    if not ae["recorded"]:
        return [
            f"Adverse events were not recorded; {drug} was stopped for an adverse event in "
            f"{stop['n']} of {ae['of']} treated patients."
        ]
    return [
        f"Treatment-emergent adverse events occurred in {_rate(ae['any'])} of the treated "
        f"patients, related to {drug} in {ae['related']['n']} and of grade {GEQ}3 in "
        f"{ae['grade_3_or_more']['n']}; {drug} was stopped for an adverse event in "
        f"{_rate(stop)}."
    ]


def _abstract(s: dict[str, Any]) -> str:
    ttr, dor = s["time_to_response_months"], s["response_duration_months"]
    d = s["duration_of_response"]
    if ttr["median"] is None:
        return ""
    return (
        "Reported as in the abstract (descriptive): the median time to response among "
        f"responders was {number(ttr['median'])} months (IQR {number(ttr['q1'])}, "
        f"{number(ttr['q3'])}; conditional on responding) and the median observed duration of "
        f"response {number(dor['median'])} months (IQR {number(dor['q1'])}, {number(dor['q3'])}; "
        f"{d['censored']} of {d['responders']} durations censored); "
        f"{s['loss_of_response']['n']} responders ({number(s['loss_of_response']['percent'])}%) "
        "lost their response in any phase."
    )


def methods_paragraph(c: Criteria, drug: str, teae_window: int, by: list[str]) -> str:
    """Methods written from the profile's settings and the statistical methods used."""
    fold = {
        "and": f" and at least {c.fold:g} times the baseline count",
        "or": f" or at least {c.fold:g} times the baseline count",
        "none": "",
    }[c.fold_rule]
    rescue = (
        "; starting a rescue therapy while in response counted as a loss"
        if c.rescue_is_loss
        else ""
    )
    text = [
        f"Response to {drug} was assessed with the {c.name} criteria "
        f"({c.source or c.description}).",
        f"The baseline was the last platelet count in the {c.baseline_window_days} days up to and "
        f"including the start of {drug}. Complete response (CR) was a count of at least "
        f"{c.cr_threshold:g}\u00d710\u2079/L and response (R) a count of at least "
        f"{c.r_threshold:g}\u00d710\u2079/L{fold}, each without bleeding of WHO grade "
        f"{c.bleeding_min_grade} or more and seen on two occasions at least "
        f"{c.response_confirm_days} days apart while on {drug}. Counts from the first day of a "
        f"rescue therapy to {c.rescue_washout_days} days after its end were not evaluable, and "
        "patients without a baseline count were not evaluable (NE). Response was lost when the "
        "count fell below the response threshold on two consecutive evaluable days at least "
        f"{c.loss_confirm_days} {'day' if c.loss_confirm_days == 1 else 'days'} apart, or with "
        f"bleeding of WHO grade {c.bleeding_min_grade} or more{rescue}. A sustained "
        f"response after stopping required response at the end of {drug}, no later loss and an "
        f"evaluable count at least {c.sustained_min_days_off} days after stopping.",
        "Rates use all enrolled patients as the denominator (intention to treat), with exact "
        "Clopper-Pearson 95% confidence intervals. Time to response was estimated as a "
        "cumulative incidence (Aalen-Johansen), stopping the drug without response being a "
        "competing event and patients without a baseline count excluded from the risk set; "
        "duration of response under treatment (first response to first loss under treatment, "
        "censored at the end of treatment or the last evaluable count) by the Kaplan-Meier "
        "method, with 95% confidence intervals on the log-log scale (Greenwood's variance for "
        "Kaplan-Meier, the infinitesimal jackknife for Aalen-Johansen) and follow-up by the "
        "reverse Kaplan-Meier method.",
    ]
    if by:
        text.append(
            "Response by subgroup was explored with risk differences (Newcombe's hybrid score "
            "intervals), conditional maximum-likelihood odds ratios with exact intervals and "
            "two-sided Fisher's exact or Fisher-Freeman-Halton tests, without adjustment for "
            "multiple comparisons."
        )
    text.append(
        f"Adverse events were counted as treatment-emergent from the start of {drug} to "
        f"{teae_window} days after its end (CTCAE grades); bleeding by the worst WHO grade after "
        f"the start. Analyses used itpcohort {__version__}; the estimates match R 4.2 (survival "
        "3.5) to the digits shown."
    )
    return " ".join(text)
