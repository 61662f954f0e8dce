"""Table 1: baseline characteristics, overall and by the first ``--by`` grouping.

Continuous variables: median [IQR] (type 7 quartiles); categorical: n (%) of
patients with a known value; a "missing" line under a variable says how many
patients lack it. Disease duration runs from ``diagnosis_date`` to the study
drug's start; the ITP phase at the start follows the international consensus
(newly diagnosed < 3 months, persistent 3-12 months, chronic > 12 months).
No p-values by default (STROBE: baseline tests answer no question in a cohort);
``tests=True`` adds Mann-Whitney U / Fisher's exact (two groups) or
Kruskal-Wallis / Fisher-Freeman-Halton (more).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from itpcohort.statistics.descriptive import DAYS_PER_MONTH, percent
from itpcohort.statistics.formats import PLATELET_UNIT, number, p_value
from itpcohort.statistics.proportions import fisher_exact, freeman_halton, mann_whitney
from itpcohort.statistics.subgroups import MISSING, Grouping, as_flag, level_label

#: (column, label) of the continuous variables, in print order
NUMBERS = (
    ("age", "Age, years"),
    ("disease_months", "Disease duration, months"),
    ("baseline_platelets", f"Baseline platelet count, {PLATELET_UNIT}"),
    ("acl_igg", "aCL IgG, GPL units"),
    ("acl_igm", "aCL IgM, MPL units"),
    ("ab2gpi_igg", "Anti-\u03b22GPI IgG, units"),
    ("ab2gpi_igm", "Anti-\u03b22GPI IgM, units"),
)
FLAGS = (
    ("sle", "SLE"),
    ("aps", "APS"),
    ("lupus_anticoagulant", "Lupus anticoagulant positive"),
)
PHASES = ("newly diagnosed (<3 months)", "persistent (3\u201312 months)", "chronic (>12 months)")


def derived_columns(data: pd.DataFrame) -> pd.DataFrame:
    """Disease duration (months from diagnosis to the start) and the ITP phase at the start."""
    out = data.copy()
    if "diagnosis_date" in out.columns:
        days = (
            pd.to_datetime(out["start_date"]) - pd.to_datetime(out["diagnosis_date"])
        ).dt.days.astype("Float64")
        out["disease_months"] = days / DAYS_PER_MONTH
        months = out["disease_months"]
        phase = pd.Series(pd.NA, index=out.index, dtype="string")
        phase[months < 3] = PHASES[0]
        phase[(months >= 3) & (months <= 12)] = PHASES[1]
        phase[months > 12] = PHASES[2]
        out["itp_phase"] = phase
    if "sex" in out.columns:
        sex = out["sex"].astype("string").str.strip().str.upper()
        out["female"] = (sex == "F").astype("boolean").where(sex.notna() & (sex != ""))
    return out


def _median_iqr(values: pd.Series) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "\u2013"
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return f"{number(med)} [{number(q1)}, {number(q3)}]"


def _n_percent(flags: pd.Series) -> str:
    known = flags.dropna()
    k = int(known.sum())
    return f"{k} ({number(percent(k, len(known)) or 0.0)}%)" if len(known) else "\u2013"


def baseline_table(
    data: pd.DataFrame, groups: Grouping | None = None, tests: bool = False
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Table 1 and its column headers (with N per column)."""
    data = derived_columns(data)
    parts = _parts(data, groups)
    headers = {"characteristic": "Characteristic"}
    headers.update({key: f"{title} (N = {len(rows)})" for key, (title, rows) in parts.items()})
    lines: list[dict[str, str]] = []
    skip = groups.spec.column if groups else None

    def add(label: str, fmt: Callable[[pd.Series], str], column: pd.Series, test: str) -> None:
        row = {"characteristic": label}
        row.update({key: fmt(column.loc[rows.index]) for key, (_, rows) in parts.items()})
        if tests and groups is not None:
            row["p_value"] = _p(column, groups, test)
        lines.append(row)
        missing = int(column.isna().sum())
        if missing:
            miss = {"characteristic": "  missing, n"}
            miss.update(
                {k: str(int(column.loc[r.index].isna().sum())) for k, (_, r) in parts.items()}
            )
            lines.append(miss)

    for name, label in NUMBERS[:1]:
        if _has(data, name):
            add(f"{label}, median [IQR]", _median_iqr, _numeric(data[name]), "numeric")
    if _has(data, "female"):
        add("Female sex, n (%)", _n_percent, data["female"], "flag")
    for name, label in NUMBERS[1:3]:
        if _has(data, name):
            add(f"{label}, median [IQR]", _median_iqr, _numeric(data[name]), "numeric")
    if _has(data, "itp_phase"):
        _phases(data, add)
    for name, label in FLAGS:
        if _has(data, name) and name != skip:
            add(f"{label}, n (%)", _n_percent, as_flag(data[name]), "flag")
    for name, label in NUMBERS[3:]:
        if _has(data, name) and name != skip:
            add(f"{label}, median [IQR]", _median_iqr, _numeric(data[name]), "numeric")
    if tests and groups is not None:
        headers["p_value"] = "p-value"
    return pd.DataFrame(lines, columns=list(headers)).fillna(""), headers


def _phases(data: pd.DataFrame, add: Callable[..., None]) -> None:
    phase = data["itp_phase"]
    for i, name in enumerate(PHASES):
        flags = (phase == name).astype("boolean").where(phase.notna())
        label = f"ITP phase at the start: {name}, n (%)" if i == 0 else f"  {name}"
        add(label, _n_percent, flags, "flag")


def _has(data: pd.DataFrame, name: str) -> bool:
    return name in data.columns and data[name].notna().any()


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("Float64")


def _parts(data: pd.DataFrame, groups: Grouping | None) -> dict[str, tuple[str, pd.DataFrame]]:
    parts = {"overall": ("All patients", data)}
    if groups is None:
        return parts
    shown = groups.levels + ([MISSING] if (groups.values == MISSING).any() else [])
    for level in shown:
        title = f"{groups.spec.label}: {level_label(level).lower()}"
        parts[f"group:{level}"] = (title, data[(groups.values == level).to_numpy()])
    return parts


def _p(column: pd.Series, groups: Grouping, kind: str) -> str:
    known = [lv for lv in groups.levels if ((groups.values == lv) & column.notna()).any()]
    samples = [column[(groups.values == lv).to_numpy()].dropna() for lv in known]
    if len(samples) < 2:
        return ""
    if kind == "numeric":
        if len(samples) == 2:
            p = mann_whitney(samples[0].to_numpy(float), samples[1].to_numpy(float)).p_value
        else:
            p = float(stats.kruskal(*[s.to_numpy(float) for s in samples]).pvalue)
    else:
        k = np.array([int(s.astype(bool).sum()) for s in samples])
        n = np.array([len(s) for s in samples])
        if len(samples) == 2:
            p = fisher_exact([[k[0], n[0] - k[0]], [k[1], n[1] - k[1]]])
        else:
            p = freeman_halton(k, n).p_value
    return p_value(p, prefix=False)
