"""User accounts: adding users with a role and sites, passwords, unlocking; all logged.

Account changes are also in the audit trail as the user table's and
``Member``'s events; :func:`log` adds what those tables cannot show (a password
set, a lockout lifted) as an :class:`~itpcohort.study.models.AccessEvent`.
"""

from __future__ import annotations

import pghistory
from django.contrib.auth.models import Permission, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from itpcohort.errors import ItpCohortError
from itpcohort.study import audit
from itpcohort.study.models import ROLES, AccessEvent, Member, Site

#: Django admin permissions an administrator gets (accounts, sites, study settings)
ADMIN_PERMISSIONS = (
    ("auth", "view_user"),
    ("auth", "change_user"),
    ("auth", "add_user"),
    ("study", "view_member"),
    ("study", "change_member"),
    ("study", "add_member"),
    ("study", "view_site"),
    ("study", "change_site"),
    ("study", "add_site"),
    ("study", "view_studysettings"),
    ("study", "change_studysettings"),
)


def log(
    kind: str, username: str = "", *, ip: str | None = None, by: str = "", detail: str = ""
) -> None:
    with transaction.atomic():
        audit.lock_chain()
        AccessEvent.objects.create(
            kind=kind, username=username[:150], ip=ip, by=by[:150], detail=detail
        )


def exists(name: str) -> bool:
    return User.objects.filter(username=name).exists()


def check_password(name: str, password: str) -> None:
    try:
        validate_password(password, User(username=name))
    except ValidationError as exc:
        raise ItpCohortError("password refused: " + " ".join(exc.messages)) from None


def add_user(
    name: str,
    role: str,
    sites: list[str],
    password: str,
    *,
    by: str,
    identity: bool = False,
) -> User:
    """A new user with a role at some sites (none: every site, for administrators and
    monitors); ``identity`` grants the identifying-data permission."""
    roles = [r for r, _ in ROLES]
    if role not in roles:
        raise ItpCohortError(f"unknown role '{role}': use one of {', '.join(roles)}")
    if exists(name):
        raise ItpCohortError(f"user '{name}' exists already")
    if not sites and role in ("investigator", "coordinator"):
        raise ItpCohortError(f"a {role} works at a site: name the site")
    check_password(name, password)
    with (
        pghistory.context(username=by, reason=f"account {name} added as {role}"),
        transaction.atomic(),
    ):
        audit.lock_chain()
        found = {s.code: s for s in Site.objects.filter(code__in=sites)}
        for code in sites:
            if code not in found:
                found[code] = Site.objects.create(code=code, name=code)
        user = User.objects.create_user(name, password=password, is_staff=role == "administrator")
        m = Member.objects.create(user=user, role=role, all_sites=not sites)
        m.sites.set(found.values())
        if role == "administrator":
            user.user_permissions.add(*_permissions(ADMIN_PERMISSIONS))
        if identity:
            user.user_permissions.add(*_permissions((("study", "view_identity"),)))
    where = ", ".join(sites) if sites else "all sites"
    log(
        "account_added",
        name,
        by=by,
        detail=f"role {role}; sites: {where}; identifying data: {'yes' if identity else 'no'}",
    )
    return user


def _permissions(pairs: tuple[tuple[str, str], ...]) -> list[Permission]:
    return [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in pairs]


def set_password(name: str, password: str, *, by: str) -> None:
    user = User.objects.filter(username=name).first()
    if user is None:
        raise ItpCohortError(f"no user '{name}'")
    check_password(name, password)
    user.set_password(password)
    user.save(update_fields=["password"])
    log("password_set", name, by=by)


def unlock(name: str, *, by: str) -> int:
    from axes.utils import reset

    count = reset(username=name)
    log("lockout_lifted", name, by=by, detail=f"{count} failed attempt record(s) cleared")
    return int(count or 0)
