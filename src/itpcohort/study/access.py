"""Who may see and change what: roles, and per-site access in ONE place.

:func:`patients_for` is the site-scoped queryset every view starts from; records
of other tables are reached only through it (:func:`records_for`). A patient of a
site the user does not work at is simply not there: listing, opening by URL or
ID, editing and exporting all go through these two functions, so a coordinator
of site A gets "not found" for site B's patient, whatever the request says.

Roles (``Member.role``):

- administrator: every site; enters and changes data; manages users, sites and
  the study's settings;
- investigator, coordinator: their sites; enter and change data;
- monitor: their sites (or all); reads everything there and raises queries, never
  edits (``study.edit_patient`` is refused).

Identifying data needs the ``study.view_identity`` permission besides.
"""

from __future__ import annotations

from typing import Any

import rules
from django.db.models import Model, QuerySet

from itpcohort.study.models import EDITING_ROLES, Member, Patient, Site


def member(user: Any) -> Member | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_study_member", False)
    if cached is False:
        cached = Member.objects.filter(user=user).first()
        user._study_member = cached
    return cached


def role(user: Any) -> str | None:
    m = member(user)
    return m.role if m else None


def sites_for(user: Any) -> QuerySet[Site]:
    m = member(user)
    if m is None:
        return Site.objects.none()
    if m.all_sites:
        return Site.objects.all()
    return m.sites.all()


def patients_for(user: Any) -> QuerySet[Patient]:
    """THE site-scoped queryset: the live patients this user may see."""
    m = member(user)
    if m is None:
        return Patient.objects.none()
    query = Patient.objects.filter(deleted=False)
    if m.all_sites:
        return query
    return query.filter(site__in=m.sites.all())


def records_for(user: Any, model: type[Model]) -> QuerySet[Any]:
    """Live rows of a patient table whose patient the user may see."""
    return model.objects.filter(deleted=False, patient__in=patients_for(user))  # type: ignore[attr-defined]


def in_scope(user: Any, obj: Any) -> bool:
    patient = obj if isinstance(obj, Patient) else getattr(obj, "patient", None)
    return patient is not None and patients_for(user).filter(pk=patient.pk).exists()


# -- rules (object permissions) --------------------------------------------------------
@rules.predicate
def is_editor(user: Any) -> bool:
    return role(user) in EDITING_ROLES


@rules.predicate
def is_administrator(user: Any) -> bool:
    return role(user) == "administrator"


@rules.predicate
def is_member(user: Any) -> bool:
    return member(user) is not None


@rules.predicate
def can_reach(user: Any, obj: Any) -> bool:
    return obj is None or in_scope(user, obj)


@rules.predicate
def may_see_identity(user: Any) -> bool:
    """The ``study.view_identity`` permission, given to the user by name (once per request)."""
    cached = getattr(user, "_study_identity", None)
    if cached is None:
        cached = bool(
            user.is_active
            and user.user_permissions.filter(
                content_type__app_label="study", codename="view_identity"
            ).exists()
        )
        user._study_identity = cached
    return cached


rules.add_perm("study.see_patient", is_member & can_reach)
rules.add_perm("study.edit_patient", is_editor & can_reach)
rules.add_perm("study.manage_study", is_administrator)
rules.add_perm("study.see_identity", may_see_identity & can_reach)


def role_context(request: Any) -> dict[str, Any]:
    """Template context: the user's role and whether they may edit."""
    user = getattr(request, "user", None)
    r = role(user)
    return {"study_role": r, "can_edit": r in EDITING_ROLES, "is_admin": r == "administrator"}
