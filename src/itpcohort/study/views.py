"""The pages. Every patient and record is reached through ``access.patients_for``.

A patient of a site the user does not work at is "not found" (404), whether
asked for by page, URL, ID or a tampered form; a user who may not edit (a
monitor) gets 403 on every form, GET or POST.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from itpcohort.study import (
    access,
    audit,
    checks,
    exchange,
    followup,
    forms,
    queries,
    records,
    signoff,
)
from itpcohort.study.models import (
    AdverseEvent,
    Bleeding,
    Lab,
    Patient,
    PatientIdentity,
    StudySettings,
    Treatment,
)

#: kind in the URL -> (model, form, what it is called)
KINDS: dict[str, tuple[type, type[forms.CheckedForm], str]] = {
    "treatment": (Treatment, forms.TreatmentForm, "treatment period"),
    "lab": (Lab, forms.LabForm, "lab value"),
    "bleeding": (Bleeding, forms.BleedingForm, "bleeding event"),
    "ae": (AdverseEvent, forms.AdverseEventForm, "adverse event"),
}
PATIENT_PARTS = {"screening": forms.ScreeningForm, "baseline": forms.BaselineForm}


# -- helpers ----------------------------------------------------------------------------
def _patient(request: HttpRequest, pid: str) -> Patient:
    """The patient, if this user may see them; otherwise 404 (never says it exists)."""
    found = access.patients_for(request.user).select_related("site").filter(patient_id=pid)
    patient = found.first()
    if patient is None:
        raise Http404("no such patient")
    return patient


def _editor(request: HttpRequest, patient: Patient | None = None) -> None:
    if not request.user.has_perm("study.edit_patient", patient):
        raise PermissionDenied("your role does not change data")
    if patient is not None:  # a signed casebook: forms read-only, every POST refused
        signoff.refuse_if_locked(request, patient)


def _kind(kind: str) -> tuple[type, type[forms.CheckedForm], str]:
    if kind not in KINDS:
        raise Http404("no such record type")
    return KINDS[kind]


def _record(request: HttpRequest, patient: Patient, kind: str, pk: int) -> Any:
    model, _, _ = _kind(kind)
    obj = access.records_for(request.user, model).filter(pk=pk, patient=patient).first()
    if obj is None:
        raise Http404("no such record")
    return obj


def _reader_check(form: forms.CheckedForm, patient: Patient | None) -> None:
    """The reader itself on the patient's tables with the entered row in place."""
    if not form.use_reader or form.errors:
        return
    candidate = form.instance
    if patient is not None and not isinstance(candidate, Patient):
        candidate.patient = patient
    scope = Patient.objects.filter(pk=patient.pk) if patient else Patient.objects.none()
    tables = exchange.table_rows(scope, first=candidate)
    spec = candidate.table
    columns = set(form.fields) - {"patient_id"} if spec.name == "patients" else set(form.fields)
    form.apply(checks.reader_findings(tables, spec.name, columns))


def _save(request: HttpRequest, form: forms.CheckedForm, obj: Any, values: dict[str, Any]) -> Any:
    """Save a changed record: the response to send (the form again, or the conflict page),
    or None when saved or nothing changed.

    A value entered where there was none (a blank filled in) is a first entry, not
    a change: it needs no reason (the audit trail says "first entry of ...").
    Changing or clearing a value needs one.
    """
    fresh = type(obj).objects.get(pk=obj.pk)
    changed = records.changed_fields(fresh, values)
    version = form.cleaned_data.get("version") or 0
    if not changed:  # what was sent is what is stored (whatever the version): nothing to do
        messages.info(request, "nothing changed")
        return None
    reason = (form.cleaned_data.get("reason") or "").strip()
    if not reason and all(getattr(fresh, k) in records.BLANK for k in changed) and changed:
        reason = "first entry of " + ", ".join(changed)
    if not reason:
        form.add_error("reason", "give a reason for the change (it is kept in the audit trail)")
        return None
    try:
        # the alerts with the automatic queries below (followup), not on commit
        records.update(obj, changed, version=version, reason=reason, alerts_on_commit=False)
    except records.Conflict as conflict:
        return _conflict(request, form, conflict.current, values)
    messages.success(request, "saved")
    if isinstance(obj, Patient | Treatment | Lab | Bleeding | AdverseEvent):
        followup.after_save_soon(
            obj if isinstance(obj, Patient) else obj.patient_id, [followup.table_of(obj)]
        )
    return None


def _conflict(request: HttpRequest, form: Any, current: Any, mine: dict[str, Any]) -> HttpResponse:
    """Both versions side by side; nothing was written."""
    rows = [(name, getattr(current, name, ""), value) for name, value in mine.items()]
    events = audit.record_history(type(current), [current.pk], "") if current else []
    return render(
        request,
        "study/conflict.html",
        {
            "rows": rows,
            "current": current,
            "form": form,
            "last": events[-1] if events else None,
        },
        status=409,
    )


# -- login and lists ------------------------------------------------------------------------
class LoginView(auth_views.LoginView):
    template_name = "study/login.html"
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard")


def patient_list(request: HttpRequest) -> HttpResponse:
    query = access.patients_for(request.user).select_related("site")
    q = request.GET.get("q", "").strip()
    if q:
        query = query.filter(patient_id__icontains=q)
    status = request.GET.get("status", "")
    if status == "enrolled":
        query = query.filter(excluded="")
    elif status == "excluded":
        query = query.exclude(excluded="")
    site = request.GET.get("site", "")
    if site:
        query = query.filter(site__code=site)
    page = Paginator(query.order_by("patient_id"), 50).get_page(request.GET.get("page"))
    ids = [p.pk for p in page]
    visits = dict(
        Lab.objects.filter(patient_id__in=ids, deleted=False, test="platelets")
        .values("patient_id")
        .annotate(n=Count("date", distinct=True), last=Max("date"))
        .values_list("patient_id", "last")
    )
    open_queries = queries.open_counts(ids)
    for p in page:
        p.last_visit = visits.get(p.pk)
        p.open_queries = open_queries.get(p.pk, 0)
    context = {
        "page": page,
        "q": q,
        "status": status,
        "site": site,
        "sites": access.sites_for(request.user),
    }
    template = "study/patient_rows.html" if request.htmx else "study/patient_list.html"
    return render(request, template, context)


def patient_page(request: HttpRequest, pid: str) -> HttpResponse:
    patient = _patient(request, pid)
    labs = list(Lab.objects.filter(patient=patient, deleted=False).order_by("date", "test"))
    settings = StudySettings.current()
    tests = [t for t in settings.visit_tests]
    tests += sorted({lab.test for lab in labs} - set(tests))
    visits: dict[Any, dict[str, Lab]] = {}
    for lab in labs:
        visits.setdefault(lab.date, {})[lab.test] = lab
    may_identity = access.may_see_identity(request.user)  # the patient is in scope already
    identity = PatientIdentity.objects.filter(patient=patient).first() if may_identity else None
    return render(
        request,
        "study/patient.html",
        {
            "patient": patient,
            "treatments": Treatment.objects.filter(patient=patient, deleted=False),
            "bleeding": Bleeding.objects.filter(patient=patient, deleted=False),
            "aes": AdverseEvent.objects.filter(patient=patient, deleted=False),
            "tests": [t for t in tests if any(t in v for v in visits.values())],
            "visits": sorted(visits.items()),
            "criteria": settings.eligibility,
            "identity": identity,
            "may_identity": may_identity,
            # a signed casebook is read-only: no "New visit", "change" or "delete" links
            "can_edit": access.role_context(request)["can_edit"]
            and signoff.valid_signature(patient) is None,
        },
    )


# -- patient forms ---------------------------------------------------------------------------
def patient_new(request: HttpRequest) -> HttpResponse:
    _editor(request)
    sites = access.sites_for(request.user)
    form = forms.ScreeningForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        _reader_check(form, None)
        if not form.errors:
            patient = records.create(Patient, form.table_values(), alerts_on_commit=False)
            followup.after_save_soon(patient, ["patient"])
            messages.success(request, f"patient {patient.patient_id} screened")
            return redirect("patient", pid=patient.patient_id)
    return render(request, "study/form.html", {"form": form, "title": "Screen a patient"})


def patient_edit(request: HttpRequest, pid: str, part: str) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    form_class = PATIENT_PARTS[part]
    extra = {"sites": access.sites_for(request.user)} if part == "screening" else {}
    form = form_class(request.POST or None, instance=patient, **extra)
    if request.method == "POST" and form.is_valid():
        _reader_check(form, patient)
        if not form.errors:
            values = form.table_values()
            values.pop("patient_id", None)
            response = _save(request, form, patient, values)
            if response is not None or not form.errors:
                return response or redirect("patient", pid=patient.patient_id)
    title = {"screening": "Screening and eligibility", "baseline": "Baseline and aPL profile"}
    return render(
        request, "study/form.html", {"form": form, "patient": patient, "title": title[part]}
    )


def identity_edit(request: HttpRequest, pid: str) -> HttpResponse:
    patient = _patient(request, pid)
    if not request.user.has_perm("study.see_identity", patient):
        raise PermissionDenied("identifying data needs its own permission")
    _editor(request, patient)
    identity = PatientIdentity.objects.filter(patient=patient).first()
    form = forms.IdentityForm(request.POST or None, instance=identity)
    if request.method == "POST" and form.is_valid():
        values = form.table_values()
        if identity is None:
            records.create(PatientIdentity, {**values, "patient": patient})
            return redirect("patient", pid=pid)
        response = _save(request, form, identity, values)
        if response is not None or not form.errors:
            return response or redirect("patient", pid=pid)
    return render(
        request, "study/form.html", {"form": form, "patient": patient, "title": "Identifying data"}
    )


@require_POST
def patient_delete(request: HttpRequest, pid: str) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    form = forms.DeleteForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "study/delete.html",
            {"form": form, "patient": patient, "what": f"patient {pid}"},
            status=400,
        )
    try:
        records.soft_delete(
            patient, version=form.cleaned_data["version"], reason=form.cleaned_data["reason"]
        )
    except records.Conflict as conflict:
        return _conflict(request, form, conflict.current, {"deleted": True})
    messages.success(request, f"patient {pid} deleted (kept in the audit trail)")
    return redirect("patients")


# -- records -------------------------------------------------------------------------------
def visit_new(request: HttpRequest, pid: str) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    form = forms.VisitForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        labs = (Lab(patient=patient, **lab) for lab in form.labs())
        records.create_many(labs, alerts_on_commit=False)
        followup.after_save_soon(patient, ["lab"])
        messages.success(request, f"visit of {form.cleaned_data['date']} saved")
        return redirect("patient", pid=pid)
    return render(request, "study/visit.html", {"form": form, "patient": patient})


def record_new(request: HttpRequest, pid: str, kind: str) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    model, form_class, label = _kind(kind)
    form = form_class(request.POST or None, instance=model(patient=patient), patient=patient)
    if request.method == "POST" and form.is_valid():
        _reader_check(form, patient)
        if not form.errors:
            fields = {**form.table_values(), "patient": patient}
            records.create(model, fields, alerts_on_commit=False)
            followup.after_save_soon(patient, [followup.table_of(model)])
            messages.success(request, f"{label} saved")
            return redirect("patient", pid=pid)
    return render(
        request, "study/form.html", {"form": form, "patient": patient, "title": f"New {label}"}
    )


def record_edit(request: HttpRequest, pid: str, kind: str, pk: int) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    _, form_class, label = _kind(kind)
    obj = _record(request, patient, kind, pk)
    form = form_class(request.POST or None, instance=obj, patient=patient)
    if request.method == "POST" and form.is_valid():
        _reader_check(form, patient)
        if not form.errors:
            response = _save(request, form, obj, form.table_values())
            if response is not None or not form.errors:
                return response or redirect("patient", pid=pid)
    return render(
        request,
        "study/form.html",
        {
            "form": form,
            "patient": patient,
            "title": f"Change {label}",
            "delete_url": reverse("record_delete", args=[pid, kind, pk]),
            "record": obj,
            "audit_url": reverse("record_audit", args=[pid, kind, pk]),
        },
    )


def record_delete(request: HttpRequest, pid: str, kind: str, pk: int) -> HttpResponse:
    patient = _patient(request, pid)
    _editor(request, patient)
    _, _, label = _kind(kind)
    obj = _record(request, patient, kind, pk)
    form = forms.DeleteForm(request.POST or None, initial={"version": obj.version})
    if request.method == "POST" and form.is_valid():
        try:
            records.soft_delete(
                obj, version=form.cleaned_data["version"], reason=form.cleaned_data["reason"]
            )
        except records.Conflict as conflict:
            return _conflict(request, form, conflict.current, {"deleted": True})
        messages.success(request, f"{label} deleted (kept in the audit trail)")
        return redirect("patient", pid=pid)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "study/delete.html",
        {"form": form, "patient": patient, "what": label, "record": obj},
        status=status,
    )


# -- audit --------------------------------------------------------------------------------
def _patient_history(request: HttpRequest, patient: Patient) -> list[audit.Change]:
    changes = audit.record_history(Patient, [patient.pk], "patient")
    for model, _, label in KINDS.values():
        pks = list(model.objects.filter(patient=patient).values_list("pk", flat=True))
        changes += audit.record_history(model, pks, label)
    if request.user.has_perm("study.see_identity", patient):
        pks = list(PatientIdentity.objects.filter(patient=patient).values_list("pk", flat=True))
        changes += audit.record_history(PatientIdentity, pks, "identifying data")
    changes += queries.history(patient) + signoff.history(patient)
    return sorted(changes, key=lambda c: c.when)


def patient_audit(request: HttpRequest, pid: str, as_csv: bool = False) -> HttpResponse:
    patient = _patient(request, pid)
    changes = _patient_history(request, patient)
    if as_csv:
        return _csv(audit.history_csv(changes), f"audit-{pid}.csv")
    return render(
        request,
        "study/audit.html",
        {"patient": patient, "changes": changes, "title": f"Audit trail of {pid}"},
    )


def record_audit(request: HttpRequest, pid: str, kind: str, pk: int) -> HttpResponse:
    patient = _patient(request, pid)
    model, _, label = _kind(kind)
    if not model.objects.filter(pk=pk, patient=patient).exists():
        raise Http404("no such record")
    changes = audit.record_history(model, [pk], label)
    if request.GET.get("format") == "csv":
        return _csv(audit.history_csv(changes), f"audit-{pid}-{kind}-{pk}.csv")
    return render(
        request,
        "study/audit.html",
        {"patient": patient, "changes": changes, "title": f"Audit trail of {label} {pk}"},
    )


def study_audit_csv(request: HttpRequest) -> HttpResponse:
    """Every change to the patients this user may see, as CSV."""
    patients = access.patients_for(request.user)
    changes = audit.record_history(Patient, list(patients.values_list("pk", flat=True)), "patient")
    for model, _, label in KINDS.values():
        pks = list(model.objects.filter(patient__in=patients).values_list("pk", flat=True))
        changes += audit.record_history(model, pks, label)
    changes.sort(key=lambda c: c.when)
    return _csv(audit.history_csv(changes), "audit.csv")


def _csv(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def export_zip(request: HttpRequest) -> HttpResponse:
    """The patients this user may see, as a cohort folder in a zip file."""
    patients = access.patients_for(request.user)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        exchange.export_cohort(Path(folder) / "cohort", patients)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted((Path(folder) / "cohort").iterdir()):
                archive.write(path, f"cohort/{path.name}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="cohort.zip"'
    return response


def field_check(request: HttpRequest, kind: str) -> HttpResponse:
    """htmx: the edit checks of one lab value as the user leaves the field."""
    values = {"test": request.GET.get("test", ""), "unit": request.GET.get("unit", "")}
    try:
        values["value"] = float(request.GET.get("value", ""))
    except ValueError:
        return HttpResponse("")
    found = checks.cell_findings(checks.TABLE_OF["labs"], values)
    return render(request, "study/findings.html", {"findings": found})
