"""What every command shares: the consoles, the options, and turning errors into exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from itpcohort.errors import CohortDataError, ItpCohortError

# no console markup: cohort data (IDs, file names, terms) is printed as it is
out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
state = {"debug": False}


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


CohortDir = Annotated[
    Path,
    typer.Argument(help="Cohort folder (patients, treatments, labs, ... as CSV/Parquet/XLSX)."),
]
CriteriaOpt = Annotated[
    str,
    typer.Option(
        "--criteria",
        "-c",
        help="Response profile: iwg2009, iwg2009-or, platelet50, or a .toml file.",
    ),
]
MemoryOpt = Annotated[
    str | None,
    typer.Option("--memory-limit", help="Cap DuckDB's memory, e.g. 3GB (spills to disk beyond)."),
]
StudyDrugOpt = Annotated[
    str | None, typer.Option("--study-drug", help="The study drug, when there are several.")
]
MasterOpt = Annotated[
    str | None, typer.Option("--master", help="Spark master URL (default: local mode).")
]
OutputDir = Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")]


@contextmanager
def handled() -> Iterator[None]:
    """Known errors: their message, exit 2. Anything else: one line, exit 3."""
    from itpcohort.report import console

    try:
        yield
    except CohortDataError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        err.print(console.problems(errors, limit=20) if errors else f"error: {exc}")
        raise typer.Exit(2) from None
    except ItpCohortError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if state["debug"]:
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        raise typer.Exit(3) from None
