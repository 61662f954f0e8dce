"""The ``itpcohort`` command line: thin, it parses arguments, calls the library and prints.

What a person sees is built in ``report/console.py``; every command runs in
:func:`~itpcohort.cli.common.handled`, which turns the library's errors into one
message and an exit status (2 bad input, 3 internal error). The ``import`` and
``export`` sub-commands are in ``cli/exchange.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from itpcohort import __version__
from itpcohort.cli.common import (
    CohortDir,
    CriteriaOpt,
    Engine,
    MasterOpt,
    MemoryOpt,
    OutputDir,
    StudyDrugOpt,
    err,
    handled,
    out,
    state,
)
from itpcohort.cli.exchange import export_app, import_app
from itpcohort.cli.safety import grade
from itpcohort.cli.study import serve, study_app, user_app

app = typer.Typer(
    name="itpcohort",
    help="Treatment-response cohort studies in immune thrombocytopenia (ITP): read a cohort "
    "folder, judge response by the IWG 2009 criteria (or another profile) on DuckDB or Spark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.command()(grade)
app.command("serve")(serve)
app.add_typer(user_app, name="user")
app.add_typer(study_app, name="study")


def _version(value: bool) -> None:
    if value:
        out.print(f"itpcohort {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Traceback of an internal error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state["debug"] = debug


@app.command()
def validate(
    cohort_dir: CohortDir,
    json_output: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    memory_limit: MemoryOpt = None,
) -> None:
    """Check a cohort folder: every problem with file, line and column, and a per-table summary.

    Exit status 0 when there are no errors (warnings allowed), 1 when there are.
    """
    from itpcohort.cohort import validate_cohort
    from itpcohort.report import console

    with handled():
        report, cohort = validate_cohort(cohort_dir, memory_limit=memory_limit)
        if cohort is not None:
            cohort.close()
        if json_output:
            out.print_json(console.validation_json(report))
        else:
            out.print(console.validation(report))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def evaluate(
    cohort_dir: CohortDir,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Endpoints file to write: .csv or .parquet.")
    ],
    criteria: CriteriaOpt = "iwg2009",
    engine: Annotated[
        Engine, typer.Option("--engine", "-e", help="duckdb or spark.")
    ] = Engine.duckdb,
    master: MasterOpt = None,
    study_drug: StudyDrugOpt = None,
    memory_limit: MemoryOpt = None,
) -> None:
    """Judge response for every enrolled patient and write the endpoints table."""
    from itpcohort.cohort import read_cohort
    from itpcohort.outputs import check_output
    from itpcohort.pipeline import run, write_endpoints_in_batches
    from itpcohort.report import console
    from itpcohort.response import check_endpoints_path

    with handled():
        check_output(check_endpoints_path(output), [cohort_dir])
        with console.StageProgress(err) as progress:
            cohort = read_cohort(cohort_dir, memory_limit=memory_limit, progress=progress)
            enrolled = console.enrolled(cohort.report)
            # a registry is evaluated and written in batches of patients: one stage
            stage = f"evaluating on {engine.value} and writing"
            progress.stage(stage, output.name, total=enrolled, unit="patients")
            evaluation = run(cohort, criteria, engine.value, study_drug=study_drug, master=master)
            counts = write_endpoints_in_batches(evaluation, output, progress)
        err.print(console.problems(cohort.report.warnings, limit=10))
        out.print(console.closing_line(cohort.report, counts, output))


@app.command()
def explain(
    cohort_dir: CohortDir,
    patient_id: Annotated[str, typer.Argument(help="The patient's study ID.")],
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
    figure: Annotated[
        Path | None,
        typer.Option("--figure", help="Also draw the platelet timeline: a .svg or .png file."),
    ] = None,
) -> None:
    """Show one patient's timeline: baseline, each day's level, what confirmed or ended response."""
    from itpcohort.report import console
    from itpcohort.report.timeline import explain_and_draw, write_figure
    from itpcohort.response.explain import explain_patient

    with handled():
        if figure is None:
            x = explain_patient(cohort_dir, patient_id, criteria, study_drug=study_drug)
        else:
            drawn, fig = explain_and_draw(cohort_dir, patient_id, criteria, study_drug=study_drug)
            x = drawn.explanation
            write_figure(fig, figure, [cohort_dir])
        out.print(console.explanation(x))
        if figure is not None:
            out.print(f"figure -> {figure}")


@app.command()
def criteria(
    profile: Annotated[
        str | None, typer.Argument(help="A profile name or .toml file; omit to list profiles.")
    ] = None,
) -> None:
    """List the shipped response profiles, or show one profile's settings."""
    from itpcohort.criteria import builtin_profiles, load_criteria
    from itpcohort.report import console

    with handled():
        for name in [profile] if profile else builtin_profiles():
            out.print(console.profile(load_criteria(name), settings=profile is not None))


@app.command()
def simulate(
    output: OutputDir,
    preset: Annotated[str, typer.Option(help="Study design.")] = "tacrolimus-apl-2023",
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the preset's).")] = None,
    patients: Annotated[int | None, typer.Option(help="Enrolled patients (default: 61).")] = None,
) -> None:
    """Write a simulated cohort folder (raw tables only) and its truth file beside it.

    The preset's default seed reproduces every published figure of the reference
    study; other seeds vary around them; --patients scales the design.
    """
    from itpcohort.simulate import simulate as run

    with handled():
        written = run(output, preset, seed=seed, patients=patients)
        out.print(f"cohort -> {output}  (truth, for checking only -> {written['truth']})")


@app.command()
def report(
    cohort_dir: CohortDir,
    output: OutputDir,
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Patients column to compare response across; repeat for several; cut a "
            "numeric one at stated points: --by age:50 (groups <50, >=50) or --by age:40,60."
        ),
    ] = None,
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
    comparators: Annotated[
        Path | None, typer.Option(help="TOML file of published response rates to compare.")
    ] = None,
) -> None:
    """Write report.html, summary.json, every table (CSV, DOCX) and figure (PNG, SVG)."""
    from itpcohort.report import write_report

    with handled(), err.status("analysing and drawing"):
        result = write_report(
            cohort_dir,
            output,
            by=by,
            criteria=criteria,
            study_drug=study_drug,
            comparators=comparators,
        )
    out.print(result.paragraph)
    out.print(f"report -> {result.html}")


@app.command()
def demo(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the cohort and the report.")
    ] = Path("itpcohort-demo"),
) -> None:
    """Simulate the reference study (tacrolimus in aPL thrombocytopenia) and report on it."""
    from itpcohort.report import console, write_report
    from itpcohort.simulate import simulate as run

    with handled():
        with err.status("simulating the tacrolimus-apl-2023 cohort"):
            run(output / "cohort", "tacrolimus-apl-2023", truth=output / "truth.csv")
        with err.status("evaluating, analysing and drawing"):
            result = write_report(output / "cohort", output / "report", by="sle")
    out.print(console.headline(result.summary))
    out.print(f"\nreport -> {result.html}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
