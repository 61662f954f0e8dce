"""The study database: the cohort format's tables as models, plus sites, roles and settings.

Each clinical table (:class:`Patient`, :class:`Treatment`, :class:`Lab`,
:class:`Bleeding`, :class:`AdverseEvent`) has the cohort format's columns with
their names (``shared/spec/cohort-format.md``), the columns the format does not
list in ``extra`` (kept as text, exported as they came), a ``version`` for
optimistic locking and a ``deleted`` flag: nothing is deleted, and a database
trigger refuses DELETE. Another trigger refuses any UPDATE that does not carry
a reason in the audit context and counts the version up.

Every model here is tracked by ``django-pghistory``: database triggers write an
insert, update or delete event, holding the row's new values and the request's
context (user, IP, reason), into an append-only event table; each event is
sealed into the SHA-256 hash chain (:class:`AuditLink`) by another trigger
(:mod:`itpcohort.study.audit`).

Identifying data (name, hospital number, date of birth) sits in
:class:`PatientIdentity`, behind its own permission (``study.view_identity``);
everything else uses the study ID (GDPR pseudonymisation).
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.auth.models import User
from django.db import models

from itpcohort.cohort import schema
from itpcohort.study.schedule import DEFAULT_VISIT_SCHEDULE

ROLES = (
    ("administrator", "Administrator"),
    ("investigator", "Investigator"),
    ("coordinator", "Coordinator"),
    ("monitor", "Monitor"),
)
#: roles that enter and change data (a monitor reads and raises queries only)
EDITING_ROLES = ("administrator", "investigator", "coordinator")

DEFAULT_ELIGIBILITY = [
    {"key": "age_18", "text": "Aged 18 or over"},
    {"key": "platelets_below_30", "text": "Platelet count below 30 x10^9/L at screening"},
    {"key": "apl_positive", "text": "Antiphospholipid antibodies positive (LA, aCL or anti-b2GPI)"},
    {"key": "consent", "text": "Written informed consent"},
]
#: tests offered on the visit form, in order
DEFAULT_VISIT_TESTS = [
    "platelets",
    "hemoglobin",
    "neutrophils",
    "creatinine",
    "glucose",
    "alt",
    "tacrolimus_trough",
]


def _chain() -> pgtrigger.Trigger:
    """The trigger sealing the new audit rows of each statement into the hash chain
    (``audit.py``): one call per INSERT statement, so a bulk import is not one call per row."""
    return pgtrigger.Trigger(
        name="audit_chain",
        when=pgtrigger.After,
        operation=pgtrigger.Insert,
        level=pgtrigger.Statement,
        referencing=pgtrigger.Referencing(new="new_rows"),
        # the new rows read back from the table itself: a typed array (the function is
        # polymorphic; a transition table's rows would be anonymous records)
        func=pgtrigger.Func(
            "PERFORM study_audit_append(TG_TABLE_NAME, (SELECT array_agg(e) FROM "
            "{meta.db_table} e WHERE e.{meta.pk.column} IN "
            "(SELECT n.{meta.pk.column} FROM new_rows n))); RETURN NULL;"
        ),
    )


def tracked(**options: object):  # type: ignore[no-untyped-def]
    """pghistory tracking of inserts, updates and deletes, each event sealed in the chain."""
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        meta={"triggers": [_chain()]},
        **options,
    )


def clinical_triggers() -> list[pgtrigger.Trigger]:
    """Refuse DELETE (soft delete only); refuse a change without a reason; count versions."""
    return [
        pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),
        pgtrigger.Trigger(
            name="reason_and_version",
            when=pgtrigger.Before,
            operation=pgtrigger.Update,
            condition=pgtrigger.AnyChange(),
            func=(
                "IF coalesce(NULLIF(current_setting('pghistory.context_metadata', true), '')"
                "::jsonb ->> 'reason', '') = '' THEN RAISE EXCEPTION 'a change to % needs a "
                "reason (the audit trail keeps it)', TG_TABLE_NAME USING ERRCODE = 'P0001'; "
                "END IF; NEW.version := OLD.version + 1; RETURN NEW;"
            ),
        ),
    ]


@tracked()
class Site(models.Model):
    """A centre; ``code`` is the cohort format's ``site`` text."""

    code = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    #: test -> unit offered first on this site's visit form (e.g. platelets: "/uL")
    lab_units = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.code


@tracked()
class StudySettings(models.Model):
    """The study's settings (one row): study drug, criteria profile, visits, eligibility."""

    name = models.CharField(max_length=200, default="ITP cohort study")
    study_drug = models.CharField(max_length=100, blank=True)
    criteria = models.CharField(max_length=200, default="iwg2009")
    visit_schedule = models.JSONField(default=list, blank=True)
    eligibility = models.JSONField(default=list, blank=True)
    visit_tests = models.JSONField(default=list, blank=True)
    #: alert when a platelet count falls below this (x10^9/L; issue 11)
    alert_platelets_below = models.FloatField(default=30)

    class Meta:
        verbose_name_plural = "study settings"

    @classmethod
    def current(cls) -> StudySettings:
        found = cls.objects.order_by("pk").first()
        if found is None:
            found = cls.objects.create(
                visit_schedule=DEFAULT_VISIT_SCHEDULE,
                eligibility=DEFAULT_ELIGIBILITY,
                visit_tests=DEFAULT_VISIT_TESTS,
            )
        return found


@tracked()
class Member(models.Model):
    """A user's role in the study and the sites they work at (all: ``all_sites``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    role = models.CharField(max_length=20, choices=ROLES)
    sites = models.ManyToManyField(Site, blank=True, related_name="members")
    all_sites = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"


class Clinical(models.Model):
    """What every clinical table has besides the format's columns."""

    version = models.PositiveIntegerField(default=1)
    deleted = models.BooleanField(default=False)
    #: columns the format does not list, as text (exported as they came)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    #: the cohort format's table this model holds
    table: schema.TableSpec


@tracked()
class Patient(Clinical):
    """One screened patient (``patients``): excluded ones have a reason in ``excluded``."""

    patient_id = models.CharField(max_length=100, unique=True)
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="patients"
    )
    enrollment_date = models.DateField()
    excluded = models.TextField(blank=True)
    sex = models.TextField(blank=True)
    age = models.FloatField(null=True, blank=True)
    diagnosis_date = models.DateField(null=True, blank=True)
    sle = models.BooleanField(null=True, blank=True)
    aps = models.BooleanField(null=True, blank=True)
    lupus_anticoagulant = models.BooleanField(null=True, blank=True)
    acl_igg = models.FloatField(null=True, blank=True)
    acl_igm = models.FloatField(null=True, blank=True)
    ab2gpi_igg = models.FloatField(null=True, blank=True)
    ab2gpi_igm = models.FloatField(null=True, blank=True)
    followup_end_date = models.DateField(null=True, blank=True)
    #: the study's eligibility checklist: criterion key -> met (True/False)
    eligibility = models.JSONField(default=dict, blank=True)

    table = schema.PATIENTS

    class Meta:
        ordering = ("patient_id",)
        permissions = (("view_identity", "See and enter identifying data"),)
        triggers = clinical_triggers()

    def __str__(self) -> str:
        return self.patient_id


@tracked()
class PatientIdentity(models.Model):
    """Identifying data, if entered at all: behind the ``study.view_identity`` permission."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="identity")
    version = models.PositiveIntegerField(default=1)
    name = models.TextField(blank=True)
    hospital_number = models.TextField(blank=True)
    date_of_birth = models.DateField(null=True, blank=True)

    class Meta:
        triggers = clinical_triggers()


class PatientRecord(Clinical):
    """A row of a table keyed on the patient."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


@tracked()
class Treatment(PatientRecord):
    """One period of a drug (``treatments``)."""

    drug = models.TextField()
    role = models.TextField(blank=True)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    phase = models.TextField(blank=True)
    daily_dose_mg = models.FloatField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)

    table = schema.TREATMENTS

    class Meta:
        ordering = (
            "patient",
            "start_date",
            "drug",
            "pk",
        )
        triggers = clinical_triggers()


@tracked()
class Lab(PatientRecord):
    """One measurement (``labs``), with its value and unit as entered."""

    date = models.DateField()
    test = models.TextField()
    value = models.FloatField()
    unit = models.TextField()

    table = schema.LABS

    class Meta:
        ordering = (
            "patient",
            "date",
            "test",
            "pk",
        )
        indexes = (models.Index(fields=["patient", "date"]),)
        triggers = clinical_triggers()


@tracked()
class Bleeding(PatientRecord):
    """One bleeding event (``bleeding``), WHO grade 0-4."""

    date = models.DateField()
    who_grade = models.IntegerField()
    site = models.TextField(blank=True)

    table = schema.BLEEDING

    class Meta:
        ordering = (
            "patient",
            "date",
            "pk",
        )
        verbose_name_plural = "bleeding"
        triggers = clinical_triggers()


@tracked()
class AdverseEvent(PatientRecord):
    """One adverse event (``adverse_events``): CTCAE term and grade, relatedness, action."""

    onset_date = models.DateField()
    term = models.TextField()
    grade = models.IntegerField(null=True, blank=True)
    related = models.BooleanField(null=True, blank=True)
    action = models.TextField(blank=True)
    end_date = models.DateField(null=True, blank=True)

    table = schema.ADVERSE_EVENTS

    class Meta:
        ordering = (
            "patient",
            "onset_date",
            "pk",
        )
        triggers = clinical_triggers()


class AccessEvent(models.Model):
    """Logins, failed logins, logouts, lockouts, account and role changes (append-only)."""

    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=40)
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    #: who did it, for account changes made by someone else
    by = models.CharField(max_length=150, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ("pk",)
        triggers = (
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            _chain(),
        )


class AuditLink(models.Model):
    """One link of the hash chain: ``hash = sha256(prev_hash + canonical JSON of the row)``.

    Written only by the ``study_audit_append`` database function, under a lock,
    so concurrent writers cannot fork the chain; append-only.
    """

    seq = models.BigIntegerField(unique=True)
    table_name = models.CharField(max_length=100)
    row_id = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ("seq",)
        indexes = (models.Index(fields=["table_name", "row_id"]),)
        triggers = (
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        )


#: the clinical models in the cohort format's table order
CLINICAL_MODELS: tuple[type[Clinical], ...] = (Patient, Treatment, Lab, Bleeding, AdverseEvent)


class Account(User):
    """The user table, as this app sees it: tracked, so that account changes are audited
    (pghistory's triggers on a table of another app are installed through a proxy)."""

    class Meta:
        proxy = True


tracked(exclude=["password", "last_login"], model_name="UserEvent")(Account)


# -- monitoring (issue 11): data queries, alerts, investigator sign-off -------------------
QUERY_STATUSES = (
    ("proposed", "Proposed by an edit check (awaiting a monitor)"),
    ("open", "Open"),
    ("answered", "Answered"),
    ("closed", "Closed"),
    ("dismissed", "Dismissed"),
)
QUERY_ORIGINS = (("manual", "Raised by a monitor"), ("automatic", "Raised by an edit check"))
#: the tables a query can point into (``views._kind``'s names, and the patient itself)
QUERY_TABLES = ("patient", "treatment", "lab", "bleeding", "adverse_event")


@tracked()
class DataQuery(models.Model):
    """A question on a value or a record (REDCap's data resolution workflow).

    A monitor raises it (or an edit check does: ``origin="automatic"``, ``check``
    naming the check and its record so it is raised once); the site answers,
    correcting the value through the audited edit if need be; the monitor closes
    or re-opens it. Every step is a :class:`QueryStep`. Never deleted.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="queries")
    #: the table of the record asked about ("patient" for the patient's own fields)
    table = models.CharField(max_length=20, default="patient")
    record_id = models.BigIntegerField(null=True, blank=True)
    field = models.CharField(max_length=100, blank=True)
    question = models.TextField()
    status = models.CharField(max_length=20, choices=QUERY_STATUSES, default="open")
    origin = models.CharField(max_length=20, choices=QUERY_ORIGINS, default="manual")
    #: for automatic queries: the check and the record it fired on (raised once)
    check_key = models.CharField(max_length=300, blank=True)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("-raised_at", "pk")
        indexes = (models.Index(fields=["patient", "status"]),)
        constraints = (
            models.UniqueConstraint(
                fields=["check_key"], condition=~models.Q(check_key=""), name="query_check_once"
            ),
        )
        triggers = (pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),)


QUERY_ACTIONS = (
    ("raise", "Raised"),
    ("answer", "Answered"),
    ("close", "Closed"),
    ("reopen", "Re-opened"),
    ("confirm", "Confirmed"),
    ("dismiss", "Dismissed"),
)


@tracked()
class QueryStep(models.Model):
    """One step of a query's thread: who did what, when, with what text (append-only)."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="steps")
    action = models.CharField(max_length=20, choices=QUERY_ACTIONS)
    text = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("at", "pk")
        triggers = (
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        )


ALERT_KINDS = (
    ("loss", "Confirmed loss of response"),
    ("low_platelets", "Platelet count below the threshold"),
    ("bleeding", "Bleeding of WHO grade 2 or more"),
    ("adverse_event", "Adverse event of grade 3 or more"),
    ("overdue_visit", "Visit overdue beyond its window"),
)


@tracked()
class Alert(models.Model):
    """A clinical event someone must look at; ``key`` names the event, so it is raised once."""

    kind = models.CharField(max_length=20, choices=ALERT_KINDS)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    #: e.g. "loss:P007:2024-03-02" or "low_platelets:lab:1234": unique, so never twice
    key = models.CharField(max_length=300, unique=True)
    event_date = models.DateField(null=True, blank=True)
    message = models.TextField()
    raised_at = models.DateTimeField(auto_now_add=True)
    #: when the e-mail went out (null: not sent yet, or nobody to send it to)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-raised_at", "pk")
        triggers = (pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),)


@tracked()
class AlertAcknowledgement(models.Model):
    """A user has seen an alert (it leaves their inbox), with a note (append-only)."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="acknowledgements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("at", "pk")
        constraints = (models.UniqueConstraint(fields=["alert", "user"], name="acknowledged_once"),)
        triggers = (
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        )


SIGNATURE_MEANING = (
    "I have reviewed this casebook and confirm that its data are complete and accurate "
    "to the best of my knowledge."
)


@tracked()
class Signature(models.Model):
    """An investigator's electronic signature of a patient's casebook (21 CFR 11.50).

    Records the signer's printed name, the date and time (UTC) and the meaning of
    the signature. While a signature is valid (``revoked_at`` null) the casebook
    is locked; unlocking revokes it, with who, when and why.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="signatures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=300)
    signed_at = models.DateTimeField()
    meaning = models.TextField(default=SIGNATURE_MEANING)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        ordering = ("signed_at", "pk")
        constraints = (
            models.UniqueConstraint(
                fields=["patient"], condition=models.Q(revoked_at=None), name="one_valid_signature"
            ),
        )
        triggers = (pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),)
