"""The report's tables: titles in print order, column headers and footnotes.

A table is a DataFrame (``Analysis.tables``; its columns are stable names, the
CSV files keep them) plus a :class:`Layout` saying how a journal prints it:
numbered title, headers with units and N, footnotes (tests, interval methods,
abbreviations, censoring). Rows whose label starts with spaces are indented
under the row above.
"""

from __future__ import annotations

from dataclasses import dataclass

from itpcohort.criteria import Criteria
from itpcohort.statistics.formats import GEQ, PLATELET_UNIT

#: the numbered tables, in print order (flow is drawn as a figure; its table is supplementary)
ORDER = ("baseline", "response", "subgroup", "safety", "comparison")


@dataclass(frozen=True)
class Layout:
    """How a table is printed: title, column headers, footnotes."""

    title: str
    headers: dict[str, str]
    footnotes: tuple[str, ...] = ()


def criteria_note(c: Criteria) -> str:
    """The response definitions of a profile, for footnotes and the Methods."""
    fold = {
        "and": f" and {GEQ}{c.fold:g}-fold the baseline count",
        "or": f" or {GEQ}{c.fold:g}-fold the baseline count",
        "none": "",
    }[c.fold_rule]
    return (
        f"Response criteria {c.name}: CR, platelet count {GEQ}{c.cr_threshold:g}{PLATELET_UNIT}; "
        f"R, {GEQ}{c.r_threshold:g}{PLATELET_UNIT}{fold}; both without bleeding of WHO grade "
        f"{GEQ}{c.bleeding_min_grade} and seen on two occasions {GEQ}{c.response_confirm_days} "
        f"days apart; counts from the start of a rescue therapy to {c.rescue_washout_days} days "
        f"after it are not evaluable. NR, no response; NE, not evaluable (no baseline count in "
        f"the {c.baseline_window_days} days up to the start)."
    )


def response_notes(c: Criteria, drug: str, censored: int, responders: int) -> tuple[str, ...]:
    return (
        criteria_note(c),
        "Percentages of all enrolled patients (intention to treat) unless another denominator "
        "is named; 95% CI of proportions exact (Clopper-Pearson).",
        "Time to response: Aalen-Johansen cumulative incidence; stopping "
        f"{drug} without response is a competing event (a later response is not attributed "
        "to the drug); patients on treatment without response are censored at their last "
        "observation; NE patients are not in the risk set. Its median is the time by which "
        "half of the evaluable patients had responded. 95% CI: log-log transformation of the "
        "estimate with its infinitesimal-jackknife standard error (as R survival::survfit).",
        "Duration of response: from the first response to the first loss of response under "
        f"treatment, censored at the end of {drug} or at the last evaluable count. "
        "Kaplan-Meier estimates; 95% CI by the log-log transformation with Greenwood's "
        "variance; a median that is not reached is given with its lower limit (NR: limit not "
        "reached); a median on a flat stretch at exactly 50% is the stretch's midpoint (as R). "
        "Median follow-up by reverse Kaplan-Meier. Loss of response: count below the response "
        f"threshold on two consecutive evaluable days, bleeding, or rescue therapy in response; "
        f"loss after stopping is counted among responders who stopped {drug} in response.",
        "\u2020 As reported in the abstract (Shi Y et al. Lupus Sci Med 2023;10(Suppl 1):A32): "
        f"medians of observed times. The observed duration includes {censored} censored "
        f"durations of {responders}, so it describes follow-up, not durability; the time among "
        "responders is conditional on responding.",
        "Months = days / 30.4375. IQR, interquartile range (type 7); CI, confidence interval.",
    )


def baseline_notes(drug: str, tests: bool) -> tuple[str, ...]:
    p = (
        "p-values: Mann-Whitney U (exact when both groups have fewer than 50 values and no "
        "ties, as R) or Kruskal-Wallis; Fisher's exact or Fisher-Freeman-Halton exact test; "
        "descriptive, not adjusted for multiple comparisons."
        if tests
        else "No p-values: baseline differences in a cohort are described, not tested (STROBE)."
    )
    return (
        "Median [IQR] or n (% of patients with a known value).",
        f"Disease duration: from the diagnosis of thrombocytopenia to the start of {drug}. ITP "
        "phase at the start: newly diagnosed <3 months, persistent 3\u201312 months, chronic "
        ">12 months.",
        p,
        "SLE, systemic lupus erythematosus; APS, antiphospholipid syndrome; aCL, anticardiolipin "
        "antibodies (GPL/MPL, IgG/IgM phospholipid units); anti-\u03b22GPI, anti-\u03b22-"
        "glycoprotein I antibodies; IQR, interquartile range.",
    )


SUBGROUP_NOTES = (
    "Exploratory analysis, not adjusted for multiple comparisons.",
    "Responders / patients (%), 95% CI exact (Clopper-Pearson). Risk difference in percentage "
    "points against the reference group (ref.), 95% CI by Newcombe's hybrid score method; odds "
    "ratio: conditional maximum-likelihood estimate with its exact 95% CI (as R fisher.test).",
    "p: two-sided Fisher's exact test (two groups) or Fisher-Freeman-Halton exact test (more "
    "groups) among patients with a known value; patients with a missing value are shown apart.",
    "Numeric variables are grouped at the stated cut points (a value on a cut point belongs "
    "to the upper group).",
)


def safety_notes(drug: str, window: int, n: int) -> tuple[str, ...]:
    return (
        f"Safety population: the {n} enrolled patients who started {drug}; patients, n (%), "
        "95% CI exact (Clopper-Pearson).",
        f"Treatment-emergent adverse events: onset from the start of {drug} to {window} days "
        "after its end. Related: recorded as related to the study drug; relatedness not "
        f"recorded is counted as unknown. Stopped: the last {drug} period stopped for an adverse "
        "event, or an adverse event led to discontinuation. Grades: CTCAE.",
        "Bleeding: each patient's worst WHO grade after the start; grade 0, none recorded.",
    )


COMPARISON_NOTES = (
    "Descriptive comparison: populations, response definitions and time frames differ, so "
    "the rates are not directly comparable and no test is shown.",
    "95% CI exact (Clopper-Pearson) from the published numerator, or as published for a pooled "
    "estimate; no count is rebuilt from a rounded percentage.",
)
