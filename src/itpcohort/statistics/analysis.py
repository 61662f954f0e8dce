"""The whole analysis of a cohort: flow, baseline, response, subgroups, safety, comparison.

Reads only the cohort (through :class:`itpcohort.Cohort`) and its endpoints
table (from the one pipeline); returns the report's tables (display-ready
DataFrames with their :class:`~itpcohort.statistics.tables.Layout`), the fitted
curves and the ``summary.json`` dictionary (keys in ``docs/summary-json.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from itpcohort.cohort import Cohort
from itpcohort.criteria import Criteria, load_criteria
from itpcohort.statistics import formats as fmt
from itpcohort.statistics import tables as notes
from itpcohort.statistics.adverse_events import (
    TEAE_WINDOW_DAYS,
    SafetyData,
    adverse_event_counts,
    adverse_events_by_term,
    bleeding_counts,
    last_stop_reasons,
)
from itpcohort.statistics.baseline import baseline_table
from itpcohort.statistics.comparators import comparison_table, load_comparators
from itpcohort.statistics.descriptive import percent, quartiles_months, rate
from itpcohort.statistics.response import (
    duration_summary,
    loss_summary,
    response_rows,
    time_to_response_summary,
)
from itpcohort.statistics.subgroups import GroupBy, as_flag, grouping, parse_by, subgroup
from itpcohort.statistics.survival import Curve, quantile
from itpcohort.statistics.tables import Layout
from itpcohort.statistics.time_to_event import Curves, estimate_curves

__all__ = ["Analysis", "analyse", "as_flag", "load_comparators"]

RESPONDED = ("CR", "R")


class CohortFrames:
    """A cohort's tables as DataFrames, each read once (``Cohort.table`` reads on every call)."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort

    @cached_property
    def patients(self) -> pd.DataFrame:
        return self.cohort.patients

    @cached_property
    def treatments(self) -> pd.DataFrame:
        return self.cohort.treatments

    @cached_property
    def bleeding(self) -> pd.DataFrame:
        return self.cohort.bleeding

    @cached_property
    def adverse_events(self) -> pd.DataFrame:
        return self.cohort.adverse_events


@dataclass
class Analysis:
    """Every table of the report (in print order), the curves and the summary dictionary."""

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layouts: dict[str, Layout] = field(default_factory=dict)
    curves: Curves | None = None
    by: list[GroupBy] = field(default_factory=list)
    criteria: Criteria | None = None
    study_drug: str = ""
    frames: CohortFrames | None = None


def analyse(
    cohort: Cohort,
    endpoints: pd.DataFrame,
    by: str | list[str] | None = None,
    comparators: str | Path | None = None,
    *,
    criteria: str | Path | Criteria = "iwg2009",
    study_drug: str | None = None,
    baseline_tests: bool = False,
    comparator_tests: bool = False,
    teae_window_days: int = TEAE_WINDOW_DAYS,
    frames: CohortFrames | None = None,
) -> Analysis:
    """Analyse a cohort's endpoints (from :func:`itpcohort.pipeline.run`).

    ``by``: one patients column or several (``"age:50"`` cuts a numeric one);
    ``criteria`` and ``study_drug``: those the endpoints were evaluated with
    (for the footnotes and the safety counts); ``baseline_tests`` adds p-values
    to Table 1; ``comparator_tests`` adds Fisher's exact test against published
    numerators. ``frames`` (the cohort's tables, read once) may be shared with the caller.
    """
    specs = parse_by(by)
    settings = load_criteria(criteria)
    drug = study_drug or (cohort.study_drugs[0] if len(cohort.study_drugs) == 1 else "")
    frames = frames or CohortFrames(cohort)
    patients = frames.patients
    enrolled = patients[patients["_enrolled"]].drop(columns="_enrolled")
    data = endpoints.merge(enrolled, on="patient_id", how="left", suffixes=("", "_patient"))
    curves = estimate_curves(endpoints)
    a = Analysis(_headline(data), curves=curves, by=specs, criteria=settings, study_drug=drug)
    a.frames = frames
    s = a.summary
    s["time_to_response"] = time_to_response_summary(curves, data)
    s["duration_of_response"] = duration_summary(curves, data)
    s.update(loss_summary(curves, data))
    s["kaplan_meier"] = {
        "time_to_response": _legacy_km(curves.cumulative_response_km),
        "response_duration": _legacy_km(curves.response_duration),
    }
    _subgroups(a, data, specs)
    _safety(a, cohort, data, drug, teae_window_days)
    _tables(a, data, cohort, baseline_tests)
    overall = rate(int(data["best_response"].isin(RESPONDED).sum()), len(data))
    comparison = comparison_table(
        overall,
        _definition(settings),
        "the enrolled patients of this cohort",
        comparators,
        comparator_tests,
        f"{drug or 'study drug'} (this cohort)",
    )
    s["comparison"] = _records(comparison)
    a.tables["comparison"] = _comparison_display(comparison, comparator_tests)
    a.layouts["comparison"] = Layout(
        "", _comparison_headers(comparator_tests), notes.COMPARISON_NOTES
    )
    _number_titles(a)
    return a


def _headline(data: pd.DataFrame) -> dict[str, Any]:
    """The abstract's figures (their keys and shapes are stable; see docs/summary-json.md)."""
    responders = data[data["best_response"].isin(RESPONDED)]
    n = len(data)
    losses = responders[responders["loss_date"].notna()]
    phases = losses["loss_phase"].value_counts()
    sustained = int(data["sustained_off_treatment"].sum())
    return {
        "patients_enrolled": n,
        "treatment_months": quartiles_months(data["treatment_days"].dropna()),
        "overall_response": _public(rate(len(responders), n)),
        "complete_response": _public(rate(int((data["best_response"] == "CR").sum()), n)),
        "time_to_response_months": quartiles_months(responders["days_to_response"]),
        "loss_of_response": {
            "n": len(losses),
            "percent": percent(len(losses), len(responders)),
            "full": int(phases.get("full", 0)),
            "taper": int(phases.get("taper", 0)),
            "off": int(phases.get("off", 0)),
        },
        "response_duration_months": quartiles_months(responders["response_duration_days"]),
        "sustained_off_treatment": {"n": sustained, "percent": percent(sustained, n)},
        "overall_response_by": {},
    }


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("n", "percent", "ci_low", "ci_high")}


def _legacy_km(curve: Curve) -> dict[str, Any]:
    m = quantile(curve, 0.5)

    def months(x: float | None) -> float | None:
        return None if x is None else round(x / 30.4375, 1)

    return {
        "n": curve.n,
        "events": curve.events,
        "median_months": months(m.value),
        "ci_low_months": months(m.lower),
        "ci_high_months": months(m.upper),
    }


def _definition(c: Criteria) -> str:
    fold = {"and": f" and >={c.fold:g}-fold baseline", "or": f" or >={c.fold:g}-fold baseline"}
    return (
        f"{c.name}: platelet count >={c.r_threshold:g} x10^9/L{fold.get(c.fold_rule, '')}, "
        f"confirmed {c.response_confirm_days} days apart, best response during treatment"
    )


def _subgroups(a: Analysis, data: pd.DataFrame, specs: list[GroupBy]) -> None:
    s = a.summary
    s["subgroups"] = {}
    rows: list[dict[str, str]] = []
    for spec in specs:
        result = subgroup(data, spec)
        s["subgroups"][spec.column if not spec.cuts else _spec_key(spec)] = result
        legacy: dict[str, Any] = {
            k: {"n": g["n"], "of": g["of"], "percent": g["percent"]}
            for k, g in result["groups"].items()
        }
        s["overall_response_by"][_spec_key(spec)] = {
            **legacy,
            "p_value": result["p_value"],
            "test": result["test"],
        }
        rows += _subgroup_rows(result)
    if specs:
        a.tables["subgroup"] = pd.DataFrame(rows)
        a.layouts["subgroup"] = Layout(
            "",
            {
                "characteristic": "Subgroup",
                "responders": "Responders / patients (%)",
                "ci": "95% CI, %",
                "risk_difference": "Risk difference, % points (95% CI)",
                "odds_ratio": "Odds ratio (95% CI)",
                "p_value": "p",
            },
            notes.SUBGROUP_NOTES,
        )


def _spec_key(spec: GroupBy) -> str:
    return (
        spec.column if not spec.cuts else f"{spec.column}:{','.join(f'{c:g}' for c in spec.cuts)}"
    )


def _subgroup_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    rows = [
        {
            "characteristic": result["label"],
            "responders": "",
            "ci": "",
            "risk_difference": "",
            "odds_ratio": "",
            "p_value": fmt.p_value(result["p_value"], prefix=False) if result["test"] else "",
        }
    ]
    for key, g in result["groups"].items():
        rd, odds = g.get("risk_difference"), g.get("odds_ratio")
        is_ref = key == result["reference"]
        rows.append(
            {
                "characteristic": f"  {g['label']}" + (" (ref.)" if is_ref else ""),
                "responders": f"{g['n']}/{g['of']}"
                + (f" ({fmt.number(g['percent'])}%)" if g["of"] else ""),
                "ci": fmt.rate_ci(g),
                "risk_difference": _effect(rd, 1) if rd else ("ref." if is_ref else ""),
                "odds_ratio": _effect(odds, 2) if odds else ("ref." if is_ref else ""),
                "p_value": "",
            }
        )
    return rows


def _effect(e: dict[str, float | None], digits: int) -> str:
    est = "\u221e" if e["estimate"] is None else fmt.number(e["estimate"], digits)
    hi = "\u221e" if e["ci_high"] is None else fmt.number(e["ci_high"], digits)
    lo = fmt.number(e["ci_low"], digits)
    sep = " to " if lo.startswith(fmt.MINUS) or hi.startswith(fmt.MINUS) else fmt.DASH
    return f"{est} ({lo}{sep}{hi})"


def _safety(a: Analysis, cohort: Cohort, data: pd.DataFrame, drug: str, window: int) -> None:
    recorded = {t.table: t.file is not None for t in cohort.report.summaries}
    frames = a.frames
    assert frames is not None
    treated = data.loc[data["start_date"].notna(), ["patient_id", "start_date", "end_date"]]
    safety = SafetyData(
        treated,
        frames.adverse_events if recorded.get("adverse_events") else None,
        frames.bleeding if recorded.get("bleeding") else None,
        last_stop_reasons(frames.treatments, drug),
    )
    ae = adverse_event_counts(safety, window)
    s = a.summary
    s["adverse_events"] = ae
    s["bleeding"] = bleeding_counts(safety)
    related, stopped = ae["related"], ae["stopped"]
    n = len(data)
    s["adverse_effects"] = (
        {"n": None, "percent": None}
        if related is None
        else {"n": related["n"], "percent": percent(related["n"], n)}  # type: ignore[index]
    )
    s["stopped_for_adverse_effects"] = {
        "n": stopped["n"],  # type: ignore[index]
        "percent": percent(stopped["n"], n),  # type: ignore[index]
    }
    a.tables["safety"] = pd.DataFrame(
        _safety_rows(ae, s["bleeding"], adverse_events_by_term(safety, window)),
        columns=["characteristic", "value", "ci"],
    )
    a.layouts["safety"] = Layout(
        "",
        {"characteristic": "", "value": "Patients, n (%)", "ci": "95% CI, %"},
        notes.safety_notes(drug, window, len(treated)),
    )


def _safety_rows(ae: dict[str, Any], bleeding: dict[str, Any], terms: pd.DataFrame) -> list:
    n = ae["of"]
    rows: list[tuple[str, str, str]] = [
        (f"Adverse events, treatment-emergent, of {n} treated patients", "", "")
    ]
    if not ae["recorded"]:
        rows.append(("  Adverse events", "not recorded", ""))
    else:
        for key, label in (
            ("any", "Any adverse event"),
            ("related", "Related to the study drug"),
            ("relatedness_unknown", "Relatedness unknown (not recorded)"),
            ("grade_3_or_more", f"Grade {fmt.GEQ}3"),
        ):
            r = ae[key]
            rows.append((f"  {label}", fmt.count_percent(r["n"], r["percent"]), fmt.rate_ci(r)))
    stop = ae["stopped"]
    rows.append(
        (
            "  Led to stopping the study drug",
            fmt.count_percent(stop["n"], stop["percent"]),
            fmt.rate_ci(stop),
        )
    )
    for t in terms.itertuples():
        grade = "unknown" if pd.isna(t.worst_grade) else f"{int(t.worst_grade)}"
        rows.append(
            (
                f"  {t.term}, worst grade {grade}",
                fmt.count_percent(int(t.patients), percent(int(t.patients), n)),
                "",
            )
        )
    rows.append(
        (f"Bleeding after the start, worst WHO grade, of {bleeding['of']} patients", "", "")
    )
    if not bleeding["recorded"]:
        rows.append(("  Bleeding", "not recorded", ""))
    else:
        for grade, r in bleeding["worst_grade"].items():
            label = "Grade 0 (none recorded)" if grade == "0" else f"Grade {grade}"
            rows.append((f"  {label}", fmt.count_percent(r["n"], r["percent"]), fmt.rate_ci(r)))
    return rows


def _tables(a: Analysis, data: pd.DataFrame, cohort: Cohort, tests: bool) -> None:
    s, drug = a.summary, a.study_drug or "the study drug"
    assert a.frames is not None
    flow = patient_flow(a.frames.patients, data)
    s["flow"] = {row.step: int(row.n) for row in flow.itertuples()}
    a.tables["flow"] = flow
    a.layouts["flow"] = Layout(
        "Supplementary table. Patient flow (drawn as Figure 1)", {"step": "Step", "n": "Patients"}
    )
    groups = grouping(data, a.by[0]) if a.by else None
    frame, headers = baseline_table(data, groups, tests)
    a.tables["baseline"] = frame
    a.layouts["baseline"] = Layout("", headers, notes.baseline_notes(drug, tests))
    d = s["duration_of_response"]
    a.tables["response"] = pd.DataFrame(
        response_rows(s, data), columns=["characteristic", "value", "ci"]
    )
    a.layouts["response"] = Layout(
        "",
        {"characteristic": "", "value": "n (%) or estimate", "ci": "95% CI"},
        notes.response_notes(a.criteria, drug, d["censored"], d["responders"]),  # type: ignore[arg-type]
    )


def patient_flow(patients: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Screened -> excluded (by reason) -> enrolled -> treated -> evaluable -> responders."""
    excluded = patients[~patients["_enrolled"]]
    rows = [("screened", len(patients))]
    for reason, count in excluded["excluded"].value_counts().sort_index().items():
        rows.append((f"excluded: {reason}", int(count)))
    rows.append(("excluded", len(excluded)))
    rows.append(("enrolled", len(patients) - len(excluded)))
    treated = data["start_date"].notna()
    rows.append(("started the study drug", int(treated.sum())))
    rows.append(("not evaluable (no baseline count)", int((data["best_response"] == "NE").sum())))
    rows.append(("evaluable", int((treated & (data["best_response"] != "NE")).sum())))
    rows.append(("responders (CR or R)", int(data["best_response"].isin(RESPONDED).sum())))
    rows.append(("complete responders (CR)", int((data["best_response"] == "CR").sum())))
    return pd.DataFrame(rows, columns=["step", "n"])


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (None if _is_missing(v) else _plain(v)) for k, v in row.items()})
    return out


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def _comparison_display(frame: pd.DataFrame, tests: bool) -> pd.DataFrame:
    rows = []
    for r in frame.itertuples():
        has_k = r.responders is not None and not pd.isna(r.responders)
        row = {
            "therapy": r.therapy if not r.study else f"{r.therapy} ({r.study})",
            "design": r.design,
            "population": r.population,
            "definition": r.definition,
            "responders": f"{int(r.responders)}/{int(r.n)}" if has_k else f"n = {int(r.n)}",
            "rate": f"{fmt.number(r.percent)} ({fmt.interval(r.ci_low, r.ci_high)})"
            if not _is_missing(r.ci_low)
            else fmt.number(r.percent),
            "ci_method": r.ci_method,
            "citation": r.citation,
        }
        if tests:
            row["p_value"] = "" if _is_missing(r.p_vs_cohort) else fmt.p_value(r.p_vs_cohort, False)
        rows.append(row)
    return pd.DataFrame(rows)


def _comparison_headers(tests: bool) -> dict[str, str]:
    headers = {
        "therapy": "Therapy (study)",
        "design": "Design",
        "population": "Population",
        "definition": "Response definition",
        "responders": "Responders / patients",
        "rate": "Response, % (95% CI)",
        "ci_method": "95% CI method",
        "citation": "Reference",
    }
    if tests:
        headers["p_value"] = "p (Fisher, vs this cohort)"
    return headers


TITLES = {
    "baseline": "Baseline characteristics of the enrolled patients",
    "response": "Response to {drug}",
    "subgroup": "Overall response by subgroup (exploratory)",
    "safety": "Adverse events and bleeding",
    "comparison": "Overall response compared with published second-line therapies",
}


def _number_titles(a: Analysis) -> None:
    """Number the tables in print order (Table 1 baseline, Table 2 response, ...)."""
    number = 0
    ordered = {}
    for key in notes.ORDER:
        if key in a.tables:
            number += 1
            layout = a.layouts[key]
            title = TITLES[key].format(drug=a.study_drug or "the study drug")
            a.layouts[key] = Layout(f"Table {number}. {title}", layout.headers, layout.footnotes)
            ordered[key] = a.tables[key]
    ordered["flow"] = a.tables["flow"]
    a.tables = ordered
