"""Saving clinical records: a reason for every change, a version for every save.

- A new record needs no reason (its first save); any change after that, and
  every deletion, needs one: :class:`ReasonRequired` here, and the database
  trigger refuses an UPDATE whose audit context has none, whoever sends it.
- Deleting is soft: ``deleted`` is set, with the reason; DELETE is refused by a trigger.
- Optimistic locking: a save names the version it was based on and updates only
  that version (``UPDATE ... WHERE version = v``; the trigger counts it up). When
  someone saved in between, nothing is written and :class:`Conflict` carries the
  record as it is now, for the conflict page.
- Every write transaction takes the audit chain's lock first (see ``audit``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pghistory
from django.db import models, transaction

from itpcohort.errors import ItpCohortError
from itpcohort.study import audit

#: values that mean "not entered yet": filling one in is a first entry, not a change
BLANK = (None, "", {}, [])


class ReasonRequired(ItpCohortError):
    """A change after the first save, or a deletion, without a reason."""


class Conflict(Exception):
    """Someone else saved the record since it was opened: nothing was written."""

    def __init__(self, current: models.Model | None) -> None:
        super().__init__("the record changed since you opened it")
        self.current = current


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired("give a reason for the change (it is kept in the audit trail)")
    return text


def _raise_alerts_on_commit(objs: Iterable[models.Model]) -> None:
    """Once the saving transaction commits, raise the saved patients' alerts (``alerts``)."""
    from itpcohort.study import alerts
    from itpcohort.study.models import CLINICAL_MODELS, Patient

    pks = {
        o.pk if isinstance(o, Patient) else o.patient_id  # type: ignore[attr-defined]
        for o in objs
        if isinstance(o, CLINICAL_MODELS)
    }
    for pk in sorted(p for p in pks if p is not None):
        transaction.on_commit(lambda pk=pk: alerts.after_save(pk))


def create(model: type[models.Model], fields: dict[str, Any], reason: str = "") -> Any:
    """Insert a record (its first save: the reason may be empty)."""
    with transaction.atomic(), pghistory.context(reason=(reason or "").strip()):
        audit.lock_chain()
        obj = model.objects.create(**fields)  # type: ignore[attr-defined]
        _raise_alerts_on_commit([obj])
        return obj


def create_many(objs: Iterable[models.Model], reason: str = "") -> list[Any]:
    """Insert several records of one visit in one transaction."""
    objs = list(objs)
    with transaction.atomic(), pghistory.context(reason=(reason or "").strip()):
        audit.lock_chain()
        for obj in objs:
            obj.save(force_insert=True)
        _raise_alerts_on_commit(objs)
    return objs


def changed_fields(obj: models.Model, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from the record's."""
    return {k: v for k, v in fields.items() if getattr(obj, k) != v}


def update(obj: models.Model, fields: dict[str, Any], *, version: int, reason: str | None) -> int:
    """Change a record as of ``version``; the new version. Raises ReasonRequired, Conflict."""
    why = _reason(reason)
    model = type(obj)
    with transaction.atomic(), pghistory.context(reason=why):
        audit.lock_chain()
        done = model.objects.filter(pk=obj.pk, version=version).update(**fields)  # type: ignore[attr-defined]
        if not done:
            raise Conflict(model.objects.filter(pk=obj.pk).first())  # type: ignore[attr-defined]
        _raise_alerts_on_commit([obj])
        return int(model.objects.values_list("version", flat=True).get(pk=obj.pk))  # type: ignore[attr-defined]


def soft_delete(obj: models.Model, *, version: int, reason: str | None) -> None:
    """Mark a record deleted (kept, with the reason, in the audit trail)."""
    update(obj, {"deleted": True}, version=version, reason=reason)
