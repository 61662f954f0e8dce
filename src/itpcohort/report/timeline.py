"""One patient's platelet timeline as a figure: what the engine saw and decided, drawn.

:func:`patient_timeline` draws, for one enrolled patient of an
:class:`~itpcohort.pipeline.Evaluation`, in three lanes sharing the time axis
(days since the start of the study drug; calendar dates along the top):

- **treatment**: the study drug's periods by phase (full dose, taper), off
  treatment after its end date, and rescue therapies;
- **platelets**: every count (before the start too), each coloured by the
  engine's level of its day (CR, R, NR; hollow grey when not evaluable), the
  baseline count, the CR and R thresholds of the profile (and ``fold`` x baseline
  when the R rule uses it), the rescue washouts shaded, the confirmation
  windows (from a qualifying count to its confirming count) and the engine's
  events as vertical lines: response achieved, CR, loss, response re-achieved;
- **bleeding and adverse events**: WHO bleeding grade and CTCAE grade as
  markers (bleeding below the profile's counting grade hollow).

Nothing is derived here: the levels, confirmations and events are the
pipeline's own (:func:`~itpcohort.response.explain.explanation_of`), the
thresholds the profile's (``criteria/``). Each drawn element carries a ``gid``
(``event:loss``, ``phase:taper``, ``threshold:cr``, ...) so that tests and the
SVG can find it.

Counts span two or three decades in ITP (5 to 400 x10^9/L); the axis is
logarithmic when they span at least a decade (ticks 1, 3, 10, 30, 100, 300,
1000 and the profile's thresholds; a count below 1 is drawn at 1), linear from
0 otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.criteria import Criteria
from itpcohort.errors import CohortDataError, OutputError
from itpcohort.outputs import atomic_path, check_output
from itpcohort.report.figures import COLOURS, PLATELET_TICKS, UNIT, no_data, png_dpi, short_label
from itpcohort.response.explain import Explanation, explanation_of

if TYPE_CHECKING:
    from itpcohort.pipeline import Evaluation

#: the cohort's tables a timeline reads the patient's rows of
PATIENT_TABLES = ("labs", "bleeding", "adverse_events", "patients")
#: the figure files :func:`write_figure` writes
FIGURE_SUFFIXES = (".svg", ".png")
#: the lowest count a logarithmic axis shows (a count below it is drawn on it)
LOG_FLOOR = 1.0
#: counts spanning at least this ratio (highest / lowest) get a logarithmic axis
LOG_SPAN = 10.0
#: the longest patient ID shown in the title
TITLE_ID_CHARS = 40
PHASE_COLOURS = {"full": "#4393c3", "taper": "#92c5de", "off": "#d9d9d9", "rescue": "#f4a582"}
PHASE_LABELS = {
    "full": "full dose",
    "taper": "taper",
    "off": "off treatment",
    "rescue": "rescue therapy",
}
WASHOUT_COLOUR = "#bdbdbd"
#: the engine's events: colour, line style, label in the legend, short label on the plot
EVENT_STYLE = {
    "response": ("#1b7837", "-", "response achieved", "R"),
    "cr": ("#00441b", "-", "CR achieved", "CR"),
    "loss": ("#b2182b", "-", "loss of response", "loss"),
    "again": ("#5aae61", "--", "response re-achieved", "R again"),
}
LEVEL_COLOURS = {"CR": COLOURS["CR"], "R": COLOURS["R"], "NR": COLOURS["NR"]}
BLEEDING_COLOUR = "#e31a1c"
WINDOW_LABELS = {"response": "response", "cr": "CR", "loss": "loss"}
AE_COLOUR = "#762a83"


@dataclass(frozen=True)
class PatientTimeline:
    """What the figure draws for one patient, all from one evaluation."""

    explanation: Explanation
    study_drug: str
    #: every platelet count of the patient: ``date``, ``value`` (lowest of the day)
    counts: pd.DataFrame
    #: every bleeding event: ``date``, ``who_grade``
    bleeding: pd.DataFrame
    #: every adverse event: ``onset_date``, ``term``, ``grade``
    adverse_events: pd.DataFrame
    #: the patient's last contact (``followup_end_date``), if recorded
    last_contact: dt.date | None = None


def patient_timeline(evaluation: Evaluation, patient_id: str) -> plt.Figure:
    """The platelet timeline of one enrolled patient of ``evaluation`` (a Figure)."""
    return timeline_figure(timeline_of(evaluation, patient_id))


def explain_and_draw(
    cohort: Cohort | str | Path,
    patient_id: str,
    criteria: str | Path | Criteria = "iwg2009",
    *,
    study_drug: str | None = None,
) -> tuple[PatientTimeline, plt.Figure]:
    """One enrolled patient evaluated alone (DuckDB), as ``explain`` does: the timeline
    (with its :class:`Explanation`) and its figure."""
    from itpcohort.pipeline import run

    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    _check_enrolled(cohort, patient_id)
    evaluation = run(cohort, criteria, "duckdb", study_drug=study_drug, patient_ids=[patient_id])
    timeline = timeline_of(evaluation, patient_id)
    return timeline, timeline_figure(timeline)


def write_figure(fig: plt.Figure, path: str | Path, inputs: list[Path] | None = None) -> Path:
    """Write ``fig`` to ``path`` (``.svg`` or ``.png``, by its suffix) atomically; close it."""
    target = check_output(path, inputs or [])
    suffix = target.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        plt.close(fig)
        raise OutputError(f"'{target}': name a .svg or .png file for the figure")
    try:
        with atomic_path(target) as temporary:
            if suffix == ".png":
                fig.savefig(temporary, format="png", dpi=png_dpi(fig), bbox_inches="tight")
            else:
                fig.savefig(temporary, format="svg", bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close(fig)
    return target


def _check_enrolled(cohort: Cohort, patient_id: str) -> None:
    status = cohort.patient_status(patient_id)
    if status is None:
        raise CohortDataError(f"patient '{patient_id}' is not in patients")
    if status != "enrolled":
        raise CohortDataError(
            f"patient '{patient_id}' was excluded ({status}) and has no endpoints"
        )


def timeline_of(evaluation: Evaluation, patient_id: str) -> PatientTimeline:
    """The patient's :class:`PatientTimeline`: the engine's explanation and the raw events."""
    if not (evaluation.endpoints["patient_id"] == patient_id).any():
        _check_enrolled(evaluation.cohort, patient_id)
        raise CohortDataError(f"patient '{patient_id}' was not among the patients evaluated")
    rows = {name: _rows(evaluation, name, patient_id) for name in PATIENT_TABLES}
    labs = rows.pop("labs")
    rows["platelets"] = labs[labs["test"] == "platelets"]
    return timeline_from_frames(evaluation, patient_id, evaluation.study_drug, rows)


def timeline_from_frames(
    frames: Any, patient_id: str, study_drug: str, rows: dict[str, pd.DataFrame]
) -> PatientTimeline:
    """The patient's :class:`PatientTimeline` from an evaluation's frames.

    ``frames`` has an :class:`~itpcohort.pipeline.Evaluation`'s ``criteria``,
    ``endpoints``, ``days``, ``events``, ``periods`` and ``baseline`` (an
    Evaluation, or the study app's cached snapshot of one) and includes the
    patient; ``rows`` holds the patient's rows of the cohort's ``platelets``
    (labs of that test), ``bleeding``, ``adverse_events`` and ``patients``.
    """
    counts = rows["platelets"].groupby("date", as_index=False)["value"].min()
    patient = rows["patients"]
    last = patient["followup_end_date"].iloc[0] if len(patient) else None
    return PatientTimeline(
        explanation=explanation_of(frames, patient_id),
        study_drug=study_drug,
        counts=counts,
        bleeding=rows["bleeding"],
        adverse_events=rows["adverse_events"],
        last_contact=None if last is None or pd.isna(last) else pd.Timestamp(last).date(),
    )


def _rows(evaluation: Evaluation, table: str, patient_id: str) -> pd.DataFrame:
    """One patient's rows of one of the cohort's clean tables, through the engine."""
    t = evaluation.tables[table]
    frame: pd.DataFrame = (
        evaluation.tables.backend.to_pyarrow(t.filter(t.patient_id == patient_id))
        .to_pandas(date_as_object=False)
        .drop(columns=["_line", "_pid"], errors="ignore")
    )
    return frame


# --- drawing ---------------------------------------------------------------------------


def plain(text: object) -> str:
    """Data shown as it is: ``$`` would start matplotlib's mathematics."""
    return str(text).replace("$", r"\$")


def _day(value: object, start: pd.Timestamp) -> float:
    return float((pd.Timestamp(value) - start).days)


def _days(values: pd.Series, start: pd.Timestamp) -> np.ndarray:
    return np.asarray((pd.to_datetime(values) - start).dt.days, dtype=float)


@dataclass(frozen=True)
class _Frame:
    """The figure's frame: the start, the end of the time axis, the value axis."""

    start: pd.Timestamp
    first_day: float
    last_day: float
    log: bool


def timeline_figure(t: PatientTimeline) -> plt.Figure:
    """Draw a :class:`PatientTimeline` (see the module docstring)."""
    x = t.explanation
    e = x.endpoints
    title = _title(x)
    if pd.isna(e["start_date"]):
        return no_data(title, "No data: the patient did not start the study drug", (8, 3))
    frame = _frame(t)
    fig, (lane, ax, marks) = plt.subplots(
        3,
        1,
        sharex=True,
        figsize=(9, 6.2),
        gridspec_kw={"height_ratios": [0.7, 4.0, 0.9], "hspace": 0.08},
    )
    _treatment_lane(lane, t, frame)
    _dates_on_top(lane, frame.start)
    _counts(ax, t, frame)
    _events(ax, x, frame)
    _marks_lane(marks, t, frame)
    marks.set_xlim(frame.first_day, frame.last_day)
    marks.set_xlabel(f"Days since the start of {plain(t.study_drug)}")
    lane.set_title(title, loc="left", fontsize=10, pad=24)
    _legend(fig, (lane, ax, marks))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.22)
    return fig


def _title(x: Explanation) -> str:
    e = x.endpoints
    parts = [f"{plain(short_label(x.patient_id, TITLE_ID_CHARS))}: best response {e.best_response}"]
    if pd.notna(e["loss_date"]):
        parts.append(f"response lost on {pd.Timestamp(e['loss_date']).date()}")
    parts.append(f"criteria {plain(x.criteria.name)}")
    return " · ".join(parts)


def _frame(t: PatientTimeline) -> _Frame:
    e = t.explanation.endpoints
    start = pd.Timestamp(e["start_date"])
    days = list(_days(t.counts["date"], start))
    days += list(_days(t.bleeding["date"], start)) + list(
        _days(t.adverse_events["onset_date"], start)
    )
    days += [0.0, _day(_last_seen(t), start)]
    first, last = min(days), max(days)
    pad = max(3.0, 0.03 * (last - first))
    values = t.counts["value"].to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    low = max(float(values.min()), LOG_FLOOR) if len(values) else LOG_FLOOR
    high = float(values.max()) if len(values) else LOG_FLOOR
    return _Frame(start, first - pad, last + pad, high / low >= LOG_SPAN)


def _last_seen(t: PatientTimeline) -> pd.Timestamp:
    """The latest date the figure knows of: a count, bleeding, AE, period end, last contact."""
    e = t.explanation.endpoints
    dates = [pd.Timestamp(e["start_date"])]
    for column in (t.counts["date"], t.bleeding["date"], t.adverse_events["onset_date"]):
        dates += [pd.Timestamp(d) for d in column.dropna()]
    periods = t.explanation.periods
    dates += [pd.Timestamp(d) for d in periods["end_date"].dropna()]
    if t.last_contact is not None:
        dates.append(pd.Timestamp(t.last_contact))
    return max(dates)


def _dates_on_top(ax: plt.Axes, start: pd.Timestamp) -> None:
    """Calendar dates along the top of ``ax`` (the bottom axis counts days)."""
    origin = mdates.date2num(start)
    top = ax.secondary_xaxis("top", functions=(lambda d: d + origin, lambda n: n - origin))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    top.xaxis.set_major_locator(locator)
    top.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    top.tick_params(labelsize=7.5)


def _treatment_lane(ax: plt.Axes, t: PatientTimeline, frame: _Frame) -> None:
    """Study-drug periods by phase, off treatment, rescue therapies (one row each)."""
    e, start = t.explanation.endpoints, frame.start
    end_of_view = frame.last_day
    for p in t.explanation.periods.itertuples():
        left = _day(p.start_date, start)
        right = end_of_view if pd.isna(p.end_date) else _day(p.end_date, start) + 1
        kind = "rescue" if p.role == "rescue" else ("taper" if p.phase == "taper" else "full")
        row = 0 if kind == "rescue" else 1
        ax.barh(
            row,
            right - left,
            left=left,
            height=0.7,
            color=PHASE_COLOURS[kind],
            gid=f"phase:{kind}",
            label=PHASE_LABELS[kind],
        )
        if kind == "rescue":
            ax.text(left, row, f" {plain(short_label(p.drug, 16))}", va="center", fontsize=7)
    if pd.notna(e["end_date"]):
        off = _day(e["end_date"], start) + 1
        last = _day(_last_seen(t), start)
        if last > off:
            ax.barh(
                1,
                last - off,
                left=off,
                height=0.7,
                color=PHASE_COLOURS["off"],
                gid="phase:off",
                label=PHASE_LABELS["off"],
            )
    rescued = (t.explanation.periods["role"] == "rescue").any()
    ax.set_yticks([0, 1], ["rescue", plain(short_label(t.study_drug, 14))], fontsize=7.5)
    ax.set_ylim(-0.6 if rescued else 0.55, 1.6)  # the rescue row only when there is one
    ax.tick_params(axis="x", length=0)
    ax.spines[["left", "bottom"]].set_visible(False)


def _counts(ax: plt.Axes, t: PatientTimeline, frame: _Frame) -> None:
    """The counts (coloured by level), baseline, thresholds and washouts."""
    x = t.explanation
    c = x.criteria
    floor = LOG_FLOOR if frame.log else 0.0
    days = _days(t.counts["date"], frame.start)
    values = np.maximum(t.counts["value"].to_numpy(dtype=float), floor)
    ax.plot(days, values, color="#636363", lw=0.9, zorder=2, gid="counts")
    _count_marks(ax, days, values, _levels_by_day(x, frame.start))
    ax.axhline(
        c.cr_threshold,
        color=COLOURS["CR"],
        lw=0.9,
        ls="--",
        gid="threshold:cr",
        label=f"CR threshold ({c.cr_threshold:g})",
    )
    ax.axhline(
        c.r_threshold,
        color=COLOURS["R"],
        lw=0.9,
        ls="--",
        gid="threshold:r",
        label=f"R threshold ({c.r_threshold:g})",
    )
    _baseline(ax, x, frame)
    _washouts(ax, x, frame)
    _confirmation_windows(ax, x, frame)
    _value_axis(ax, t, frame)
    ax.set_ylabel(f"Platelets, {UNIT}" + (" (log scale)" if frame.log else ""))
    ax.grid(axis="y", color="#eeeeee", lw=0.6)


def _count_marks(
    ax: plt.Axes, days: np.ndarray, values: np.ndarray, levels: dict[float, str]
) -> None:
    """A dot per count: coloured by its day's level, hollow when not evaluable, small and
    grey up to the start (the baseline's days)."""
    kinds = np.array([levels.get(d, "none") if d > 0 else "before" for d in days], dtype=object)
    styles: dict[str, tuple[str, dict[str, Any]]] = {
        **{k: (f"count, {k} level", {"color": c}) for k, c in LEVEL_COLOURS.items()},
        "none": ("count, not evaluable", {"mfc": "white", "mec": "#969696"}),
        "before": ("count up to the start", {"color": "#969696", "ms": 3.5}),
    }
    for kind, (label, style) in styles.items():
        mine = kinds == kind
        ax.plot(
            days[mine],
            values[mine],
            "o",
            **{"ms": 5.0, **style},
            zorder=4,
            gid=f"level:{kind}",
            label=label if mine.any() else None,
        )


def _levels_by_day(x: Explanation, start: pd.Timestamp) -> dict[float, str]:
    """The engine's level of each evaluable day (days since the start)."""
    d = x.days[x.days["evaluable"]]
    return dict(zip(_days(d["date"], start), d["level"].astype(str), strict=True))


def _baseline(ax: plt.Axes, x: Explanation, frame: _Frame) -> None:
    """The baseline count (a square on its day and a dotted line) and fold x baseline."""
    if x.baseline.empty:
        return
    c, b = x.criteria, x.baseline.iloc[0]
    value = float(b["baseline_platelets"])
    day = _day(b["baseline_date"], frame.start)
    shown = max(value, LOG_FLOOR) if frame.log else value
    ax.plot(
        [day],
        [shown],
        "s",
        color="black",
        ms=6,
        zorder=5,
        gid="baseline",
        label=f"baseline count ({value:g})",
    )
    ax.axhline(shown, color="black", lw=0.7, ls=":", gid="baseline:line")
    if c.fold_rule != "none":
        needs = "both" if c.fold_rule == "and" else "either"
        label = f"{c.fold:g} \u00d7 baseline ({c.fold * value:g}); R needs {needs}"
        ax.axhline(
            c.fold * value, color=COLOURS["R"], lw=0.8, ls="-.", gid="threshold:fold", label=label
        )


def _washouts(ax: plt.Axes, x: Explanation, frame: _Frame) -> None:
    """Each rescue's first day to ``rescue_washout_days`` after its last: not evaluable."""
    wash = x.criteria.rescue_washout_days
    rescues = x.periods[x.periods["role"] == "rescue"]
    for p in rescues.itertuples():
        left = _day(p.start_date, frame.start)
        right = frame.last_day if pd.isna(p.end_date) else _day(p.end_date, frame.start) + wash + 1
        ax.axvspan(
            left,
            right,
            color=WASHOUT_COLOUR,
            alpha=0.35,
            lw=0,
            hatch="//",
            zorder=0,
            gid="washout",
            label="rescue washout: not evaluable",
        )


def confirming_day(days: pd.DataFrame, date: object, gap: int) -> pd.Timestamp | None:
    """The first evaluable day at least ``gap`` days after ``date`` (the confirming count).

    As :mod:`itpcohort.response.explain` names it for each event; ``None`` if none.
    """
    when = pd.Timestamp(date) + pd.Timedelta(days=gap)
    later = days[days["evaluable"] & (pd.to_datetime(days["date"]) >= when)]
    return pd.Timestamp(later["date"].iloc[0]) if len(later) else None


def _windows(x: Explanation) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(kind, qualifying day, confirming day) of each achievement, CR and count-confirmed loss."""
    c, days = x.criteria, x.days
    loss_days = set(pd.to_datetime(days.loc[days["loss_confirmed"].fillna(False), "date"]))
    found: list[tuple[str, pd.Timestamp, object]] = []
    for ev in x.events.itertuples():
        when = pd.Timestamp(ev.date)
        if ev.event == "response achieved":
            found.append(("response", when, confirming_day(days, when, c.response_confirm_days)))
        elif when in loss_days:
            found.append(("loss", when, confirming_day(days, when, c.loss_confirm_days)))
    if pd.notna(x.endpoints["cr_date"]):
        when = pd.Timestamp(x.endpoints["cr_date"])
        found.append(("cr", when, confirming_day(days, when, c.response_confirm_days)))
    return [(k, a, b) for k, a, b in found if isinstance(b, pd.Timestamp)]


def _confirmation_windows(ax: plt.Axes, x: Explanation, frame: _Frame) -> None:
    """A bracket from each qualifying count to its confirming count, at the threshold."""
    c = x.criteria
    heights = {"response": c.r_threshold, "cr": c.cr_threshold, "loss": c.r_threshold}
    colours = {"response": COLOURS["R"], "cr": COLOURS["CR"], "loss": EVENT_STYLE["loss"][0]}
    for kind, first, confirmed in _windows(x):
        left, right = _day(first, frame.start), _day(confirmed, frame.start)
        ax.axvspan(
            left,
            right,
            color=colours[kind],
            alpha=0.16,
            lw=0,
            zorder=1,
            gid=f"window:{kind}",
            label=f"{WINDOW_LABELS[kind]} confirmation window",
        )
        ax.annotate(
            "",
            (right, heights[kind]),
            (left, heights[kind]),
            arrowprops={
                "arrowstyle": "|-|",
                "color": colours[kind],
                "lw": 1.1,
                "shrinkA": 0,
                "shrinkB": 0,
            },
            zorder=3,
        )


def _value_axis(ax: plt.Axes, t: PatientTimeline, frame: _Frame) -> None:
    c = t.explanation.criteria
    values = t.counts["value"].dropna().to_numpy(dtype=float)
    high = max([c.cr_threshold, *values]) if len(values) else c.cr_threshold
    if frame.log:
        ax.set_yscale("log")
        ticks = sorted({*PLATELET_TICKS, c.r_threshold, c.cr_threshold})
        ticks = [v for v in ticks if v <= max(high * 1.5, 100)]  # the axis limits cut the rest
        ax.set_yticks(ticks, [_tick(v) for v in ticks])
        ax.minorticks_off()
        low = min([c.r_threshold, *values]) if len(values) else c.r_threshold
        ax.set_ylim(max(LOG_FLOOR, low) / 1.6, high * 1.6)
    else:
        ax.set_ylim(0, high * 1.15)


def _tick(value: float) -> str:
    text = f"{value:g}"
    return "\u2264" + text if value == LOG_FLOOR else text


def _event_kinds(x: Explanation) -> list[tuple[str, pd.Timestamp, str]]:
    """The engine's events: (kind, date, what ended a response): first response,
    re-achievements, losses (by counts, ``bleeding`` or ``rescue``); and CR."""
    kinds: list[tuple[str, pd.Timestamp, str]] = []
    achieved = False
    for ev in x.events.itertuples():
        when = pd.Timestamp(ev.date)
        if ev.event == "response achieved":
            kinds.append(("again" if achieved else "response", when, ""))
            achieved = True
        else:
            kinds.append(("loss", when, _loss_cause(x, when)))
    if pd.notna(x.endpoints["cr_date"]):
        kinds.append(("cr", pd.Timestamp(x.endpoints["cr_date"]), ""))
    return kinds


def _loss_cause(x: Explanation, when: pd.Timestamp) -> str:
    """What the engine's loss on ``when`` was: counts below R (``""``), a bleeding, a rescue
    (the order of :func:`itpcohort.response.explain._why`)."""
    today = x.days[pd.to_datetime(x.days["date"]) == when]
    if len(today) and today["bleeding"].notna().any():
        return "bleeding"
    rescues = x.periods[x.periods["role"] == "rescue"]
    if (pd.to_datetime(rescues["start_date"]) == when).any():
        return "rescue"
    return ""


def _events(ax: plt.Axes, x: Explanation, frame: _Frame) -> None:
    """A vertical line and a short label at each of the engine's events."""
    for kind, when, why in _event_kinds(x):
        colour, style, _, short = EVENT_STYLE[kind]
        day = _day(when, frame.start)
        ax.axvline(
            day,
            color=colour,
            ls=style,
            lw=1.3,
            zorder=3,
            gid=f"event:{kind}",
            label=EVENT_STYLE[kind][2],
        )
        ax.annotate(
            f"{short} d{day:g}" + (f" ({why})" if why else ""),
            (day, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2 - 9 * (kind in ("cr", "again"))),
            textcoords="offset points",
            fontsize=7,
            color=colour,
            va="top",
            fontweight="bold",
        )


def _marks_lane(ax: plt.Axes, t: PatientTimeline, frame: _Frame) -> None:
    """Bleeding (WHO grade) and adverse events (CTCAE grade), one row each."""
    counting = t.explanation.criteria.bleeding_min_grade
    b = t.bleeding.dropna(subset=["date"])
    if len(b):
        days, grades = _days(b["date"], frame.start), b["who_grade"].to_numpy()
        counts = grades >= counting
        ax.plot(
            days[counts],
            np.ones(counts.sum()),
            "o",
            color=BLEEDING_COLOUR,
            ms=7,
            gid="bleeding",
            label=f"bleeding, WHO grade \u2265 {counting}" if counts.any() else None,
        )
        ax.plot(
            days[~counts],
            np.ones((~counts).sum()),
            "o",
            mfc="white",
            mec=BLEEDING_COLOUR,
            ms=6,
            gid="bleeding:minor",
            label=f"bleeding, WHO grade < {counting}" if (~counts).any() else None,
        )
        for day, grade in zip(days, grades, strict=True):
            ax.annotate(
                f"WHO {_grade(grade)}",
                (day, 1),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=6.5,
            )
    a = t.adverse_events.dropna(subset=["onset_date"])
    if len(a):
        days = _days(a["onset_date"], frame.start)
        ax.plot(
            days,
            np.zeros(len(days)),
            "D",
            color=AE_COLOUR,
            ms=5,
            gid="adverse_event",
            label="adverse event",
        )
        for day, grade, term in zip(days, a["grade"], a["term"], strict=True):
            label = f"G{_grade(grade)} {plain(short_label(term, 14))}"
            ax.annotate(
                label,
                (day, 0),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=6.5,
            )
    for row, events in ((1, b), (0, a)):  # bleeding on row 1, adverse events on row 0
        if not len(events):
            ax.text(
                0.01,
                row,
                "none recorded",
                transform=ax.get_yaxis_transform(),
                fontsize=7,
                color="#737373",
                va="center",
            )
    ax.set_yticks([0, 1], ["adverse events\n(CTCAE grade)", "bleeding\n(WHO grade)"], fontsize=7)
    ax.set_ylim(-0.6, 1.8)
    ax.spines["left"].set_visible(False)


def _grade(value: object) -> str:
    return "?" if value is None or pd.isna(value) else f"{int(value)}"  # type: ignore[call-overload]


def _legend(fig: plt.Figure, axes: tuple[plt.Axes, ...]) -> None:
    """One legend for the three lanes, below them: each labelled artist once, in order."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(
        list(seen.values()), list(seen), loc="lower center", ncols=4, frameon=False, fontsize=7
    )
