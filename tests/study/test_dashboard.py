"""The dashboard and "Download report": the engine's numbers, per site, and the CLI's report.

The demo study (61 of 68 screened patients enrolled at PUMCH; best response 30 CR,
19 R, 12 NR) with one more patient at SITE-B. Expected numbers: the simulated
study's own (``itpcohort evaluate`` on it), the exact interval of 49/61 from R's
``binom.test(49, 61)`` (0.6816 to 0.8940).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.study.test_monitoring import demo  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites(demo: Path) -> Path:  # noqa: F811
    """The demo study and one enrolled, treated patient at SITE-B (baseline 10, then 150s)."""
    from itpcohort.study import records
    from itpcohort.study.models import Lab, Patient, Site, Treatment

    b = Site.objects.get(code="SITE-B")
    p = records.create(
        Patient, {"patient_id": "B-01", "site": b, "enrollment_date": dt.date(2024, 1, 2)}
    )
    records.create(
        Treatment,
        {
            "patient": p,
            "drug": "tacrolimus",
            "role": "study",
            "start_date": dt.date(2024, 1, 3),
            "phase": "full",
        },
    )
    for day, value in ((2, 10.0), (20, 150.0), (40, 160.0)):
        records.create(
            Lab,
            {
                "patient": p,
                "date": dt.date(2024, 1, day) if day < 32 else dt.date(2024, 2, 9),
                "test": "platelets",
                "value": value,
                "unit": "10^9/L",
            },
        )
    return demo


def test_the_dashboard_shows_the_engines_numbers_of_the_users_sites_only(
    two_sites: Path, login: Any
) -> None:
    page = login("coordinator").get("/dashboard/").content.decode()
    assert "Results computed from data version" in page and "Not current" not in page
    counts = _counts(page)
    # best response 30 CR (5 of them lost since) and 19 R (3 lost): the simulated study's
    assert counts == {"CR": 25, "R": 16, "lost": 8, "NR": 12, "NE": 0}
    assert "49 of 61</strong> (80.3%; exact 95% CI 68.2" in page and "89.4" in page
    assert "B-01" not in page and "TAC-01" in page  # the visit grid's first page
    assert "page 1 of 3 (61 patients)" in page
    other = login("coordinator-b").get("/dashboard/").content.decode()
    assert "TAC-" not in other and "B-01" in other
    assert _counts(other) == {"CR": 1, "R": 0, "lost": 0, "NR": 0, "NE": 0}
    assert "1 of 1</strong> (100.0%" in other
    monitor = login("monitor").get("/dashboard/").content.decode()  # all sites
    assert sum(_counts(monitor).values()) == 62 and "50 of 62" in monitor
    from itpcohort.study import records
    from itpcohort.study.models import Patient, Site

    moved = Patient.objects.get(patient_id="B-01")  # to PUMCH: the kept scopes must not hold
    records.update(
        moved,
        {"site": Site.objects.get(code="PUMCH")},
        version=moved.version,
        reason="registered at the wrong site",
    )
    assert sum(_counts(login("coordinator").get("/dashboard/").content.decode()).values()) == 62
    assert "B-01" not in login("coordinator-b").get("/dashboard/").content.decode()


def _counts(page: str) -> dict[str, int]:
    import re

    found = re.findall(r'<tr class="status-(\w+)">.*?</td><td>(\d+)</td>', page)
    return {key: int(n) for key, n in found}


def test_figures_are_svg_per_scope_and_cached(two_sites: Path, login: Any) -> None:
    from itpcohort.study import dashboard, monitoring

    c = login("coordinator")
    page = c.get("/dashboard/").content.decode()
    urls = [u.replace("&amp;", "&") for u in _figure_urls(page)]
    assert len(urls) == len(dashboard.FIGURES)
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200 and r["Content-Type"] == "image/svg+xml", url
        assert r.content.lstrip().startswith(b"<?xml") and b"<svg" in r.content
    s = monitoring.snapshot()
    cached = sorted((s.folder / "dashboard").rglob("*.svg"))
    assert len(cached) == len(dashboard.FIGURES)
    flow = c.get(urls[1]).content.decode()
    assert "Screened" in flow and "n = 68" in flow  # the report's flow diagram, PUMCH's
    b = login("coordinator-b")
    other = b.get(urls[1]).content.decode()  # the same URL, another user: their own scope
    assert "n = 1" in other and "n = 68" not in other
    assert b.get("/dashboard/nosuch.svg").status_code == 404
    from django.test import Client

    for url in ("/dashboard/", urls[0], "/report/"):  # nothing without logging in
        r = Client().get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/"), url


def _figure_urls(page: str) -> list[str]:
    import re

    return re.findall(r'<img src="(/dashboard/[a-z0-9_]+\.svg\?[^"]+)"', page)


def test_a_failed_evaluation_is_said_and_the_last_results_marked_not_current(
    two_sites: Path, login: Any
) -> None:
    import pghistory

    from itpcohort.study.models import StudySettings

    c = login("coordinator")
    first = c.get("/dashboard/").content.decode()
    assert "Not current" not in first
    with pghistory.context(reason="the wrong drug, on purpose"):
        StudySettings.objects.update(study_drug="romiplostim")
    page = c.get("/dashboard/").content.decode()
    assert "No current results." in page and "The study could not be evaluated: " in page
    assert "romiplostim" in page
    assert "Not current: computed from data version" in page
    assert "the data changed since" in page and "The results below are the last ones" in page


def test_re_evaluate_now(two_sites: Path, login: Any) -> None:
    from itpcohort.study import monitoring

    c = login("monitor")
    c.get("/dashboard/")
    before = monitoring.snapshot()
    r = c.post("/dashboard/refresh/")
    assert r.status_code == 302 and r["Location"] == "/dashboard/"
    after = monitoring.snapshot()
    assert after.version == before.version and after.computed_at > before.computed_at
    assert c.get("/dashboard/refresh/").status_code == 405  # POST only


def test_queries_by_status_and_age(study: dict[str, Any]) -> None:
    from django.utils import timezone

    from itpcohort.study.dashboard import query_ages
    from itpcohort.study.models import DataQuery

    now = timezone.now()
    ages = {
        0: "open",
        3: "open",
        4: "open",
        7: "answered",
        8: "answered",
        14: "closed",
        15: "open",
        40: "dismissed",
    }
    for days, status in ages.items():
        q = DataQuery.objects.create(patient=study["patient_a"], question="?", status=status)
        DataQuery.objects.filter(pk=q.pk).update(raised_at=now - dt.timedelta(days=days, hours=1))
    DataQuery.objects.create(patient=study["patient_b"], question="other site", status="open")
    from django.contrib.auth.models import User

    table = query_ages(User.objects.get(username="coord_a"), now=now)
    rows = {key: counts for key, _, counts, _ in table["rows"]}
    assert table["ages"] == ["0-3 days", "4-7 days", "8-14 days", "15+ days"]
    assert rows == {"open": [2, 1, 0, 1], "answered": [0, 1, 1, 0], "closed": [0, 0, 1, 0]}
    assert table["total"] == 7  # not site B's query; the site does not see dismissed ones
    monitor = query_ages(User.objects.get(username="monitor"), now=now)
    assert monitor["total"] == 9 and ("dismissed", "Dismissed", [0, 0, 0, 1], 1) in monitor["rows"]


def test_download_report_is_the_clis_report_on_the_export(
    two_sites: Path, login: Any, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User
    from typer.testing import CliRunner

    from itpcohort.cli import app
    from itpcohort.study import access
    from itpcohort.study.exchange import export_cohort

    r = login("coordinator").get("/report/")
    assert r.status_code == 200 and r["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(archive.namelist())
    assert {
        "report/report.html",
        "report/tables/response.docx",
        "report/figures/figure1.svg",
    } <= names
    export_cohort(
        tmp_path / "export", access.patients_for(User.objects.get(username="coordinator"))
    )
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "export"), "--output", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    for name in ("tables/response.csv", "tables/baseline.csv", "endpoints.csv", "results.txt"):
        assert archive.read(f"report/{name}") == (tmp_path / "cli" / name).read_bytes(), name
    assert b"B-01" not in archive.read("report/endpoints.csv")
    nobody = login("coordinator-b").get("/report/")  # B-01 only: its own one-patient report
    assert b"TAC-" not in zipfile.ZipFile(io.BytesIO(nobody.content)).read("report/endpoints.csv")
