"""Safety figures (matplotlib): a laboratory value or the trough by month since the start
(median and interquartile range), and the worst grade of each test on treatment.

Each function returns a Figure and never saves it (``report/figures.py`` has
``save``); an empty input gives a figure that says "no data".
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

GRADE_COLOURS = {1: "#fee391", 2: "#fe9929", 3: "#cc4c02", 4: "#662506"}


def _no_data(ax: Axes, message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def over_time(
    table: pd.DataFrame,
    title: str,
    ylabel: str,
    *,
    band: tuple[float, float] | None = None,
    band_label: str = "",
    min_patients: int | None = None,
    xlabel: str = "Months since the start (0 = baseline)",
) -> Figure:
    """Median (line) and IQR (shaded) by month from :func:`~itpcohort.safety.tables.by_month`;
    ``band`` shades a target range. Patients per month along the top; months with
    fewer than ``min_patients`` patients (default: 15% of the largest month, at
    least 3) are left out of the figure (the table has them)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.set_title(title, loc="left")
    if not table.empty:
        if min_patients is None:
            min_patients = max(3, math.ceil(0.15 * int(table["patients"].max())))
        table = table[table["patients"] >= min_patients]
        ax.set_title(f"months with at least {min_patients} patients", loc="right", fontsize=7)
    if table.empty:
        _no_data(ax)
        return fig
    if band is not None:
        ax.axhspan(*band, color="#d9f0d3", label=band_label or f"{band[0]:g}-{band[1]:g}")
    months = table["month"].to_numpy(float)
    ax.fill_between(months, table["q1"], table["q3"], color="#9ecae1", alpha=0.6, label="IQR")
    ax.plot(months, table["median"], color="#08519c", marker="o", markersize=3, label="median")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(min(0.0, months.min()) - 0.5, months.max() + 0.5)
    top = ax.secondary_xaxis("top")
    top.set_ticks(months[:: max(1, len(months) // 12)])
    top.set_xticklabels(table["patients"].to_numpy()[:: max(1, len(months) // 12)], fontsize=7)
    top.set_xlabel("patients", fontsize=7)
    ax.legend(loc="best", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def worst_grades(worst: pd.DataFrame, leave_out: tuple[str, ...] = ("platelets",)) -> Figure:
    """Stacked bars: patients by worst grade on treatment, per test (``lab_worst_grade``),
    without the tests of the disease itself (``leave_out``)."""
    rows = worst[~worst["test"].isin(["any", *leave_out])]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * max(len(rows), 3) + 1.0))
    ax.set_title("Worst CTCAE v5.0 grade on treatment", loc="left")
    if rows.empty:
        _no_data(ax)
        return fig
    left = np.zeros(len(rows))
    y = np.arange(len(rows))
    for g, colour in GRADE_COLOURS.items():
        counts = rows[f"grade_{g}"].fillna(0).to_numpy(float)
        ax.barh(y, counts, left=left, color=colour, label=f"grade {g}")
        left += counts
    ax.set_yticks(y, rows["term"])
    ax.invert_yaxis()
    ax.set_xlabel("Patients")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
