"""Security: CSRF, lockout, escaping, cookies, passwords, production settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from itpcohort.study.models import AccessEvent, AdverseEvent, Lab
from tests.study.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NASTY = [
    "Robert'); DROP TABLE study_lab;--",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    '"><img src=x onerror=alert(2)>',
]


def test_a_post_without_a_csrf_token_is_refused(study) -> None:
    from django.contrib.auth.models import User

    c = Client(enforce_csrf_checks=True)
    c.force_login(User.objects.get(username="coord_a"))
    response = c.post("/patients/A-001/visit/", {"date": "2024-03-01", "platelets_value": "50"})
    assert response.status_code == 403 and "security token" in response.content.decode()
    assert not Lab.objects.exists()
    page = c.get("/patients/A-001/visit/")
    token = page.cookies[settings.CSRF_COOKIE_NAME].value
    ok = c.post(
        "/patients/A-001/visit/",
        {"date": "2024-03-01", "platelets_value": "50", "csrfmiddlewaretoken": token},
    )
    assert ok.status_code == 302 and Lab.objects.count() == 1


def test_lockout_after_repeated_failed_logins(study) -> None:
    c = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        c.post("/login/", {"username": "coord_a", "password": "guess"})
    locked = c.post("/login/", {"username": "coord_a", "password": PASSWORD})
    assert locked.status_code == 429 and "Account locked" in locked.content.decode()
    assert "_auth_user_id" not in c.session
    assert AccessEvent.objects.filter(kind="locked_out", username="coord_a").exists()
    # the address is locked too (password spraying); the other accounts elsewhere are not
    sprayed = Client().post("/login/", {"username": "coord_b", "password": PASSWORD})
    assert sprayed.status_code == 429
    other = Client().post(
        "/login/", {"username": "coord_b", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert other.status_code == 302
    from itpcohort.study import people

    people.unlock("coord_a", by="admin")
    assert (
        Client().post("/login/", {"username": "coord_a", "password": PASSWORD}).status_code == 302
    )


def test_hostile_text_is_stored_verbatim_and_shown_escaped(study, login) -> None:
    c = login("coord_a")
    for i, text in enumerate(NASTY):
        response = c.post(
            "/patients/A-001/ae/new/",
            {"onset_date": f"2024-02-0{i + 1}", "term": text, "grade": "1"},
        )
        assert response.status_code == 302, response.content.decode()[:500]
    assert sorted(AdverseEvent.objects.values_list("term", flat=True)) == sorted(NASTY)
    page = c.get("/patients/A-001/").content.decode()
    assert (
        "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    )
    assert "<img src=x" not in page
    assert Lab.objects.count() == 0  # the table is still there (no injection ran)
    listing = c.get("/patients/", {"q": "' OR '1'='1"}).content.decode()
    assert "A-001" not in listing and "No patients" in listing


def test_passwords_are_hashed_with_argon2(study) -> None:
    from django.contrib.auth.models import User

    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert User.objects.get(username="coord_a").password.startswith("argon2$")


def test_session_cookie_is_httponly_and_samesite(study) -> None:
    response = Client().post("/login/", {"username": "coord_a", "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # these tests serve plain HTTP on loopback


def _settings_env(https: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITPCOHORT_STUDY")}
    env.update(
        ITPCOHORT_STUDY_HTTPS=https,
        ITPCOHORT_SECRET_KEY="x" * 10 + os.urandom(30).hex(),
        ITPCOHORT_STUDY_HOSTS="study.example.org",
        DJANGO_SETTINGS_MODULE="itpcohort.study.settings",
    )
    return env


def test_production_settings_pass_check_deploy() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "itpcohort.study.manage",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_settings_env("1"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    insecure = subprocess.run(
        [
            sys.executable,
            "-m",
            "itpcohort.study.manage",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_settings_env("0"),
    )
    assert insecure.returncode != 0  # the check is real: plain HTTP settings do not pass


def test_https_settings_make_cookies_secure() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=_settings_env("1"),
    )
    assert out.stdout.split() == ["True", "True", "True", "True", "Lax"], out.stderr


def test_serve_refuses_plain_http_beyond_loopback(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "itpcohort", "serve", "--host", "0.0.0.0", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--behind-https-proxy" in result.stderr


def test_weak_passwords_and_siteless_coordinators_are_refused(db: None) -> None:
    from itpcohort.errors import ItpCohortError
    from itpcohort.study import people

    with pytest.raises(ItpCohortError, match="password refused"):
        people.add_user("alice", "administrator", [], "12345678", by="test")
    with pytest.raises(ItpCohortError, match="works at a site: name the site"):
        people.add_user("bob", "coordinator", [], "a-long-enough-passphrase", by="test")
    with pytest.raises(ItpCohortError, match="unknown role"):
        people.add_user("carl", "superuser", [], "a-long-enough-passphrase", by="test")
    assert not people.exists("alice") and not people.exists("bob")
