"""The alerts inbox: a user's alerts (site-scoped), acknowledged one by one with a note.

Alerts are reached only through :func:`itpcohort.study.alerts.alerts_for`, which
starts from ``access.patients_for``: an alert of a patient of another site is
"not found" (404), whether listed, opened or acknowledged by its ID.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from itpcohort.study import alerts


def inbox(request: HttpRequest) -> HttpResponse:
    """The user's alerts: unacknowledged first, then acknowledged, newest first."""
    found = alerts.alerts_for(request.user).select_related("patient__site")
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "study/alerts.html",
        {
            "page": page,
            "open_count": alerts.badge_count(request.user),
            "kinds": alerts.KIND_NAMES,
        },
    )


@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge one alert with a note (required; kept as the audit trail's reason):
    GET shows the form, POST acknowledges."""
    alert = alerts.alerts_for(request.user).filter(pk=pk).first()
    if alert is None:
        raise Http404("no such alert")
    if request.method == "GET":
        return render(request, "study/alert_acknowledge.html", {"alert": alert, "note": ""})
    try:
        alerts.acknowledge(alert, request.user, request.POST.get("note", ""))
    except alerts.AcknowledgementError as error:
        messages.error(request, f"alert of {alert.patient.patient_id} not acknowledged: {error}")
        return render(
            request,
            "study/alert_acknowledge.html",
            {"alert": alert, "error": str(error), "note": request.POST.get("note", "")},
            status=400,
        )
    messages.success(request, f"alert of {alert.patient.patient_id} acknowledged")
    return redirect("alerts")


def nav_context(request: HttpRequest) -> dict[str, object]:
    """Template context: the user's unacknowledged alerts, counted only when shown."""
    from django.utils.functional import SimpleLazyObject

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"alert_count": SimpleLazyObject(lambda: alerts.badge_count(user))}
