"""The whole analysis of a cohort: flow, baseline, response, subgroups, safety, comparison.

Reads only the cohort (through :class:`itpcohort.Cohort`) and its endpoints
table; returns tables (pandas DataFrames) and the ``summary.json`` dictionary
whose keys are documented in ``docs/summary-json.md``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from itpcohort.cohort import Cohort
from itpcohort.cohort.cells import FALSE_WORDS, TRUE_WORDS
from itpcohort.errors import ItpCohortError
from itpcohort.statistics.descriptive import percent, quartiles_months, rate
from itpcohort.statistics.survival import KaplanMeier, response_duration, time_to_response

RESPONDED = ("CR", "R")
BASELINE_NUMBERS = ("age", "acl_igg", "acl_igm", "ab2gpi_igg", "ab2gpi_igm")
BASELINE_FLAGS = ("sle", "aps", "lupus_anticoagulant")


@dataclass
class Analysis:
    """Every table of the report, the Kaplan-Meier fits and the summary dictionary."""

    summary: dict[str, object]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    curves: dict[str, KaplanMeier] = field(default_factory=dict)
    by: str | None = None


def analyse(
    cohort: Cohort,
    endpoints: pd.DataFrame,
    by: str | None = None,
    comparators: str | Path | None = None,
) -> Analysis:
    """Analyse a cohort's endpoints (from :func:`itpcohort.evaluate`)."""
    patients = cohort.patients
    enrolled = patients[patients["_enrolled"]].drop(columns="_enrolled")
    data = endpoints.merge(enrolled, on="patient_id", how="left", suffixes=("", "_patient"))
    responders = data[data["best_response"].isin(RESPONDED)]
    n = len(data)
    overall = rate(len(responders), n)
    cr = rate(int((data["best_response"] == "CR").sum()), n)
    losses = responders[responders["loss_date"].notna()]
    phases = losses["loss_phase"].value_counts()
    sustained = int(data["sustained_off_treatment"].sum())
    ae_patients, stopped = _safety_counts(cohort, data)
    summary: dict[str, object] = {
        "patients_enrolled": n,
        "treatment_months": quartiles_months(data["treatment_days"].dropna()),
        "overall_response": _public_rate(overall),
        "complete_response": _public_rate(cr),
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
        "adverse_effects": {"n": ae_patients, "percent": percent(ae_patients, n)},
        "stopped_for_adverse_effects": {"n": stopped, "percent": percent(stopped, n)},
    }
    analysis = Analysis(summary, by=by)
    analysis.curves = {
        "time_to_response": time_to_response(data),
        "response_duration": response_duration(data),
    }
    summary["kaplan_meier"] = {k: c.as_dict() for k, c in analysis.curves.items()}
    t = analysis.tables
    t["flow"] = _flow(patients)
    t["response"] = _response_table(data, summary, analysis.curves)
    t["baseline"] = _baseline_table(data, by)
    if by is not None:
        t["subgroup"], summary["overall_response_by"] = _subgroup(data, by)
    t["safety"] = _safety_table(cohort, data)
    t["comparison"] = _comparison(overall, comparators)
    summary["flow"] = {row.step: int(row.n) for row in t["flow"].itertuples()}
    return analysis


def _public_rate(r: dict[str, object]) -> dict[str, object]:
    return {k: r[k] for k in ("n", "percent", "ci_low", "ci_high")}


def as_flag(values: pd.Series) -> pd.Series:
    """Booleans from bool columns or yes/no text (covariates are read as text)."""
    if values.dtype == bool or str(values.dtype) == "boolean":
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(TRUE_WORDS)] = True
    out[text.isin(FALSE_WORDS)] = False
    return out


def _flow(patients: pd.DataFrame) -> pd.DataFrame:
    excluded = patients[~patients["_enrolled"]]
    rows = [("screened", len(patients))]
    for reason, count in excluded["excluded"].value_counts().sort_index().items():
        rows.append((f"excluded: {reason}", int(count)))
    rows.append(("excluded", len(excluded)))
    rows.append(("enrolled", len(patients) - len(excluded)))
    return pd.DataFrame(rows, columns=["step", "n"])


def _fmt_rate(r: dict[str, object]) -> str:
    if r.get("percent") is None:
        return f"{r['n']}"
    text = f"{r['n']} ({r['percent']:.1f}%)"
    if r.get("ci_low") is not None:
        text += f" [95% CI {r['ci_low']:.1f}-{r['ci_high']:.1f}]"
    return text


def _fmt_quartiles(q: dict[str, float | None]) -> str:
    if q["median"] is None:
        return "-"
    return f"{q['median']:.1f} ({q['q1']:.1f}, {q['q3']:.1f})"


def _response_table(data: pd.DataFrame, s: dict, curves: dict[str, KaplanMeier]) -> pd.DataFrame:
    n = len(data)
    counts = data["best_response"].value_counts()
    loss = s["loss_of_response"]
    responders = int(data["best_response"].isin(RESPONDED).sum())
    ttr, dor = curves["time_to_response"], curves["response_duration"]
    rows = [
        ("Patients enrolled", f"{n}"),
        ("Treatment duration, months, median (IQR)", _fmt_quartiles(s["treatment_months"])),
        ("Overall response (CR + R)", _fmt_rate(rate(responders, n))),
        ("Complete response (CR)", _fmt_rate(rate(int(counts.get("CR", 0)), n))),
        ("Response (R)", _fmt_rate(rate(int(counts.get("R", 0)), n))),
        ("No response (NR)", _fmt_rate(rate(int(counts.get("NR", 0)), n))),
        ("Not evaluable (NE)", _fmt_rate(rate(int(counts.get("NE", 0)), n))),
        ("Time to response, months, median (IQR)", _fmt_quartiles(s["time_to_response_months"])),
        ("Time to response, Kaplan-Meier median, months (95% CI)", _fmt_km(ttr)),
        (
            "Loss of response, n (% of responders)",
            f"{loss['n']} ({loss['percent'] or 0:.1f}%)" if responders else "-",
        ),
        ("  during full-dose treatment", _of(loss["full"], responders)),
        ("  during tapering", _of(loss["taper"], responders)),
        ("  after stopping", _of(loss["off"], responders)),
        (
            "Duration of response under treatment, months, median (IQR)",
            _fmt_quartiles(s["response_duration_months"]),
        ),
        ("Duration of response, Kaplan-Meier median, months (95% CI)", _fmt_km(dor)),
        (
            "Sustained response after stopping",
            _fmt_rate(
                {
                    "n": s["sustained_off_treatment"]["n"],
                    "percent": s["sustained_off_treatment"]["percent"],
                }
            ),
        ),
    ]
    return pd.DataFrame(rows, columns=["characteristic", "value"])


def _of(k: int, of: int) -> str:
    return f"{k} ({percent(k, of):.1f}%)" if of else "-"


def _fmt_km(curve: KaplanMeier) -> str:
    def m(v: float | None) -> str:
        return "not reached" if v is None else f"{v:.1f}"

    return f"{m(curve.median_months)} ({m(curve.ci_low_months)}-{m(curve.ci_high_months)})"


def _groups(data: pd.DataFrame, by: str) -> pd.Series:
    if by not in data.columns:
        raise ItpCohortError(
            f"cannot group by '{by}': no such column in patients; use one of "
            + ", ".join(c for c in data.columns if not c.startswith("_"))
        )
    flags = as_flag(data[by])
    if flags.notna().sum() == data[by].notna().sum() and data[by].notna().any():
        return flags.map({True: "true", False: "false"}).astype("string")
    return data[by].astype("string")


def _subgroup(data: pd.DataFrame, by: str) -> tuple[pd.DataFrame, dict[str, object]]:
    groups = _groups(data, by)
    responded = data["best_response"].isin(RESPONDED)
    rows, result = [], {}
    table = pd.crosstab(groups, responded).reindex(columns=[True, False], fill_value=0)
    for value, row in table.iterrows():
        of = int(row.sum())
        result[str(value)] = {"n": int(row[True]), "of": of, "percent": percent(int(row[True]), of)}
        rows.append((by, str(value), int(row[True]), of, percent(int(row[True]), of)))
    if table.shape[0] == 2:
        _, p = stats.fisher_exact(table.to_numpy())
        test = "Fisher's exact test"
    elif table.shape[0] > 2:
        p = stats.chi2_contingency(table.to_numpy())[1]
        test = "chi-squared test"
    else:
        p, test = float("nan"), "-"
    p_value = None if np.isnan(p) else round(float(p), 4)
    frame = pd.DataFrame(rows, columns=["column", "value", "responders", "n", "percent"])
    frame["test"] = test
    frame["p_value"] = p_value
    return frame, {by: {**result, "p_value": p_value, "test": test}}


def _baseline_table(data: pd.DataFrame, by: str | None) -> pd.DataFrame:
    groups = _groups(data, by) if by else None
    levels = sorted(groups.dropna().unique()) if groups is not None else []
    rows = []

    def numeric(name: str) -> None:
        if name not in data.columns:
            return
        values = pd.to_numeric(data[name], errors="coerce")

        def fmt(v: pd.Series) -> str:
            v = v.dropna()
            if v.empty:
                return "-"
            q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
            return f"{med:.1f} [{q1:.1f}, {q3:.1f}]"

        row = {"characteristic": f"{name}, median [IQR]", "overall": fmt(values)}
        parts = []
        for level in levels:
            part = values[groups == level]
            row[f"{by} = {level}"] = fmt(part)
            parts.append(part.dropna())
        if len(parts) == 2 and all(len(x) for x in parts):
            row["test"] = "Mann-Whitney U"
            row["p_value"] = round(float(stats.mannwhitneyu(*parts).pvalue), 4)
        rows.append(row)

    def flag(name: str, values: pd.Series, label: str) -> None:
        def fmt(v: pd.Series) -> str:
            known = v.dropna()
            return f"{int(known.sum())} ({percent(int(known.sum()), len(known)) or 0:.1f}%)"

        row = {"characteristic": f"{label}, n (%)", "overall": fmt(values)}
        for level in levels:
            row[f"{by} = {level}"] = fmt(values[groups == level])
        if len(levels) == 2:
            table = pd.crosstab(groups, values).reindex(columns=[True, False], fill_value=0)
            if table.shape == (2, 2):
                row["test"] = "Fisher's exact test"
                row["p_value"] = round(float(stats.fisher_exact(table.to_numpy())[1]), 4)
        rows.append(row)

    if "sex" in data.columns:
        flag("sex", (data["sex"].astype("string").str.upper() == "F").astype("boolean"), "female")
    for name in BASELINE_NUMBERS[:1]:
        numeric(name)
    for name in BASELINE_FLAGS:
        if name in data.columns and name != by:
            flag(name, as_flag(data[name]), name)
    for name in BASELINE_NUMBERS[1:]:
        numeric(name)
    return pd.DataFrame(rows)


def _safety_counts(cohort: Cohort, data: pd.DataFrame) -> tuple[int, int]:
    """Patients with side effects (AEs not marked unrelated) and who stopped for them."""
    ae = cohort.adverse_events
    related = ae[ae["related"].fillna(True).astype(bool)] if len(ae) else ae
    with_ae = set(related["patient_id"]) & set(data["patient_id"])
    stopped = set(related.loc[related["action"] == "discontinued", "patient_id"])
    tr = cohort.treatments
    stopped |= set(
        tr.loc[(tr["role"] == "study") & (tr["stop_reason"] == "adverse_event"), "patient_id"]
    )
    return len(with_ae), len(stopped & set(data["patient_id"]))


def _safety_table(cohort: Cohort, data: pd.DataFrame) -> pd.DataFrame:
    n = len(data)
    ae = cohort.adverse_events
    rows = []
    if len(ae):
        for (term, grade), group in ae.groupby(["term", "grade"], dropna=False):
            k = group["patient_id"].nunique()
            g = "-" if pd.isna(grade) else str(int(grade))
            rows.append(("adverse event", f"{term}, grade {g}", k, percent(k, n)))
    bleeding = cohort.bleeding
    if len(bleeding):
        worst = bleeding.groupby("patient_id")["who_grade"].max()
        for grade, k in worst.value_counts().sort_index().items():
            rows.append(
                ("bleeding (worst WHO grade)", f"grade {int(grade)}", int(k), percent(int(k), n))
            )
    return pd.DataFrame(rows, columns=["category", "item", "patients", "percent"])


def load_comparators(path: str | Path | None = None) -> list[dict[str, object]]:
    """Published comparators (``statistics/comparators.toml`` unless a file is given)."""
    if path is None:
        text = (resources.files("itpcohort.statistics") / "comparators.toml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return list(tomllib.loads(text).get("comparator", []))


def _comparison(overall: dict[str, object], path: str | Path | None) -> pd.DataFrame:
    rows = [
        (
            "this cohort",
            "",
            int(overall["n"]),
            int(overall["of"]),
            overall["percent"],
            overall["ci_low"],
            overall["ci_high"],
            None,
            "",
        )
    ]
    for c in load_comparators(path):
        n = int(c["n"])
        k = int(c["responders"]) if "responders" in c else round(float(c["percent"]) * n / 100)
        r = rate(k, n)
        pct = float(c["percent"]) if "percent" in c else r["percent"]
        table = np.array([[overall["n"], overall["of"] - overall["n"]], [k, n - k]])
        p = round(float(stats.fisher_exact(table)[1]), 4) if overall["of"] else None
        rows.append(
            (
                c["therapy"],
                c.get("study", ""),
                k,
                n,
                pct,
                r["ci_low"],
                r["ci_high"],
                p,
                c.get("citation", ""),
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "therapy",
            "study",
            "responders",
            "n",
            "percent",
            "ci_low",
            "ci_high",
            "p_vs_cohort",
            "citation",
        ],
    )
