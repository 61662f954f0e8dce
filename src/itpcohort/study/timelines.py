"""The patient page's response part: status, platelet timeline and the engine's explanation.

Loaded after the page (htmx ``hx-get`` on ``load``), so the page's own HTML never
waits on the engine. Everything comes from the study's cached evaluation,
:func:`itpcohort.study.monitoring.snapshot` (the one pipeline on the export):
the patient's status is its endpoints row, the explanation is
:func:`itpcohort.response.explain.explanation_of` on its frames, rendered with
the words of ``itpcohort explain`` (``report/console.py``), and the figure is
:func:`itpcohort.report.timeline.timeline_figure`. The SVG is kept per patient
and data version in the snapshot's folder (``figures/``; old versions go with
their folders), so each is drawn once for all of gunicorn's workers.

Patients are reached only through ``access.patients_for``: a patient of another
site is "not found" (404), for the fragment and for the figure alike.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from itpcohort.criteria import Criteria, load_criteria
from itpcohort.errors import ItpCohortError
from itpcohort.response.explain import Explanation, explanation_of
from itpcohort.study import access, monitoring
from itpcohort.study.models import Patient, StudySettings

#: pyplot keeps global state: one drawing at a time in a process
_drawing = threading.Lock()
#: the snapshot's tables a timeline reads (``monitoring.COHORT_TABLES``)
_TABLES = ("platelets", "bleeding", "adverse_events", "patients")


@dataclass(frozen=True)
class SnapshotFrames:
    """A snapshot's frames with the profile they were derived under: what
    :func:`~itpcohort.response.explain.explanation_of` reads of an Evaluation."""

    criteria: Criteria
    endpoints: pd.DataFrame
    days: pd.DataFrame
    events: pd.DataFrame
    periods: pd.DataFrame
    baseline: pd.DataFrame


def frames_of(snap: monitoring.Snapshot) -> SnapshotFrames:
    """The snapshot's frames and its profile (the study's, when it is the one named)."""
    wanted = StudySettings.current().criteria or snap.criteria
    criteria = load_criteria(wanted)
    if criteria.name != snap.criteria:  # the settings moved on: the snapshot's own profile
        criteria = load_criteria(snap.criteria)
    return SnapshotFrames(
        criteria, snap.endpoints, snap.days, snap.events, snap.periods, snap.baseline
    )


def timeline_for(snap: monitoring.Snapshot, patient_id: str) -> Any:
    """The patient's :class:`~itpcohort.report.timeline.PatientTimeline` from the snapshot."""
    from itpcohort.report.timeline import timeline_from_frames

    rows = {}
    for name in _TABLES:
        table = snap.table(name)
        rows[name] = table[table["patient_id"] == patient_id]
    return timeline_from_frames(frames_of(snap), patient_id, snap.study_drug, rows)


def timeline_svg(snap: monitoring.Snapshot, patient_id: str) -> bytes:
    """The patient's figure as SVG: drawn once per data version, then read from disk."""
    digest = hashlib.sha256(patient_id.encode("utf-8")).hexdigest()
    path = snap.folder / "figures" / f"{digest}.svg"
    try:
        return path.read_bytes()
    except OSError:
        pass
    import matplotlib.pyplot as plt

    from itpcohort.report.timeline import timeline_figure

    timeline = timeline_for(snap, patient_id)
    with _drawing:
        fig = timeline_figure(timeline)
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        finally:
            plt.close(fig)
    svg = buffer.getvalue()
    _keep(path, svg)
    return svg


def _keep(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a folder removed meanwhile is no matter."""
    try:
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        pass


@dataclass(frozen=True)
class ExplanationText:
    """``itpcohort explain``'s words for one patient, as lines and a table for HTML."""

    heading: str
    before: list[str]  # the periods and the baseline
    table_title: str
    columns: list[str]
    rows: list[list[str]]
    events: list[str]
    endpoints: str


def explanation_text(x: Explanation) -> ExplanationText:
    """The lines and the days table of :func:`itpcohort.report.console.explanation`,
    as plain text (the template escapes them)."""
    from rich.table import Table
    from rich.text import Text

    from itpcohort.report import console

    lines: list[str] = []
    before: list[str] = []
    table: Table | None = None
    for part in console.explanation(x).renderables:
        if isinstance(part, Table):
            table, before, lines = part, lines, []
        elif isinstance(part, Text):
            lines.append(part.plain.strip())
    if table is None:  # not drawn without days (never so today)
        before, lines = lines, []
    columns = [str(c.header) for c in table.columns] if table else []
    cells = [[str(cell) for cell in c.cells] for c in table.columns] if table else []
    return ExplanationText(
        heading=before[0] if before else x.patient_id,
        before=before[1:],
        table_title=str(table.title) if table else "",
        columns=columns,
        rows=[list(row) for row in zip(*cells, strict=True)],
        events=lines[:-1],
        endpoints=lines[-1].removeprefix("=> ") if lines else "",
    )


def current_state(best_response: str, events: pd.DataFrame) -> tuple[str, str]:
    """Where the patient stands by the engine's episode stream (``date``, ``event``), as
    (css kind, words): its last event says whether the response holds now."""
    if events.empty:
        words = {"NR": "no response", "NE": "not evaluable"}
        return best_response, words.get(best_response, best_response)
    last = events.iloc[-1]
    if last["event"] == "loss":
        return "lost", f"response lost on {last['date']}"
    if (events["event"] == "loss").any():
        return best_response, f"in response again since {last['date']}"
    return best_response, f"in response since {events.iloc[0]['date']}"


# -- the views -----------------------------------------------------------------------------
def _visible(request: HttpRequest, pid: str) -> Patient:
    """The patient, if this user may see them; otherwise 404 (never says it exists)."""
    patient = access.patients_for(request.user).filter(patient_id=pid).first()
    if patient is None:
        raise Http404("no such patient")
    return patient


def _snapshot() -> tuple[monitoring.Snapshot | None, str | None]:
    """The current snapshot; when the study cannot be evaluated, the latest one and why."""
    try:
        return monitoring.snapshot(), None
    except monitoring.MonitoringError as error:
        return monitoring.latest(), str(error)


def patient_response(request: HttpRequest, pid: str) -> HttpResponse:
    """htmx fragment: status, data version, the figure and the explanation of one patient."""
    patient = _visible(request, pid)
    snap, error = _snapshot()
    context: dict[str, Any] = {"patient": patient, "error": error, "snap": snap}
    if snap is not None:
        status = snap.status(patient.patient_id)
        context.update(status=status, stale=monitoring.staleness(snap))
        if status is not None:
            try:
                frames = frames_of(snap)
                x = explanation_of(frames, patient.patient_id)  # type: ignore[arg-type]
                context.update(
                    criteria=frames.criteria,
                    words=explanation_text(x),
                    now=current_state(str(status["best_response"]), x.events),
                )
            except ItpCohortError as problem:
                context["error"] = str(problem)
    return render(request, "study/_response.html", context)


def patient_timeline_svg(request: HttpRequest, pid: str) -> HttpResponse:
    """The patient's platelet timeline (SVG), at the current data version."""
    patient = _visible(request, pid)
    snap, _ = _snapshot()
    if snap is None or snap.status(patient.patient_id) is None:
        raise Http404("no response evaluated for this patient")
    try:
        svg = timeline_svg(snap, patient.patient_id)
    except ItpCohortError as problem:  # e.g. the study's profile file is gone
        raise Http404(f"the timeline cannot be drawn: {problem}") from problem
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    # an image, never a document that runs anything
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    asked = request.GET.get("v")
    response["Cache-Control"] = (
        "private, max-age=3600" if asked == str(snap.version) else "private, no-cache"
    )
    return response
