"""Data queries: raised by a monitor, answered (and corrected) by the site, closed by the
monitor; ages; per-site scoping; automatic queries from the edit checks, raised once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from itpcohort.study import audit, people, queries, records
from itpcohort.study.models import DataQuery, Lab, Patient, QueryStep, Treatment
from tests.study.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "0-3"), (3, "0-3"), (4, "4-7"), (7, "4-7"), (8, "8-14"), (14, "8-14"), (15, "15+")],
)
def test_age_buckets_at_their_boundaries(days: int, bucket: str) -> None:
    assert queries.age_bucket(days) == bucket


def _lab(
    patient: Patient,
    value: float,
    *,
    date: str = "2024-01-24",
    test: str = "platelets",
    unit: str = "10^9/L",
) -> Lab:
    return records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date.fromisoformat(date),
            "test": test,
            "value": value,
            "unit": unit,
        },
    )


def _raise(client, lab: Lab, question: str = "Is 25 right?"):  # type: ignore[no-untyped-def]
    return client.post(
        "/patients/A-001/queries/new/",
        {"target": f"lab:{lab.pk}", "field": "value", "question": question},
    )


def _step(client, query: DataQuery, action: str, text: str, version: int):  # type: ignore[no-untyped-def]
    return client.post(f"/queries/{query.pk}/{action}/", {"text": text, "version": str(version)})


def test_the_full_query_cycle(study, login) -> None:
    lab = _lab(study["patient_a"], 25.0)
    monitor, coord = login("monitor"), login("coord_a")
    assert _raise(monitor, lab, "Is 25 right? <script>alert(1)</script>").status_code == 302
    query = DataQuery.objects.get()
    assert (query.status, query.table, query.record_id, query.field, query.version) == (
        "open",
        "lab",
        lab.pk,
        "value",
        1,
    )
    page = coord.get("/patients/A-001/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    listed = coord.get("/patients/").context["page"][0]
    assert (listed.patient_id, listed.open_queries) == ("A-001", 1)
    # the site corrects the value through the audited edit, then answers
    edit = coord.post(
        f"/patients/A-001/lab/{lab.pk}/",
        {
            "date": "2024-01-24",
            "test": "platelets",
            "value": "250",
            "unit": "10^9/L",
            "version": "1",
            "reason": "typo: 25 for 250",
        },
    )
    assert edit.status_code == 302
    assert _step(coord, query, "answer", "corrected from the lab report", 1).status_code == 302
    answer = QueryStep.objects.get(action="answer")
    assert answer.text == (
        "corrected from the lab report\ncorrected by coord_a: value 25.0 -> 250.0 "
        "(reason: typo: 25 for 250)"
    )
    # a coordinator may not close; the monitor re-opens, the site answers, the monitor closes
    assert _step(coord, query, "close", "", 2).status_code == 403
    assert _step(monitor, query, "reopen", "attach the report", 2).status_code == 302
    assert _step(coord, query, "answer", "report attached", 3).status_code == 302
    assert _step(monitor, query, "close", "", 4).status_code == 302
    query.refresh_from_db()
    assert (query.status, query.version) == ("closed", 5)
    thread = [(s.action, s.by.username) for s in query.steps.all()]
    assert thread == [
        ("raise", "monitor"),
        ("answer", "coord_a"),
        ("reopen", "monitor"),
        ("answer", "coord_a"),
        ("close", "monitor"),
    ]
    # every step in the audit trail, with who and the step's text as the reason
    steps = [
        (c.username, c.reason)
        for c in queries.history(study["patient_a"])
        if c.record.startswith("query step")
    ]
    assert steps == [
        ("monitor", "Is 25 right? <script>alert(1)</script>"),
        ("coord_a", answer.text),
        ("monitor", "attach the report"),
        ("coord_a", "report attached"),
        ("monitor", "query closed"),
    ]
    trail = monitor.get("/patients/A-001/audit/").content.decode()
    assert "attach the report" in trail and "query step" in trail
    assert coord.get("/patients/").context["page"][0].open_queries == 0
    assert audit.verify_chain().ok  # every step sealed in the hash chain


def test_age_shows_days_since_raised(study, login) -> None:
    lab = _lab(study["patient_a"], 25.0)
    _raise(login("monitor"), lab)
    query = DataQuery.objects.get()
    DataQuery.objects.filter(pk=query.pk).update(raised_at=timezone.now() - dt.timedelta(days=10))
    response = login("coord_a").get("/queries/")
    shown = response.context["queries"][0]
    assert (shown.age, shown.bucket) == (10, "8-14")
    assert response.context["counts"] == [["open", 0, 0, 1, 0, 1]]
    patient = login("coord_a").get("/patients/A-001/").content.decode()
    assert "10 <small>(8-14)</small>" in patient


def test_monitor_never_edits_and_a_stale_form_conflicts(study, login) -> None:
    lab = _lab(study["patient_a"], 25.0)
    monitor, coord = login("monitor"), login("coord_a")
    edit = monitor.post(
        f"/patients/A-001/lab/{lab.pk}/",
        {
            "date": "2024-01-24",
            "test": "platelets",
            "value": "250",
            "unit": "10^9/L",
            "version": "1",
            "reason": "x",
        },
    )
    assert edit.status_code == 403
    assert coord.post("/patients/A-001/queries/new/", {"question": "x"}).status_code == 403
    _raise(monitor, lab)
    query = DataQuery.objects.get()
    assert _step(coord, query, "answer", "fine as it is", 1).status_code == 302
    stale = _step(monitor, query, "reopen", "opened before the answer", 1)
    assert stale.status_code == 409 and "changed since you opened it" in stale.content.decode()
    query.refresh_from_db()
    assert (query.status, query.version, query.steps.count()) == ("answered", 2, 2)
    assert _step(coord, query, "answer", "", 2).status_code == 400  # status and text
    lab.refresh_from_db()
    assert lab.value == 25.0


def test_another_sites_user_never_reaches_a_query(study, login) -> None:
    lab_a = _lab(study["patient_a"], 25.0)
    _raise(login("monitor"), lab_a)
    query = DataQuery.objects.get()
    coord_b = login("coord_b")
    assert coord_b.get(f"/queries/{query.pk}/").status_code == 404
    assert _step(coord_b, query, "answer", "tampered", 1).status_code == 404
    assert coord_b.get("/queries/?status=all").context["queries"] == []
    assert coord_b.get("/patients/A-001/queries/new/").status_code == 404
    people.add_user("mon_b", "monitor", ["SITE-B"], PASSWORD, by="test")
    mon_b = login("mon_b")
    assert mon_b.get(f"/queries/{query.pk}/").status_code == 404
    assert _step(mon_b, query, "close", "", 1).status_code == 404
    # a record of site A under site B's patient, by ID in a tampered form
    tampered = mon_b.post(
        "/patients/B-001/queries/new/",
        {"target": f"lab:{lab_a.pk}", "field": "value", "question": "x"},
    )
    assert tampered.status_code == 400 and DataQuery.objects.count() == 1
    query.refresh_from_db()
    assert (query.status, query.steps.count()) == ("open", 1)


def test_automatic_queries_are_raised_once_then_confirmed_or_dismissed(study, login) -> None:
    a = study["patient_a"]
    records.create(
        Treatment,
        {
            "patient": a,
            "drug": "tacrolimus",
            "role": "study",
            "phase": "full",
            "start_date": dt.date(2024, 1, 10),
        },
    )
    # day 0 = 2024-01-10: week 2 (Jan 21-27) done on Jan 24; week 4 (Feb 4-10) not done and a
    # later visit on Mar 15 (month 2: Mar 4-18) -> missing; months 3+ overdue (not missing)
    high = _lab(a, 2500.0)
    odd = _lab(a, 12.0, date="2024-03-15", test="hemoglobin", unit="furlongs")
    assert queries.raise_automatic_queries() == 3
    assert queries.raise_automatic_queries() == 0
    found = {q.check_key: q for q in DataQuery.objects.all()}
    assert sorted(found) == sorted(
        [
            f"check:lab:{high.pk}:value",
            f"check:lab:{odd.pk}:unit",
            "missing_visit:A-001:week 4",
        ]
    )
    assert all(q.status == "proposed" and q.origin == "automatic" for q in found.values())
    assert "above 2000" in found[f"check:lab:{high.pk}:value"].question
    # the site does not see them until a monitor confirms
    coord, monitor = login("coord_a"), login("monitor")
    assert coord.get("/queries/?status=all").context["queries"] == []
    confirmed = found["missing_visit:A-001:week 4"]
    assert _step(coord, confirmed, "confirm", "", 1).status_code == 404  # not theirs yet
    assert _step(monitor, confirmed, "confirm", "", 1).status_code == 302
    dismissed = found[f"check:lab:{high.pk}:value"]
    assert _step(monitor, dismissed, "dismiss", "", 1).status_code == 400  # needs a reason
    assert _step(monitor, dismissed, "dismiss", "count checked: 2500", 1).status_code == 302
    statuses = {q.check_key: q.status for q in DataQuery.objects.all()}
    assert statuses == {
        "missing_visit:A-001:week 4": "open",
        f"check:lab:{high.pk}:value": "dismissed",
        f"check:lab:{odd.pk}:unit": "proposed",
    }
    assert [q.pk for q in coord.get("/queries/").context["queries"]] == [confirmed.pk]
    # dismissed and confirmed findings are never raised again
    assert queries.raise_automatic_queries() == 0 and DataQuery.objects.count() == 3


def test_a_save_raises_the_patients_automatic_queries(study, login) -> None:
    response = login("coord_a").post(
        "/patients/A-001/visit/",
        {
            "date": "2024-01-24",
            "platelets_value": "2500",
            "platelets_unit": "10^9/L",
            "confirm": "on",
        },
    )
    assert response.status_code == 302
    lab = Lab.objects.get(patient=study["patient_a"])
    query = DataQuery.objects.get()
    assert (query.check_key, query.status) == (f"check:lab:{lab.pk}:value", "proposed")


def test_the_pages_render_with_labels_and_escaped(study, login) -> None:
    lab = _lab(study["patient_a"], 25.0)
    monitor = login("monitor")
    form = monitor.get(f"/patients/A-001/queries/new/?target=lab:{lab.pk}&field=value")
    html = form.content.decode()
    assert form.status_code == 200
    assert f'<option value="lab:{lab.pk}" selected>' in html and 'for="q-question"' in html
    _raise(monitor, lab, "<b>bold</b> & 25?")
    query = DataQuery.objects.get()
    page = login("coord_a").get(f"/queries/{query.pk}/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; 25?" in page and "<b>bold</b>" not in page
    assert f'href="/patients/A-001/lab/{lab.pk}/"' in page  # correct through the audited edit
    assert f'action="/queries/{query.pk}/answer/"' in page and "/close/" not in page
    assert 'for="text-answer"' in page and "now <strong>25</strong>" in page
    mine = monitor.get(f"/queries/{query.pk}/").content.decode()
    assert "/close/" in mine and "/answer/" not in mine and "Correct the value" not in mine
    # status and age on the record's own pages too (its edit form, its audit trail)
    shown = f'Query {query.pk}</a> <span class="tag">open</span> · lab value {lab.pk} · value'
    assert shown in login("coord_a").get(f"/patients/A-001/lab/{lab.pk}/").content.decode()
    assert shown in monitor.get(f"/patients/A-001/lab/{lab.pk}/audit/").content.decode()
    assert "Query " not in monitor.get("/patients/A-001/audit/").content.decode()
    audit = monitor.get(f"/patients/A-001/lab/{lab.pk}/audit/").content.decode()
    assert f'href="/patients/A-001/queries/new/?target=lab%3A{lab.pk}"' in audit
    sign = login("inv_a").get("/patients/A-001/sign/").content.decode()
    assert 'type="password"' in sign and "I have reviewed this casebook" in sign


def test_the_checks_command_raises_and_reports(study, monkeypatch) -> None:
    """`itpcohort study checks` (the database set up already: _setup skipped)."""
    from typer.testing import CliRunner

    from itpcohort.cli import app
    from itpcohort.cli import study as cli_study

    monkeypatch.setattr(cli_study, "_setup", lambda *a, **k: None)
    _lab(study["patient_a"], -1.0)
    first = CliRunner().invoke(app, ["study", "checks"])
    assert first.exit_code == 0 and "1 new automatic query raised" in first.output
    assert DataQuery.objects.get().question == (
        "edit check: value -1.0 is below 0: a count cannot be negative"
    )
    again = CliRunner().invoke(app, ["study", "checks"])
    assert again.exit_code == 0 and "0 new automatic queries raised" in again.output
