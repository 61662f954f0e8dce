"""The patient page in Debian's headless Chromium: the platelet timeline and the engine's
explanation arrive after the page, for a demo patient who responded and lost response.

The screenshot goes to ``tests/study/artifacts/patient-timeline.png`` (not kept in git).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.study.conftest import ARTIFACTS, PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def lost_and_regained(folder: Path) -> str:
    """The first demo patient (by ID) whose response was lost and achieved again."""
    import itpcohort

    events = itpcohort.run(folder).events
    per = events.groupby("patient_id")["event"].agg(list)
    regained = ["response achieved", "loss", "response achieved"]
    again = [pid for pid, kinds in per.items() if kinds[:3] == regained]
    lost = [pid for pid, kinds in per.items() if "loss" in kinds]
    return str(sorted(again or lost)[0])


def test_the_patient_page_shows_the_timeline_and_why(
    chromium, live_server, transactional_db, demo_cohort: Path
) -> None:  # type: ignore[no-untyped-def]
    from itpcohort.study import people
    from itpcohort.study.exchange import import_cohort

    import_cohort(demo_cohort)
    people.add_user("coord", "coordinator", ["PUMCH"], PASSWORD, by="test")
    pid = lost_and_regained(demo_cohort)
    base = live_server.url
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", "coord")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/patients/")
    page.goto(f"{base}/patients/{pid}/")
    page.wait_for_selector("figure.timeline img", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('figure.timeline img').naturalWidth > 0", timeout=60_000
    )
    text = page.inner_text("#response")
    assert "Why: the engine's explanation" in text
    assert "response lost" in text
    assert ": loss — " in text  # an event line in explain's words
    page.screenshot(path=str(ARTIFACTS / "patient-timeline.png"), full_page=True)
    page.locator("figure.timeline").screenshot(path=str(ARTIFACTS / "patient-timeline-figure.png"))
