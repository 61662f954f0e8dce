"""Template tags of the alert includes: the user's alerts, scoped by ``alerts.alerts_for``."""

from __future__ import annotations

from typing import Any

from django import template

from itpcohort.study import alerts

register = template.Library()

#: alerts the dashboard's panel lists
RECENT = 10


@register.simple_tag(takes_context=True)
def recent_alerts(context: Any, limit: int = RECENT) -> list[Any]:
    """The newest alerts the request's user has not acknowledged."""
    user = context["request"].user
    return list(alerts.alerts_for(user).filter(acknowledged=False)[:limit])


@register.simple_tag(takes_context=True)
def patient_alerts(context: Any, patient: Any) -> list[Any]:
    """The alerts of one patient that the request's user may see (all, unacknowledged first)."""
    user = context["request"].user
    return list(alerts.alerts_for(user).filter(patient=patient))
