"""The dashboard in Debian's headless Chromium: its figures arrive and are drawn.

The screenshot goes to ``tests/study/artifacts/dashboard.png`` (not kept in git).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.study.conftest import ARTIFACTS, PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def test_the_dashboard_draws_its_figures(
    chromium: Any,
    live_server: Any,
    transactional_db: None,
    demo_cohort: Path,
    tmp_path: Path,
    settings: Any,
) -> None:
    from itpcohort.study import dashboard, monitoring, people
    from itpcohort.study.exchange import import_cohort

    settings.DATA_DIR = tmp_path
    monitoring._memory.clear()
    import_cohort(demo_cohort)
    people.add_user("coord", "coordinator", ["PUMCH"], PASSWORD, by="test")
    base = live_server.url
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/login/?next=/dashboard/")
    page.fill("#id_username", "coord")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/dashboard/", timeout=120_000)
    assert "Results computed from data version" in page.inner_text("#data-version")
    assert "49 of 61" in page.inner_text("#response-rate")
    images = page.locator("figure.dashboard-figure img")
    assert images.count() == len(dashboard.FIGURES)
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('figure.dashboard-figure img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=120_000,
    )
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
