"""Publication figures (matplotlib): the abstract's Figure 1, Kaplan-Meier curves,
a swimmer plot and platelet trajectories. Each returns a Figure; ``save`` writes
PNG and SVG.

Bounds, whatever the data:

- a PNG is at most ``MAX_PIXELS`` (3000) pixels wide and high: ``save`` lowers
  the resolution below 200 dpi when a figure would be larger;
- the swimmer plot (one bar per patient) shows at most ``MAX_SWIMMER_PATIENTS``
  (100) patients, the first by patient ID, and says so in the figure when
  patients are left out;
- a patient ID is shown with at most ``MAX_LABEL_CHARS`` (24) characters, a
  longer one cut with an ellipsis.

Empty inputs (no responder, no platelet count, no treated patient) give a
figure that says "no data" where the curve or the bars would be.
"""

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


PNG_DPI = 200
MAX_PIXELS = 3000
MAX_SWIMMER_PATIENTS = 100
MAX_LABEL_CHARS = 24


def short_label(text: object, limit: int = MAX_LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def png_dpi(fig: plt.Figure, max_pixels: int = MAX_PIXELS) -> float:
    """200 dpi, or less so that the saved (tight) PNG is at most ``max_pixels`` each way."""
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    pad = 2 * float(plt.rcParams["savefig.pad_inches"])
    largest = max(box.width + pad, box.height + pad)
    return min(float(PNG_DPI), (max_pixels - 2) / largest)


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """Write ``name``.png (200 dpi, less for a very large figure) and ``name``.svg; close it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    fig.savefig(paths[0], dpi=png_dpi(fig), bbox_inches="tight")
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


MIN_PATIENTS = 3


def platelets_by_month(
    labs: pd.DataFrame, endpoints: pd.DataFrame, months: int, min_patients: int = MIN_PATIENTS
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
    if bottom.any():
        a.legend(frameon=False, fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    else:
        _note(a, "No data: no patient on the study drug")
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
    if not b.get_legend_handles_labels()[0]:
        _note(b, f"No data: no group with counts of {MIN_PATIENTS} patients in a month")
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
    fitter = curve.fitter
    if fitter is None:
        return no_data(curve.name.capitalize(), "No data: no patient to estimate this curve from")
    fig, ax = plt.subplots(figsize=(6, 4.2))
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


def no_data(title: str, message: str, figsize: tuple[float, float] = (6, 3)) -> plt.Figure:
    """A figure with a title and a message where the data would be."""
    fig, ax = plt.subplots(figsize=figsize)
    _say_no_data(ax, message)
    ax.set_title(title)
    return fig


def _say_no_data(ax: plt.Axes, message: str) -> None:
    ax.set_axis_off()
    _note(ax, message)


def _note(ax: plt.Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")


def _swimmer_legend() -> tuple[list[plt.Artist], list[str]]:
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
    labels = [
        "full dose",
        "taper",
        "off treatment",
        "response",
        "CR",
        "loss",
        "bleeding (WHO >= 2)",
        "side effect",
    ]
    return handles, labels


ENDPOINT_MARKS = (
    ("response_date", "^", "#1b7837"),
    ("cr_date", "*", "#00441b"),
    ("loss_date", "X", "#b2182b"),
)


def swimmer_patients(
    endpoints: pd.DataFrame, limit: int = MAX_SWIMMER_PATIENTS
) -> tuple[pd.DataFrame, int]:
    """The treated patients drawn (the first ``limit`` by patient ID), in drawing order
    (best response, then months on treatment); and how many treated patients there are."""
    e = endpoints[endpoints["start_date"].notna()]
    shown = e.sort_values("patient_id", kind="stable").head(limit).copy()
    shown["months"] = shown["treatment_days"].astype(float) / DAYS_PER_MONTH
    shown = shown.sort_values(["best_response", "months"]).reset_index(drop=True)
    return shown, len(e)


def _by_patient(frame: pd.DataFrame, ids: pd.Series) -> dict[object, pd.DataFrame]:
    """The rows of ``frame`` per patient among ``ids``, grouped in one pass."""
    rows = frame[frame["patient_id"].isin(set(ids))]
    return {pid: group for pid, group in rows.groupby("patient_id", sort=False)}


def _months(dates: pd.Series | list, start: pd.Timestamp) -> np.ndarray:
    days = (pd.to_datetime(pd.Series(dates)) - start).dt.days.to_numpy(dtype=float)
    return days / DAYS_PER_MONTH


def _swimmer_row(
    ax: plt.Axes,
    y: int,
    row: object,
    periods: pd.DataFrame | None,
    last_contact: object,
    events: tuple[pd.DataFrame | None, pd.DataFrame | None],
) -> None:
    """One patient's bar (study-drug periods, then off treatment) and event markers."""
    start = row.start_date  # type: ignore[attr-defined]
    days_on = row.treatment_days  # type: ignore[attr-defined]
    for p in () if periods is None else periods.itertuples():
        s = (pd.Timestamp(p.start_date) - start).days / DAYS_PER_MONTH
        stop = (pd.Timestamp(p.end_date) - start).days if pd.notna(p.end_date) else days_on
        colour = "#4393c3" if p.phase == "full" else "#92c5de"
        ax.barh(y, stop / DAYS_PER_MONTH - s, left=s, color=colour, height=0.7, lw=0)
    end = row.end_date  # type: ignore[attr-defined]
    if pd.notna(end) and last_contact is not None and pd.notna(last_contact):
        off = (pd.Timestamp(last_contact) - end).days / DAYS_PER_MONTH
        if off > 0:
            left = days_on / DAYS_PER_MONTH
            ax.barh(y, off, left=left, color="#d9d9d9", height=0.7, lw=0)
    for col, marker, colour in ENDPOINT_MARKS:
        value = getattr(row, col)
        if pd.notna(value):
            x = (value - start).days / DAYS_PER_MONTH
            ax.plot(x, y, marker=marker, color=colour, ms=5, ls="none")
    bleeds, aes = events
    if bleeds is not None:
        for x in _months(bleeds["date"], start):
            ax.plot(x, y, "o", color="red", ms=3)
    if aes is not None:
        for x in _months(aes["onset_date"], start):
            ax.plot(x, y, "D", color="#762a83", ms=3)


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
    At most ``MAX_SWIMMER_PATIENTS`` patients are drawn (the first by patient
    ID; the figure says so when others are left out).
    """
    e, treated = swimmer_patients(endpoints)
    title = "Treatment course per patient"
    if e.empty:
        return no_data(title, "No data: no patient started the study drug")
    study = treatments[(treatments["role"] == "study") & (treatments["drug"] == drug)]
    periods = _by_patient(study, e["patient_id"])
    bleeds = _by_patient(bleeding[bleeding["who_grade"] >= 2], e["patient_id"])
    aes = _by_patient(adverse_events, e["patient_id"])
    contacts = follow_up.to_dict() if follow_up is not None else {}
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.12 * len(e) + 1)))
    for y, row in enumerate(e.itertuples()):
        pid = row.patient_id
        events = (bleeds.get(pid), aes.get(pid))
        _swimmer_row(ax, y, row, periods.get(pid), contacts.get(pid), events)
    ax.set_yticks(range(len(e)), [short_label(p) for p in e["patient_id"]], fontsize=5)
    ax.set_xlabel("Months after the start of treatment")
    handles, labels = _swimmer_legend()
    ax.legend(handles, labels, frameon=False, fontsize=6, loc="lower right")
    if treated > len(e):
        title += f" (the first {len(e)} of {treated} patients by patient ID)"
    ax.set_title(title)
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
    if not groups:
        _say_no_data(axes[0][0], "No data: no platelet count of a treated patient")
        axes[0][0].set_title("Platelet counts per patient")
    fig.tight_layout()
    return fig
