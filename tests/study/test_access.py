"""Per-site access and roles: a coordinator of site A never reaches site B's patient, by
page, URL, ID or form tampering; a monitor never edits; identity needs its own permission."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from itpcohort.study import access, records
from itpcohort.study.models import Bleeding, Lab, Patient, PatientIdentity

pytestmark = pytest.mark.django_db


def _lab(patient: Patient) -> Lab:
    return records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date(2024, 2, 20),
            "test": "platelets",
            "value": 40.0,
            "unit": "10^9/L",
        },
    )


def test_unauthenticated_requests_go_to_the_login_page(study, client) -> None:
    for url in (
        "/patients/",
        "/patients/A-001/",
        "/export/",
        "/audit.csv",
        "/patients/A-001/visit/",
        "/patients/new/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert client.post("/patients/A-001/visit/", {"date": "2024-03-01"}).status_code == 302
    assert client.get("/healthz").status_code == 200


def test_the_one_scope_lists_only_the_users_sites(study) -> None:
    ids = lambda name: set(access.patients_for(study[name]).values_list("patient_id", flat=True))  # noqa: E731
    assert ids("coord_a") == {"A-001"} and ids("coord_b") == {"B-001"}
    assert ids("admin") == ids("monitor") == {"A-001", "B-001"}


def test_a_coordinator_of_site_a_cannot_see_or_reach_site_b(study, login) -> None:
    c = login("coord_a")
    lab_b = _lab(study["patient_b"])
    listing = c.get("/patients/").content.decode()
    assert "/patients/A-001/" in listing and "B-001" not in listing
    assert "/patients/B-001/" not in c.get("/patients/?q=B-001").content.decode()
    assert "/patients/B-001/" not in c.get("/patients/?site=SITE-B").content.decode()
    for url in (
        "/patients/B-001/",
        "/patients/B-001/visit/",
        "/patients/B-001/audit/",
        "/patients/B-001/audit.csv",
        "/patients/B-001/screening/",
        f"/patients/B-001/lab/{lab_b.pk}/",
        f"/patients/B-001/lab/{lab_b.pk}/audit/",
        # B's record by ID under A's own patient
        f"/patients/A-001/lab/{lab_b.pk}/",
        f"/patients/A-001/lab/{lab_b.pk}/delete/",
    ):
        assert c.get(url).status_code == 404, url
    # posting changes to B's record by ID, under either patient
    for url in (f"/patients/B-001/lab/{lab_b.pk}/", f"/patients/A-001/lab/{lab_b.pk}/"):
        response = c.post(
            url,
            {
                "date": "2024-02-20",
                "test": "platelets",
                "value": "1",
                "unit": "10^9/L",
                "version": "1",
                "reason": "x",
            },
        )
        assert response.status_code == 404
    assert (
        c.post(
            f"/patients/A-001/lab/{lab_b.pk}/delete/", {"version": "1", "reason": "x"}
        ).status_code
        == 404
    )
    assert c.post("/patients/B-001/delete/", {"version": "1", "reason": "x"}).status_code == 404
    assert (
        c.post("/patients/B-001/visit/", {"date": "2024-03-01", "platelets_value": "5"}).status_code
        == 404
    )
    lab_b.refresh_from_db()
    assert lab_b.value == 40.0 and not lab_b.deleted
    assert Lab.objects.filter(patient=study["patient_b"]).count() == 1


def test_form_tampering_cannot_move_a_patient_to_another_site(study, login) -> None:
    c = login("coord_a")
    moved = c.post(
        "/patients/A-001/screening/",
        {
            "site": study["site_b"].pk,
            "enrollment_date": "2024-01-10",
            "excluded": "",
            "version": "1",
            "reason": "move",
        },
    )
    assert moved.status_code == 200 and "Select a valid choice" in moved.content.decode()
    created = c.post(
        "/patients/new/",
        {
            "patient_id": "X-9",
            "site": study["site_b"].pk,
            "enrollment_date": "2024-03-01",
            "excluded": "",
        },
    )
    assert created.status_code == 200 and not Patient.objects.filter(patient_id="X-9").exists()
    assert Patient.objects.get(patient_id="A-001").site == study["site_a"]


def test_export_holds_only_the_users_patients(study, login) -> None:
    _lab(study["patient_a"])
    _lab(study["patient_b"])
    archive = zipfile.ZipFile(io.BytesIO(login("coord_a").get("/export/").content))
    patients = archive.read("cohort/patients.csv").decode()
    labs = archive.read("cohort/labs.csv").decode()
    assert "A-001" in patients and "B-001" not in patients
    assert "A-001" in labs and "B-001" not in labs
    everyone = zipfile.ZipFile(io.BytesIO(login("monitor").get("/export/").content))
    assert "B-001" in everyone.read("cohort/patients.csv").decode()


def test_a_monitor_reads_but_never_edits(study, login) -> None:
    c = login("monitor")
    lab = _lab(study["patient_a"])
    page = c.get("/patients/A-001/").content.decode()
    assert "A-001" in page and "New visit" not in page
    for url in (
        "/patients/new/",
        "/patients/A-001/visit/",
        "/patients/A-001/screening/",
        "/patients/A-001/baseline/",
        f"/patients/A-001/lab/{lab.pk}/",
        f"/patients/A-001/lab/{lab.pk}/delete/",
        "/patients/A-001/treatment/new/",
    ):
        assert c.get(url).status_code == 403, url
        assert c.post(url, {"reason": "x", "version": "1"}).status_code == 403, url
    assert c.post("/patients/A-001/delete/", {"version": "1", "reason": "x"}).status_code == 403
    assert c.get(f"/patients/A-001/lab/{lab.pk}/audit/").status_code == 200
    lab.refresh_from_db()
    assert lab.version == 1 and not lab.deleted


def test_identifying_data_needs_its_own_permission(study, login) -> None:
    records.create(
        PatientIdentity,
        {"patient": study["patient_a"], "name": "Wang Fang", "hospital_number": "H123"},
    )
    assert "Wang Fang" in login("inv_a").get("/patients/A-001/").content.decode()
    for name in ("coord_a", "monitor", "admin"):
        c = login(name)
        assert "Wang Fang" not in c.get("/patients/A-001/").content.decode()
        assert c.get("/patients/A-001/identity/").status_code == 403
        assert "Wang Fang" not in c.get("/patients/A-001/audit/").content.decode()
        assert "Wang Fang" not in c.get("/audit.csv").content.decode()
    assert "Wang Fang" in login("inv_a").get("/patients/A-001/audit/").content.decode()


def test_records_of_a_deleted_patient_disappear_with_it(study, login) -> None:
    records.create(
        Bleeding, {"patient": study["patient_a"], "date": dt.date(2024, 2, 1), "who_grade": 1}
    )
    c = login("coord_a")
    assert (
        c.post("/patients/A-001/delete/", {"version": "1", "reason": "screened twice"}).status_code
        == 302
    )
    assert c.get("/patients/A-001/").status_code == 404
    assert not access.records_for(study["coord_a"], Bleeding).exists()
