"""The audit trail: request context, the SHA-256 hash chain and its verification, history.

Database triggers (``django-pghistory``) write an event row for every insert,
update and delete of a tracked table, with the row's new values and the
request's context (user, user name, IP, reason) in ``pgh_context``. The event
tables are append-only (a trigger refuses UPDATE and DELETE). Each new event
row, and each :class:`~itpcohort.study.models.AccessEvent`, is then sealed by
the database function ``study_audit_append`` below::

    hash = sha256(prev_hash || canonical JSON of the row as stored)

where the canonical JSON is PostgreSQL's ``to_jsonb(row)::text`` (keys in a fixed
order, UTC times, shortest exact floats) and ``prev_hash`` is the previous
link's hash (64 zeros for the first). The function (one call per INSERT
statement, for all its rows in key order) takes a transaction-level
advisory lock first, so links are numbered 1, 2, 3, ... in commit order and two
writers can never both append after the same link. :func:`verify_chain`
recomputes every link from the rows as they are now and reports the first
broken one.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pghistory
import pghistory.middleware
import pghistory.models
from django.apps import apps
from django.db import connection, models, transaction

#: the advisory lock every audited write takes first (so triggers never wait on it
#: while holding row locks another writer needs: no deadlock)
CHAIN_LOCK = 7_354_001
GENESIS = "0" * 64

APPEND_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION study_audit_append(tbl text, rows anyarray) RETURNS void
LANGUAGE plpgsql SET timezone = 'UTC' SET extra_float_digits = 1 AS $$
DECLARE
    payload jsonb;
    last_seq bigint;
    prev text;
    seqs bigint[] := '{{}}';
    ids bigint[] := '{{}}';
    prevs text[] := '{{}}';
    hashes text[] := '{{}}';
BEGIN
    IF rows IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    SELECT l.seq, l.hash INTO last_seq, prev FROM study_auditlink l ORDER BY l.seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    prev := coalesce(prev, repeat('0', 64));
    FOR payload IN
        SELECT to_jsonb(x) FROM unnest(rows) x
        ORDER BY coalesce(to_jsonb(x) ->> 'pgh_id', to_jsonb(x) ->> 'id')::bigint
    LOOP
        last_seq := last_seq + 1;
        seqs := seqs || last_seq;
        ids := ids || coalesce(payload ->> 'pgh_id', payload ->> 'id')::bigint;
        prevs := prevs || prev;
        prev := encode(sha256(convert_to(prev || payload::text, 'UTF8')), 'hex');
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO study_auditlink (seq, table_name, row_id, prev_hash, hash)
    SELECT s, tbl, i, p, h FROM unnest(seqs, ids, prevs, hashes) AS u(s, i, p, h);
END $$;
"""


def lock_chain() -> None:
    """Take the chain's lock at the start of a write transaction (see :data:`CHAIN_LOCK`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


# -- request context -------------------------------------------------------------
def client_ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware(pghistory.middleware.HistoryMiddleware):
    """Every write request's changes carry the user, their user name, the IP and the URL.

    Views add the reason (``pghistory.context(reason=...)``) before saving.
    """

    def get_context(self, request: Any) -> dict[str, Any]:
        context = super().get_context(request)
        user = getattr(request, "user", None)
        context["username"] = user.get_username() if user is not None and user.pk else ""
        context["ip"] = client_ip(request)
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            context["forwarded_for"] = forwarded
        return context


# -- the chain -----------------------------------------------------------------------
def chained_tables() -> list[str]:
    """The tables whose rows are sealed: every event table of the app, and access events."""
    return sorted(
        m._meta.db_table
        for m in apps.get_app_config("study").get_models()
        if issubclass(m, pghistory.models.Event) or m._meta.model_name == "accessevent"
    )


def _id_column(table: str) -> str:
    return "id" if table == "study_accessevent" else "pgh_id"


@dataclass(frozen=True)
class ChainReport:
    links: int
    head: str
    #: the first broken link, in words; None when the chain verifies
    broken: str | None
    broken_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _links() -> Iterator[tuple[int, str, int, str, str, str | None]]:
    """(seq, table, row id, prev_hash, hash, canonical JSON of the row now) in seq order."""
    rows = " UNION ALL ".join(
        f"SELECT '{t}' AS t, {_id_column(t)} AS rid, to_jsonb(e)::text AS payload FROM {t} e"
        for t in chained_tables()
    )
    sql = (
        "SELECT l.seq, l.table_name, l.row_id, l.prev_hash, l.hash, x.payload "
        f"FROM study_auditlink l LEFT JOIN ({rows}) x "
        "ON x.t = l.table_name AND x.rid = l.row_id ORDER BY l.seq"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL timezone = 'UTC'; SET LOCAL extra_float_digits = 1")
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql)
            while batch := cursor.fetchmany(5000):
                yield from batch


def verify_chain() -> ChainReport:
    """Recompute every link from the rows as they are now; the first broken link, if any."""
    expected_seq, prev, n = 1, GENESIS, 0
    for seq, table, row_id, prev_hash, link_hash, payload in _links():
        where = f"link {seq} ({table} row {row_id})"
        problem = None
        if seq != expected_seq:
            problem = f"link {expected_seq} is missing (the next is {seq}): a link was removed"
        elif prev_hash != prev:
            problem = f"{where}: its previous hash is not the hash of link {seq - 1}"
        elif payload is None:
            problem = f"{where}: the audited row is gone (deleted behind the app)"
        elif hashlib.sha256((prev + payload).encode()).hexdigest() != link_hash:
            problem = f"{where}: the row no longer matches its hash (changed behind the app)"
        if problem:
            return ChainReport(n, prev, problem, seq)
        expected_seq, prev, n = seq + 1, link_hash, n + 1
    unsealed = _unsealed_row()
    if unsealed:
        return ChainReport(n, prev, unsealed, n + 1)
    return ChainReport(n, prev, None)


def _unsealed_row() -> str | None:
    """A row of a sealed table that has no link (written with the triggers off)."""
    with connection.cursor() as cursor:
        for table in chained_tables():
            cursor.execute(
                f"SELECT min(e.{_id_column(table)}), count(*) FROM {table} e WHERE NOT EXISTS "
                f"(SELECT 1 FROM study_auditlink l WHERE l.table_name = %s "
                f"AND l.row_id = e.{_id_column(table)})",
                [table],
            )
            first, count = cursor.fetchone()
            if count:
                return (
                    f"{table} row {first} (and {count - 1} more) has no link: written "
                    "behind the app with the audit triggers off"
                )
    return None


# -- history of a record ---------------------------------------------------------------
HIDDEN = {"version", "extra", "eligibility"}


def event_model(model: type[models.Model]) -> type[pghistory.models.Event]:
    return apps.get_model("study", f"{model.__name__}Event")


@dataclass
class Change:
    """One audited event of one record, with its changed values (old -> new)."""

    patient: str
    record: str
    when: Any
    action: str
    username: str
    ip: str
    reason: str
    changes: list[tuple[str, str, str]]


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def record_history(model: type[models.Model], pks: list[int], label: str) -> list[Change]:
    """Every event of the given rows of ``model``, oldest first, each with old -> new values."""
    events = event_model(model)
    fields = [
        f.attname
        for f in events._meta.fields
        if not f.name.startswith("pgh_") and f.name not in ("id",)
    ]
    out: list[Change] = []
    previous: dict[int, dict[str, Any]] = {}
    rows = list(events.objects.filter(pgh_obj_id__in=pks).order_by("pgh_id"))
    names = _patient_names(rows)
    for event in rows:
        values = {f: getattr(event, f) for f in fields}
        before = previous.get(event.pgh_obj_id, {})
        changed = [
            (f, _shown(before.get(f)), _shown(values[f]))
            for f in fields
            if f not in HIDDEN
            and (f not in before or before[f] != values[f])
            and not (not before and values[f] in (None, ""))
        ]
        action = event.pgh_label
        if action == "update" and values.get("deleted") and not before.get("deleted"):
            action = "delete"
        context = event.pgh_context or {}
        out.append(
            Change(
                patient=names.get(values.get("patient_id"), "")
                or str(values.get("patient_id") or ""),
                record=f"{label} {event.pgh_obj_id}",
                when=event.pgh_created_at,
                action=action,
                username=context.get("username", "") or "",
                ip=context.get("ip", "") or "",
                reason=context.get("reason", "") or "",
                changes=[c for c in changed if c[0] != "deleted" or action != "delete"],
            )
        )
        previous[event.pgh_obj_id] = values
    return out


def _patient_names(rows: list[Any]) -> dict[Any, str]:
    """Patient key -> study ID for events of patient tables (a patient's own events carry
    the study ID itself in ``patient_id``)."""
    from itpcohort.study.models import Patient

    keys = {getattr(r, "patient_id", None) for r in rows}
    keys = {k for k in keys if isinstance(k, int)}
    return dict(Patient.objects.filter(pk__in=keys).values_list("pk", "patient_id"))


def history_csv(changes: list[Change]) -> str:
    """The history as CSV: one row per changed value (spreadsheet-safe text cells)."""
    from itpcohort.outputs import safe_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["when_utc", "patient", "record", "action", "user", "ip", "reason", "field", "old", "new"]
    )
    for c in changes:
        for field, old, new in c.changes or [("", "", "")]:
            writer.writerow(
                [
                    safe_cell(v)
                    for v in (
                        c.when.isoformat(),
                        c.patient,
                        c.record,
                        c.action,
                        c.username,
                        c.ip,
                        c.reason,
                        field,
                        old,
                        new,
                    )
                ]
            )
    return buffer.getvalue()
