"""Alerts: clinical events in the study's data that someone must look at, raised once each.

Five kinds (``models.ALERT_KINDS``), each keyed by the event it names, so that no
event is ever raised twice (``Alert.key`` is unique; inserted with ``INSERT ...
ON CONFLICT (key) DO NOTHING``, so concurrent callers cannot raise one twice
either):

- ``loss``: a confirmed loss of response, read from the one pipeline's event
  stream (``monitoring.Snapshot.events``, rule 5 of the response criteria),
  never judged here; one alert per loss event, key ``loss:<patient_id>:<date>``,
  so a re-achievement followed by a second loss raises a second alert;
- ``low_platelets``: a platelet count strictly below the study's threshold
  (``StudySettings.alert_platelets_below``, default 30 x10^9/L), compared in
  x10^9/L after the cohort format's unit conversion (``cohort/units.py``:
  29,000 /uL is 29 x10^9/L); one per lab row, key ``low_platelets:lab:<pk>``.
  Counts of a unit the table does not know raise nothing (the edit checks flag
  the unit);
- ``bleeding``: a bleeding event of WHO grade 2 or more, one per row
  (``bleeding:<pk>``);
- ``adverse_event``: an adverse event of grade 3 or more, one per row
  (``adverse_event:<pk>``);
- ``overdue_visit``: a planned visit whose window has closed with no visit in it
  (``schedule`` status ``overdue``: from the day after the window's last day),
  key ``overdue_visit:<patient_id>:<visit label>``.

Soft-deleted rows, deleted patients and excluded patients raise nothing. An
alert, once raised, stays: it records that the event happened. Correcting the
value later (a count corrected from 25 to 250, a row deleted as entered in
error) does not withdraw it; whoever reads it acknowledges it with a note
saying so.

Each new alert is e-mailed (:func:`send_alert_mails`) to the active users with an
e-mail address who may see its patient (members of the patient's site and
all-sites members); the mail names the study ID only, never identifying data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pghistory
from django.conf import settings as django_settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from itpcohort.cohort.units import TESTS, normalise_unit
from itpcohort.study import access, audit
from itpcohort.study.models import (
    ALERT_KINDS,
    AdverseEvent,
    Alert,
    AlertAcknowledgement,
    Bleeding,
    Lab,
    Member,
    Patient,
    StudySettings,
)

if TYPE_CHECKING:
    from itpcohort.study.schedule import VisitState

log = logging.getLogger(__name__)

KIND_NAMES = dict(ALERT_KINDS)
KINDS = tuple(KIND_NAMES)
#: bleeding of this WHO grade or more alerts
BLEEDING_MIN_GRADE = 2
#: adverse events of this CTCAE grade or more alert
AE_MIN_GRADE = 3
#: rows per INSERT statement
BATCH = 1000


@dataclass(frozen=True)
class Candidate:
    """An event that alerts, before it is stored (``key`` names it)."""

    kind: str
    patient_pk: int
    key: str
    event_date: dt.date | None
    message: str


# -- which patients ---------------------------------------------------------------------
def _scope(patients: Any) -> QuerySet[Patient]:
    """The live, enrolled patients among ``patients`` (a queryset, Patient objects or pks;
    None: all)."""
    live = Patient.objects.filter(deleted=False, excluded="")
    if patients is None:
        return live
    if isinstance(patients, QuerySet):
        return live.filter(pk__in=patients.values("pk"))
    pks = [p.pk if isinstance(p, Patient) else int(p) for p in patients]
    return live.filter(pk__in=pks)


# -- the events that alert ---------------------------------------------------------------
def _unraised(rows: QuerySet[Any], prefix: str) -> QuerySet[Any]:
    """The rows whose alert (key ``prefix<pk>``) is not there yet: looked up in the
    database through the key's unique index, so a settled study reads no old alerts."""
    key = Concat(Value(prefix), Cast("pk", CharField()), output_field=CharField())
    raised = Alert.objects.filter(key=OuterRef("alert_key"))
    return rows.annotate(alert_key=key).filter(~Exists(raised))


def platelet_limits(threshold: float, units: Iterable[str]) -> dict[str, float]:
    """Unit as entered -> the value below which a count in that unit is below ``threshold``
    x10^9/L (exactly: ``threshold / factor`` in decimal); units the table lacks left out."""
    factors = TESTS["platelets"][1]
    limits = {}
    for unit in units:
        factor = factors.get(normalise_unit(unit))
        if factor is not None:
            limits[unit] = float(Decimal(repr(float(threshold))) / Decimal(repr(factor)))
    return limits


def _in_platelets(value: float, unit: str) -> float:
    factor = TESTS["platelets"][1][normalise_unit(unit)]
    return float(Decimal(repr(value)) * Decimal(repr(factor)))


def low_platelet_candidates(scope: QuerySet[Patient], threshold: float) -> list[Candidate]:
    """Live platelet counts strictly below ``threshold`` x10^9/L (after unit conversion),
    not alerted yet."""
    labs = Lab.objects.filter(patient__in=scope, deleted=False, test="platelets")
    units = labs.order_by().values_list("unit", flat=True).distinct()  # units, not rows
    limits = platelet_limits(threshold, units)
    if not limits:
        return []
    below = Q()
    for unit, limit in limits.items():
        below |= Q(unit=unit, value__lt=limit)
    found = []
    for pk, patient_pk, pid, date, value, unit in _unraised(
        labs.filter(below), "low_platelets:lab:"
    ).values_list("pk", "patient_id", "patient__patient_id", "date", "value", "unit"):
        count = _in_platelets(value, unit)
        entered = "" if normalise_unit(unit) == "10^9/l" else f" (entered {value:g} {unit})"
        found.append(
            Candidate(
                "low_platelets",
                patient_pk,
                f"low_platelets:lab:{pk}",
                date,
                f"{pid}: platelet count {count:g} x10^9/L on {date:%Y-%m-%d}{entered}, "
                f"below the alert threshold of {threshold:g} x10^9/L",
            )
        )
    return found


def bleeding_candidates(scope: QuerySet[Patient]) -> list[Candidate]:
    """Live bleeding events of WHO grade 2 or more, not alerted yet."""
    rows = _unraised(
        Bleeding.objects.filter(
            patient__in=scope, deleted=False, who_grade__gte=BLEEDING_MIN_GRADE
        ),
        "bleeding:",
    ).values_list("pk", "patient_id", "patient__patient_id", "date", "who_grade", "site")
    return [
        Candidate(
            "bleeding",
            patient_pk,
            f"bleeding:{pk}",
            date,
            f"{pid}: bleeding of WHO grade {grade} on {date:%Y-%m-%d}"
            + (f" ({where})" if where else ""),
        )
        for pk, patient_pk, pid, date, grade, where in rows
    ]


def adverse_event_candidates(scope: QuerySet[Patient]) -> list[Candidate]:
    """Live adverse events of grade 3 or more, not alerted yet."""
    rows = _unraised(
        AdverseEvent.objects.filter(patient__in=scope, deleted=False, grade__gte=AE_MIN_GRADE),
        "adverse_event:",
    ).values_list("pk", "patient_id", "patient__patient_id", "onset_date", "grade", "term")
    return [
        Candidate(
            "adverse_event",
            patient_pk,
            f"adverse_event:{pk}",
            onset,
            f"{pid}: adverse event '{term}' of grade {grade} from {onset:%Y-%m-%d}",
        )
        for pk, patient_pk, pid, onset, grade, term in rows
    ]


def overdue_candidates(
    scope: QuerySet[Patient],
    today: dt.date | None,
    visit_states: Mapping[str, list[VisitState]] | None = None,
) -> list[Candidate]:
    """Planned visits overdue beyond their window (``schedule``'s status ``overdue``).

    ``visit_states``: the patients' states computed already (``followup`` shares them
    with the automatic queries), else computed here."""
    from itpcohort.study.schedule import patient_visit_states

    pks = dict(scope.values_list("patient_id", "pk"))
    if visit_states is None:
        visit_states = patient_visit_states(scope, today=today)
    found = []
    for pid, states in visit_states.items():
        for s in states:
            if s.status != "overdue" or pid not in pks:
                continue
            found.append(
                Candidate(
                    "overdue_visit",
                    pks[pid],
                    f"overdue_visit:{pid}:{s.label}",
                    s.due,
                    f"{pid}: visit '{s.label}' (due {s.due:%Y-%m-%d}, window "
                    f"{s.opens:%Y-%m-%d} to {s.closes:%Y-%m-%d}) not done: overdue since "
                    f"{s.closes + dt.timedelta(days=1):%Y-%m-%d}",
                )
            )
    return found


def loss_candidates(scope: QuerySet[Patient], snapshot: Any) -> list[Candidate]:
    """One per loss event in the engine's event stream (``monitoring.Snapshot.events``)."""
    events = snapshot.events
    if events is None or len(events) == 0:
        return []
    losses = events[events["event"] == "loss"]
    pks = dict(
        scope.filter(patient_id__in=set(losses["patient_id"].astype(str))).values_list(
            "patient_id", "pk"
        )
    )
    found = []
    for pid, date in zip(losses["patient_id"].astype(str), losses["date"], strict=True):
        if pid not in pks:
            continue
        day = date.date() if hasattr(date, "date") else date
        found.append(
            Candidate(
                "loss",
                pks[pid],
                f"loss:{pid}:{day:%Y-%m-%d}",
                day,
                f"{pid}: confirmed loss of response on {day:%Y-%m-%d} "
                f"({snapshot.criteria}, data version {snapshot.version})",
            )
        )
    return found


def candidates(
    scope: QuerySet[Patient],
    kinds: Sequence[str],
    *,
    today: dt.date | None = None,
    snapshot: Any = None,
    visit_states: Mapping[str, list[VisitState]] | None = None,
    settings: StudySettings | None = None,
) -> list[Candidate]:
    """Every event of the given kinds among the patients of ``scope`` (``visit_states``,
    ``settings``: read already by the caller, else read here)."""
    found: list[Candidate] = []
    if "loss" in kinds and snapshot is not None:
        found += loss_candidates(scope, snapshot)
    if "low_platelets" in kinds:
        threshold = (settings or StudySettings.current()).alert_platelets_below
        found += low_platelet_candidates(scope, threshold)
    if "bleeding" in kinds:
        found += bleeding_candidates(scope)
    if "adverse_event" in kinds:
        found += adverse_event_candidates(scope)
    if "overdue_visit" in kinds:
        found += overdue_candidates(scope, today, visit_states)
    return found


# -- storing, once -------------------------------------------------------------------------
def _insert(found: list[Candidate]) -> list[int]:
    """Insert the candidates whose key is new; the ids of the rows this call inserted
    (a key another caller inserted first is skipped by ON CONFLICT, not raised again)."""
    now = timezone.now()
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(found), BATCH):
            part = found[start : start + BATCH]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(part))
            params: list[Any] = []
            for c in part:
                params += [c.kind, c.patient_pk, c.key, c.event_date, c.message, now]
            cursor.execute(
                "INSERT INTO study_alert (kind, patient_id, key, event_date, message, raised_at) "
                f"VALUES {values} ON CONFLICT (key) DO NOTHING RETURNING id",
                params,
            )
            ids += [int(row[0]) for row in cursor.fetchall()]
    return ids


def raise_alerts(
    patients: Any = None,
    *,
    kinds: Sequence[str] = KINDS,
    today: dt.date | None = None,
    snapshot: Any = None,
    mail: bool = True,
    visit_states: Mapping[str, list[VisitState]] | None = None,
    settings: StudySettings | None = None,
) -> list[Alert]:
    """Raise the alerts of ``patients`` (None: every patient) not raised yet; the new ones.

    Idempotent: an event already raised is skipped, by this caller or a concurrent
    one. Loss alerts need the engine's results: ``snapshot`` (a
    ``monitoring.Snapshot``), else the latest one there is (never computed here;
    none yet: no loss alerts). ``today``: for overdue visits (default: today, UTC).
    Each new alert is e-mailed (``mail``). ``visit_states`` (of these patients, on
    ``today``) and ``settings``: read already by the caller (``followup``), else read here.
    """
    scope = _scope(patients)
    if "loss" in kinds and snapshot is None:
        snapshot = _latest_snapshot()
    found = candidates(
        scope, kinds, today=today, snapshot=snapshot, visit_states=visit_states, settings=settings
    )
    if not found:
        return []
    keys = [c.key for c in found]
    known: set[str] = set()
    for start in range(0, len(keys), 10 * BATCH):
        part = keys[start : start + 10 * BATCH]
        known.update(Alert.objects.filter(key__in=part).values_list("key", flat=True))
    new = [c for c in found if c.key not in known]
    if not new:
        return []
    with transaction.atomic(), pghistory.context(reason="alert raised by the study's checks"):
        audit.lock_chain()
        ids = _insert(new)
    raised = list(Alert.objects.filter(pk__in=ids).select_related("patient__site").order_by("pk"))
    if mail:
        send_alert_mails(raised)
    return raised


@dataclass(frozen=True)
class Run:
    """What :func:`run_all` did: the new alerts, and why losses were not read afresh."""

    raised: list[Alert]
    evaluation_error: str | None = None
    #: earlier alerts whose e-mail went out on this run (:func:`resend_unsent`)
    resent: int = 0


def run_all(*, evaluate: bool = True, today: dt.date | None = None) -> Run:
    """Every alert of the study not raised yet (the daily cron's job: overdue visits).

    ``evaluate``: evaluate the study first when its data changed (``monitoring.snapshot``),
    so that losses are those of the current data; when the evaluation fails the other
    alerts are still raised (losses from the latest results) and the error is returned.
    """
    from itpcohort.study import monitoring

    snapshot, error = None, None
    if evaluate:
        try:
            snapshot = monitoring.snapshot()
        except monitoring.MonitoringError as failure:
            error = str(failure)
    raised = raise_alerts(today=today, snapshot=snapshot)
    return Run(raised, error, resend_unsent())


def count_by_kind(raised: Iterable[Alert]) -> dict[str, int]:
    """How many alerts of each kind, in the order of ``ALERT_KINDS``."""
    found = [a.kind for a in raised]
    return {kind: found.count(kind) for kind in KINDS if kind in found}


def _latest_snapshot() -> Any:
    try:
        from itpcohort.study import monitoring
    except ImportError:  # pragma: no cover - the engine's module is part of the app
        return None
    return monitoring.latest()


#: the kinds a save can raise (losses come with the next evaluation)
AFTER_SAVE_KINDS = tuple(k for k in KINDS if k != "loss")


def after_save(
    patient_pk: int,
    kinds: Sequence[str] = AFTER_SAVE_KINDS,
    *,
    visit_states: Mapping[str, list[VisitState]] | None = None,
    settings: StudySettings | None = None,
    today: dt.date | None = None,
) -> list[Alert]:
    """After a record of the patient was saved (committed): raise the patient's alerts of
    ``kinds`` (default: all but losses; ``followup.alert_kinds`` names those a table's
    save can raise); the new ones. Never fails the save (an error is logged: none)."""
    try:
        return raise_alerts(
            [patient_pk], kinds=kinds, today=today, visit_states=visit_states, settings=settings
        )
    except Exception:  # an alert must never turn a saved record into an error page
        log.exception("raising the alerts of patient %s failed", patient_pk)
        return []


def after_evaluation(snapshot: Any) -> None:
    """After the study was evaluated again: raise the loss alerts of its event stream."""
    try:
        raise_alerts(kinds=["loss"], snapshot=snapshot)
    except Exception:  # the evaluation itself succeeded; the pages must still show it
        log.exception("raising the loss alerts of data version %s failed", snapshot.version)


# -- e-mail --------------------------------------------------------------------------------
def recipients(patient: Patient) -> list[str]:
    """E-mail addresses of the active users who may see the patient."""
    members = Member.objects.filter(user__is_active=True).exclude(user__email="")
    if patient.site_id is None:
        members = members.filter(all_sites=True)
    else:
        members = members.filter(Q(all_sites=True) | Q(sites=patient.site_id))
    return sorted(set(members.values_list("user__email", flat=True)))


def mail_text(alert: Alert) -> tuple[str, str]:
    """Subject and body of an alert's e-mail: the study ID, never identifying data."""
    pid = alert.patient.patient_id
    site = alert.patient.site.code if alert.patient.site else "(no site)"
    subject = f"[itpcohort study] {KIND_NAMES[alert.kind]}: {pid}"
    base = getattr(django_settings, "STUDY_URL", "").rstrip("/")
    where = f"{base}/alerts/" if base else "the study app's Alerts page"
    when = f"Date: {alert.event_date:%Y-%m-%d}\n" if alert.event_date else ""
    body = (
        f"{KIND_NAMES[alert.kind]}\n\nPatient (study ID): {pid}\nSite: {site}\n{when}\n"
        f"{alert.message}\n\n"
    )
    body += f"Acknowledge it with a note in {where}.\n"
    return subject, body


def send_alert_mails(raised: Sequence[Alert]) -> int:
    """One e-mail per alert to everyone who may see its patient (one connection for all);
    ``emailed_at`` set on those sent. An alert nobody can be sent, or whose mail fails
    (logged), keeps ``emailed_at`` empty. How many were sent."""
    by_site: dict[int | None, list[str]] = {}
    sent: list[Alert] = []
    with get_connection() as backend:
        for alert in raised:
            site = alert.patient.site_id
            if site not in by_site:
                by_site[site] = recipients(alert.patient)
            if not by_site[site]:
                continue
            subject, body = mail_text(alert)
            try:
                EmailMessage(subject, body, to=by_site[site], connection=backend).send()
            except Exception:  # SMTP down, refused: the alert stays in the inbox, unsent
                log.exception("e-mail of alert %s could not be sent", alert.pk)
                continue
            sent.append(alert)
    if sent:
        now = timezone.now()
        with transaction.atomic(), pghistory.context(reason="alert e-mailed"):
            audit.lock_chain()
            Alert.objects.filter(pk__in=[a.pk for a in sent]).update(emailed_at=now)
        for alert in sent:
            alert.emailed_at = now
    return len(sent)


#: the daily run e-mails again the unsent alerts of this many days
RETRY_DAYS = 7
#: ... raised this long ago at least (a mail being sent right now is not sent twice)
RETRY_AFTER = dt.timedelta(minutes=10)


def resend_unsent(now: dt.datetime | None = None) -> int:
    """E-mail the alerts of the last :data:`RETRY_DAYS` days whose mail was not sent (the
    mail server was down, or nobody had an address then); how many went out. The rows
    are locked while their mails go out (``FOR NO KEY UPDATE SKIP LOCKED``), so a second
    run at the same time skips them instead of sending them twice."""
    now = now or timezone.now()
    with transaction.atomic():
        pending = list(
            Alert.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
            .filter(
                emailed_at=None,
                raised_at__gte=now - dt.timedelta(days=RETRY_DAYS),
                raised_at__lte=now - RETRY_AFTER,
            )
            .select_related("patient__site")
            .order_by("pk")
        )
        return send_alert_mails(pending) if pending else 0


# -- who sees what ---------------------------------------------------------------------
def alerts_for(user: Any) -> QuerySet[Alert]:
    """The alerts of the patients this user may see (``access.patients_for``), each with
    ``acknowledged`` (by this user), unacknowledged first, newest first."""
    mine = AlertAcknowledgement.objects.filter(alert=OuterRef("pk"), user_id=user.pk or 0)
    return (
        Alert.objects.filter(patient__in=access.patients_for(user))
        .annotate(acknowledged=Exists(mine))
        .select_related("patient")
        .order_by("acknowledged", "-raised_at", "-event_date", "-pk")
    )


def unacknowledged_count(user: Any) -> int:
    """How many of the user's alerts they have not acknowledged."""
    if access.member(user) is None:
        return 0
    return alerts_for(user).filter(acknowledged=False).count()


#: how long the nav badge's count may lag a change of sites or patients (seconds)
BADGE_SECONDS = 60


def badge_count(user: Any) -> int:
    """:func:`unacknowledged_count` for the menu's badge on every page, cached per user
    until a new alert or an acknowledgement of theirs (two index lookups), or for
    :data:`BADGE_SECONDS` at most (a patient moved to another site, deleted)."""
    from django.core.cache import cache
    from django.db.models import Max

    newest = Alert.objects.aggregate(m=Max("pk"))["m"] or 0
    acks = AlertAcknowledgement.objects.filter(user_id=user.pk).aggregate(m=Max("pk"))["m"] or 0
    key = f"study-alert-badge:{user.pk}:{newest}:{acks}"
    found = cache.get(key)
    if found is None:
        found = unacknowledged_count(user)
        cache.set(key, found, BADGE_SECONDS)
    return int(found)


class AcknowledgementError(ValueError):
    """An acknowledgement without a note, or a second one by the same user."""


def acknowledge(alert: Alert, user: Any, note: str) -> AlertAcknowledgement:
    """The user has seen the alert: recorded with the note (the audit trail's reason)."""
    text = (note or "").strip()
    if not text:
        raise AcknowledgementError("write a note: what was done or why nothing is needed")
    if AlertAcknowledgement.objects.filter(alert=alert, user=user).exists():
        raise AcknowledgementError("you have acknowledged this alert already")
    with (
        transaction.atomic(),
        pghistory.context(
            user=user.pk, username=user.get_username(), reason=f"alert acknowledged: {text}"
        ),
    ):
        audit.lock_chain()
        if AlertAcknowledgement.objects.filter(alert=alert, user=user).exists():
            raise AcknowledgementError("you have acknowledged this alert already")
        return AlertAcknowledgement.objects.create(alert=alert, user=user, note=text)
