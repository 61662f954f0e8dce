"""Template tags for the patient page's includes: the patient's data queries and signature."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def queries_of(context: Any, patient: Any) -> list[Any]:
    """The patient's queries the user sees, each with its age (``queries.patient_queries``)."""
    from itpcohort.study import queries

    return queries.patient_queries(context["request"].user, patient)


@register.simple_tag(takes_context=True)
def record_queries(context: Any, patient: Any) -> dict[str, Any]:
    """The record of the page's URL (a record's edit form or audit trail: its ``kind`` and
    ``pk``; the patient's own forms: the patient) and its queries, each with its age:
    ``{"target": "lab:12" or "", "queries": [...]}``."""
    from itpcohort.study import queries

    request = context["request"]
    match = getattr(request, "resolver_match", None)
    kwargs = match.kwargs if match is not None else {}
    table = queries.TABLE_OF_KIND.get(kwargs.get("kind", ""), "")
    if not table and "part" in kwargs:
        table, record_id = "patient", patient.pk
    else:
        record_id = kwargs.get("pk")
    if not table or record_id is None:
        return {"target": "", "queries": []}
    found = queries.queries_for(request.user).filter(
        patient=patient, table=table, record_id=record_id
    )
    return {
        "target": "patient" if table == "patient" else f"{table}:{record_id}",
        "queries": queries.with_ages(found.select_related("raised_by").order_by("raised_at", "pk")),
        "may_raise": queries.may_raise(request.user),
    }


@register.simple_tag(takes_context=True)
def casebook_rights(context: Any, patient: Any) -> dict[str, bool]:
    """What the user may do with the patient's casebook: raise a query, sign, unlock."""
    from itpcohort.study import queries, signoff

    user = context["request"].user
    return {
        "raise": queries.may_raise(user),
        "sign": signoff.may_sign(user, patient),
        "unlock": signoff.may_unlock(user, patient),
    }


@register.simple_tag
def signatures_of(patient: Any) -> dict[str, Any]:
    """The patient's valid signature (None: not signed) and the revoked ones, oldest first."""
    from itpcohort.study.models import Signature

    found = list(Signature.objects.filter(patient=patient).select_related("revoked_by"))
    return {
        "valid": next((s for s in found if s.revoked_at is None), None),
        "revoked": [s for s in found if s.revoked_at is not None],
    }
