"""Investigator sign-off: a patient's casebook signed, locked, and unlocked with a reason.

An investigator of the patient's site signs by re-entering their password
(checked with Django's ``check_password``; never stored, never logged). The
:class:`~itpcohort.study.models.Signature` records what 21 CFR 11.50 asks: the
signer's printed name (their full name, else their user name), the date and
time in UTC, and the meaning of the signature. A wrong password is refused and
logged (an ``AccessEvent`` "signature_failed", and a failed login for the
lockout: after ``AXES_FAILURE_LIMIT`` of them the user is locked out, as after
failed logins).

Who signs: investigators only. 21 CFR 11 and ICH E6 want the investigator's own
signature on the casebook; administrators, coordinators and monitors may not
sign (an administrator is not the investigator, whatever their rights).

While a signature is valid (``revoked_at`` null) the casebook is locked: every
change, new record, deletion and visit of the patient is refused by the app
(:func:`refuse_if_locked`, called in ``views._editor``: forms are shown
read-only, a POST is refused with a message) and by the database (migration
``0004_casebook_lock``: a trigger refuses INSERT and UPDATE of the patient's
rows, whatever code path writes). Unlocking needs an investigator of the site
or an administrator and a reason; it revokes the signature (``revoked_at``,
``revoked_by``, ``revoke_reason``). Signing and unlocking are audited (pghistory
context: user and reason) and shown in the patient's audit trail.
"""

from __future__ import annotations

from typing import Any

import pghistory
from django import forms
from django.contrib import messages
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from itpcohort.errors import ItpCohortError
from itpcohort.study import access, audit
from itpcohort.study.models import SIGNATURE_MEANING, Patient, Signature

#: who may sign a casebook, and who may unlock one (of the patient's site)
SIGNING_ROLES = ("investigator",)
UNLOCKING_ROLES = ("investigator", "administrator")


class SignOffError(ItpCohortError):
    """A signature or an unlocking refused: the message says why."""


class CasebookLocked(PermissionDenied):
    """A change to a signed casebook (shown as the "Not allowed" page with the message)."""


def scoped_patient(user: Any, pid: str) -> Patient:
    """The patient, if this user may see them (``access.patients_for``); otherwise 404."""
    found = access.patients_for(user).select_related("site").filter(patient_id=pid).first()
    if found is None:
        raise Http404("no such patient")
    return found


def valid_signature(patient: Patient) -> Signature | None:
    """The patient's valid signature (the casebook is locked), if any."""
    return Signature.objects.filter(patient=patient, revoked_at=None).first()


def locked_message(patient: Patient, signature: Signature) -> str:
    return (
        f"the casebook of {patient.patient_id} was signed by {signature.printed_name} on "
        f"{signature.signed_at:%Y-%m-%d %H:%M} UTC and is locked: an investigator or an "
        "administrator must unlock it, with a reason, before any change"
    )


def refuse_if_locked(request: HttpRequest, patient: Patient) -> None:
    """For the edit views: a signed casebook's forms are read-only, and a POST is refused."""
    signature = valid_signature(patient)
    if signature is None:
        return
    request.casebook_signature = signature  # type: ignore[attr-defined]
    if request.method not in ("GET", "HEAD"):
        raise CasebookLocked(locked_message(patient, signature))


def may_sign(user: Any, patient: Patient) -> bool:
    return access.role(user) in SIGNING_ROLES and access.in_scope(user, patient)


def may_unlock(user: Any, patient: Patient) -> bool:
    return access.role(user) in UNLOCKING_ROLES and access.in_scope(user, patient)


def printed_name(user: Any) -> str:
    return (user.get_full_name() or "").strip() or user.get_username()


def _password_failed(request: HttpRequest | None, user: Any, patient: Patient) -> None:
    """Log a wrong password, and count it as a failed login for the lockout (axes)."""
    from itpcohort.study.people import log

    name = user.get_username()
    ip = audit.client_ip(request) if request is not None else None
    log("signature_failed", name, ip=ip, detail=f"wrong password signing {patient.patient_id}")
    if request is not None:
        user_login_failed.send(sender=__name__, credentials={"username": name}, request=request)


def _locked_out(request: HttpRequest | None, user: Any) -> bool:
    if request is None:
        return False
    from axes.handlers.proxy import AxesProxyHandler

    return bool(AxesProxyHandler.is_locked(request, {"username": user.get_username()}))


def sign(
    user: Any, patient: Patient, password: str, request: HttpRequest | None = None
) -> Signature:
    """Sign the casebook (the password re-entered); raises SignOffError saying why not."""
    if not may_sign(user, patient):
        raise SignOffError("only an investigator of the patient's site signs the casebook")
    if _locked_out(request, user):
        raise SignOffError("too many wrong passwords: your account is locked; ask an administrator")
    if not password or not user.check_password(password):
        _password_failed(request, user, patient)
        raise SignOffError("wrong password: the casebook was not signed")
    name = printed_name(user)
    with (
        transaction.atomic(),
        pghistory.context(
            username=user.get_username(), reason=f"casebook signed by {name}: {SIGNATURE_MEANING}"
        ),
    ):
        audit.lock_chain()
        if valid_signature(patient) is not None:
            raise SignOffError(f"the casebook of {patient.patient_id} is signed already")
        return Signature.objects.create(
            patient=patient,
            user=user,
            printed_name=name,
            signed_at=timezone.now(),
            meaning=SIGNATURE_MEANING,
        )


def unlock(user: Any, patient: Patient, reason: str) -> Signature:
    """Revoke the valid signature, with a reason: the casebook can be changed again."""
    if not may_unlock(user, patient):
        raise SignOffError(
            "only an investigator of the patient's site or an administrator unlocks a casebook"
        )
    why = (reason or "").strip()
    if not why:
        raise SignOffError("give a reason for unlocking (it is kept in the audit trail)")
    with (
        transaction.atomic(),
        pghistory.context(username=user.get_username(), reason=f"casebook unlocked: {why}"),
    ):
        audit.lock_chain()
        signature = (
            Signature.objects.select_for_update().filter(patient=patient, revoked_at=None).first()
        )
        if signature is None:
            raise SignOffError(f"the casebook of {patient.patient_id} is not signed")
        Signature.objects.filter(pk=signature.pk).update(
            revoked_at=timezone.now(), revoked_by=user, revoke_reason=why
        )
    signature.refresh_from_db()
    return signature


def history(patient: Patient) -> list[audit.Change]:
    """The patient's signatures' audit events (for the patient's audit trail)."""
    pks = list(Signature.objects.filter(patient=patient).values_list("pk", flat=True))
    return audit.record_history(Signature, pks, "signature")


# -- views ---------------------------------------------------------------------------------
class SignForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        help_text="Re-enter your password to sign (21 CFR 11.200).",
    )


class UnlockForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        label="Reason for unlocking",
        help_text="Required; kept in the audit trail. The signature is revoked.",
        widget=forms.TextInput(attrs={"size": 50, "autocomplete": "off"}),
    )


def sign_view(request: HttpRequest, pid: str) -> HttpResponse:
    """GET: what signing means, and the password field; POST: sign."""
    patient = scoped_patient(request.user, pid)
    if not may_sign(request.user, patient):
        raise PermissionDenied("only an investigator of the patient's site signs the casebook")
    form = SignForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            sign(request.user, patient, form.cleaned_data["password"], request)
        except SignOffError as error:
            form.add_error("password", str(error))
            status = 400
        else:
            messages.success(request, f"casebook of {pid} signed and locked")
            return redirect("patient", pid=pid)
    context = {
        "form": form,
        "patient": patient,
        "meaning": SIGNATURE_MEANING,
        "printed_name": printed_name(request.user),
        "signature": valid_signature(patient),
    }
    return render(request, "study/sign.html", context, status=status)


@require_POST
def unlock_view(request: HttpRequest, pid: str) -> HttpResponse:
    patient = scoped_patient(request.user, pid)
    if not may_unlock(request.user, patient):
        raise PermissionDenied(
            "only an investigator of the patient's site or an administrator unlocks a casebook"
        )
    form = UnlockForm(request.POST)
    if not form.is_valid():
        messages.error(request, "give a reason for unlocking (it is kept in the audit trail)")
        return redirect("patient", pid=pid)
    try:
        unlock(request.user, patient, form.cleaned_data["reason"])
    except SignOffError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"casebook of {pid} unlocked; the signature is revoked")
    return redirect("patient", pid=pid)
