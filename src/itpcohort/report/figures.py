"""Publication figures (matplotlib): the abstract's Figure 1, Kaplan-Meier curves,
a swimmer plot and platelet trajectories. Each returns a Figure; ``save`` writes
PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines.plotting import add_at_risk_counts

from itpcohort.statistics.descriptive import DAYS_PER_MONTH
from itpcohort.statistics.survival import KaplanMeier

COLOURS = {"CR": "#1b7837", "R": "#7fbf7b", "NR": "#d6604d", "lost": "#b2abd2", "NE": "#bababa"}
plt.rcParams.update(
    {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "itpcohort",
        "figure.dpi": 100,
    }
)


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """Write ``name``.png (200 dpi) and ``name``.svg; close the figure."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


def status_by_month(endpoints: pd.DataFrame, months: int) -> pd.DataFrame:
    """Share of patients in each response state at each month of follow-up (percent).

    At month m (day m x 30.4375 after the start) a patient still followed is CR
    or R when that response was achieved and not yet lost, "lost" after a loss,
    otherwise NR (NE patients are shown as NE).
    """
    rows = []
    for m in range(months + 1):
        day = m * DAYS_PER_MONTH
        counts = dict.fromkeys(("CR", "R", "NR", "lost", "NE"), 0)
        for e in endpoints.itertuples():
            if pd.isna(e.treatment_days) or day > e.treatment_days:
                continue
            if e.best_response == "NE":
                counts["NE"] += 1
                continue
            start = e.start_date
            lost = pd.notna(e.loss_date) and (e.loss_date - start).days <= day
            if lost:
                counts["lost"] += 1
            elif pd.notna(e.cr_date) and (e.cr_date - start).days <= day:
                counts["CR"] += 1
            elif pd.notna(e.response_date) and (e.response_date - start).days <= day:
                counts["R"] += 1
            else:
                counts["NR"] += 1
        total = sum(counts.values())
        rows.append(
            {
                "month": m,
                "patients": total,
                **{k: 100 * v / total if total else np.nan for k, v in counts.items()},
            }
        )
    return pd.DataFrame(rows)


def platelets_by_month(
    labs: pd.DataFrame, endpoints: pd.DataFrame, months: int, min_patients: int = 3
) -> pd.DataFrame:
    """Mean platelet count and its standard error per month and best-response group.

    Each patient contributes the mean of their counts in that month; months with
    fewer than ``min_patients`` patients in a group are left out.
    """
    plt_ = labs[labs["test"] == "platelets"].merge(
        endpoints[["patient_id", "start_date", "best_response"]], on="patient_id"
    )
    days = (pd.to_datetime(plt_["date"]) - pd.to_datetime(plt_["start_date"])).dt.days
    plt_ = plt_.assign(month=np.round(days / DAYS_PER_MONTH).astype(int))
    plt_ = plt_[(plt_["month"] >= 0) & (plt_["month"] <= months)]
    per_patient = plt_.groupby(["best_response", "month", "patient_id"])["value"].mean()
    grouped = per_patient.groupby(["best_response", "month"])
    out = pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem(), "n": grouped.size()})
    return out[out["n"] >= min_patients].reset_index()


def figure1(endpoints: pd.DataFrame, labs: pd.DataFrame, months: int = 24) -> plt.Figure:
    """Figure 1: response categories by month (stacked %) and mean platelets (SE) by group."""
    shares = status_by_month(endpoints, months)
    means = platelets_by_month(labs, endpoints, months)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    bottom = np.zeros(len(shares))
    for key, label in (
        ("CR", "CR"),
        ("R", "R"),
        ("lost", "lost response"),
        ("NR", "NR"),
        ("NE", "NE"),
    ):
        values = shares[key].fillna(0).to_numpy()
        if values.any():
            a.bar(
                shares["month"], values, bottom=bottom, color=COLOURS[key], label=label, width=0.85
            )
            bottom += values
    a.set(
        xlabel="Months of follow-up",
        ylabel="Patients (%)",
        ylim=(0, 100),
        title="A. Response category over follow-up",
    )
    a.legend(frameon=False, fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    for group in ("CR", "R", "NR"):
        g = means[means["best_response"] == group]
        if len(g):
            b.errorbar(
                g["month"],
                g["mean"],
                yerr=g["se"].fillna(0),
                color=COLOURS[group],
                marker="o",
                ms=3,
                capsize=2,
                label=f"best response {group}",
            )
    b.axhline(100, color="grey", lw=0.6, ls="--")
    b.axhline(30, color="grey", lw=0.6, ls=":")
    b.set(
        xlabel="Months after the start of treatment",
        ylabel="Platelets, x10^9/L (mean, SE)",
        title="B. Mean platelet count by response group",
    )
    if b.get_legend_handles_labels()[0]:
        b.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def km_figure(curve: KaplanMeier, *, invert: bool = False, xlabel: str = "Months") -> plt.Figure:
    """A Kaplan-Meier curve (as cumulative incidence when ``invert``) with numbers at risk."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    fitter = curve.fitter
    if invert:
        fitter.plot_cumulative_density(ax=ax, ci_show=True, color="#2166ac")
        ax.set_ylabel("Cumulative proportion responding")
    else:
        fitter.plot_survival_function(ax=ax, ci_show=True, color="#2166ac")
        ax.set_ylabel("Proportion still in response")
    ticks = np.arange(0, (fitter.timeline.max() if len(fitter.timeline) else 1) + 1, 6 * 30.4375)
    ax.set_xticks(ticks, [f"{t / 30.4375:.0f}" for t in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(curve.name.capitalize())
    ax.get_legend().remove() if ax.get_legend() else None
    add_at_risk_counts(fitter, ax=ax, rows_to_show=["At risk"], xticks=ticks)
    fig.tight_layout()
    return fig


def swimmer(
    endpoints: pd.DataFrame,
    treatments: pd.DataFrame,
    bleeding: pd.DataFrame,
    adverse_events: pd.DataFrame,
    drug: str,
    follow_up: pd.Series | None = None,
) -> plt.Figure:
    """A bar per patient over full dose, taper and off treatment, with event markers.

    ``follow_up`` maps patient_id to the last contact (``followup_end_date``);
    the time after the end of treatment up to it is drawn as "off treatment".
    """
    e = endpoints[endpoints["start_date"].notna()].copy()
    e["months"] = e["treatment_days"].astype(float) / DAYS_PER_MONTH
    e = e.sort_values(["best_response", "months"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.12 * len(e) + 1)))
    study = treatments[(treatments["role"] == "study") & (treatments["drug"] == drug)]
    for y, row in enumerate(e.itertuples()):
        start = row.start_date
        for p in study[study["patient_id"] == row.patient_id].itertuples():
            s = (pd.Timestamp(p.start_date) - start).days / DAYS_PER_MONTH
            stop = (
                (pd.Timestamp(p.end_date) - start).days
                if pd.notna(p.end_date)
                else row.treatment_days
            )
            colour = "#4393c3" if p.phase == "full" else "#92c5de"
            ax.barh(y, stop / DAYS_PER_MONTH - s, left=s, color=colour, height=0.7, lw=0)
        last = follow_up.get(row.patient_id) if follow_up is not None else None
        if pd.notna(row.end_date) and last is not None and pd.notna(last):
            off = (pd.Timestamp(last) - row.end_date).days / DAYS_PER_MONTH
            if off > 0:
                ax.barh(
                    y,
                    off,
                    left=row.treatment_days / DAYS_PER_MONTH,
                    color="#d9d9d9",
                    height=0.7,
                    lw=0,
                )
        marks = [
            ("response_date", "^", "#1b7837"),
            ("cr_date", "*", "#00441b"),
            ("loss_date", "X", "#b2182b"),
        ]
        for col, marker, colour in marks:
            value = getattr(row, col)
            if pd.notna(value):
                ax.plot(
                    (value - start).days / DAYS_PER_MONTH,
                    y,
                    marker=marker,
                    color=colour,
                    ms=5,
                    ls="none",
                )
        for date in bleeding.loc[
            (bleeding["patient_id"] == row.patient_id) & (bleeding["who_grade"] >= 2), "date"
        ]:
            ax.plot((pd.Timestamp(date) - start).days / DAYS_PER_MONTH, y, "o", color="red", ms=3)
        for date in adverse_events.loc[
            adverse_events["patient_id"] == row.patient_id, "onset_date"
        ]:
            ax.plot(
                (pd.Timestamp(date) - start).days / DAYS_PER_MONTH, y, "D", color="#762a83", ms=3
            )
    ax.set_yticks(range(len(e)), e["patient_id"], fontsize=5)
    ax.set_xlabel("Months after the start of treatment")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color="#4393c3"),
        plt.Rectangle((0, 0), 1, 1, color="#92c5de"),
        plt.Rectangle((0, 0), 1, 1, color="#d9d9d9"),
        plt.Line2D([], [], marker="^", color="#1b7837", ls="none"),
        plt.Line2D([], [], marker="*", color="#00441b", ls="none"),
        plt.Line2D([], [], marker="X", color="#b2182b", ls="none"),
        plt.Line2D([], [], marker="o", color="red", ls="none"),
        plt.Line2D([], [], marker="D", color="#762a83", ls="none"),
    ]
    ax.legend(
        handles,
        [
            "full dose",
            "taper",
            "off treatment",
            "response",
            "CR",
            "loss",
            "bleeding (WHO >= 2)",
            "side effect",
        ],
        frameon=False,
        fontsize=6,
        loc="lower right",
    )
    ax.set_title("Treatment course per patient")
    fig.tight_layout()
    return fig


def trajectories(labs: pd.DataFrame, endpoints: pd.DataFrame) -> plt.Figure:
    """Platelet counts over time, one line per patient, by best response (log scale)."""
    plt_ = labs[labs["test"] == "platelets"].merge(
        endpoints[["patient_id", "start_date", "best_response"]], on="patient_id"
    )
    plt_ = plt_.assign(
        months=(pd.to_datetime(plt_["date"]) - pd.to_datetime(plt_["start_date"])).dt.days
        / DAYS_PER_MONTH
    ).sort_values("date")
    groups = [g for g in ("CR", "R", "NR", "NE") if (plt_["best_response"] == g).any()]
    fig, axes = plt.subplots(
        1, len(groups) or 1, figsize=(3.2 * max(1, len(groups)), 3.2), sharey=True, squeeze=False
    )
    for ax, group in zip(axes[0], groups, strict=False):
        for _, one in plt_[plt_["best_response"] == group].groupby("patient_id"):
            ax.plot(
                one["months"], one["value"].clip(lower=1), color=COLOURS[group], lw=0.6, alpha=0.6
            )
        ax.set_yscale("log")
        ax.axhline(100, color="grey", lw=0.6, ls="--")
        ax.axhline(30, color="grey", lw=0.6, ls=":")
        ax.set(title=f"Best response {group}", xlabel="Months")
    axes[0][0].set_ylabel("Platelets, x10^9/L")
    fig.tight_layout()
    return fig
