"""The audit trail: who, when, old and new value, reason; nothing hard-deleted; the chain."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from itpcohort.study import audit, records
from itpcohort.study.models import AccessEvent, Lab, LabEvent, Patient, PatientEvent

pytestmark = pytest.mark.django_db


def _lab(patient: Patient, value: float = 20.0) -> Lab:
    return records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date(2024, 1, 20),
            "test": "platelets",
            "value": value,
            "unit": "10^9/L",
        },
    )


def _edit_url(lab: Lab) -> str:
    return f"/patients/{lab.patient.patient_id}/lab/{lab.pk}/"


def test_a_change_keeps_who_when_ip_reason_and_old_and_new_value(study, login) -> None:
    lab = _lab(study["patient_a"])
    c = login("coord_a")
    response = c.post(
        _edit_url(lab),
        {
            "date": "2024-01-20",
            "test": "platelets",
            "value": "25",
            "unit": "10^9/L",
            "version": "1",
            "reason": "transcription error",
        },
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = LabEvent.objects.filter(pgh_obj_id=lab.pk).order_by("-pgh_id").first()
    assert event.pgh_label == "update" and event.value == 25.0
    assert event.pgh_context["username"] == "coord_a"
    assert event.pgh_context["ip"] == "10.1.2.3"
    assert event.pgh_context["reason"] == "transcription error"
    assert event.pgh_context["user"] == study["coord_a"].pk
    assert event.pgh_created_at.utcoffset() == dt.timedelta(0)
    history = audit.record_history(Lab, [lab.pk], "lab value")
    assert [h.action for h in history] == ["insert", "update"]
    assert history[-1].changes == [("value", "20.0", "25.0")]
    page = c.get(_edit_url(lab) + "audit/").content.decode()
    assert "transcription error" in page and "<del>20.0</del>" in page and "25.0" in page


def test_a_change_without_a_reason_is_refused_by_the_form_and_the_database(study, login) -> None:
    lab = _lab(study["patient_a"])
    response = login("coord_a").post(
        _edit_url(lab),
        {
            "date": "2024-01-20",
            "test": "platelets",
            "value": "25",
            "unit": "10^9/L",
            "version": "1",
            "reason": " ",
        },
    )
    assert response.status_code == 200 and "give a reason" in response.content.decode()
    with pytest.raises(records.ReasonRequired):
        records.update(lab, {"value": 30.0}, version=1, reason="")
    with pytest.raises(DatabaseError, match="needs a reason"), transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(value=31.0)  # behind the forms: the trigger
    lab.refresh_from_db()
    assert lab.value == 20.0 and lab.version == 1


def test_a_deletion_needs_a_reason_and_is_soft(study, login) -> None:
    lab = _lab(study["patient_a"])
    c = login("coord_a")
    refused = c.post(_edit_url(lab) + "delete/", {"version": "1", "reason": ""})
    assert refused.status_code == 400
    assert Lab.objects.get(pk=lab.pk).deleted is False
    done = c.post(_edit_url(lab) + "delete/", {"version": "1", "reason": "duplicate entry"})
    assert done.status_code == 302
    assert Lab.objects.get(pk=lab.pk).deleted is True
    history = audit.record_history(Lab, [lab.pk], "lab value")
    assert history[-1].action == "delete" and history[-1].reason == "duplicate entry"
    assert c.get(_edit_url(lab)).status_code == 404  # gone from the pages, kept in the trail


def test_the_database_refuses_delete_on_clinical_tables(study) -> None:
    lab = _lab(study["patient_a"])
    for model, pk in ((Lab, lab.pk), (Patient, study["patient_a"].pk)):
        with pytest.raises(DatabaseError, match="Cannot delete"), transaction.atomic():
            model.objects.filter(pk=pk).delete()
    assert Lab.objects.filter(pk=lab.pk).exists()


def test_history_tables_refuse_update_and_delete(study) -> None:
    _lab(study["patient_a"])
    for model in (LabEvent, PatientEvent, AccessEvent, audit.apps.get_model("study", "AuditLink")):
        with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
            model.objects.update(**{model._meta.fields[-1].attname: None})
        with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
            model.objects.all().delete()


def test_bulk_and_raw_changes_are_audited_too(study) -> None:
    import pghistory

    lab = _lab(study["patient_a"])
    with pghistory.context(username="dm", reason="unit fixed in bulk"), transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(unit="G/L")
        with connection.cursor() as cursor:
            cursor.execute("UPDATE study_lab SET value = 21 WHERE id = %s", [lab.pk])
    labels = list(
        LabEvent.objects.filter(pgh_obj_id=lab.pk).values_list("pgh_label", "unit", "value")
    )
    assert labels == [("insert", "10^9/L", 20.0), ("update", "G/L", 20.0), ("update", "G/L", 21.0)]
    assert audit.verify_chain().ok


def test_logins_failed_logins_and_account_changes_are_logged(study, client) -> None:
    from itpcohort.study import people

    client.post("/login/", {"username": "coord_a", "password": "wrong"})
    client.post("/login/", {"username": "coord_a", "password": "correct-horse-battery-9"})
    client.post("/logout/")
    people.set_password("coord_b", "another-long-passphrase-7", by="admin")
    kinds = list(AccessEvent.objects.values_list("kind", "username"))
    for expected in [
        ("login_failed", "coord_a"),
        ("login", "coord_a"),
        ("logout", "coord_a"),
        ("account_added", "coord_b"),
        ("password_set", "coord_b"),
    ]:
        assert expected in kinds
    m = study["coord_b"].member
    with pghistory_context("move to site A"):
        m.role = "investigator"
        m.save()
    events = audit.event_model(type(m)).objects.filter(pgh_obj_id=m.pk)
    assert list(events.values_list("role", flat=True)) == ["coordinator", "investigator"]
    assert audit.verify_chain().ok


def pghistory_context(reason: str):  # type: ignore[no-untyped-def]
    import pghistory

    return pghistory.context(username="admin", reason=reason)


def test_the_chain_verifies_and_names_the_first_broken_link(study) -> None:
    lab = _lab(study["patient_a"])
    records.update(lab, {"value": 22.0}, version=1, reason="recount")
    report = audit.verify_chain()
    assert report.ok and report.links > 5
    link = audit.apps.get_model("study", "AuditLink").objects.get(
        table_name="study_labevent", row_id=LabEvent.objects.filter(pgh_obj_id=lab.pk).last().pgh_id
    )
    with connection.cursor() as cursor:  # someone with the database password, behind the app
        cursor.execute("ALTER TABLE study_labevent DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE study_labevent SET value = 99 WHERE pgh_obj_id = %s AND pgh_label = 'update'",
            [lab.pk],
        )
        cursor.execute("ALTER TABLE study_labevent ENABLE TRIGGER USER")
    broken = audit.verify_chain()
    assert not broken.ok and broken.broken_seq == link.seq
    assert "changed behind the app" in broken.broken


def test_a_removed_event_or_an_unsealed_row_breaks_the_chain(study) -> None:
    lab = _lab(study["patient_a"])
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE study_labevent DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM study_labevent WHERE pgh_obj_id = %s", [lab.pk])
        cursor.execute("ALTER TABLE study_labevent ENABLE TRIGGER USER")
    assert "gone" in audit.verify_chain().broken
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE study_accessevent DISABLE TRIGGER USER")
        cursor.execute(
            "INSERT INTO study_accessevent (at, kind, username, by, detail) "
            "VALUES (now(), 'login', 'ghost', '', '')"
        )
        cursor.execute("ALTER TABLE study_accessevent ENABLE TRIGGER USER")
    assert audit._unsealed_row() is not None


def test_audit_csv_is_scoped_and_spreadsheet_safe(study, login) -> None:
    lab = _lab(study["patient_a"])
    records.update(lab, {"unit": "G/L"}, version=1, reason='=HYPERLINK("http://x")')
    _lab(study["patient_b"], value=77.0)
    text = login("coord_a").get("/audit.csv").content.decode()
    assert ",A-001,lab value" in text and "B-001" not in text
    assert "'=HYPERLINK" in text and ",77.0" not in text
    per_patient = login("coord_a").get("/patients/A-001/audit.csv")
    assert per_patient["Content-Type"].startswith("text/csv")
    assert "G/L" in per_patient.content.decode()
