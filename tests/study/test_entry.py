"""Data entry: the edit checks are the reader's, shown next to the field; visits; conflicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from itpcohort.cohort import schema, validate_cohort
from itpcohort.study import checks, records
from itpcohort.study.models import AdverseEvent, Lab, Patient, Treatment
from tests.conftest import write_cohort

pytestmark = pytest.mark.django_db

#: (lab row, what the reader says about it) for cell_findings to agree with
LAB_CASES = [
    (("2024-01-20", "platelets", "-1", "10^9/L"), "error"),
    (("2024-01-20", "platelets", "30", "mg/dL"), "error"),
    (("2024-01-20", "platelets", "2500", "10^9/L"), "warning"),
    (("2024-01-20", "platelets", "2500000", "/uL"), "warning"),
    (("2024-01-20", "platelets", "250", "K/uL"), None),
    (("2024-01-20", "hemoglobin", "12", "g/dL"), None),
    (("2024-01-20", "hemoglobin", "12", "10^9/L"), "error"),
    (("2022-01-01", "platelets", "20", "10^9/L"), "warning"),
    (("2024-01-20", "creatinine", "1.1", "mg/dl"), None),
]


@pytest.mark.parametrize(("row", "expected"), LAB_CASES)
def test_visit_checks_agree_with_the_reader(row, expected, tmp_path: Path) -> None:
    """The fast checks say what `itpcohort validate` says about the same lab row."""
    date, test, value, unit = row
    folder = write_cohort(
        tmp_path / "c",
        patients=[("P1", "2024-01-10", "", "")],
        treatments=[("P1", "tacrolimus", "study", "2024-01-10", "", "full")],
        labs=[("P1", date, test, value, unit)],
    )
    report, cohort = validate_cohort(folder)
    if cohort is not None:
        cohort.close()
    reader = {p.severity for p in report.problems if p.file == "labs.csv" and p.line == 2}
    fast = {
        f.severity
        for f in checks.cell_findings(
            schema.LABS,
            {
                "date": dt.date.fromisoformat(date),
                "test": test,
                "value": float(value),
                "unit": unit,
                "_enrollment_date": dt.date(2024, 1, 10),
            },
        )
    }
    assert fast == reader == ({expected} if expected else set())


def test_bleeding_and_ae_ranges_come_from_the_schema() -> None:
    found = checks.cell_findings(schema.BLEEDING, {"date": dt.date(2024, 1, 1), "who_grade": 5})
    assert [f.message for f in found] == ["who_grade 5 is outside 0-4"]
    assert checks.cell_findings(schema.ADVERSE_EVENTS, {"grade": 0})[0].field == "grade"
    assert checks.cell_findings(schema.TREATMENTS, {"phase": "tapering"})[0].severity == "error"
    assert (
        checks.cell_findings(schema.TREATMENTS, {"stop_reason": "moved"})[0].severity == "warning"
    )


def test_an_overlapping_period_is_refused_next_to_the_form(study, login) -> None:
    p = study["patient_a"]
    records.create(
        Treatment,
        {
            "patient": p,
            "drug": "tacrolimus",
            "role": "study",
            "phase": "full",
            "start_date": dt.date(2024, 1, 10),
            "end_date": dt.date(2024, 6, 30),
        },
    )
    c = login("coord_a")
    data = {
        "drug": "tacrolimus",
        "role": "study",
        "phase": "taper",
        "start_date": "2024-06-01",
        "end_date": "2024-08-31",
        "daily_dose_mg": "1",
        "stop_reason": "completed",
    }
    response = c.post("/patients/A-001/treatment/new/", data)
    page = response.content.decode()
    assert response.status_code == 200 and "must not overlap" in page
    assert Treatment.objects.filter(patient=p).count() == 1
    ok = c.post("/patients/A-001/treatment/new/", {**data, "start_date": "2024-07-01"})
    assert ok.status_code == 302 and Treatment.objects.filter(patient=p).count() == 2
    backwards = c.post(
        "/patients/A-001/treatment/new/",
        {**data, "drug": "prednisone", "start_date": "2024-09-10", "end_date": "2024-09-01"},
    )
    assert "is before start_date" in backwards.content.decode()


def test_ae_end_before_onset_and_grade_out_of_range(study, login) -> None:
    c = login("coord_a")
    r = c.post(
        "/patients/A-001/ae/new/",
        {"onset_date": "2024-03-10", "term": "Tremor", "grade": "2", "end_date": "2024-03-01"},
    )
    assert "is before onset_date" in r.content.decode()
    r = c.post(
        "/patients/A-001/ae/new/", {"onset_date": "2024-03-10", "term": "Tremor", "grade": "7"}
    )
    assert "Select a valid choice" in r.content.decode()
    assert not AdverseEvent.objects.exists()


def test_a_visit_saves_its_labs_with_units_defaulted_per_site(study, login) -> None:
    c = login("coord_a")
    form = c.get("/patients/A-001/visit/").content.decode()
    assert '<option value="/uL" selected>' in form  # site A enters platelets per microlitre
    assert "autofocus" in form and 'type="date"' in form
    r = c.post(
        "/patients/A-001/visit/",
        {
            "date": "2024-02-01",
            "platelets_value": "45000",
            "platelets_unit": "/uL",
            "hemoglobin_value": "11.2",
            "hemoglobin_unit": "g/dL",
        },
    )
    assert r.status_code == 302
    labs = {
        (lab.test, lab.value, lab.unit) for lab in Lab.objects.filter(patient=study["patient_a"])
    }
    assert labs == {("platelets", 45000.0, "/uL"), ("hemoglobin", 11.2, "g/dL")}


def test_visit_warnings_need_a_confirmation_and_errors_block(study, login) -> None:
    c = login("coord_a")
    base = {"date": "2024-02-01", "platelets_unit": "10^9/L"}
    warned = c.post("/patients/A-001/visit/", {**base, "platelets_value": "2600"})
    page = warned.content.decode()
    assert warned.status_code == 200 and "above 2000" in page and "tick this box" in page
    assert not Lab.objects.exists()
    confirmed = c.post(
        "/patients/A-001/visit/", {**base, "platelets_value": "2600", "confirm": "on"}
    )
    assert confirmed.status_code == 302 and Lab.objects.count() == 1
    negative = c.post("/patients/A-001/visit/", {**base, "platelets_value": "-3", "confirm": "on"})
    assert "below 0: a count cannot be negative" in negative.content.decode()
    assert Lab.objects.count() == 1


def test_screening_an_ineligible_patient_needs_the_exclusion_reason(study, login) -> None:
    c = login("coord_a")
    data = {
        "patient_id": "A-002",
        "site": study["site_a"].pk,
        "enrollment_date": "2024-03-01",
        "excluded": "",
        "elig_age_18": "true",
        "elig_platelets_below_30": "false",
        "elig_apl_positive": "true",
        "elig_consent": "true",
    }
    r = c.post("/patients/new/", data)
    assert "give the exclusion reason" in r.content.decode()
    r = c.post("/patients/new/", {**data, "excluded": "platelets above 30 at screening"})
    assert r.status_code == 302
    p = Patient.objects.get(patient_id="A-002")
    assert p.excluded == "platelets above 30 at screening"
    assert p.eligibility == {
        "age_18": True,
        "platelets_below_30": False,
        "apl_positive": True,
        "consent": True,
    }


def test_the_second_of_two_saves_gets_the_conflict_page(study, login) -> None:
    lab = records.create(
        Lab,
        {
            "patient": study["patient_a"],
            "date": dt.date(2024, 2, 1),
            "test": "platelets",
            "value": 20.0,
            "unit": "10^9/L",
        },
    )
    url = f"/patients/A-001/lab/{lab.pk}/"
    first, second = login("coord_a"), login("inv_a")
    assert 'name="version" value="1"' in first.get(url).content.decode()
    assert 'name="version" value="1"' in second.get(url).content.decode()
    form = {"date": "2024-02-01", "test": "platelets", "unit": "10^9/L", "version": "1"}
    assert first.post(url, {**form, "value": "25", "reason": "recount"}).status_code == 302
    clash = second.post(url, {**form, "value": "30", "reason": "typo"})
    page = clash.content.decode()
    assert clash.status_code == 409
    assert "Someone saved this record before you" in page and "coord_a" in page
    assert "25" in page and "30" in page and "recount" in page
    lab.refresh_from_db()
    assert (lab.value, lab.version) == (25.0, 2)  # nothing overwritten
    assert (
        second.post(url, {**form, "version": "2", "value": "30", "reason": "typo"}).status_code
        == 302
    )


def test_filling_a_blank_is_a_first_entry_changing_a_value_needs_a_reason(study, login) -> None:
    c = login("coord_a")
    data = {"sex": "F", "age": "41", "sle": "true", "acl_igg": "35.5", "version": "1"}
    assert c.post("/patients/A-001/baseline/", data).status_code == 302
    p = Patient.objects.get(patient_id="A-001")
    assert (p.sex, p.age, p.sle, p.version) == ("F", 41.0, True, 2)
    from itpcohort.study.audit import record_history

    assert record_history(Patient, [p.pk], "patient")[-1].reason.startswith("first entry of")
    changed = c.post("/patients/A-001/baseline/", {**data, "age": "42", "version": "2"})
    assert changed.status_code == 200 and "give a reason" in changed.content.decode()
    cleared = c.post("/patients/A-001/baseline/", {**data, "acl_igg": "", "version": "2"})
    assert "give a reason" in cleared.content.decode()
    assert Patient.objects.get(patient_id="A-001").age == 41.0


def test_htmx_live_search_and_inline_lab_check(study, login) -> None:
    c = login("coord_a")
    rows = c.get("/patients/", {"q": "A-0"}, HTTP_HX_REQUEST="true").content.decode()
    assert rows.lstrip().startswith("<table") and "/patients/A-001/" in rows  # rows only
    check = c.get("/check/lab/", {"test": "platelets", "value": "-1", "unit": "10^9/L"})
    assert "a count cannot be negative" in check.content.decode()
    unit = c.get("/check/lab/", {"test": "hemoglobin", "value": "9", "unit": "mmol/dL"})
    assert "unknown unit" in unit.content.decode()


def test_administrators_see_the_access_log_others_do_not(study, login) -> None:
    assert login("admin").get("/admin/study/accessevent/").status_code == 200
    assert login("coord_a").get("/admin/study/accessevent/").status_code == 302  # not staff
