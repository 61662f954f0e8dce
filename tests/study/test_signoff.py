"""Investigator sign-off: the password re-entered, the casebook locked (app and database),
unlocked with a reason that revokes the signature; all in the audit trail."""

from __future__ import annotations

import datetime as dt

import pghistory
import pytest
from django.db import DatabaseError, transaction

from itpcohort.study import people, records, signoff
from itpcohort.study.models import SIGNATURE_MEANING, AccessEvent, Lab, Patient, Signature
from tests.study.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LAB = {"date": "2024-01-24", "test": "platelets", "value": "42", "unit": "10^9/L"}


def _lab(patient: Patient, value: float = 25.0) -> Lab:
    return records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date(2024, 1, 24),
            "test": "platelets",
            "value": value,
            "unit": "10^9/L",
        },
    )


def _sign(study, login):  # type: ignore[no-untyped-def]
    inv = study["inv_a"]
    inv.first_name, inv.last_name = "Ada", "Lovelace"
    inv.save(update_fields=["first_name", "last_name"])
    c = login("inv_a")
    assert c.post("/patients/A-001/sign/", {"password": PASSWORD}).status_code == 302
    return c


def test_only_an_investigator_of_the_site_signs(study, login) -> None:
    for name in ("coord_a", "monitor", "admin"):
        assert login(name).get("/patients/A-001/sign/").status_code == 403, name
        response = login(name).post("/patients/A-001/sign/", {"password": PASSWORD})
        assert response.status_code == 403, name
    with pytest.raises(signoff.SignOffError, match="only an investigator"):
        signoff.sign(study["coord_a"], study["patient_a"], PASSWORD)
    people.add_user("inv_b", "investigator", ["SITE-B"], PASSWORD, by="test")
    assert login("inv_b").post("/patients/A-001/sign/", {"password": PASSWORD}).status_code == 404
    assert not Signature.objects.exists()


def test_a_wrong_password_is_refused_and_logged(study, login) -> None:
    from axes.models import AccessAttempt

    c = login("inv_a")
    response = c.post("/patients/A-001/sign/", {"password": "not-my-password"})
    assert response.status_code == 400 and "wrong password" in response.content.decode()
    assert not Signature.objects.exists()
    failed = AccessEvent.objects.get(kind="signature_failed")
    assert failed.username == "inv_a" and "A-001" in failed.detail
    assert AccessAttempt.objects.get(username="inv_a").failures_since_start == 1
    # the password is never stored: not in the access log, not in any audit context
    texts = [e.detail for e in AccessEvent.objects.all()]
    texts += [str(e.pgh_context) for e in signoff.audit.event_model(Signature).objects.all()]
    assert not any("not-my-password" in t or PASSWORD in t for t in texts)


def test_wrong_passwords_lock_the_account_out_of_signing(study, login, settings) -> None:
    c = login("inv_a")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert c.post("/patients/A-001/sign/", {"password": "guess"}).status_code == 400
    # the last failure locks the account out (axes' lockout page, as after failed logins)
    assert c.post("/patients/A-001/sign/", {"password": "guess"}).status_code == 429
    response = c.post("/patients/A-001/sign/", {"password": PASSWORD})
    assert response.status_code == 400 and "account is locked" in response.content.decode()
    assert not Signature.objects.exists()
    assert (
        AccessEvent.objects.filter(kind="signature_failed").count() == settings.AXES_FAILURE_LIMIT
    )


def test_signing_records_name_time_and_meaning_and_locks(study, login) -> None:
    lab = _lab(study["patient_a"])
    unsigned = login("coord_a").get("/patients/A-001/").content.decode()
    assert "/patients/A-001/visit/" in unsigned and ">change<" in unsigned
    before = dt.datetime.now(dt.UTC)
    c = _sign(study, login)
    signature = Signature.objects.get()
    assert signature.printed_name == "Ada Lovelace" and signature.user == study["inv_a"]
    assert signature.meaning == SIGNATURE_MEANING and signature.revoked_at is None
    assert signature.signed_at.utcoffset() == dt.timedelta(0) and signature.signed_at >= before
    page = login("coord_a").get("/patients/A-001/").content.decode()
    assert "Signed and locked" in page and "Ada Lovelace" in page and SIGNATURE_MEANING in page
    # the page offers no change: no "New visit", no "change" link (before signing it did)
    assert "/patients/A-001/visit/" not in page and ">change<" not in page
    # signing twice is refused
    assert c.post("/patients/A-001/sign/", {"password": PASSWORD}).status_code == 400
    # every change is refused, by the app, with the reason in words
    coord = login("coord_a")
    edit = coord.post(f"/patients/A-001/lab/{lab.pk}/", {**LAB, "version": "1", "reason": "typo"})
    assert edit.status_code == 403 and "signed by Ada Lovelace" in edit.content.decode()
    visit = coord.post("/patients/A-001/visit/", {"date": "2024-03-01", "platelets_value": "50"})
    assert visit.status_code == 403
    deleted = coord.post(f"/patients/A-001/lab/{lab.pk}/delete/", {"version": "1", "reason": "x"})
    assert deleted.status_code == 403
    gone = coord.post("/patients/A-001/delete/", {"version": "1", "reason": "x"})
    assert gone.status_code == 403
    new = coord.post("/patients/A-001/bleeding/new/", {"date": "2024-02-01", "who_grade": "1"})
    assert new.status_code == 403
    lab.refresh_from_db()
    assert (lab.value, lab.version, lab.deleted) == (25.0, 1, False)
    assert Lab.objects.filter(patient=study["patient_a"]).count() == 1
    # the forms are shown read-only
    form = coord.get(f"/patients/A-001/lab/{lab.pk}/").content.decode()
    assert "<fieldset disabled>" in form and "locked" in form
    # another patient's casebook is not locked
    assert coord.get("/patients/A-001/visit/").status_code == 200


def test_the_database_refuses_writes_to_a_signed_casebook(study, login) -> None:
    lab = _lab(study["patient_a"])
    _sign(study, login)
    with pytest.raises(DatabaseError, match="signed and locked"), transaction.atomic():
        _lab(study["patient_a"], 30.0)
    with pytest.raises(DatabaseError, match="signed and locked"), transaction.atomic():
        records.update(lab, {"value": 250.0}, version=1, reason="behind the app")
    with (
        pytest.raises(DatabaseError, match="A-001"),
        transaction.atomic(),
        pghistory.context(reason="behind the app"),
    ):
        Patient.objects.filter(pk=study["patient_a"].pk).update(sex="F")
    # the other site's patient is not locked
    _lab(study["patient_b"], 30.0)
    lab.refresh_from_db()
    assert lab.value == 25.0


def test_unlocking_needs_a_reason_and_revokes_the_signature(study, login) -> None:
    lab = _lab(study["patient_a"])
    _sign(study, login)
    assert login("coord_a").post("/patients/A-001/unlock/", {"reason": "x"}).status_code == 403
    inv = login("inv_a")
    assert inv.post("/patients/A-001/unlock/", {"reason": "  "}).status_code == 302
    assert Signature.objects.get().revoked_at is None  # refused without a reason
    assert inv.post("/patients/A-001/unlock/", {"reason": "late lab result"}).status_code == 302
    signature = Signature.objects.get()
    assert signature.revoked_at is not None and signature.revoked_by == study["inv_a"]
    assert signature.revoke_reason == "late lab result"
    # changes work again
    edit = login("coord_a").post(
        f"/patients/A-001/lab/{lab.pk}/", {**LAB, "version": "1", "reason": "late result"}
    )
    assert edit.status_code == 302
    lab.refresh_from_db()
    assert lab.value == 42.0
    # all of it in the patient's audit trail: who and why
    trail = [(c.action, c.username, c.reason) for c in signoff.history(study["patient_a"])]
    assert trail == [
        ("insert", "inv_a", f"casebook signed by Ada Lovelace: {SIGNATURE_MEANING}"),
        ("update", "inv_a", "casebook unlocked: late lab result"),
    ]
    page = login("admin").get("/patients/A-001/audit/").content.decode()
    assert "casebook unlocked: late lab result" in page and "signature" in page
    # signed again, then an administrator unlocks
    _sign(study, login)
    assert login("admin").post("/patients/A-001/unlock/", {"reason": "query"}).status_code == 302
    assert Signature.objects.filter(revoked_at=None).count() == 0
    assert signoff.audit.verify_chain().ok
