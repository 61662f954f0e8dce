"""Issue 11 end to end in Debian's headless Chromium: live monitoring, alerts, a data query
and the investigator's sign-off, as the people of two sites see them.

Worked out by hand (IWG 2009 defaults, ``shared/spec/response-criteria.md``): A-001
starts tacrolimus on 2024-01-10 with a baseline count of 10 that day (rule 1), so:

- no evaluable day yet: NE (rule 6);
- 01-20: 40 and 01-27: 45, both >= 30 and >= 2 x 10, 7 days apart: R achieved on
  01-20 (rule 4);
- 02-05: 120 and 02-12: 130, >= 100 and 7 days apart: CR achieved on 02-05;
- 02-20: 15 and 02-22: 12, two consecutive evaluable days below 30: response lost
  on 02-20 (rule 5): one loss alert.

Screenshots go to ``tests/study/artifacts/`` (not kept in git).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.study.conftest import ARTIFACTS, PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


@pytest.fixture
def two_sites(transactional_db: None) -> dict[str, object]:
    """Site A: A-001 on tacrolimus with its baseline; site B: B-001 with a count of 12 and a
    grade 3 bleeding (site B's alerts); a coordinator per site, an investigator at A, a
    monitor of all sites."""
    from django.contrib.auth.models import User

    from itpcohort.study import people, records
    from itpcohort.study.models import Bleeding, Lab, Patient, Site, Treatment

    a = Site.objects.create(code="SITE-A", lab_units={"platelets": "10^9/L"})
    b = Site.objects.create(code="SITE-B", lab_units={"platelets": "10^9/L"})
    for name, role, sites in (
        ("coord_a", "coordinator", ["SITE-A"]),
        ("coord_b", "coordinator", ["SITE-B"]),
        ("inv_a", "investigator", ["SITE-A"]),
        ("monitor", "monitor", []),
    ):
        people.add_user(name, role, sites, PASSWORD, by="test")
    User.objects.filter(username="inv_a").update(first_name="Ada", last_name="Lovelace")
    for pid, site, day in (("A-001", a, dt.date(2024, 1, 10)), ("B-001", b, dt.date(2024, 1, 2))):
        patient = records.create(Patient, {"patient_id": pid, "site": site, "enrollment_date": day})
        records.create(
            Treatment,
            {"patient": patient, "drug": "tacrolimus", "role": "study", "start_date": day},
        )
        count = 10.0 if pid == "A-001" else 12.0
        records.create(
            Lab,
            {"patient": patient, "date": day, "test": "platelets", "value": count,
             "unit": "10^9/L"},
        )  # fmt: skip
    b001 = Patient.objects.get(patient_id="B-001")
    records.create(Bleeding, {"patient": b001, "date": dt.date(2024, 1, 5), "who_grade": 3})
    return {"site_a": a, "site_b": b}


def _login(browser: object, base: str, name: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()  # type: ignore[attr-defined]
    page.goto(f"{base}/dashboard/")
    assert "/login/" in page.url  # not logged in: sent to the login page
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/dashboard/")
    return page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _visit(page, base: str, pid: str, date: str, count: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/patients/{pid}/visit/")
    page.fill("#id_date", date)
    page.fill("#id_platelets_value", count)
    page.press("#id_platelets_value", "Enter")
    page.wait_for_url(f"**/patients/{pid}/")


def _counts(page, base: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The dashboard's "Response status now": status -> patients."""
    page.goto(f"{base}/dashboard/")
    rows = page.locator("#status-now tbody tr")
    found = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        key = (row.get_attribute("class") or "").removeprefix("status-")
        found[key] = int(row.locator("td").nth(1).inner_text())
    return found


def test_monitoring_journey(chromium, live_server, two_sites) -> None:
    from itpcohort.study.models import Alert, DataQuery, Lab

    base = live_server.url
    coord = _login(chromium, base, "coord_a")

    # the dashboard follows the visits the coordinator enters: NE -> R -> CR -> lost
    assert _counts(coord, base) == {"CR": 0, "R": 0, "lost": 0, "NR": 0, "NE": 1}
    _visit(coord, base, "A-001", "2024-01-20", "40")
    assert _counts(coord, base)["NR"] == 1  # one R-level day, not yet confirmed
    _visit(coord, base, "A-001", "2024-01-27", "45")
    assert _counts(coord, base) == {"CR": 0, "R": 1, "lost": 0, "NR": 0, "NE": 0}
    _visit(coord, base, "A-001", "2024-02-05", "120")
    _visit(coord, base, "A-001", "2024-02-12", "130")
    assert _counts(coord, base) == {"CR": 1, "R": 0, "lost": 0, "NR": 0, "NE": 0}
    assert "1 of 1" in coord.inner_text("#response-rate")
    _visit(coord, base, "A-001", "2024-02-20", "15")
    _visit(coord, base, "A-001", "2024-02-22", "12")
    assert _counts(coord, base) == {"CR": 0, "R": 0, "lost": 1, "NR": 0, "NE": 0}

    # two low counts: one loss alert, on the dashboard and in the inbox, dated 2024-02-20
    panel = coord.inner_text(".alerts-panel")
    assert "Confirmed loss of response" in panel and "A-001" in panel and "B-001" not in panel
    losses = Alert.objects.filter(kind="loss", patient__patient_id="A-001")
    assert [a.event_date for a in losses] == [dt.date(2024, 2, 20)]
    for image in coord.locator("#figures img").all():  # lazy: drawn when scrolled to
        image.scroll_into_view_if_needed()
    coord.wait_for_function(
        "[...document.querySelectorAll('#figures img')].every(i => i.complete && i.naturalWidth)",
        timeout=120_000,
    )
    _shot(coord, "monitoring-dashboard")
    coord.goto(f"{base}/dashboard/")  # evaluating again raises nothing twice
    assert Alert.objects.filter(kind="loss").count() == 1
    coord.goto(f"{base}/alerts/")
    assert "Confirmed loss of response" in coord.inner_text("main")
    coord.goto(f"{base}/patients/A-001/")
    coord.wait_for_selector("#response-slot img, .response img", timeout=60_000)
    _shot(coord, "monitoring-patient-page")

    # a monitor raises a query on the count of 02-22
    lab = Lab.objects.get(patient__patient_id="A-001", date=dt.date(2024, 2, 22))
    monitor = _login(chromium, base, "monitor")
    monitor.goto(f"{base}/patients/A-001/")
    monitor.click("#queries >> text=raise a query")
    monitor.select_option("#q-target", f"lab:{lab.pk}")
    monitor.select_option("#q-field", "value")
    monitor.fill("#q-question", "12 or 21? Please check the laboratory report.")
    monitor.click("button:has-text('Raise the query')")
    monitor.wait_for_url("**/patients/A-001/")
    query = DataQuery.objects.get()
    assert query.status == "open" and "open" in monitor.inner_text("#queries")

    # the coordinator corrects the value with a reason and answers
    coord.goto(f"{base}/queries/")
    coord.click(f"a[href='/queries/{query.pk}/']")
    coord.click("text=Correct the value")
    coord.fill("#id_value", "21")
    coord.fill("#id_reason", "transcription error: the report says 21")
    coord.click("button:has-text('Save')")
    coord.wait_for_url("**/patients/A-001/")
    coord.goto(f"{base}/queries/{query.pk}/")
    coord.fill("#text-answer", "Corrected to 21 from the laboratory report.")
    coord.click("button:has-text('Answer')")
    coord.wait_for_url(f"**/queries/{query.pk}/")
    assert "answered" in coord.inner_text("h1")
    assert "Close the query" not in coord.content()  # the site does not close queries

    # the monitor closes it; the audit trail shows all of it
    monitor.goto(f"{base}/queries/{query.pk}/")
    monitor.fill("#text-close", "Checked against the source.")
    monitor.click("button:has-text('Close the query')")
    monitor.wait_for_url(f"**/queries/{query.pk}/")
    assert "closed" in monitor.inner_text("h1")
    lab.refresh_from_db()
    assert (lab.value, lab.version) == (21.0, 2)
    monitor.goto(f"{base}/patients/A-001/audit/")
    audit = monitor.inner_text("main")
    for seen in (
        "12 or 21? Please check the laboratory report.",
        "transcription error: the report says 21",
        "Corrected to 21 from the laboratory report.",
        "Checked against the source.",
        "coord_a",
        "monitor",
    ):
        assert seen in audit, seen
    _shot(monitor, "monitoring-audit")

    # the investigator signs; the casebook becomes read-only
    inv = _login(chromium, base, "inv_a")
    inv.goto(f"{base}/patients/A-001/")
    inv.click("text=Sign the casebook")
    inv.fill("#id_password", PASSWORD)
    inv.click("button:has-text('Sign')")
    inv.wait_for_url("**/patients/A-001/")
    assert "Signed and locked" in inv.inner_text("#signature")
    assert "Ada Lovelace" in inv.inner_text("#signature")
    coord.goto(f"{base}/patients/A-001/")
    assert "New visit" not in coord.inner_text("main")
    coord.goto(f"{base}/patients/A-001/lab/{lab.pk}/")
    assert coord.locator("fieldset[disabled]").count() == 1
    _shot(coord, "monitoring-signed")

    # site B's coordinator never sees site A's patients, alerts or queries
    other = _login(chromium, base, "coord_b")
    assert _counts(other, base) == {"CR": 0, "R": 0, "lost": 0, "NR": 1, "NE": 0}
    assert "A-001" not in other.content()
    assert "B-001" in other.inner_text(".alerts-panel")
    for url in ("/alerts/", "/queries/"):
        other.goto(base + url)
        assert "A-001" not in other.content(), url
    for url in ("/patients/A-001/", f"/queries/{query.pk}/"):
        other.goto(base + url)
        assert "Not found" in other.content(), url
