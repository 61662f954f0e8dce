"""Publication figures (matplotlib). Each function returns a Figure; ``save`` writes
PNG and SVG.

- ``flow_diagram``: the STROBE flow (screened -> excluded by reason -> enrolled ->
  evaluable -> responders), drawn as boxes and arrows;
- ``figure1``: the abstract's Figure 1, response category by month (A) and the
  mean platelet count with its standard error by response group (B), with the
  number of patients under each month;
- ``incidence_figure`` / ``km_figure``: Aalen-Johansen cumulative incidence and
  Kaplan-Meier curves with 95% bands, censoring ticks and a "No. at risk" row;
- ``swimmer``: one bar per patient, grouped by best response with group labels;
- ``trajectories``: platelet counts per patient by best response, on a shared
  time axis and a log scale with ticks at 10, 30 and 100 x10^9/L;
- ``forest``: response rate per subgroup with its exact 95% CI.

Bounds, whatever the data (every figure is drawn in time linear in the data):

- a PNG is at most ``MAX_PIXELS`` (3000) pixels wide and high: ``save`` lowers
  the resolution below 200 dpi when a figure would be larger;
- per-patient figures show at most ``MAX_SWIMMER_PATIENTS`` (100) bars and
  ``MAX_TRAJECTORY_PATIENTS`` (60) lines per response group, the first by
  patient ID, and say so in the figure when patients are left out;
- a patient ID is shown with at most ``MAX_LABEL_CHARS`` (24) characters;
- the forest plot shows at most ``MAX_FOREST_ROWS`` (40) rows.

Empty inputs (no responder, no platelet count, no treated patient) give a
figure that says "no data" where the curve or the bars would be.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from itpcohort.statistics.descriptive import DAYS_PER_MONTH
from itpcohort.statistics.survival import Curve, at_risk

COLOURS = {"CR": "#1b7837", "R": "#7fbf7b", "NR": "#d6604d", "lost": "#b2abd2", "NE": "#bababa"}
CURVE_COLOUR = "#2166ac"
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
MAX_TRAJECTORY_PATIENTS = 60
MAX_LABEL_CHARS = 24
MAX_FOREST_ROWS = 40
PLATELET_TICKS = (1, 3, 10, 30, 100, 300, 1000)
UNIT = "\u00d710$^9$/L"


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


# --- the flow diagram --------------------------------------------------------------------


def _box(
    ax: plt.Axes, x: float, y: float, text: str, width: float = 0.34, left: bool = False
) -> None:
    """A box centred at (x, y) around ``text`` (centred, or left-aligned when ``left``)."""
    lines = text.count("\n") + 1
    height = 0.03 + 0.034 * lines
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.004",
            fc="white",
            ec="#333333",
            lw=0.8,
        )
    )
    if left:
        ax.text(x - width / 2 + 0.015, y, text, ha="left", va="center", fontsize=7.5)
    else:
        ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", end, start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 0.8})


def _plain(text: str) -> str:
    return (
        text.replace(">=", "\u2265").replace("<=", "\u2264").replace("x10^9/L", "\u00d710\u2079/L")
    )


def flow_diagram(flow: dict[str, int]) -> plt.Figure:
    """STROBE flow: screened -> excluded (by reason) -> enrolled -> evaluable -> responders."""
    reasons = [
        (k.removeprefix("excluded: "), v) for k, v in flow.items() if k.startswith("excluded: ")
    ]
    shown = reasons[:8]
    if len(reasons) > len(shown):
        shown.append((f"{len(reasons) - len(shown)} other reasons", sum(v for _, v in reasons[8:])))
    fig, ax = plt.subplots(figsize=(8, 5.6))
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.set_axis_off()
    trunk, side = 0.2, 0.69
    steps = [
        (0.93, f"Screened\nn = {flow.get('screened', 0)}"),
        (0.66, f"Enrolled\nn = {flow.get('enrolled', 0)}"),
        (0.50, f"Started the study drug\nn = {flow.get('started the study drug', 0)}"),
        (0.30, f"Evaluable for response\nn = {flow.get('evaluable', 0)}"),
        (
            0.09,
            f"Responders (CR or R)\nn = {flow.get('responders (CR or R)', 0)}\n"
            f"of whom CR, n = {flow.get('complete responders (CR)', 0)}",
        ),
    ]
    for (y0, t0), (y1, t1) in itertools.pairwise(steps):
        _arrow(
            ax,
            (trunk, y0 - 0.015 - 0.017 * (t0.count("\n") + 1)),
            (trunk, y1 + 0.017 + 0.017 * (t1.count("\n") + 1)),
        )
    for y, text in steps:
        _box(ax, trunk, y, text)
    excluded = "\n".join(
        textwrap.fill(f"{_plain(r)}: {n}", 62, subsequent_indent="   ") for r, n in shown
    )
    _box(
        ax, side, 0.795, f"Excluded, n = {flow.get('excluded', 0)}\n{excluded}".rstrip(), 0.6, True
    )
    _arrow(ax, (trunk, 0.795), (side - 0.3, 0.795))
    ne = flow.get("not evaluable (no baseline count)", 0)
    _box(ax, side, 0.40, f"Not evaluable: no baseline count\nn = {ne}", 0.6, True)
    _arrow(ax, (trunk, 0.40), (side - 0.3, 0.40))
    ax.set_title("Patient flow", loc="left")
    return fig


# --- the abstract's Figure 1 -------------------------------------------------------------


def status_by_month(endpoints: pd.DataFrame, months: int) -> pd.DataFrame:
    """Share of patients in each response state at each month of follow-up (percent).

    At month m (day m x 30.4375 after the start) a patient still on the study drug
    is CR or R when that response was achieved and not yet lost, "lost" after a
    loss, otherwise NR (NE patients are shown as NE). Vectorised: patients x months.
    """
    e = endpoints[endpoints["treatment_days"].notna()]
    start = pd.to_datetime(e["start_date"])

    def days(column: str) -> np.ndarray:
        return (pd.to_datetime(e[column]) - start).dt.days.to_numpy(float)  # NaN when missing

    on = e["treatment_days"].to_numpy(float)
    ne = (e["best_response"] == "NE").to_numpy()
    loss, cr, resp = days("loss_date"), days("cr_date"), days("response_date")
    grid = np.arange(months + 1) * DAYS_PER_MONTH
    followed = grid[None, :] <= on[:, None]
    with np.errstate(invalid="ignore"):
        lost = loss[:, None] <= grid[None, :]
        in_cr = ~lost & (cr[:, None] <= grid[None, :])
        in_r = ~lost & ~in_cr & (resp[:, None] <= grid[None, :])
    state = {
        "NE": followed & ne[:, None],
        "lost": followed & ~ne[:, None] & lost,
        "CR": followed & ~ne[:, None] & in_cr,
        "R": followed & ~ne[:, None] & in_r,
    }
    state["NR"] = followed & ~ne[:, None] & ~lost & ~in_cr & ~in_r
    counts = {k: v.sum(axis=0) for k, v in state.items()}
    total = followed.sum(axis=0)
    frame = pd.DataFrame({"month": np.arange(months + 1), "patients": total})
    for key in ("CR", "R", "NR", "lost", "NE"):
        with np.errstate(invalid="ignore", divide="ignore"):
            frame[key] = np.where(total > 0, 100 * counts[key] / np.maximum(total, 1), np.nan)
    return frame


MIN_PATIENTS = 3
_NO_LABS = pd.DataFrame({"patient_id": [], "date": [], "value": []})


def platelets_by_month(
    labs: pd.DataFrame, endpoints: pd.DataFrame, months: int, min_patients: int = MIN_PATIENTS
) -> pd.DataFrame:
    """Mean platelet count, its standard error and n per month and best-response group.

    ``labs`` has ``patient_id``, ``date``, ``value`` (and ``test``: platelet rows are
    kept). Each patient contributes the mean of their counts in that month;
    months with fewer than ``min_patients`` patients in a group are left out.
    """
    rows = labs[labs["test"] == "platelets"] if "test" in labs.columns else labs
    plt_ = rows[["patient_id", "date", "value"]].merge(
        endpoints[["patient_id", "start_date", "best_response"]], on="patient_id"
    )
    days = (pd.to_datetime(plt_["date"]) - pd.to_datetime(plt_["start_date"])).dt.days
    plt_ = plt_.assign(month=np.round(days / DAYS_PER_MONTH).astype(int))
    plt_ = plt_[(plt_["month"] >= 0) & (plt_["month"] <= months)]
    per_patient = plt_.groupby(["best_response", "month", "patient_id"])["value"].mean()
    grouped = per_patient.groupby(["best_response", "month"])
    out = pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem(), "n": grouped.size()})
    return out[out["n"] >= min_patients].reset_index()


def _n_row(ax: plt.Axes, months: np.ndarray, counts: np.ndarray, label: str, y: float) -> None:
    ax.text(-0.01, y, label, transform=ax.transAxes, ha="right", va="top", fontsize=6.5)
    step = max(1, int(np.ceil(len(months) / 13)))
    for m, n in zip(months[::step], counts[::step], strict=True):
        ax.annotate(
            f"{int(n)}",
            (m, y),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=6.5,
            annotation_clip=False,
        )


def figure1(
    endpoints: pd.DataFrame,
    labs: pd.DataFrame | None = None,
    months: int = 24,
    means: pd.DataFrame | None = None,
) -> plt.Figure:
    """The abstract's Figure 1: response categories by month (stacked %) and mean platelets (SE).

    ``means`` (as :func:`platelets_by_month` returns them, e.g. computed by the
    engine for a large cohort) replaces ``labs``.
    """
    shares = status_by_month(endpoints, months)
    if means is None:
        means = platelets_by_month(labs if labs is not None else _NO_LABS, endpoints, months)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.4))
    _figure1_a(a, shares)
    _figure1_b(b, means)
    fig.tight_layout()
    fig.subplots_adjust(bottom=0.34)
    return fig


def _figure1_a(a: plt.Axes, shares: pd.DataFrame) -> None:
    bottom = np.zeros(len(shares))
    labels = (("CR", "CR"), ("R", "R"), ("lost", "lost response"), ("NR", "NR"), ("NE", "NE"))
    for key, label in labels:
        values = shares[key].fillna(0).to_numpy()
        if values.any():
            a.bar(
                shares["month"], values, bottom=bottom, color=COLOURS[key], label=label, width=0.85
            )
            bottom += values
    a.set(xlabel="Months after the start of treatment", ylabel="Patients (%)", ylim=(0, 100))
    a.set_title("A. Response category over follow-up", loc="left")
    if bottom.any():
        a.legend(
            frameon=False, fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.36)
        )
        _n_row(a, shares["month"].to_numpy(), shares["patients"].to_numpy(), "n", -0.16)
    else:
        _note(a, "No data: no patient on the study drug")


def _figure1_b(b: plt.Axes, means: pd.DataFrame) -> None:
    rows = 0
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
            _n_row(b, g["month"].to_numpy(), g["n"].to_numpy(), f"n {group}", -0.16 - 0.07 * rows)
            rows += 1
    if not rows:
        _note(b, f"No data: no group with counts of {MIN_PATIENTS} patients in a month")
    b.axhline(100, color="grey", lw=0.6, ls="--")
    b.axhline(30, color="grey", lw=0.6, ls=":")
    b.set(xlabel="Months after the start of treatment", ylabel=f"Platelets, {UNIT} (mean, SE)")
    b.set_title("B. Mean platelet count by response group", loc="left")
    if rows:
        b.legend(frameon=False, fontsize=7)


# --- time-to-event curves ----------------------------------------------------------------


def _month_ticks(last_month: float) -> np.ndarray:
    step = 1 if last_month <= 6 else 3 if last_month <= 18 else 6 if last_month <= 48 else 12
    return np.arange(0, last_month + step * 0.5, step)


def _step_curve(ax: plt.Axes, curve: Curve, colour: str, label: str, band: bool = True) -> None:
    start = 1.0 if curve.kind == "survival" else 0.0
    x = np.concatenate([[0.0], curve.time / DAYS_PER_MONTH])
    y = np.concatenate([[start], curve.estimate])
    ax.step(x, y, where="post", color=colour, lw=1.4, label=label)
    if band:
        low = np.concatenate(
            [[start], np.where(np.isnan(curve.lower), curve.estimate, curve.lower)]
        )
        high = np.concatenate(
            [[start], np.where(np.isnan(curve.upper), curve.estimate, curve.upper)]
        )
        ax.fill_between(x, low, high, step="post", color=colour, alpha=0.15, lw=0, label="95% CI")
    censored = curve.n_censor > 0
    if censored.any():
        ax.plot(
            curve.time[censored] / DAYS_PER_MONTH,
            curve.estimate[censored],
            ls="none",
            marker="|",
            ms=6,
            mew=1,
            color=colour,
            label="censored",
        )


def _at_risk_row(ax: plt.Axes, curve: Curve, ticks: np.ndarray) -> None:
    counts = at_risk(curve, list(ticks * DAYS_PER_MONTH))
    ax.text(-0.02, -0.21, "No. at risk", transform=ax.transAxes, ha="right", va="top", fontsize=7.5)
    for t, n in zip(ticks, counts, strict=True):
        ax.annotate(
            f"{n}",
            (t, -0.21),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=7.5,
            annotation_clip=False,
        )


def _curve_axes(curve: Curve, title: str, xlabel: str, ylabel: str) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    last = float(curve.time[-1]) / DAYS_PER_MONTH if curve.n else 1.0
    ticks = _month_ticks(last)
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set(xlim=(0, max(last, ticks[-1]) * 1.01), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
    ax.set_yticks(np.linspace(0, 1, 6), [f"{v:.0f}" for v in np.linspace(0, 100, 6)])
    ax.set_title(title, loc="left")
    _at_risk_row(ax, curve, ticks)
    return fig, ax


def incidence_figure(curve: Curve, title: str = "Time to response") -> plt.Figure:
    """Aalen-Johansen cumulative incidence of response, the competing event, No. at risk."""
    if curve.empty:
        return no_data(title, "No data: no evaluable patient")
    fig, ax = _curve_axes(
        curve, title, "Months after the start of treatment", "Cumulative incidence (%)"
    )
    _step_curve(ax, curve, CURVE_COLOUR, "response (Aalen-Johansen)")
    if curve.other is not None and curve.competing:
        x = np.concatenate([[0.0], curve.time / DAYS_PER_MONTH])
        ax.step(
            x,
            np.concatenate([[0.0], curve.other]),
            where="post",
            color="#b2182b",
            lw=1,
            ls="--",
            label="stopped without response (competing)",
        )
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.subplots_adjust(bottom=0.22)
    return fig


def km_figure(
    curve: Curve,
    title: str = "Duration of response",
    xlabel: str = "Months after response",
    ylabel: str = "Remaining in response (%)",
) -> plt.Figure:
    """A Kaplan-Meier curve with its 95% band, censoring ticks and numbers at risk."""
    if curve.empty:
        return no_data(title, "No data: no patient to estimate this curve from")
    fig, ax = _curve_axes(curve, title, xlabel, ylabel)
    _step_curve(ax, curve, CURVE_COLOUR, "Kaplan-Meier")
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.subplots_adjust(bottom=0.22)
    return fig


# --- the swimmer plot --------------------------------------------------------------------

GROUP_ORDER = {"CR": 0, "R": 1, "NR": 2, "NE": 3}


def _swimmer_legend() -> tuple[list[Any], list[str]]:
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
        "bleeding (WHO \u2265 2)",
        "adverse event",
    ]
    return handles, labels


def swimmer_patients(
    endpoints: pd.DataFrame, limit: int = MAX_SWIMMER_PATIENTS
) -> tuple[pd.DataFrame, int]:
    """The treated patients drawn (the first ``limit`` by patient ID), in drawing order
    (best response CR, R, NR, NE, then months on treatment); and how many were treated."""
    e = endpoints[endpoints["start_date"].notna()]
    shown = e.sort_values("patient_id", kind="stable").head(limit).copy()
    shown["months"] = shown["treatment_days"].astype(float) / DAYS_PER_MONTH
    shown["group"] = shown["best_response"].map(GROUP_ORDER).fillna(4)
    shown = shown.sort_values(["group", "months"], ascending=[True, False], kind="stable")
    return shown.reset_index(drop=True), len(e)


def _by_patient(frame: pd.DataFrame, ids: pd.Series) -> dict[object, pd.DataFrame]:
    """The rows of ``frame`` per patient among ``ids``, grouped in one pass."""
    rows = frame[frame["patient_id"].isin(set(ids))]
    return {pid: group for pid, group in rows.groupby("patient_id", sort=False)}


def _months(dates: pd.Series | list, start: pd.Timestamp) -> np.ndarray:
    days = (pd.to_datetime(pd.Series(dates)) - start).dt.days.to_numpy(dtype=float)
    return days / DAYS_PER_MONTH


class _Shapes:
    """Bars and markers of the swimmer plot, collected per style and drawn once each."""

    BARS: ClassVar[dict[str, str]] = {"full": "#4393c3", "taper": "#92c5de", "off": "#d9d9d9"}
    MARKS: ClassVar[dict[str, tuple[str, str, int]]] = {
        "response_date": ("^", "#1b7837", 5),
        "cr_date": ("*", "#00441b", 6),
        "loss_date": ("X", "#b2182b", 5),
        "bleeding": ("o", "red", 3),
        "adverse_event": ("D", "#762a83", 3),
    }

    def __init__(self) -> None:
        self.bars: dict[str, list[tuple[float, float, float]]] = {k: [] for k in self.BARS}
        self.marks: dict[str, list[tuple[float, float]]] = {k: [] for k in self.MARKS}

    def draw(self, ax: plt.Axes) -> None:
        for kind, bars in self.bars.items():
            if bars:
                y, left, width = zip(*bars, strict=True)
                ax.barh(y, width, left=left, color=self.BARS[kind], height=0.7, lw=0)
        for kind, points in self.marks.items():
            if points:
                marker, colour, size = self.MARKS[kind]
                x, y = zip(*points, strict=True)
                ax.plot(x, y, ls="none", marker=marker, color=colour, ms=size)


def _swimmer_row(
    shapes: _Shapes,
    y: int,
    row: Any,
    periods: pd.DataFrame | None,
    last_contact: object,
    events: tuple[pd.DataFrame | None, pd.DataFrame | None],
) -> None:
    """One patient's bar (study-drug periods, then off treatment) and event markers."""
    start = row.start_date
    days_on = row.treatment_days
    for p in () if periods is None else periods.itertuples():
        s = (pd.Timestamp(p.start_date) - start).days / DAYS_PER_MONTH
        stop = (pd.Timestamp(p.end_date) - start).days if pd.notna(p.end_date) else days_on
        kind = "full" if p.phase == "full" else "taper"
        shapes.bars[kind].append((y, s, stop / DAYS_PER_MONTH - s))
    end = row.end_date
    if pd.notna(end) and last_contact is not None and pd.notna(last_contact):
        off = (pd.Timestamp(last_contact) - end).days / DAYS_PER_MONTH
        if off > 0:
            shapes.bars["off"].append((y, days_on / DAYS_PER_MONTH, off))
    for col in ("response_date", "cr_date", "loss_date"):
        value = getattr(row, col)
        if pd.notna(value):
            shapes.marks[col].append(((value - start).days / DAYS_PER_MONTH, y))
    bleeds, aes = events
    if bleeds is not None:
        shapes.marks["bleeding"] += [(x, y) for x in _months(bleeds["date"], start)]
    if aes is not None:
        shapes.marks["adverse_event"] += [(x, y) for x in _months(aes["onset_date"], start)]


def _group_labels(ax: plt.Axes, e: pd.DataFrame) -> None:
    """A bracket label per best-response group at the left, a line between groups."""
    for group, rows in e.groupby("best_response", sort=False):
        top, bottom = rows.index.min(), rows.index.max()
        ax.annotate(
            f"{group} (n = {len(rows)})",
            (-0.13, (top + bottom) / 2),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="center",
            fontsize=8,
            fontweight="bold",
            color=COLOURS.get(str(group), "#333"),
            annotation_clip=False,
        )
        if top > 0:
            ax.axhline(top - 0.5, color="#999999", lw=0.5)


def swimmer(
    endpoints: pd.DataFrame,
    treatments: pd.DataFrame,
    bleeding: pd.DataFrame,
    adverse_events: pd.DataFrame,
    drug: str,
    follow_up: pd.Series | None = None,
) -> plt.Figure:
    """A bar per patient over full dose, taper and off treatment, with event markers,
    grouped by best response.

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
    shown = follow_up[follow_up.index.isin(e["patient_id"])] if follow_up is not None else None
    contacts = {} if shown is None else shown.to_dict()
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.14 * len(e) + 1.4)))
    shapes = _Shapes()
    for y, row in enumerate(e.itertuples()):
        pid = row.patient_id
        _swimmer_row(
            shapes, y, row, periods.get(pid), contacts.get(pid), (bleeds.get(pid), aes.get(pid))
        )
    shapes.draw(ax)
    ax.set_yticks(range(len(e)), [short_label(p) for p in e["patient_id"]], fontsize=6)
    ax.set_ylim(len(e) - 0.5, -0.5)
    ax.set_xlabel("Months after the start of treatment")
    _group_labels(ax, e)
    handles, labels = _swimmer_legend()
    ax.legend(
        handles,
        labels,
        frameon=False,
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.7 / max(3.0, 0.14 * len(e) + 1.4)),
        ncols=4,
    )
    if treated > len(e):
        title += f" (the first {len(e)} of {treated} patients by patient ID)"
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


# --- platelet trajectories ---------------------------------------------------------------


def trajectory_patients(
    endpoints: pd.DataFrame, limit: int = MAX_TRAJECTORY_PATIENTS
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The patients drawn per best-response group (the first ``limit`` by ID) and group sizes."""
    e = endpoints[endpoints["start_date"].notna()].sort_values("patient_id", kind="stable")
    sizes = e["best_response"].value_counts().to_dict()
    return e.groupby("best_response", sort=False).head(limit), sizes


def trajectories(labs: pd.DataFrame, endpoints: pd.DataFrame) -> plt.Figure:
    """Platelet counts over time, a line per patient, a panel per best response (log scale)."""
    shown, sizes = trajectory_patients(endpoints)
    rows = labs[labs["test"] == "platelets"] if "test" in labs.columns else labs
    rows = rows[rows["patient_id"].isin(set(shown["patient_id"]))]
    plt_ = rows[["patient_id", "date", "value"]].merge(
        shown[["patient_id", "start_date", "best_response"]], on="patient_id"
    )
    plt_ = plt_.assign(
        months=(pd.to_datetime(plt_["date"]) - pd.to_datetime(plt_["start_date"])).dt.days
        / DAYS_PER_MONTH
    ).sort_values(["patient_id", "date"])
    groups = [g for g in ("CR", "R", "NR", "NE") if (plt_["best_response"] == g).any()]
    fig, axes = plt.subplots(
        1,
        len(groups) or 1,
        figsize=(3.2 * max(1, len(groups)), 3.4),
        sharey=True,
        sharex=True,
        squeeze=False,
    )
    for ax, group in zip(axes[0], groups, strict=False):
        _trajectory_panel(ax, plt_[plt_["best_response"] == group], group, sizes.get(group, 0))
    axes[0][0].set_ylabel(f"Platelets, {UNIT} (log scale)")
    if not groups:
        _say_no_data(axes[0][0], "No data: no platelet count of a treated patient")
        axes[0][0].set_title("Platelet counts per patient")
    fig.tight_layout()
    return fig


def _trajectory_panel(ax: plt.Axes, rows: pd.DataFrame, group: str, size: int) -> None:
    drawn = rows["patient_id"].nunique()
    for _, one in rows.groupby("patient_id", sort=False):
        ax.plot(one["months"], one["value"].clip(lower=1), color=COLOURS[group], lw=0.6, alpha=0.6)
    ax.set_yscale("log")
    ax.set_yticks(PLATELET_TICKS, [str(t) for t in PLATELET_TICKS])
    ax.minorticks_off()
    ax.axhline(100, color="grey", lw=0.6, ls="--")
    ax.axhline(30, color="grey", lw=0.6, ls=":")
    ax.axhline(10, color="grey", lw=0.4, ls=":")
    title = f"Best response {group} (n = {size})"
    if drawn < size:
        title += f"\nfirst {drawn} by patient ID"
    ax.set_title(title, fontsize=8.5)
    ax.set_xlabel("Months after the start")


# --- the forest plot ---------------------------------------------------------------------


def forest(subgroups: dict[str, dict[str, Any]], overall: float | None) -> plt.Figure:
    """Response rate (exact 95% CI) per subgroup, with n/N and the risk difference."""
    rows: list[tuple[str, dict[str, Any] | None]] = []
    for result in subgroups.values():
        rows.append((result["label"], None))
        rows += [(f"   {g['label']}", g) for g in result["groups"].values()]
    title = "Overall response by subgroup (exploratory)"
    if not rows:
        return no_data(title, "No subgroups: name a patients column to group by")
    cut = len(rows) > MAX_FOREST_ROWS
    rows = rows[:MAX_FOREST_ROWS]
    fig, ax = plt.subplots(figsize=(8.2, 0.32 * len(rows) + 1.6))
    for y, (label, g) in enumerate(rows):
        bold = g is None
        ax.text(
            -0.02,
            y,
            label,
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
            fontweight="bold" if bold else "normal",
        )
        if g is None or not g["of"]:
            continue
        ax.plot([g["ci_low"], g["ci_high"]], [y, y], color="#333333", lw=1)
        ax.plot(g["percent"], y, "s", color=CURVE_COLOUR, ms=4 + 4 * min(1, g["of"] / 50))
        ax.text(
            1.02,
            y,
            f"{g['n']}/{g['of']}",
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            va="center",
        )
    if overall is not None:
        ax.axvline(overall, color="#999999", lw=0.8, ls="--", label=f"all patients {overall:.1f}%")
        ax.legend(frameon=False, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    ax.text(1.02, -1, "n/N", transform=ax.get_yaxis_transform(), fontsize=8, fontweight="bold")
    ax.set(xlim=(0, 100), ylim=(len(rows) - 0.5, -1.5), xlabel="Overall response, % (exact 95% CI)")
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_title(title + (f" (first {MAX_FOREST_ROWS} rows)" if cut else ""), loc="left")
    fig.tight_layout()
    return fig
