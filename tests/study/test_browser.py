"""End to end in Debian's headless Chromium against a live server (the issue's journey).

Screenshots of the main pages go to ``tests/study/artifacts/`` (not kept in git).
The browser is conftest's ``chromium`` fixture, which alone sets
``DJANGO_ALLOW_ASYNC_UNSAFE``, and only while a browser module runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.study.conftest import ARTIFACTS, PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture
def people(transactional_db: None) -> dict[str, object]:
    from itpcohort.study import people as accounts
    from itpcohort.study import records
    from itpcohort.study.models import Lab, Patient, Site

    a = Site.objects.create(code="SITE-A", lab_units={"platelets": "/uL"})
    b = Site.objects.create(code="SITE-B")
    for name, role, sites in (
        ("coord_a", "coordinator", ["SITE-A"]),
        ("coord_b", "coordinator", ["SITE-B"]),
        ("monitor", "monitor", []),
    ):
        accounts.add_user(name, role, sites, PASSWORD, by="test")
    pb = records.create(
        Patient, {"patient_id": "B-001", "site": b, "enrollment_date": dt.date(2024, 1, 2)}
    )
    lab_b = records.create(
        Lab,
        {
            "patient": pb,
            "date": dt.date(2024, 1, 2),
            "test": "platelets",
            "value": 12.0,
            "unit": "10^9/L",
        },
    )
    return {"site_a": a, "lab_b": lab_b}


def _page(browser: object, base: str, name: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},  # type: ignore[attr-defined]
        accept_downloads=True,
    )
    page = context.new_page()
    page.goto(f"{base}/patients/")
    assert "/login/" in page.url  # not logged in: sent to the login page
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/patients/")  # exactly: the login URL ends in ?next=/patients/
    return page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _screen(page, base: str, pid: str, eligible: bool, reason: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/patients/new/")
    page.fill("#id_patient_id", pid)
    page.select_option("#id_site", label="SITE-A")
    page.fill("#id_enrollment_date", "2024-01-10")
    for key in ("age_18", "platelets_below_30", "apl_positive", "consent"):
        yes = eligible or key != "consent"
        page.check(f"#id_elig_{key}_{1 if yes else 2}")
    page.fill("#id_excluded", reason)
    page.click("button:has-text('Save')")


def _visit(page, base: str, pid: str, date: str, count: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/patients/{pid}/visit/")
    assert page.evaluate("document.activeElement.id") == "id_date"  # focused on arrival
    page.fill("#id_date", date)
    page.fill("#id_platelets_value", count)
    page.press("#id_platelets_value", "Enter")  # Enter saves
    page.wait_for_url(f"**/patients/{pid}/")


def test_the_coordinators_journey(chromium, live_server, people, tmp_path: Path) -> None:
    base = live_server.url
    page = _page(chromium, base, "coord_a")
    _screen(page, base, "E2E-02", eligible=False)
    assert "give the exclusion reason" in page.content()
    _shot(page, "screening-refused")
    page.fill("#id_excluded", "no written consent")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/patients/E2E-02/")
    _screen(page, base, "E2E-01", eligible=True)
    page.wait_for_url("**/patients/E2E-01/")
    page.goto(f"{base}/patients/E2E-01/baseline/")
    page.fill("#id_sex", "F")
    page.fill("#id_age", "41")
    page.check("#id_sle_1")
    page.fill("#id_acl_igg", "35.5")
    page.click("button:has-text('Save')")
    page.click("text=New treatment period")
    page.fill("#id_drug", "tacrolimus")
    page.select_option("#id_role", "study")
    page.select_option("#id_phase", "full")
    page.fill("#id_start_date", "2024-01-10")
    page.fill("#id_daily_dose_mg", "2")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/patients/E2E-01/")
    for date, count in (
        ("2024-01-09", "10000"),
        ("2024-01-20", "120000"),
        ("2024-01-30", "130000"),
    ):
        _visit(page, base, "E2E-01", date, count)
    _shot(page, "patient-page")

    # change a count, with a reason, and find it in the audit trail
    page.click("a:has-text('120000')")
    page.fill("#id_value", "125000")
    page.click("button:has-text('Save')")
    assert "give a reason" in page.content()  # a change needs a reason
    page.fill("#id_reason", "transcription error")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/patients/E2E-01/")
    page.click("a:has-text('125000')")
    page.click("p.actions >> text=Audit trail")
    audit = page.content()
    assert "transcription error" in audit and "coord_a" in audit and "125000.0" in audit
    _shot(page, "audit-view")

    # a deletion without a reason is refused
    page.go_back()
    page.click("text=Delete…")
    page.click("button:has-text('Delete')")
    assert "This field is required" in page.content()
    _shot(page, "delete-refused")

    # site B's patient: not listed, not by URL, not by ID
    page.goto(f"{base}/patients/")
    _shot(page, "patient-list")
    assert "B-001" not in page.inner_text("table")
    for url in ("/patients/B-001/", f"/patients/E2E-01/lab/{people['lab_b'].pk}/"):
        page.goto(base + url)
        assert "Not found" in page.content(), url

    # export, then `itpcohort evaluate` on it
    page.goto(f"{base}/patients/")
    with page.expect_download() as download:
        page.click("text=Export (cohort folder)")
    archive = tmp_path / "cohort.zip"
    download.value.save_as(archive)
    zipfile.ZipFile(archive).extractall(tmp_path)
    out = tmp_path / "endpoints.csv"
    run = subprocess.run(
        [sys.executable, "-m", "itpcohort", "evaluate", str(tmp_path / "cohort"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    rows = {r["patient_id"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert set(rows) == {"E2E-01"}  # the excluded patient has no endpoints; B-001 not exported
    e2e = rows["E2E-01"]
    assert (
        e2e["baseline_platelets"],
        e2e["best_response"],
        e2e["days_to_response"],
        e2e["days_to_cr"],
    ) == ("10.0", "CR", "10", "10")


def test_a_monitor_reads_but_cannot_edit(chromium, live_server, people) -> None:
    base = live_server.url
    page = _page(chromium, base, "monitor")
    page.click("text=B-001")
    assert "New visit" not in page.content() and "change" not in page.inner_text("main")
    _shot(page, "monitor-patient-page")
    page.goto(f"{base}/patients/B-001/visit/")
    assert "Not allowed" in page.content()
    page.goto(f"{base}/patients/B-001/lab/{people['lab_b'].pk}/")
    assert "Not allowed" in page.content()
