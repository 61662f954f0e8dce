"""What the command line shows a person: validation reports, timelines, the demo's figures.

Rich renderables (and one JSON payload) built from the library's results; the
CLI only prints them.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from itpcohort.cohort.problems import Problem, ValidationReport
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


def response_counts(endpoints: pd.DataFrame) -> str:
    """``61 patients (CR 30, R 19, NR 10, NE 2)``."""
    counts = endpoints["best_response"].value_counts()
    by_level = ", ".join(f"{k} {counts.get(k, 0):,}" for k in ("CR", "R", "NR", "NE"))
    return f"{len(endpoints):,} patients ({by_level})"


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
