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
- Once a save of clinical records commits, the saved patients' alerts of the
  kinds those tables can raise are raised (``followup.alert_kinds``), unless the
  caller says it runs ``followup.after_save`` itself (``alerts_on_commit=False``:
  the app's forms, which raise the alerts and the automatic queries together).
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


def _raise_alerts_on_commit(objs: Iterable[models.Model], wanted: bool = True) -> None:
    """Once the saving transaction commits, raise the saved patients' alerts (``alerts``)
    of the kinds the saved tables can raise (``followup.alert_kinds``)."""
    if not wanted:  # the caller runs followup.after_save once the save has committed
        return
    from itpcohort.study import alerts, followup

    for pk, tables in sorted(followup.tables_by_patient(objs).items()):
        kinds = followup.alert_kinds(tables)
        transaction.on_commit(lambda pk=pk, kinds=kinds: alerts.after_save(pk, kinds))


def create(
    model: type[models.Model],
    fields: dict[str, Any],
    reason: str = "",
    *,
    alerts_on_commit: bool = True,
) -> Any:
    """Insert a record (its first save: the reason may be empty)."""
    with transaction.atomic(), pghistory.context(reason=(reason or "").strip()):
        audit.lock_chain()
        obj = model.objects.create(**fields)  # type: ignore[attr-defined]
        _raise_alerts_on_commit([obj], alerts_on_commit)
        return obj


def create_many(
    objs: Iterable[models.Model], reason: str = "", *, alerts_on_commit: bool = True
) -> list[Any]:
    """Insert several records of one visit in one transaction."""
    objs = list(objs)
    with transaction.atomic(), pghistory.context(reason=(reason or "").strip()):
        audit.lock_chain()
        for obj in objs:
            obj.save(force_insert=True)
        _raise_alerts_on_commit(objs, alerts_on_commit)
    return objs


def changed_fields(obj: models.Model, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from the record's."""
    return {k: v for k, v in fields.items() if getattr(obj, k) != v}


def update(
    obj: models.Model,
    fields: dict[str, Any],
    *,
    version: int,
    reason: str | None,
    alerts_on_commit: bool = True,
) -> int:
    """Change a record as of ``version``; the new version. Raises ReasonRequired, Conflict."""
    why = _reason(reason)
    model = type(obj)
    with transaction.atomic(), pghistory.context(reason=why):
        audit.lock_chain()
        done = model.objects.filter(pk=obj.pk, version=version).update(**fields)  # type: ignore[attr-defined]
        if not done:
            raise Conflict(model.objects.filter(pk=obj.pk).first())  # type: ignore[attr-defined]
        _raise_alerts_on_commit([obj], alerts_on_commit)
        return int(model.objects.values_list("version", flat=True).get(pk=obj.pk))  # type: ignore[attr-defined]


def soft_delete(obj: models.Model, *, version: int, reason: str | None) -> None:
    """Mark a record deleted (kept, with the reason, in the audit trail)."""
    update(obj, {"deleted": True}, version=version, reason=reason)
