"""What the command line shows a person: validation reports, timelines, the demo's figures.

Rich renderables (and one JSON payload) built from the library's results; the
CLI only prints them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

from itpcohort.cohort.problems import Problem, ValidationReport
from itpcohort.cohort.progress import Fraction
from itpcohort.cohort.reader import SET_ASIDE_EXCLUDED
from itpcohort.criteria import Criteria
from itpcohort.response.explain import Explanation
from itpcohort.statistics.published import reference_study


def validation_json(report: ValidationReport) -> str:
    """The validation report as JSON (for scripts): problems and per-table counts."""
    payload = {
        "folder": report.folder,
        "ok": report.ok,
        "problems": [p.__dict__ for p in report.problems],
        "tables": [s.as_dict() for s in report.summaries],
    }
    return json.dumps(payload, default=str)


def validation(report: ValidationReport) -> Group:
    """Every problem (errors red, warnings yellow), the per-table counts and the verdict."""
    lines: list[RenderableType] = [
        Text(str(p), style="red" if p.severity == "error" else "yellow") for p in report.problems
    ]
    table = Table(title=Text(f"Cohort {report.folder}"), title_justify="left")
    for col in ("table", "file", "read", "used", "set aside (why)"):
        table.add_column(col, justify="right" if col in ("read", "used") else "left")
    for s in report.summaries:
        why = "; ".join(f"{n:,} {reason}" for reason, n in s.set_aside.items()) or "-"
        cells = (s.table, s.file or "(absent)", f"{s.read:,}", f"{s.used:,}", why)
        table.add_row(*(Text(cell) for cell in cells))  # data, never markup
    verdict = Text.assemble(
        ("valid", "green") if report.ok else ("not valid", "red"),
        f": {len(report.errors)} error(s), {len(report.warnings)} warning(s)",
    )
    return Group(*lines, table, verdict)


def problems(found: list[Problem], limit: int = 10) -> Group:
    """The first ``limit`` problems (errors red, warnings yellow) and how many more there are."""
    shown: list[RenderableType] = [
        Text(str(p), style="red" if p.severity == "error" else "yellow") for p in found[:limit]
    ]
    more = len(found) - limit
    if more > 0:
        shown.append(Text(f"... {more:,} more: 'itpcohort validate' lists them all", "dim"))
    return Group(*shown)


def response_counts(endpoints: pd.DataFrame | Mapping[str, int]) -> str:
    """``61 patients (CR 30, R 19, NR 10, NE 2)``: of an endpoints table, or from the
    count of patients by best response."""
    if isinstance(endpoints, pd.DataFrame):
        total, counts = len(endpoints), endpoints["best_response"].value_counts().to_dict()
    else:
        total, counts = sum(endpoints.values()), dict(endpoints)
    by_level = ", ".join(f"{k} {counts.get(k, 0):,}" for k in ("CR", "R", "NR", "NE"))
    return f"{total:,} patients ({by_level})"


def profile(criteria: Criteria, *, settings: bool = False) -> Group:
    """A profile's name, description and source; with ``settings``, every setting."""
    c = criteria
    lines: list[RenderableType] = [
        Text.assemble((c.name, "bold"), f": {c.description}  ", (f"({c.source})", "dim"))
    ]
    if settings:
        for key, value in c.model_dump().items():
            if key not in ("name", "description", "source"):
                lines.append(Text(f"  {key} = {value}"))
    return Group(*lines)


def explanation(x: Explanation) -> Group:
    """One patient's timeline: periods, baseline, each day, the episode stream, the endpoints."""
    c = x.criteria
    parts: list[RenderableType] = [
        Text.assemble((x.patient_id, "bold"), f" — criteria {c.name}: {c.description}")
    ]
    for p in x.periods.itertuples():
        end = "ongoing" if _missing(p.end_date) else p.end_date
        what = f"{p.drug} ({p.phase})" if p.role == "study" else f"rescue {p.drug}"
        parts.append(Text(f"  {p.start_date} .. {end}: {what}"))
    if x.baseline.empty:
        parts.append(
            Text(
                f"  baseline: none in the {c.baseline_window_days} days up to the start "
                "-> not evaluable (NE)"
            )
        )
    else:
        b = x.baseline.iloc[0]
        parts.append(Text(f"  baseline: {b.baseline_platelets:g} x10^9/L on {b.baseline_date}"))
    parts.append(_days_table(x))
    for ev in x.events.itertuples():
        parts.append(Text.assemble(f"  {ev.date}: ", (ev.event, "bold"), f" — {ev.why}"))
    parts.append(Text(_endpoints_line(x.endpoints)))
    return Group(*parts)


def _days_table(x: Explanation) -> Table:
    c = x.criteria
    table = Table(title="Days after the start", title_justify="left")
    confirm, loss = c.response_confirm_days, c.loss_confirm_days
    columns = ("date", "count", "evaluable", "bleed", "level")
    flags = (f">=R {confirm}d", f"CR {confirm}d", f"<R {loss}d")
    for col in columns + flags:
        table.add_column(col, no_wrap=True)
    for r in x.days.itertuples():
        if r.evaluable:
            evaluable = "yes"
        elif r.washed and pd.isna(r.bleeding):
            evaluable = "no: washout"
        else:
            evaluable = "no: no baseline"
        table.add_row(
            str(r.date),
            _fmt(r.value),
            evaluable,
            _fmt(r.bleeding),
            _fmt(r.level),
            _tick(r.r_confirmed),
            _tick(r.cr_confirmed),
            _tick(r.loss_confirmed),
        )
    return table


def _endpoints_line(e: pd.Series) -> str:
    censored = " (censored)" if e.response_duration_censored is True else ""
    return (
        f"  => best response {e.best_response}; response {_fmt(e.response_date)}; "
        f"CR {_fmt(e.cr_date)}; loss {_fmt(e.loss_date)} ({_fmt(e.loss_phase)}); "
        f"duration {_fmt(e.response_duration_days)} days{censored}; "
        f"sustained off treatment {str(bool(e.sustained_off_treatment)).lower()}"
    )


def headline(summary: dict[str, Any]) -> Table:
    """The demo's table: each published figure of the reference study beside the cohort's."""
    citation, figures = reference_study()
    table = Table(
        title="Tacrolimus in aPL-associated thrombocytopenia (simulated reference cohort)",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("itpcohort", justify="right")
    table.add_column(f"published ({citation})", justify="right")
    for figure in figures:
        table.add_row(figure.label, figure.format(summary), figure.text)
    return table


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[arg-type]


def _fmt(value: object) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    return str(value)


def _tick(value: object) -> str:
    return "-" if _missing(value) else ("yes" if value else "")


def enrolled(report: ValidationReport) -> int:
    """Patients of a valid cohort that are enrolled (screened and not excluded)."""
    return next(s for s in report.summaries if s.table == "patients").used


def closing_line(
    report: ValidationReport, endpoints: pd.DataFrame | Mapping[str, int], output: object
) -> str:
    """``979,953 patients (CR ..., NE 0) -> out.csv; of 1,000,000 screened, 979,953
    enrolled and 20,047 excluded``: where every screened patient went (``endpoints``:
    the table, or the count of patients by best response)."""
    patients = next(s for s in report.summaries if s.table == "patients")
    excluded = patients.set_aside.get(SET_ASIDE_EXCLUDED, 0)
    enrolled = len(endpoints) if isinstance(endpoints, pd.DataFrame) else sum(endpoints.values())
    return (
        f"{response_counts(endpoints)} -> {output}; of {enrolled + excluded:,} screened, "
        f"{enrolled:,} enrolled and {excluded:,} excluded"
    )


class StageProgress:
    """The command line's progress display: one line per stage (spinner, stage, rows or
    patients done, elapsed time), the running stage's bar filled as the engine tells.

    A :class:`~itpcohort.cohort.progress.Progress`; use it as a context manager.
    """

    POLL_SECONDS = 0.2

    def __init__(self, console: Console) -> None:
        self._bar = RichProgress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None
        self._unit = "rows"
        self._total: int | None = None
        self._fraction: Fraction | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> StageProgress:
        self._bar.start()
        self._poller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._poller.join()
        self._finish()
        self._bar.stop()

    def stage(
        self, name: str, detail: str = "", total: int | None = None, unit: str = "rows"
    ) -> None:
        self._finish()
        self._unit, self._total = unit, total
        label = escape(f"{name} {detail}".strip())  # file and table names are data
        self._task = self._bar.add_task(label, total=total, count="")

    def done(self, count: int) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=count, count=self._count(count))

    def watch(self, fraction: Fraction | None) -> None:
        self._fraction = fraction

    def _count(self, count: int) -> str:
        of = f"/{self._total:,}" if self._total is not None else ""
        return f"{count:,}{of} {self._unit}"

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            self._bar.update(self._task, total=task.total or max(task.completed, 1))
            self._bar.update(self._task, completed=task.total)
            self._task = None

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            fraction, task = self._fraction, self._task
            share = fraction() if fraction is not None else None
            if share is None or task is None:
                continue
            if self._total is not None:
                self.done(int(share * self._total))
            else:
                self._bar.update(task, count=f"query {share:.0%}")
