"""The study dashboard: response now, the flow, the figures, visits, queries; and the report.

Everything here is read from the engine's results (:mod:`itpcohort.study.monitoring`:
the one pipeline on the study's export) and drawn by the report's own functions
(:mod:`itpcohort.report.figures`, :mod:`itpcohort.statistics`): the numbers on
the dashboard are the numbers of ``itpcohort evaluate`` and ``itpcohort report``.
Every number, row and figure is restricted to the patients the user may see
(:func:`itpcohort.study.access.patients_for`): a :class:`Scope` is the snapshot
cut down to them. Figures are SVG files cached on disk in the snapshot's folder,
per set of patients, so each is drawn once per data version and scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from itpcohort.errors import ItpCohortError
from itpcohort.report import figures
from itpcohort.statistics import formats
from itpcohort.statistics.analysis import patient_flow
from itpcohort.statistics.descriptive import rate
from itpcohort.statistics.time_to_event import estimate_curves
from itpcohort.study import access, monitoring, schedule
from itpcohort.study.models import QUERY_STATUSES, Patient, StudySettings

#: the dashboard's figures, in page order, with their titles
FIGURES = {
    "enrolment": "Enrolment over time",
    "flow": "Patient flow",
    "figure1": "The abstract's Figure 1: response by month and mean platelet count",
    "time_to_response": "Time to response (Aalen-Johansen)",
    "response_duration": "Duration of response (Kaplan-Meier)",
    "swimmer": "Treatment course per patient (swimmer plot)",
}
#: response status now, in display order (``monitoring.status_of``)
STATUSES = (
    ("CR", "complete response"),
    ("R", "response"),
    ("lost", "response lost"),
    ("NR", "no response"),
    ("NE", "not evaluable"),
)
GRID_ROWS = 25


# -- the snapshot cut down to a user's patients ----------------------------------------------
@dataclass(frozen=True, eq=False)
class Scope:
    """A snapshot restricted to a set of patient IDs (those a user may see)."""

    snapshot: monitoring.Snapshot
    ids: frozenset[str]

    @cached_property
    def key(self) -> str:
        """Names this set of patients (the figures' cache)."""
        text = "\n".join(sorted(self.ids & set(self.patients["patient_id"])))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _mine(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["patient_id"].isin(self.ids)].reset_index(drop=True)

    @cached_property
    def endpoints(self) -> pd.DataFrame:
        return self._mine(self.snapshot.endpoints)

    @cached_property
    def patients(self) -> pd.DataFrame:
        return self._mine(self.snapshot.table("patients"))

    def table(self, name: str) -> pd.DataFrame:
        return self._mine(self.snapshot.table(name))

    @cached_property
    def flow(self) -> dict[str, int]:
        """The report's flow (statistics.analysis) of these patients."""
        flow = patient_flow(self.patients, self.endpoints)
        return {str(row.step): int(row.n) for row in flow.itertuples()}

    @cached_property
    def status_counts(self) -> list[tuple[str, str, int]]:
        found = self.statuses.value_counts()
        return [(key, label, int(found.get(key, 0))) for key, label in STATUSES]

    @cached_property
    def statuses(self) -> pd.Series:
        """Each enrolled patient's status now (``lost``, else the best response)."""
        e = self.endpoints
        lost = e["loss_date"].notna()
        return pd.Series(
            np.where(lost, "lost", e["best_response"].astype(str)), index=e["patient_id"]
        )

    @cached_property
    def response_rate(self) -> dict[str, Any]:
        """Overall response (CR or R at best, all enrolled patients) with its exact 95% CI."""
        e = self.endpoints
        found = rate(int(e["best_response"].isin(("CR", "R")).sum()), len(e))
        return {**found, "ci": formats.rate_ci(found)}


#: scopes kept in the process, by snapshot, data version and the user's sites
_scopes: dict[tuple[Any, ...], Scope] = {}
SCOPES_KEPT = 64


def scope_for(snapshot: monitoring.Snapshot, user: Any) -> Scope:
    """The snapshot cut down to ``access.patients_for(user)``.

    Kept for the next request of anyone with the same sites while neither the
    snapshot nor the data (the version: patients, sites) has changed.
    """
    m = access.member(user)
    sites: Any = "all" if m is not None and m.all_sites else None
    if m is not None and sites is None:
        sites = tuple(sorted(m.sites.values_list("pk", flat=True)))
    key = (str(snapshot.folder), snapshot.computed_at, monitoring.data_version(), sites)
    found = _scopes.get(key)
    if found is None:
        ids = access.patients_for(user).values_list("patient_id", flat=True)
        found = Scope(snapshot, frozenset(ids))
        if m is not None:
            while len(_scopes) >= SCOPES_KEPT:
                _scopes.pop(next(iter(_scopes)))
            _scopes[key] = found
    return found


def _snapshot(*, refresh: bool = False) -> tuple[monitoring.Snapshot | None, str | None]:
    """The current snapshot (computed if need be), or the last one and why it is not."""
    try:
        return monitoring.snapshot(refresh=refresh), None
    except monitoring.MonitoringError as error:
        return monitoring.latest(), str(error)


# -- the page ---------------------------------------------------------------------------
def dashboard(request: HttpRequest) -> HttpResponse:
    s, error = _snapshot()
    context: dict[str, Any] = {"error": error, "snapshot": s, "title": "Study dashboard"}
    if s is not None:
        scope = scope_for(s, request.user)
        context.update(
            scope=scope,
            stale=monitoring.staleness(s),
            counts=scope.status_counts,
            response=scope.response_rate,
            flow_rows=flow_rows(scope.flow),
            figures=_figure_links(scope),
        )
    context.update(_grid(request, s))
    context["queries"] = query_ages(request.user)
    context["queries_url"] = _url("queries")
    context["alerts_include"] = _template("study/_alerts.html")
    return render(request, "study/dashboard.html", context)


def flow_rows(flow: dict[str, int]) -> list[tuple[str, int, bool]]:
    """(label, patients, is an exclusion reason) of the flow, in the report's order."""
    prefix = "excluded: "
    reasons = [(k.removeprefix(prefix), n, True) for k, n in flow.items() if k.startswith(prefix)]
    rows: list[tuple[str, int, bool]] = []
    for step, n in flow.items():
        if not step.startswith("excluded: "):
            rows.append((step[:1].upper() + step[1:], n, False))
        if step == "excluded":
            rows += reasons
    return rows


def _figure_links(scope: Scope) -> list[tuple[str, str, str]]:
    if scope.endpoints.empty:
        return []
    version = scope.snapshot.version
    return [
        (name, title, f"{reverse('dashboard_figure', args=[name])}?v={version}&s={scope.key}")
        for name, title in FIGURES.items()
    ]


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _template(name: str) -> str | None:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


@require_POST
def dashboard_refresh(request: HttpRequest) -> HttpResponse:
    """ "Re-evaluate now": the study evaluated again even if nothing changed."""
    from django.contrib import messages

    s, error = _snapshot(refresh=True)
    if error:
        messages.error(request, error)
    elif s is not None:
        messages.success(request, f"evaluated again: data version {s.version}")
    return redirect("dashboard")


# -- the visit grid -----------------------------------------------------------------------
def _grid(request: HttpRequest, s: monitoring.Snapshot | None) -> dict[str, Any]:
    """One page of enrolled patients x the schedule's visits, with each visit's state."""
    try:
        planned = schedule.parse_schedule(StudySettings.current().visit_schedule)
    except schedule.ScheduleError as error:
        return {"grid_error": str(error)}
    enrolled = access.patients_for(request.user).filter(excluded="").order_by("patient_id")
    page = Paginator(enrolled.only("pk", "patient_id"), GRID_ROWS).get_page(request.GET.get("page"))
    states = schedule.patient_visit_states(Patient.objects.filter(pk__in=[p.pk for p in page]))
    rows = []
    for p in page:
        by_label = {state.label: state for state in states.get(p.patient_id, [])}
        status = s.status(p.patient_id) if s is not None else None
        cells = [_cell(by_label.get(v.label)) for v in planned]
        rows.append((p.patient_id, status["status"] if status else "", cells))
    return {"visits": planned, "grid": rows, "grid_page": page}


def _cell(state: schedule.VisitState | None) -> tuple[str, str] | None:
    """(status, the dates said in words) of one planned visit; None when not planned."""
    if state is None:
        return None
    title = f"{state.label}: due {state.due} ({state.opens} to {state.closes})"
    return state.status, title + (f"; done {state.done_on}" if state.done_on else "")


# -- data queries by status and age ---------------------------------------------------------
def query_ages(user: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """Data queries the user may see by status and age (``queries.bucket_counts``)."""
    from itpcohort.study import queries

    rows = queries.bucket_counts(queries.queries_for(user), now)
    labels = dict(QUERY_STATUSES)
    return {
        "ages": [f"{bucket} days" for bucket in queries.AGE_BUCKETS],
        "rows": [(row[0], labels.get(row[0], row[0]), row[1:-1], row[-1]) for row in rows],
        "total": sum(row[-1] for row in rows),
    }


# -- figures ------------------------------------------------------------------------------
def dashboard_figure(request: HttpRequest, name: str) -> HttpResponse:
    """One figure of the user's patients as SVG (drawn once per data version and scope)."""
    if name not in FIGURES:
        raise Http404("no such figure")
    s = _version(request.GET.get("v"))
    if s is None:
        raise Http404("the study has not been evaluated yet")
    scope = scope_for(s, request.user)
    if scope.endpoints.empty:
        raise Http404("no enrolled patient at your sites")
    path = s.folder / "dashboard" / scope.key / f"{name}.svg"
    if not path.is_file():
        _write_svg(draw(scope, name), path)
    response = HttpResponse(path.read_bytes(), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _version(asked: str | None) -> monitoring.Snapshot | None:
    """The snapshot of the version the page showed, when still there; else the latest."""
    if asked and asked.isdigit():
        found = monitoring.at_version(int(asked))
        if found is not None:
            return found
    return monitoring.latest()


def _write_svg(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".svg", delete=False) as handle:
        fig.savefig(handle, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    os.replace(handle.name, path)


def draw(scope: Scope, name: str) -> plt.Figure:
    """A dashboard figure, by the report's own drawing functions."""
    e = scope.endpoints
    if name == "enrolment":
        return enrolment_figure(scope.patients)
    if name == "flow":
        return figures.flow_diagram(scope.flow)
    if name == "figure1":
        return figures.figure1(e, labs=scope.table("platelets"))
    if name == "time_to_response":
        return figures.incidence_figure(estimate_curves(e).time_to_response)
    if name == "response_duration":
        return figures.km_figure(estimate_curves(e).response_duration)
    follow_up = scope.patients.set_index("patient_id")["followup_end_date"]
    return figures.swimmer(
        e,
        scope.table("treatments"),
        scope.table("bleeding"),
        scope.table("adverse_events"),
        scope.snapshot.study_drug,
        follow_up=follow_up,
    )


def enrolment_figure(patients: pd.DataFrame) -> plt.Figure:
    """Cumulative patients screened and enrolled by month of screening (``enrollment_date``)."""
    if patients.empty:
        return figures.no_data("Enrolment", "No patients screened yet")
    month = pd.to_datetime(patients["enrollment_date"]).dt.to_period("M")
    months = pd.period_range(month.min(), month.max(), freq="M")
    screened = month.value_counts().reindex(months, fill_value=0).cumsum()
    enrolled = month[patients["_enrolled"].to_numpy()].value_counts()
    enrolled = enrolled.reindex(months, fill_value=0).cumsum()
    x = months.to_timestamp()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.step(x, screened.to_numpy(), where="post", color="#999999", label="screened")
    ax.step(x, enrolled.to_numpy(), where="post", color=figures.CURVE_COLOUR, label="enrolled")
    ax.set_ylabel("Patients (cumulative)")
    ax.set_xlabel("Month of screening")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left")
    ax.set_title(
        f"Enrolment: {int(enrolled.iloc[-1])} enrolled of {int(screened.iloc[-1])} screened",
        loc="left",
    )
    fig.tight_layout()
    return fig


# -- Download report ------------------------------------------------------------------------
def report_zip(request: HttpRequest) -> HttpResponse:
    """``itpcohort report`` on the export of the user's patients, as a zip file."""
    from itpcohort.report import write_report
    from itpcohort.study.exchange import export_cohort

    patients = access.patients_for(request.user)
    if not patients.filter(excluded="").exists():
        return render(
            request,
            "study/dashboard_message.html",
            {"title": "Report", "message": "No enrolled patient at your sites: nothing to report."},
            status=409,
        )
    settings = StudySettings.current()
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        cohort, out = Path(folder) / "cohort", Path(folder) / "report"
        export_cohort(cohort, patients)
        try:
            write_report(
                cohort,
                out,
                criteria=settings.criteria or "iwg2009",
                study_drug=(settings.study_drug or "").strip() or None,
            )
        except ItpCohortError as error:
            return render(
                request,
                "study/dashboard_message.html",
                {"title": "Report", "message": f"The report could not be written: {error}"},
                status=409,
            )
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, f"report/{path.relative_to(out)}")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="report-{stamp}.zip"'
    return response
