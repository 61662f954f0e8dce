"""Data queries: a monitor asks about a value or a record, the site answers, the monitor closes.

The workflow (REDCap's data resolution, clinicedc's data queries), each step a
:class:`~itpcohort.study.models.QueryStep` and an audited change (pghistory
context: the user, and the step's text as the reason)::

    proposed --confirm--> open --answer--> answered --close--> closed
        \\--dismiss--> dismissed   ^-----reopen-----/ <--reopen--/
                                   open --close--> closed

- **raise**: a monitor or an administrator, on a value (table, record, field),
  a record, or the patient, with a question: ``open``.
- **answer**: the site (a coordinator or investigator of the patient's site, or
  an administrator), with a text; a correction of the value goes through the
  record's audited edit form (linked from the query), and the answer records
  each correction made since the query was raised, with its reason.
- **close** / **reopen**: a monitor or an administrator; a coordinator may not close.
- **automatic** queries (:func:`raise_automatic_queries`): the edit checks'
  findings on stored rows (the cohort reader's cell rules: ranges, choices,
  units, dates; ``checks.cell_findings``) and the schedule's ``missing`` visits
  are raised once each (a stable ``check_key``) as ``proposed``: a monitor
  confirms one (it becomes an open query for the site) or dismisses it with a reason.

Sites see a query of their patients (``access.patients_for``) once it is open:
proposed and dismissed automatic queries are the monitors'. Optimistic locking:
each step names the query's ``version`` it was based on; a stale one is refused
(:class:`QueryConflict`), nothing written. Age is whole days since raised,
bucketed by :func:`age_bucket` as the dashboard shows it (0-3, 4-7, 8-14, 15+).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pghistory
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from itpcohort.errors import ItpCohortError
from itpcohort.study import access, audit, checks, schedule, signoff
from itpcohort.study.models import (
    AdverseEvent,
    AuditLink,
    Bleeding,
    DataQuery,
    Lab,
    Patient,
    QueryStep,
    Treatment,
)

#: the tables a query points into -> (model, cohort format table, the record URLs' kind)
TABLES: dict[str, tuple[type[models.Model], str, str]] = {
    "patient": (Patient, "patients", ""),
    "treatment": (Treatment, "treatments", "treatment"),
    "lab": (Lab, "labs", "lab"),
    "bleeding": (Bleeding, "bleeding", "bleeding"),
    "adverse_event": (AdverseEvent, "adverse_events", "ae"),
}
#: the record URLs' kind -> the table a query names
TABLE_OF_KIND = {kind: table for table, (_, _, kind) in TABLES.items() if kind}
#: statuses still waiting for someone (the site: open; the monitor: answered)
UNRESOLVED = ("open", "answered")
MONITORING_ROLES = ("monitor", "administrator")
ANSWERING_ROLES = ("coordinator", "investigator", "administrator")
AGE_BUCKETS = ("0-3", "4-7", "8-14", "15+")
#: columns the cell checks do not see (keys, not values)
_NOT_CHECKED = {"patient_id", "site"}


@dataclass(frozen=True)
class Step:
    """A step of the workflow: from which statuses, to which, by whom, text required."""

    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    text_required: bool
    default_text: str = ""


STEPS: dict[str, Step] = {
    "answer": Step(("open",), "answered", ANSWERING_ROLES, True),
    "close": Step(("open", "answered"), "closed", MONITORING_ROLES, False, "query closed"),
    "reopen": Step(("answered", "closed"), "open", MONITORING_ROLES, True),
    "confirm": Step(("proposed",), "open", MONITORING_ROLES, False, "confirmed: the site answers"),
    "dismiss": Step(("proposed",), "dismissed", MONITORING_ROLES, True),
}


class QueryError(ItpCohortError):
    """A step not allowed (role, status, missing text): the message says why."""


class QueryConflict(QueryError):
    """The query changed since the form was opened: nothing was written."""


def age_bucket(days: int) -> str:
    """The age group of a query ``days`` old: 0-3, 4-7, 8-14 or 15+ days."""
    if days <= 3:
        return "0-3"
    if days <= 7:
        return "4-7"
    if days <= 14:
        return "8-14"
    return "15+"


def age_days(query: DataQuery, now: dt.datetime | None = None) -> int:
    """Whole days since the query was raised."""
    return max(0, ((now or timezone.now()) - query.raised_at).days)


def queries_for(user: Any) -> QuerySet[DataQuery]:
    """The queries this user may see: of their patients (``access.patients_for``); the site
    does not see automatic queries awaiting a monitor, nor dismissed ones."""
    found = DataQuery.objects.filter(patient__in=access.patients_for(user))
    if access.role(user) not in MONITORING_ROLES:
        found = found.exclude(status__in=("proposed", "dismissed"))
    return found


def may_raise(user: Any) -> bool:
    return access.role(user) in MONITORING_ROLES


def allowed_steps(user: Any, query: DataQuery) -> list[str]:
    """The steps this user may take on the query now."""
    r = access.role(user)
    return [name for name, s in STEPS.items() if r in s.roles and query.status in s.sources]


def _context(user: Any, reason: str) -> Any:
    return pghistory.context(username=user.get_username() if user else "", reason=reason)


# -- raising ---------------------------------------------------------------------------------
def target_record(user: Any, patient: Patient, table: str, record_id: int | None) -> Any:
    """The record a query points to, if this user may see it; QueryError otherwise."""
    if table not in TABLES:
        raise QueryError(f"unknown table '{table}': use one of {', '.join(TABLES)}")
    if table == "patient":
        if record_id not in (None, patient.pk):
            raise QueryError("that record is not this patient's")
        return patient
    model = TABLES[table][0]
    found = access.records_for(user, model).filter(pk=record_id, patient=patient).first()
    if found is None:
        raise QueryError(f"no {table} record {record_id} of patient {patient.patient_id}")
    return found


def raise_query(
    user: Any, patient: Patient, *, table: str, record_id: int | None, field: str, question: str
) -> DataQuery:
    """A monitor's (or an administrator's) question on a value, a record or the patient."""
    if not may_raise(user):
        raise QueryError("only a monitor or an administrator raises a query")
    if not access.in_scope(user, patient):
        raise QueryError(f"no patient {patient.patient_id}")
    record = target_record(user, patient, table, record_id)
    field = (field or "").strip()
    if field and field not in {f.name for f in record._meta.concrete_fields}:
        raise QueryError(f"{table} has no field '{field}'")
    text = (question or "").strip()
    if not text:
        raise QueryError("write the question")
    with transaction.atomic(), _context(user, text):
        audit.lock_chain()
        query = DataQuery.objects.create(
            patient=patient,
            table=table,
            record_id=record.pk,
            field=field,
            question=text,
            raised_by=user,
        )
        QueryStep.objects.create(query=query, action="raise", text=text, by=user)
    return query


# -- steps -----------------------------------------------------------------------------------
def take_step(user: Any, query: DataQuery, action: str, text: str, *, version: int) -> DataQuery:
    """Answer, close, re-open, confirm or dismiss, as of ``version``; the query as it is now.

    Raises QueryError (not allowed: role, status, text) or QueryConflict (stale version).
    """
    step = STEPS.get(action)
    if step is None:
        raise QueryError(f"unknown step '{action}': use one of {', '.join(STEPS)}")
    if access.role(user) not in step.roles or not queries_for(user).filter(pk=query.pk).exists():
        raise QueryError(f"your role may not {action} a query")
    words = (text or "").strip() or step.default_text
    if not words:
        raise QueryError(f"write why ({action} needs a text; it is kept in the audit trail)")
    if action == "answer":
        words += corrections(query)
    with transaction.atomic(), _context(user, words):
        audit.lock_chain()
        current = DataQuery.objects.select_for_update().get(pk=query.pk)
        if current.version != version:
            raise QueryConflict(
                f"query {query.pk} changed since you opened it (now {current.status}, by "
                "someone else): nothing was saved; read it again"
            )
        if current.status not in step.sources:
            raise QueryError(f"a query that is {current.status} cannot be {action}ed")
        DataQuery.objects.filter(pk=query.pk).update(
            status=step.target, version=version + 1, updated_at=timezone.now()
        )
        QueryStep.objects.create(query=current, action=action, text=words, by=user)
    return DataQuery.objects.get(pk=query.pk)


def corrections(query: DataQuery) -> str:
    """The changes made to the query's record since the query's last step, with their reasons.

    "Since" in the audit chain's order (its links are numbered in commit order).
    """
    model = TABLES.get(query.table, (None,))[0]
    if model is None or query.record_id is None:
        return ""
    query_events = audit.event_model(DataQuery)
    record_events = audit.event_model(model)
    last = (
        AuditLink.objects.filter(
            table_name=query_events._meta.db_table,
            row_id__in=query_events.objects.filter(pgh_obj_id=query.pk).values("pgh_id"),
        ).aggregate(seq=models.Max("seq"))["seq"]
        or 0
    )
    ids = list(
        record_events.objects.filter(pgh_obj_id=query.record_id)
        .order_by("pgh_id")
        .values_list("pgh_id", flat=True)
    )
    after = set(
        AuditLink.objects.filter(
            table_name=record_events._meta.db_table, row_id__in=ids, seq__gt=last
        ).values_list("row_id", flat=True)
    )
    lines = []
    history = audit.record_history(model, [query.record_id], query.table)
    for event_id, change in zip(ids, history, strict=True):
        if event_id not in after or change.action != "update":
            continue
        values = [c for c in change.changes if not query.field or c[0] == query.field]
        if values:
            what = "; ".join(
                f"{f} {old or '(blank)'} -> {new or '(blank)'}" for f, old, new in values
            )
            who = change.username or "someone"
            lines.append(f"\ncorrected by {who}: {what} (reason: {change.reason})")
    return "".join(lines)


def history(patient: Patient) -> list[audit.Change]:
    """The audit events of the patient's queries and their steps (for the audit trail)."""
    qids = list(DataQuery.objects.filter(patient=patient).values_list("pk", flat=True))
    sids = list(QueryStep.objects.filter(query_id__in=qids).values_list("pk", flat=True))
    return audit.record_history(DataQuery, qids, "query") + audit.record_history(
        QueryStep, sids, "query step"
    )


# -- automatic queries -------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One finding of the edit checks on a stored row, keyed so it is raised once."""

    key: str
    patient: int
    table: str
    record: int
    field: str
    question: str


def _cell_findings(
    enrolled: Mapping[int, dt.date | None], tables: Collection[str] = tuple(TABLES)
) -> Iterable[Finding]:
    """The reader's cell rules on every live row in ``tables`` of the patients (key ->
    enrolment date), one query per table."""
    for table, (model, spec_name, _) in TABLES.items():
        if table not in tables:
            continue
        spec = checks.TABLE_OF[spec_name]
        # a bleeding's ``site`` is where it bled; a patient's is the centre (a key)
        skip = {"patient_id"} if table == "bleeding" else _NOT_CHECKED
        names = [c.name for c in spec.columns if c.name not in skip]
        key = "pk" if model is Patient else "patient_id"
        rows = model.objects.filter(deleted=False, **{f"{key}__in": list(enrolled)})  # type: ignore[attr-defined]
        wanted = ["pk", *([key] if key != "pk" else []), *names]
        for row in rows.order_by("pk").values(*wanted):
            values = {n: row[n] for n in names if row[n] not in (None, "")}
            if table == "lab":
                values["_enrollment_date"] = enrolled.get(row[key])
            by_field: dict[str, list[str]] = {}
            for f in checks.cell_findings(spec, values):
                by_field.setdefault(f.field or "", []).append(f.message)
            for field, found in by_field.items():
                yield Finding(
                    f"check:{table}:{row['pk']}:{field}",
                    row[key],
                    table,
                    row["pk"],
                    field,
                    "edit check: " + "; ".join(found),
                )


def _missing_visits(
    patients: QuerySet[Patient],
    keys: Mapping[str, int],
    visit_states: Mapping[str, list[schedule.VisitState]] | None,
) -> Iterable[Finding]:
    """Each planned visit the schedule calls missing (a later visit, or follow-up ended),
    of the patients (``keys``: patient ID -> key); ``visit_states``: the patients' states
    computed already, else computed here."""
    if visit_states is None:
        visit_states = schedule.patient_visit_states(patients)
    for pid, states in visit_states.items():
        for s in states:
            if s.status == "missing" and pid in keys:
                yield Finding(
                    f"missing_visit:{pid}:{s.label}",
                    keys[pid],
                    "patient",
                    keys[pid],
                    "",
                    f"the {s.label} visit (due {s.due}, window {s.opens} to {s.closes}) is "
                    "missing: enter it, or say why it did not take place",
                )


def raise_automatic_queries(
    patients: QuerySet[Patient] | None = None,
    *,
    tables: Collection[str] = tuple(TABLES),
    visits: bool = True,
    visit_states: Mapping[str, list[schedule.VisitState]] | None = None,
) -> int:
    """Raise a proposed query for each new finding of the edit checks; how many were raised.

    ``patients`` defaults to every live patient (the command); after a save the app
    passes the saved patient only, the cell checks of the ``tables`` the save can
    change and ``visits`` (missing visits) only when it can change them, with the
    ``visit_states`` it computed already (``followup``). A finding raised before (its
    ``check_key``) is never raised again, whatever its query's status.
    """
    scope = patients if patients is not None else Patient.objects.all()
    scope = scope.filter(deleted=False)
    rows = list(scope.values_list("pk", "patient_id", "enrollment_date"))
    enrolled = {pk: day for pk, _, day in rows}
    found = [*_cell_findings(enrolled, tables)]
    if visits:
        found += _missing_visits(scope, {pid: pk for pk, pid, _ in rows}, visit_states)
    findings = {f.key: f for f in found}
    raised = DataQuery.objects.filter(check_key__in=list(findings)).values_list(
        "check_key", flat=True
    )
    for key in raised:  # raised before: no need to take the chain's lock for them
        findings.pop(key)
    if not findings:
        return 0
    with transaction.atomic(), pghistory.context(username="edit checks", reason="edit check"):
        audit.lock_chain()  # every audited write takes it first: two runs cannot both raise
        known = set(
            DataQuery.objects.filter(check_key__in=list(findings)).values_list(
                "check_key", flat=True
            )
        )
        new = [f for key, f in sorted(findings.items()) if key not in known]
        made = DataQuery.objects.bulk_create(
            DataQuery(
                patient_id=f.patient,
                table=f.table,
                record_id=f.record,
                field=f.field,
                question=f.question,
                status="proposed",
                origin="automatic",
                check_key=f.key,
            )
            for f in new
        )
        QueryStep.objects.bulk_create(
            QueryStep(query=q, action="raise", text=q.question) for q in made
        )
    return len(made)


# -- views ------------------------------------------------------------------------------------
TABLE_LABELS = {
    "patient": "patient",
    "treatment": "treatment period",
    "lab": "lab value",
    "bleeding": "bleeding event",
    "adverse_event": "adverse event",
}
#: the patient's fields entered on the screening form (the others: the baseline form)
SCREENING_FIELDS = {"patient_id", "site", "enrollment_date", "excluded", "eligibility"}
STATUS_FILTERS = ("unresolved", "proposed", "open", "answered", "closed", "dismissed", "all")


def describe(query: DataQuery) -> str:
    """Where the query points, in words: "lab value 12 · value", "patient · age"."""
    label = TABLE_LABELS.get(query.table, query.table)
    where = label if query.table == "patient" else f"{label} {query.record_id}"
    return f"{where} · {query.field}" if query.field else where


def with_ages(found: Iterable[DataQuery], now: dt.datetime | None = None) -> list[DataQuery]:
    """The queries, each with ``age`` (days), ``bucket`` and ``where`` for the pages."""
    now = now or timezone.now()
    out = list(found)
    for q in out:
        q.age = age_days(q, now)  # type: ignore[attr-defined]
        q.bucket = age_bucket(q.age)  # type: ignore[attr-defined]
        q.where = describe(q)  # type: ignore[attr-defined]
    return out


def _query(request: HttpRequest, qid: int) -> DataQuery:
    """The query, if this user may see it (its patient in their scope); otherwise 404."""
    found = queries_for(request.user).select_related("patient", "raised_by").filter(pk=qid).first()
    if found is None:
        raise Http404("no such query")
    return found


def bucket_counts(found: QuerySet[DataQuery], now: dt.datetime | None = None) -> list[list[Any]]:
    """Rows of [status, n in 0-3, 4-7, 8-14, 15+ days, total] over the given queries."""
    now = now or timezone.now()
    table: dict[str, dict[str, int]] = {}
    for status, raised in found.values_list("status", "raised_at"):
        row = table.setdefault(status, dict.fromkeys(AGE_BUCKETS, 0))
        row[age_bucket(max(0, (now - raised).days))] += 1
    order = [s for s in ("proposed", "open", "answered", "closed", "dismissed") if s in table]
    return [[s, *(table[s][b] for b in AGE_BUCKETS), sum(table[s].values())] for s in order]


def query_list(request: HttpRequest) -> HttpResponse:
    """The study's queries this user may see, filtered by status, oldest first."""
    status = request.GET.get("status", "unresolved")
    status = status if status in STATUS_FILTERS else "unresolved"
    visible = queries_for(request.user)
    found = visible.select_related("patient", "patient__site", "raised_by")
    if status == "unresolved":
        found = found.filter(status__in=UNRESOLVED)
    elif status != "all":
        found = found.filter(status=status)
    page = Paginator(found.order_by("raised_at", "pk"), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "queries": with_ages(page),
        "status": status,
        "filters": STATUS_FILTERS,
        "buckets": AGE_BUCKETS,
        "counts": bucket_counts(visible),
    }
    return render(request, "study/query_list.html", context)


def _edit_url(query: DataQuery, record: Any) -> str:
    pid = query.patient.patient_id
    if query.table == "patient":
        part = "screening" if query.field in SCREENING_FIELDS else "baseline"
        return reverse(f"patient_{part}", args=[pid])
    if record is None or record.deleted:
        return ""
    return reverse("record_edit", args=[pid, TABLES[query.table][2], query.record_id])


def _audit_url(query: DataQuery) -> str:
    pid = query.patient.patient_id
    if query.table == "patient":
        return reverse("patient_audit", args=[pid])
    return reverse("record_audit", args=[pid, TABLES[query.table][2], query.record_id])


def _detail(
    request: HttpRequest, query: DataQuery, *, error: str = "", text: str = "", status: int = 200
) -> HttpResponse:
    model = TABLES[query.table][0]
    record = model.objects.filter(pk=query.record_id).first()  # type: ignore[attr-defined]
    may_edit = request.user.has_perm("study.edit_patient", query.patient)
    context = {
        "query": with_ages([query])[0],
        "patient": query.patient,
        "steps": query.steps.select_related("by"),
        "record": record,
        "value": getattr(record, query.field, "") if record is not None and query.field else "",
        "edit_url": _edit_url(query, record) if may_edit else "",
        "audit_url": _audit_url(query),
        "actions": allowed_steps(request.user, query),
        "error": error,
        "text": text,
    }
    return render(request, "study/query.html", context, status=status)


def query_detail(request: HttpRequest, qid: int) -> HttpResponse:
    return _detail(request, _query(request, qid))


@require_POST
def query_step(request: HttpRequest, qid: int, action: str) -> HttpResponse:
    """One step (answer, close, reopen, confirm, dismiss) from the query's page."""
    query = _query(request, qid)
    step = STEPS.get(action)
    if step is None:
        raise Http404("no such step")
    if access.role(request.user) not in step.roles:
        raise PermissionDenied(f"your role may not {action} a query")
    text = request.POST.get("text", "")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    try:
        take_step(request.user, query, action, text, version=version)
    except QueryConflict as conflict:
        fresh = _query(request, qid)
        return _detail(request, fresh, error=str(conflict), text=text, status=409)
    except QueryError as error:
        return _detail(request, query, error=str(error), text=text, status=400)
    messages.success(request, f"query {qid} {STEPS[action].target}")
    return redirect("query", qid=qid)


def _targets(patient: Patient) -> list[tuple[str, str]]:
    """The records a query can point to: ("lab:12", "lab value 12: 2024-01-20 platelets ...")."""
    out = [("patient", f"patient {patient.patient_id} (screening, baseline)")]
    for t in Treatment.objects.filter(patient=patient, deleted=False):
        out.append((f"treatment:{t.pk}", f"treatment period {t.pk}: {t.drug} from {t.start_date}"))
    for lab in Lab.objects.filter(patient=patient, deleted=False):
        shown = f"{lab.date} {lab.test} {lab.value:g} {lab.unit}"
        out.append((f"lab:{lab.pk}", f"lab value {lab.pk}: {shown}"))
    for b in Bleeding.objects.filter(patient=patient, deleted=False):
        out.append((f"bleeding:{b.pk}", f"bleeding event {b.pk}: {b.date} WHO {b.who_grade}"))
    for a in AdverseEvent.objects.filter(patient=patient, deleted=False):
        out.append((f"adverse_event:{a.pk}", f"adverse event {a.pk}: {a.onset_date} {a.term}"))
    return out


def _parse_target(target: str, patient: Patient) -> tuple[str, int | None]:
    table, _, pk = target.partition(":")
    if table == "patient":
        return table, patient.pk
    try:
        return table, int(pk)
    except ValueError:
        raise QueryError("choose the record the query is about") from None


def field_choices() -> dict[str, list[str]]:
    """Table -> the fields a query may name (the cohort format's columns, as stored)."""
    return {
        table: [c.name for c in checks.TABLE_OF[spec].columns if c.name != "patient_id"]
        for table, (_, spec, _) in TABLES.items()
    }


def query_new(request: HttpRequest, pid: str) -> HttpResponse:
    """A monitor's (or an administrator's) new query on one of the patient's records."""
    patient = signoff.scoped_patient(request.user, pid)
    if not may_raise(request.user):
        raise PermissionDenied("only a monitor or an administrator raises a query")
    source = request.POST if request.method == "POST" else request.GET
    target, field = source.get("target", "patient"), source.get("field", "")
    question, error = source.get("question", ""), ""
    if request.method == "POST":
        try:
            table, record_id = _parse_target(target, patient)
            query = raise_query(
                request.user,
                patient,
                table=table,
                record_id=record_id,
                field=field,
                question=question,
            )
        except QueryError as problem:
            error = str(problem)
        else:
            messages.success(request, f"query {query.pk} raised")
            return redirect("patient", pid=pid)
    context = {
        "patient": patient,
        "targets": _targets(patient),
        "fields": field_choices(),
        "target": target,
        "field": field,
        "question": question,
        "error": error,
    }
    return render(request, "study/query_new.html", context, status=400 if error else 200)


def patient_queries(user: Any, patient: Patient) -> list[DataQuery]:
    """The patient's queries this user sees, unresolved first (for the patient page)."""
    found = queries_for(user).filter(patient=patient).select_related("raised_by")
    rank = {"proposed": 0, "open": 1, "answered": 2, "closed": 3, "dismissed": 4}
    return sorted(with_ages(found), key=lambda q: (rank.get(q.status, 9), q.raised_at))


def open_counts(patient_pks: list[int]) -> dict[int, int]:
    """Patient key -> number of unresolved queries (open or answered), for the patient list."""
    return dict(
        DataQuery.objects.filter(patient_id__in=patient_pks, status__in=UNRESOLVED)
        .values("patient_id")
        .annotate(n=models.Count("pk"))
        .values_list("patient_id", "n")
    )
