"""Logins, failed logins, logouts and lockouts into the access log (and so the chain)."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_save
from django.dispatch import receiver

from itpcohort.study.audit import client_ip


def _log(kind: str, username: str, request: Any, detail: str = "") -> None:
    from itpcohort.study.people import log

    log(kind, username or "", ip=client_ip(request) if request is not None else None, detail=detail)


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _log("login", user.get_username(), request)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _log("logout", user.get_username() if user else "", request)


@receiver(user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    _log("login_failed", str(credentials.get("username", "")), request)


@receiver(user_locked_out)
def _locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: Any = None, **kwargs: Any
) -> None:
    _log("locked_out", username or "", request)


@receiver(pre_save, sender=User)
def _password_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    old = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        _log("password_changed", instance.get_username(), None)
