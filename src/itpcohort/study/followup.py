"""After a save: the saved patient's alerts and automatic queries, from one reading.

A save of a patient's record may raise alerts (``alerts``: a low count, a bleeding,
an adverse event, an overdue visit) and automatic data queries (``queries``: the
edit checks' findings, missing visits). Overdue and missing visits both come from
the patient's visit states (``schedule.patient_visit_states``): :func:`after_save`
computes them once, reads the study's settings once, and hands both to the
alerts and to the automatic queries.

It looks only at what the saved table can change:

=============  ================================  ====================  ============
table saved    alert kinds                       cell checks of        visit states
=============  ================================  ====================  ============
patient        low count, bleeding, adverse      every table (a lab's  yes
               event, overdue visit (exclusion,  date is checked
               deletion, day 0, follow-up end)   against enrolment)
treatment      overdue visit (day 0)             treatment             yes
lab            low count, overdue visit          lab                   yes
bleeding       bleeding                          bleeding              no
adverse_event  adverse event                     adverse_event         no
=============  ================================  ====================  ============

What a save does not change is the daily run's (``itpcohort study alerts``,
``itpcohort study checks``: every patient, every kind): a visit that became
overdue overnight, a bleeding imported from a cohort folder. A misconfigured
visit schedule (``schedule.ScheduleError``, shown on the settings page) stops
only what needs the visit states (overdue and missing visits), logged; the
other alerts and checks are still raised.

The app's forms call :func:`after_save_soon` once the save has committed
(``records`` is told not to raise the alerts on commit itself:
``alerts_on_commit=False``); any other save through ``records`` raises the alerts
of the saved tables' kinds when it commits (:func:`alert_kinds`).

:func:`after_save_soon` runs :func:`after_save` in the request (Django setting
``STUDY_AFTER_SAVE = "inline"``, from ``ITPCOHORT_STUDY_AFTER_SAVE``; the default,
and what the tests use), or with ``"background"`` hands it to one thread of the
serving process and answers at once. In the background the work carries the
request's audit context (user, user name, address, URL), runs in the order the
saves came, and a failure is logged; the alerts and queries may appear a moment
after the page that follows the save, and work still queued when the process
stops is left to the daily run. :func:`wait` returns once the queue is empty.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import pghistory
from django.db import models

from itpcohort.study import alerts, queries, schedule
from itpcohort.study.models import CLINICAL_MODELS, Alert, Patient, StudySettings

log = logging.getLogger(__name__)

#: the table saved -> the alert kinds its rows can raise
ALERTS_AFTER: dict[str, tuple[str, ...]] = {
    "patient": alerts.AFTER_SAVE_KINDS,
    "treatment": ("overdue_visit",),
    "lab": ("low_platelets", "overdue_visit"),
    "bleeding": ("bleeding",),
    "adverse_event": ("adverse_event",),
}
#: the table saved -> the tables whose edit checks (cell findings) it can change
CHECKS_AFTER: dict[str, tuple[str, ...]] = {
    "patient": tuple(queries.TABLES),
    "treatment": ("treatment",),
    "lab": ("lab",),
    "bleeding": ("bleeding",),
    "adverse_event": ("adverse_event",),
}
#: the tables the visit states are made of: the patient (enrolment, follow-up end,
#: exclusion), the study drug's first day (day 0) and the visits (lab dates)
SCHEDULE_TABLES = frozenset({"patient", "treatment", "lab"})
#: every table a save can be of
TABLES = tuple(ALERTS_AFTER)


def table_of(model: type[models.Model] | models.Model) -> str:
    """The table name (``queries.TABLES``) of a clinical model or record: "lab"."""
    cls = model if isinstance(model, type) else type(model)
    for table, (found, _, _) in queries.TABLES.items():
        if found is cls:
            return table
    raise ValueError(f"{cls.__name__} is not one of the study's clinical tables")


def _known(tables: Iterable[str]) -> set[str]:
    saved = set(tables)
    unknown = saved - set(TABLES)
    if unknown:
        raise ValueError(f"unknown table {sorted(unknown)}: use one of {', '.join(TABLES)}")
    return saved


def alert_kinds(tables: Iterable[str]) -> list[str]:
    """The alert kinds a save of these tables can raise, in the order of ``ALERT_KINDS``."""
    saved = _known(tables)
    return [k for k in alerts.AFTER_SAVE_KINDS if any(k in ALERTS_AFTER[t] for t in saved)]


def checked_tables(tables: Iterable[str]) -> list[str]:
    """The tables whose edit checks a save of these tables can change."""
    saved = _known(tables)
    return [t for t in queries.TABLES if any(t in CHECKS_AFTER[s] for s in saved)]


@dataclass(frozen=True)
class Done:
    """What :func:`after_save` raised: the new alerts, how many automatic queries."""

    alerts: list[Alert] = field(default_factory=list)
    queries: int = 0


def after_save(
    patient: Patient | int, tables: Iterable[str] = TABLES, *, today: dt.date | None = None
) -> Done:
    """After a save of the patient's ``tables`` has committed: the alerts (all but losses,
    which come with the next evaluation) and the automatic queries it can raise, the
    visit states computed once for both. An alert's failure is logged, never the
    save's (``alerts.after_save``); ``today``: for the visit states (default: today, UTC).
    """
    pk = patient.pk if isinstance(patient, Patient) else int(patient)
    saved = _known(tables)
    settings = StudySettings.current()
    scope = Patient.objects.filter(pk=pk, deleted=False)
    kinds = alert_kinds(saved)
    visits = bool(saved & SCHEDULE_TABLES)
    states = None
    if visits:
        try:
            states = schedule.patient_visit_states(scope, today=today, settings=settings)
        except schedule.ScheduleError:  # the settings page says so; raise what needs no states
            log.exception("the visit schedule is misconfigured: no overdue or missing visits")
            kinds = [k for k in kinds if k != "overdue_visit"]
            visits = False
    raised = alerts.after_save(pk, kinds, visit_states=states, settings=settings, today=today)
    made = queries.raise_automatic_queries(
        scope, tables=checked_tables(saved), visits=visits, visit_states=states
    )
    return Done(raised, made)


def tables_by_patient(objs: Iterable[models.Model]) -> dict[int, Collection[str]]:
    """Patient key -> the tables of the saved clinical records of that patient."""
    found: dict[int, set[str]] = {}
    for obj in objs:
        if not isinstance(obj, CLINICAL_MODELS):
            continue
        pk = obj.pk if isinstance(obj, Patient) else obj.patient_id  # type: ignore[attr-defined]
        if pk is not None:
            found.setdefault(pk, set()).add(table_of(obj))
    return found


# -- in the request or in the background ----------------------------------------------------
MODES = ("inline", "background")
_jobs: queue.Queue[tuple[int, tuple[str, ...], dict[str, Any]]] = queue.Queue()
_worker: threading.Thread | None = None
_starting = threading.Lock()


def mode() -> str:
    """``STUDY_AFTER_SAVE``: "inline" (the default) or "background"."""
    from django.conf import settings

    found = getattr(settings, "STUDY_AFTER_SAVE", "inline")
    if found not in MODES:
        raise ValueError(f"STUDY_AFTER_SAVE is '{found}': use one of {', '.join(MODES)}")
    return str(found)


def after_save_soon(patient: Patient | int, tables: Iterable[str] = TABLES) -> Done | None:
    """:func:`after_save` now (mode "inline": what it raised), or queued for this
    process's after-save thread (mode "background": None, the request does not wait)."""
    if mode() == "inline":
        return after_save(patient, tables)
    pk = patient.pk if isinstance(patient, Patient) else int(patient)
    saved = tuple(sorted(_known(tables)))
    _jobs.put((pk, saved, _audit_metadata()))
    _start_worker()
    return None


def wait() -> None:
    """Until every after-save queued so far has run (tests; a clean stop)."""
    _jobs.join()


def _audit_metadata() -> dict[str, Any]:
    """The request's audit context (pghistory's: user, user name, address, URL)."""
    from pghistory import runtime

    current = getattr(runtime._tracker, "value", None)
    return dict(current.metadata) if current is not None else {}


def _start_worker() -> None:
    global _worker
    with _starting:  # started on first use: in each serving process, after the fork
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="itpcohort-after-save", daemon=True)
            _worker.start()


def _work() -> None:
    from django.db import close_old_connections, connection

    while True:
        pk, tables, metadata = _jobs.get()
        try:
            close_old_connections()
            with pghistory.context(**metadata):
                after_save(pk, tables)
        except Exception:  # the save is committed; the daily run catches up
            log.exception("the after-save work of patient %s failed", pk)
        finally:
            if _jobs.empty():  # idle: no connection kept open
                connection.close()
            _jobs.task_done()
