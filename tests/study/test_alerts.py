"""Alerts (study/alerts.py, inbox.py): each kind at its hand-worked boundary, raised once,
e-mailed once, seen only by who may see the patient, acknowledged with a note.

The ``study`` fixture: A-001 at SITE-A (enrolled 2024-01-10), B-001 at SITE-B
(enrolled 2024-02-01); coordinators coord_a and coord_b, inv_a at SITE-A, the
administrator and the monitor at all sites.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection

from itpcohort.study import alerts, records
from itpcohort.study.models import (
    AdverseEvent,
    Alert,
    AlertAcknowledgement,
    Bleeding,
    Lab,
    Patient,
    PatientIdentity,
    StudySettings,
    Treatment,
)

D = dt.date
#: a day on which no visit of A-001 or B-001 is overdue yet (enrolled in 2024)
EARLY = D(2024, 1, 11)


def _lab(patient: Patient, day: dt.date, value: float, unit: str = "10^9/L") -> Lab:
    return records.create(
        Lab, {"patient": patient, "date": day, "test": "platelets", "value": value, "unit": unit}
    )


def _keys(kind: str | None = None) -> list[str]:
    rows = Alert.objects.all() if kind is None else Alert.objects.filter(kind=kind)
    return sorted(rows.values_list("key", flat=True))


# -- each kind at its boundary -----------------------------------------------------------
def test_low_platelets_strictly_below_the_threshold_in_10_9_per_litre(study: dict) -> None:
    pa = study["patient_a"]
    below = _lab(pa, D(2024, 1, 20), 29.9)
    _lab(pa, D(2024, 1, 21), 30)  # at the threshold: not below
    per_ul = _lab(pa, D(2024, 1, 22), 29_000, "/uL")  # 29 x10^9/L
    _lab(pa, D(2024, 1, 23), 30_000, "/uL")  # 30 x10^9/L exactly: not below
    _lab(pa, D(2024, 1, 24), 5, "furlongs")  # a unit the table lacks: nothing
    records.create(
        Lab,
        {"patient": pa, "date": D(2024, 1, 25), "test": "hemoglobin", "value": 9, "unit": "g/L"},
    )
    raised = alerts.raise_alerts(today=EARLY)
    assert _keys() == sorted([f"low_platelets:lab:{below.pk}", f"low_platelets:lab:{per_ul.pk}"])
    messages = {a.key: a.message for a in raised}
    assert (
        "platelet count 29 x10^9/L on 2024-01-22 (entered 29000 /uL)"
        in (messages[f"low_platelets:lab:{per_ul.pk}"])
    )


def test_the_threshold_is_the_study_setting(study: dict) -> None:
    StudySettings.objects.filter(pk=StudySettings.current().pk).update(alert_platelets_below=50)
    lab = _lab(study["patient_a"], D(2024, 1, 20), 49)
    _lab(study["patient_a"], D(2024, 1, 21), 50)
    alerts.raise_alerts(today=EARLY)
    assert _keys() == [f"low_platelets:lab:{lab.pk}"]


def test_bleeding_grade_2_and_adverse_event_grade_3(study: dict) -> None:
    pa = study["patient_a"]
    records.create(Bleeding, {"patient": pa, "date": D(2024, 1, 20), "who_grade": 1})
    b2 = records.create(Bleeding, {"patient": pa, "date": D(2024, 1, 21), "who_grade": 2})
    records.create(
        AdverseEvent, {"patient": pa, "onset_date": D(2024, 1, 20), "term": "Nausea", "grade": 2}
    )
    ae3 = records.create(
        AdverseEvent, {"patient": pa, "onset_date": D(2024, 1, 21), "term": "Sepsis", "grade": 3}
    )
    alerts.raise_alerts(today=EARLY)
    assert _keys() == sorted([f"bleeding:{b2.pk}", f"adverse_event:{ae3.pk}"])


def test_overdue_the_day_after_the_window_closes(study: dict) -> None:
    # B-001: enrolled 2024-02-01, untreated, so day 0 = enrolment; week 2 is due
    # 2024-02-15 +/- 3 days: its window's last day is 02-18
    pb = Patient.objects.filter(pk=study["patient_b"].pk)
    assert alerts.raise_alerts(pb, today=D(2024, 2, 18)) == []
    raised = alerts.raise_alerts(pb, today=D(2024, 2, 19))
    assert [a.key for a in raised] == ["overdue_visit:B-001:week 2"]
    assert raised[0].event_date == D(2024, 2, 15)
    assert "overdue since 2024-02-19" in raised[0].message


def test_deleted_rows_and_excluded_patients_raise_nothing(study: dict) -> None:
    pa = study["patient_a"]
    lab = _lab(pa, D(2024, 1, 20), 10)
    records.soft_delete(lab, version=lab.version, reason="entered on the wrong patient")
    excluded = records.create(
        Patient,
        {
            "patient_id": "A-002",
            "site": study["site_a"],
            "enrollment_date": D(2023, 1, 1),
            "excluded": "no consent",
        },
    )
    _lab(excluded, D(2023, 1, 1), 5)
    records.create(Bleeding, {"patient": excluded, "date": D(2023, 1, 2), "who_grade": 4})
    assert alerts.raise_alerts(today=EARLY) == []


def test_an_alert_stays_when_its_value_is_corrected(study: dict) -> None:
    lab = _lab(study["patient_a"], D(2024, 1, 20), 25)
    alerts.raise_alerts(today=EARLY)
    records.update(lab, {"value": 250}, version=lab.version, reason="typo: 250")
    assert alerts.raise_alerts(today=EARLY) == []
    assert _keys() == [f"low_platelets:lab:{lab.pk}"]


# -- never twice ---------------------------------------------------------------------------
def test_raising_twice_raises_nothing_new(study: dict) -> None:
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    first = alerts.raise_alerts(today=D(2024, 2, 19))
    # A-001 (day 0 = enrolment 2024-01-10): week 2's window 01-21..01-27 and week 4's
    # 02-04..02-10 closed without a visit (the count of 01-20 is before them); B-001's week 2
    assert sorted(a.key for a in first) == [
        f"low_platelets:lab:{Lab.objects.get().pk}",
        "overdue_visit:A-001:week 2",
        "overdue_visit:A-001:week 4",
        "overdue_visit:B-001:week 2",
    ]
    assert alerts.raise_alerts(today=D(2024, 2, 19)) == []
    assert Alert.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_callers_raise_one_alert(study: dict) -> None:
    # inserted without records.create, whose commit would raise the alert at once
    Lab.objects.create(
        patient=study["patient_a"], date=D(2024, 1, 20), test="platelets", value=10, unit="G/L"
    )
    start = threading.Barrier(2)
    results: list[Any] = []

    def call() -> None:
        try:
            start.wait()
            results.append(len(alerts.raise_alerts(kinds=["low_platelets"], mail=False)))
        except Exception as error:  # the test fails below with it
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]  # one caller raised it, the other found it raised
    assert Alert.objects.filter(kind="low_platelets").count() == 1


def test_a_save_raises_the_patients_alerts_when_it_commits(
    study: dict, login: Any, django_capture_on_commit_callbacks: Any
) -> None:
    c = login("coord_a")
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post("/patients/A-001/bleeding/new/", {"date": "2024-01-20", "who_grade": "3"})
    assert response.status_code == 302
    assert _keys("bleeding") == [f"bleeding:{Bleeding.objects.get().pk}"]


# -- e-mail --------------------------------------------------------------------------------
def test_each_new_alert_is_mailed_once_to_who_may_see_it(study: dict, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for name in ("coord_a", "coord_b", "monitor"):
        User.objects.filter(username=name).update(email=f"{name}@example.org")
    records.create(
        PatientIdentity,
        {"patient": study["patient_a"], "name": "Jane Roe", "hospital_number": "H-99"},
    )
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    raised = alerts.raise_alerts(today=EARLY)
    assert len(raised) == 1 and len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sorted(sent.to) == ["coord_a@example.org", "monitor@example.org"]  # not site B
    assert "A-001" in sent.subject and "A-001" in sent.body
    assert "Jane Roe" not in sent.body + sent.subject and "H-99" not in sent.body
    assert Alert.objects.get().emailed_at is not None
    alerts.raise_alerts(today=EARLY)
    assert len(mail.outbox) == 1  # none the second time


def test_nobody_to_mail_leaves_emailed_at_empty(study: dict, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    alerts.raise_alerts(today=EARLY)
    assert mail.outbox == [] and Alert.objects.get().emailed_at is None


# -- who sees what --------------------------------------------------------------------------
def _two_alerts(study: dict) -> tuple[Alert, Alert]:
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    _lab(study["patient_b"], D(2024, 2, 2), 11)
    alerts.raise_alerts(today=EARLY)
    return Alert.objects.get(patient=study["patient_a"]), Alert.objects.get(
        patient=study["patient_b"]
    )


def test_a_site_a_user_never_sees_site_b_alerts(study: dict, login: Any) -> None:
    a, b = _two_alerts(study)
    assert list(alerts.alerts_for(study["coord_a"])) == [a]
    c = login("coord_a")
    page = c.get("/alerts/").content.decode()
    assert "A-001" in page and "B-001" not in page
    patient = c.get("/patients/A-001/").content.decode()
    assert f"/alerts/{a.pk}/acknowledge/" in patient and "B-001" not in patient
    gone = c.post(f"/alerts/{b.pk}/acknowledge/", {"note": "seen"})
    assert gone.status_code == 404
    assert c.get(f"/alerts/{b.pk}/acknowledge/").status_code == 404
    assert not AlertAcknowledgement.objects.exists()
    monitor = login("monitor").get("/alerts/").content.decode()
    assert "A-001" in monitor and "B-001" in monitor


def test_dashboard_include_lists_the_users_open_alerts(study: dict, rf: Any) -> None:
    from django.template.loader import render_to_string

    a, _ = _two_alerts(study)
    request = rf.get("/")
    request.user = study["coord_a"]
    html = render_to_string("study/_alerts.html", {}, request=request)
    assert "A-001" in html and "B-001" not in html
    records_note = alerts.acknowledge(a, study["coord_a"], "called the patient in")
    assert records_note.note == "called the patient in"
    html = render_to_string("study/_alerts.html", {}, request=request)
    assert "A-001" not in html and "No alerts to acknowledge" in html


def test_acknowledge_needs_a_note_and_is_audited(study: dict, login: Any) -> None:
    from itpcohort.study.models import AlertAcknowledgementEvent  # type: ignore[attr-defined]

    a, _ = _two_alerts(study)
    c = login("coord_a")
    assert 'Alerts <span class="badge"' in c.get("/patients/").content.decode()
    refused = c.post(f"/alerts/{a.pk}/acknowledge/", {"note": "  "})
    assert refused.status_code == 400 and not AlertAcknowledgement.objects.exists()
    form = c.get(f"/alerts/{a.pk}/acknowledge/")  # the form; nothing acknowledged
    assert form.status_code == 200 and not AlertAcknowledgement.objects.exists()
    done = c.post(f"/alerts/{a.pk}/acknowledge/", {"note": "repeat count booked"})
    assert done.status_code == 302
    ack = AlertAcknowledgement.objects.get()
    assert (ack.user.username, ack.note) == ("coord_a", "repeat count booked")
    event = AlertAcknowledgementEvent.objects.get()
    context = event.pgh_context
    assert context["username"] == "coord_a"
    assert context["reason"] == "alert acknowledged: repeat count booked"
    again = c.post(f"/alerts/{a.pk}/acknowledge/", {"note": "twice"})
    assert again.status_code == 400 and AlertAcknowledgement.objects.count() == 1
    page = c.get("/alerts/").content.decode()
    assert "badge" not in page.split("</nav>")[0]  # nothing left to acknowledge
    # acknowledged by coord_a only: still open for the administrator
    assert alerts.unacknowledged_count(study["admin"]) == 2


def test_unacknowledged_first(study: dict) -> None:
    a, b = _two_alerts(study)
    admin = study["admin"]
    alerts.acknowledge(b, admin, "seen")
    assert [x.pk for x in alerts.alerts_for(admin)] == [a.pk, b.pk]
    alerts.acknowledge(a, admin, "seen")
    assert [x.acknowledged for x in alerts.alerts_for(admin)] == [True, True]


# -- losses, from the engine ----------------------------------------------------------------
def test_two_low_counts_after_a_confirmed_response_raise_one_loss_alert(study: dict) -> None:
    """A-001 on tacrolimus from 2024-01-15, baseline 10 (that day). 60 on 01-22 and 70 on
    01-29 (>= 30 and >= 2 x 10, 7 days apart): R achieved on 01-22. 20 on 02-05 and 15 on
    02-06: two consecutive evaluable days below 30, so a loss on 02-05 (rule 5). 80 on
    02-13 and 90 on 02-20: R again on 02-13; 10 on 02-27, 12 on 02-28: a second loss."""
    from itpcohort.study import monitoring

    pa = study["patient_a"]
    records.create(
        Treatment,
        {"patient": pa, "drug": "tacrolimus", "role": "study", "start_date": D(2024, 1, 15)},
    )
    for day, value in [("01-15", 10), ("01-22", 60), ("01-29", 70), ("02-05", 20)]:
        _lab(pa, D.fromisoformat(f"2024-{day}"), value)
    s = monitoring.snapshot(refresh=True)
    alerts.raise_alerts(kinds=["loss"], snapshot=s)
    assert _keys("loss") == []  # one low count is no loss
    _lab(pa, D(2024, 2, 6), 15)
    s = monitoring.snapshot(refresh=True)
    assert s.status("A-001")["status"] == "lost"
    alerts.raise_alerts(kinds=["loss"], snapshot=s)
    alerts.raise_alerts(kinds=["loss"], snapshot=s)  # re-evaluation: not twice
    assert _keys("loss") == ["loss:A-001:2024-02-05"]
    for day, value in [("02-13", 80), ("02-20", 90), ("02-27", 10), ("02-28", 12)]:
        _lab(pa, D.fromisoformat(f"2024-{day}"), value)
    alerts.raise_alerts(kinds=["loss"], snapshot=monitoring.snapshot(refresh=True))
    assert _keys("loss") == ["loss:A-001:2024-02-05", "loss:A-001:2024-02-27"]
    message = Alert.objects.get(key="loss:A-001:2024-02-27").message
    assert message.startswith("A-001: confirmed loss of response on 2024-02-27 (iwg2009")


def test_the_cron_command_raises_and_reports(study: dict, monkeypatch: Any) -> None:
    """`itpcohort study alerts --no-evaluate` (the database set up already: _setup skipped)."""
    from typer.testing import CliRunner

    from itpcohort.cli import app
    from itpcohort.cli import study as cli_study

    monkeypatch.setattr(cli_study, "_setup", lambda *a, **k: None)
    # no results of the engine yet (another test's snapshot may be in the process's cache)
    monkeypatch.setattr(alerts, "_latest_snapshot", lambda: None)
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    first = CliRunner().invoke(app, ["study", "alerts", "--no-evaluate"])
    assert first.exit_code == 0, first.output
    # today (2026 or later): every planned visit of A-001 and B-001 (10 each) is overdue
    assert "21 new alerts (1 low_platelets, 20 overdue_visit); 0 e-mailed" in first.output
    again = CliRunner().invoke(app, ["study", "alerts", "--no-evaluate"])
    assert again.exit_code == 0 and "0 new alerts" in again.output


def test_the_daily_run_sends_mails_that_failed_once(
    study: dict, settings: Any, monkeypatch: Any
) -> None:
    from django.core.mail import EmailMessage

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(alerts, "_latest_snapshot", lambda: None)
    User.objects.filter(username="coord_a").update(email="coord_a@example.org")
    _lab(study["patient_a"], D(2024, 1, 20), 10)
    sent = EmailMessage.send

    def refused(self: EmailMessage, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(EmailMessage, "send", refused)
    alerts.raise_alerts(kinds=["low_platelets"])
    alert = Alert.objects.get()
    assert alert.emailed_at is None and mail.outbox == []
    monkeypatch.setattr(EmailMessage, "send", sent)
    now = alert.raised_at + dt.timedelta(minutes=5)
    assert alerts.resend_unsent(now) == 0  # raised 5 minutes ago: maybe being sent now
    now = alert.raised_at + dt.timedelta(minutes=11)
    assert alerts.resend_unsent(now) == 1 and len(mail.outbox) == 1
    assert alerts.resend_unsent(now) == 0 and len(mail.outbox) == 1
    assert Alert.objects.get().emailed_at is not None
    later = alert.raised_at + dt.timedelta(days=8)  # too old to send now
    Alert.objects.filter(pk=alert.pk).update(emailed_at=None)
    assert alerts.resend_unsent(later) == 0
