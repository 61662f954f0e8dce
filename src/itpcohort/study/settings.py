"""Django settings of the study database: production settings, read from the environment.

:mod:`itpcohort.study.runtime` (what ``itpcohort serve`` and ``itpcohort study``
call) sets these variables; a deployment may set them itself:

- ``ITPCOHORT_STUDY_DATA``: the study's data folder (secret key, embedded PostgreSQL);
- ``ITPCOHORT_STUDY_DB``: ``postgresql://...`` (default: the embedded server of the folder);
- ``ITPCOHORT_STUDY_HTTPS``: ``1`` (default) when users reach the app over HTTPS (a
  TLS-terminating proxy in front): Secure cookies, HSTS, redirect to HTTPS. ``serve``
  sets ``0`` only for plain HTTP on a loopback address;
- ``ITPCOHORT_STUDY_HOSTS``: host names the app answers to (comma-separated);
- ``ITPCOHORT_SECRET_KEY``: the signing key (default: ``secret_key`` in the data folder,
  made at the first start, readable by its owner only).

There is no DEBUG switch and no SQLite path: one database engine everywhere.
``python -m itpcohort.study.manage check --deploy`` is clean with these settings.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pghistory
import pgtrigger
from django.core.management.utils import get_random_secret_key

DATA_DIR = Path(os.environ.get("ITPCOHORT_STUDY_DATA", "itpcohort-study")).resolve()
HTTPS = os.environ.get("ITPCOHORT_STUDY_HTTPS", "1") != "0"


def _secret_key() -> str:
    if os.environ.get("ITPCOHORT_SECRET_KEY"):
        return os.environ["ITPCOHORT_SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(get_random_secret_key() + get_random_secret_key())
    return path.read_text().strip()


def database_settings(url: str | None) -> dict[str, object]:
    """Django's DATABASES entry for a ``postgresql://`` URL (socket directories as
    ``?host=/path``); None: the embedded server's socket in the data folder."""
    if not url:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": str(DATA_DIR / "postgres"),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"database URL must start with postgresql://, not {parts.scheme}://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or parts.hostname or ""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or "") or query.pop("user", ""),
        "PASSWORD": unquote(parts.password or "") or query.pop("password", ""),
        "HOST": host,
        "PORT": str(parts.port or query.pop("port", "") or ""),
        "OPTIONS": query,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = _secret_key()
DEBUG = False
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ITPCOHORT_STUDY_HOSTS", "127.0.0.1,localhost").split(",")
    if h.strip()
]
DATABASES = {"default": database_settings(os.environ.get("ITPCOHORT_STUDY_DB"))}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "pgtrigger",
    "pghistory",
    "rules.apps.AutodiscoverRulesConfig",
    "axes",
    "django_htmx",
    "itpcohort.study.apps.StudyConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "itpcohort.study.audit.AuditContextMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
]
ROOT_URLCONF = "itpcohort.study.urls"
WSGI_APPLICATION = "itpcohort.study.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "itpcohort.study.access.role_context",
                "itpcohort.study.inbox.nav_context",
            ],
        },
    }
]

# -- people -------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out account
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "patients"
LOGOUT_REDIRECT_URL = "login"
# lockout: 5 failed logins for one user name lock that account, and 5 from one address lock
# that address (password spraying), for 30 minutes (an administrator
# may unlock sooner: itpcohort user unlock NAME)
AXES_FAILURE_LIMIT = int(os.environ.get("ITPCOHORT_STUDY_LOCKOUT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "study/locked_out.html"
AXES_VERBOSE = False

# -- sessions and cookies ------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page, never from the cookie
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    # the TLS-terminating proxy in front says the request came over HTTPS
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("ITPCOHORT_STUDY_ORIGINS", "").split(",") if o.strip()
]

# -- audit trail (docs/study-app.md) ----------------------------------------------
# every event row holds its own context (user, IP, reason), append-only
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
PGHISTORY_APPEND_ONLY = True
# one trigger call per statement (transition tables), not per row: bulk imports stay fast
PGHISTORY_LEVEL = pgtrigger.Statement
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# -- e-mail of alerts (docs/study-app.md, "Alerts") --------------------------------
# SMTP when ITPCOHORT_SMTP_HOST is set; else ITPCOHORT_MAIL_BACKEND=console prints the
# mails, and by default each mail is a file in the data folder's mail/ folder
if os.environ.get("ITPCOHORT_SMTP_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["ITPCOHORT_SMTP_HOST"]
    EMAIL_PORT = int(os.environ.get("ITPCOHORT_SMTP_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("ITPCOHORT_SMTP_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("ITPCOHORT_SMTP_PASSWORD", "")
    EMAIL_USE_SSL = os.environ.get("ITPCOHORT_SMTP_SSL", "0") == "1"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and os.environ.get("ITPCOHORT_SMTP_TLS", "1") != "0"
    EMAIL_TIMEOUT = 30
elif os.environ.get("ITPCOHORT_MAIL_BACKEND", "file") == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = os.environ.get("ITPCOHORT_MAIL_FROM", "itpcohort-study@localhost")
#: the app's address, for the link in alert mails (e.g. https://study.example.org)
STUDY_URL = os.environ.get("ITPCOHORT_STUDY_URL", "")
#: a save's alerts and automatic queries: "inline" (in the request) or "background"
#: (one thread per serving process, the request does not wait; study/followup.py)
STUDY_AFTER_SAVE = os.environ.get("ITPCOHORT_STUDY_AFTER_SAVE", "inline")

# -- the rest ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # served from the package itself: no collectstatic step
WHITENOISE_AUTOREFRESH = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
