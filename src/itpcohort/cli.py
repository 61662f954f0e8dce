"""The ``itpcohort`` command line: thin, it parses arguments and calls the modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from itpcohort import __version__
from itpcohort.cohort.problems import ValidationReport
from itpcohort.errors import CohortDataError, ItpCohortError

app = typer.Typer(
    name="itpcohort",
    help="Treatment-response cohort studies in immune thrombocytopenia (ITP): read a cohort "
    "folder, judge response by the IWG 2009 criteria (or another profile) on DuckDB or Spark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_state = {"debug": False}


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
        help="Response profile: iwg2009 (default), iwg2009-or, platelet50, or a .toml file.",
    ),
]
MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="Cap DuckDB's memory, e.g. 3GB (it spills to a temporary folder beyond it).",
    ),
]
StudyDrugOpt = Annotated[
    str | None,
    typer.Option(
        "--study-drug", help="The study drug, when treatments has several with role study."
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"itpcohort {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an internal error.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug


@contextmanager
def _handled() -> Iterator[None]:
    """Known errors: their message, exit 2. Anything else: one line, exit 3."""
    try:
        yield
    except CohortDataError as exc:
        errors = [p for p in exc.problems if p.severity == "error"]
        for problem in errors:
            err.print(str(problem), markup=False, highlight=False)
        if not errors:
            err.print(f"error: {exc}", markup=False, highlight=False)
        else:
            err.print(
                f"{len(errors)} error(s): run 'itpcohort validate' for the full report", style="red"
            )
        raise typer.Exit(2) from None
    except ItpCohortError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _state["debug"]:
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(3) from None


@app.command()
def validate(
    cohort_dir: CohortDir,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for scripts).")
    ] = False,
    memory_limit: MemoryOpt = None,
) -> None:
    """Check a cohort folder: every problem with file, line and column, and a per-table summary.

    Exit status 0 when there are no errors (warnings allowed), 1 when there are.
    """
    from itpcohort.cohort import validate_cohort

    with _handled():
        report, cohort = validate_cohort(cohort_dir, memory_limit=memory_limit)
        if cohort is not None:
            cohort.con.close()
        if json_output:
            payload = {
                "folder": report.folder,
                "ok": report.ok,
                "problems": [p.__dict__ for p in report.problems],
                "tables": [s.as_dict() for s in report.summaries],
            }
            out.print_json(json.dumps(payload, default=str))
        else:
            _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    for problem in report.problems:
        style = "red" if problem.severity == "error" else "yellow"
        out.print(str(problem), style=style, markup=False, highlight=False)
    table = Table(title=f"Cohort {report.folder}", title_justify="left")
    for col in ("table", "file", "read", "used", "set aside (why)"):
        table.add_column(col, justify="right" if col in ("read", "used") else "left")
    for s in report.summaries:
        why = "; ".join(f"{n} {reason}" for reason, n in s.set_aside.items()) or "-"
        table.add_row(s.table, s.file or "(absent)", str(s.read), str(s.used), why)
    out.print(table)
    verdict = "[green]valid[/]" if report.ok else "[red]not valid[/]"
    out.print(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


@app.command()
def evaluate(
    cohort_dir: CohortDir,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Endpoints file to write: .csv or .parquet.")
    ],
    criteria: CriteriaOpt = "iwg2009",
    engine: Annotated[
        Engine, typer.Option("--engine", "-e", help="duckdb (embedded) or spark.")
    ] = Engine.duckdb,
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master URL (default: local mode on this machine)."),
    ] = None,
    study_drug: StudyDrugOpt = None,
    memory_limit: MemoryOpt = None,
) -> None:
    """Judge response for every enrolled patient and write the endpoints table."""
    from itpcohort.cohort import read_cohort
    from itpcohort.response import evaluate as run
    from itpcohort.response import write_endpoints

    with _handled():
        if output.suffix.lower() not in (".csv", ".parquet"):
            raise ItpCohortError(f"--output {output}: use a .csv or .parquet file name")
        with err.status("reading the cohort"):
            cohort = read_cohort(cohort_dir, memory_limit=memory_limit)
        warnings = cohort.report.warnings
        for warning in warnings[:10]:
            err.print(str(warning), style="yellow", markup=False, highlight=False)
        if len(warnings) > 10:
            err.print(
                f"... {len(warnings) - 10} more warnings: 'itpcohort validate' lists them",
                style="yellow",
            )
        with err.status(f"evaluating on {engine.value}"):
            endpoints = run(cohort, criteria, engine.value, study_drug=study_drug, master=master)
        write_endpoints(endpoints, output)
        counts = endpoints["best_response"].value_counts()
        summary = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("CR", "R", "NR", "NE"))
        out.print(f"{len(endpoints)} patients ({summary}) -> {output}")


@app.command()
def explain(
    cohort_dir: CohortDir,
    patient_id: Annotated[str, typer.Argument(help="The patient's study ID.")],
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
) -> None:
    """Show one patient's timeline: baseline, each day's level, what confirmed or ended response."""
    from itpcohort.response.explain import explain_patient

    with _handled():
        x = explain_patient(cohort_dir, patient_id, criteria, study_drug=study_drug)
        e = x.endpoints
        out.print(f"[bold]{patient_id}[/] — criteria {x.criteria.name}: {x.criteria.description}")
        for p in x.periods.itertuples():
            end = p.end_date if p.end_date is not None and str(p.end_date) != "NaT" else "ongoing"
            what = f"{p.drug} ({p.phase})" if p.role == "study" else f"rescue {p.drug}"
            out.print(f"  {p.start_date} .. {end}: {what}")
        if x.baseline.empty:
            out.print(
                f"  baseline: none in the {x.criteria.baseline_window_days} days up to "
                "the start -> not evaluable (NE)"
            )
        else:
            b = x.baseline.iloc[0]
            out.print(f"  baseline: {b.baseline_platelets:g} x10^9/L on {b.baseline_date}")
        table = Table(title="Days after the start", title_justify="left")
        for col in ("date", "count", "evaluable", "bleed", "level", ">=R 7d", "CR 7d", "<R 2x"):
            table.add_column(col, no_wrap=True)
        for r in x.days.itertuples():
            table.add_row(
                str(r.date),
                _fmt(r.value),
                "yes" if r.evaluable is True or _missing(r.evaluable) else "no: washout",
                _fmt(r.bleeding),
                _fmt(r.level),
                _tick(r.r_confirmed),
                _tick(r.cr_confirmed),
                _tick(r.loss_confirmed),
            )
        out.print(table)
        for ev in x.events.itertuples():
            out.print(f"  {ev.date}: [bold]{ev.event}[/] — {ev.why}")
        out.print(
            f"  => best response {e.best_response}; response {_fmt(e.response_date)}; "
            f"CR {_fmt(e.cr_date)}; loss {_fmt(e.loss_date)} ({_fmt(e.loss_phase)}); "
            f"duration {_fmt(e.response_duration_days)} days"
            f"{' (censored)' if e.response_duration_censored is True else ''}; "
            f"sustained off treatment {str(bool(e.sustained_off_treatment)).lower()}"
        )


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))  # type: ignore[arg-type]


def _fmt(value: object) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp
        return str(value.date())
    return str(value)


def _tick(value: object) -> str:
    return "-" if _missing(value) else ("yes" if value else "")


@app.command()
def criteria(
    profile: Annotated[
        str | None, typer.Argument(help="A profile name or .toml file; omit to list profiles.")
    ] = None,
) -> None:
    """List the shipped response profiles, or show one profile's settings."""
    from itpcohort.criteria import builtin_profiles, load_criteria

    with _handled():
        names = [profile] if profile else builtin_profiles()
        for name in names:
            c = load_criteria(name)
            out.print(f"[bold]{c.name}[/]: {c.description}  [dim]({c.source})[/]")
            if profile:
                for key, value in c.model_dump().items():
                    if key not in ("name", "description", "source"):
                        out.print(f"  {key} = {value}")


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cohort folder to write.")],
    preset: Annotated[
        str, typer.Option("--preset", help="Study design: tacrolimus-apl-2023.")
    ] = "tacrolimus-apl-2023",
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the preset's own).")
    ] = None,
    patients: Annotated[
        int | None, typer.Option("--patients", help="Enrolled patients (default: the preset's).")
    ] = None,
) -> None:
    """Write a simulated cohort folder (raw tables only) and its truth file beside it.

    The preset's default seed reproduces every published figure of the reference
    study; other seeds vary around them; --patients scales the design.
    """
    from itpcohort.simulate import PRESETS
    from itpcohort.simulate import simulate as run

    with _handled():
        if preset not in PRESETS:
            raise ItpCohortError(f"unknown preset '{preset}': use one of {', '.join(PRESETS)}")
        if patients is not None and patients < 1:
            raise ItpCohortError("--patients must be at least 1")
        written = run(output, preset, seed=seed, patients=patients)
        out.print(f"cohort -> {output}  (truth, for checking only -> {written['truth']})")


@app.command()
def report(
    cohort_dir: CohortDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder to write.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Patients column to compare response across.")
    ] = None,
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
    comparators: Annotated[
        Path | None,
        typer.Option("--comparators", help="TOML file of published response rates to compare."),
    ] = None,
) -> None:
    """Write report.html, summary.json, every table (CSV, DOCX) and figure (PNG, SVG)."""
    from itpcohort.report import write_report

    with _handled():
        with err.status("analysing and drawing"):
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
    from itpcohort.report import write_report
    from itpcohort.simulate import simulate as run

    with _handled():
        with err.status("simulating the tacrolimus-apl-2023 cohort"):
            run(output / "cohort", "tacrolimus-apl-2023", truth=output / "truth.csv")
        with err.status("evaluating, analysing and drawing"):
            result = write_report(output / "cohort", output / "report", by="sle")
        _print_headline(result.summary)
        out.print(f"\nreport -> {result.html}")


def _print_headline(s: dict) -> None:  # type: ignore[type-arg]
    def q(d: dict) -> str:  # type: ignore[type-arg]
        return f"{d['median']:.1f} (IQR {d['q1']:.1f}, {d['q3']:.1f})"

    o, cr, loss = s["overall_response"], s["complete_response"], s["loss_of_response"]
    sus, ae, stop = (
        s["sustained_off_treatment"],
        s["adverse_effects"],
        s["stopped_for_adverse_effects"],
    )
    rows = [
        ("patients enrolled", f"{s['patients_enrolled']}", "61"),
        ("median treatment duration, months", f"{s['treatment_months']['median']:.1f}", "22"),
        ("overall response (CR + R)", f"{o['n']} ({o['percent']:.1f}%)", "49 (80.3%)"),
        ("complete response", f"{cr['n']} ({cr['percent']:.1f}%)", "30 (49.2%)"),
        ("time to response, months", q(s["time_to_response_months"]), "3 (IQR 1, 3)"),
        ("loss of response", f"{loss['n']} ({loss['percent']:.1f}%)", "8 (16.3%)"),
        ("  during full dose / taper", f"{loss['full']} / {loss['taper']}", "6 / 2"),
        ("duration of response, months", q(s["response_duration_months"]), "24.5 (IQR 9.8, 40.3)"),
        ("sustained response off treatment", f"{sus['n']} ({sus['percent']:.1f}%)", "11 (18%)"),
    ]
    by = s.get("overall_response_by", {}).get("sle")
    if by and "true" in by and "false" in by:
        rows.append(
            (
                "overall response, SLE vs no SLE",
                f"{by['true']['percent']:.1f}% vs {by['false']['percent']:.1f}%",
                "91.3% vs 73.7%",
            )
        )
    rows += [
        ("patients with side effects", f"{ae['n']} ({ae['percent']:.1f}%)", "6 (9.8%)"),
        ("stopped for side effects", f"{stop['n']} ({stop['percent']:.1f}%)", "2 (3.3%)"),
    ]
    table = Table(
        title="Tacrolimus in aPL-associated thrombocytopenia (simulated reference cohort)",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("itpcohort", justify="right")
    table.add_column("published (Shi et al. 2023)", justify="right")
    for row in rows:
        table.add_row(*row)
    out.print(table)


import_app = typer.Typer(
    help="Turn REDCap, CDISC SDTM, OMOP CDM, FHIR R4 or MIMIC-IV data into a cohort folder "
    "(every source row reconciled).",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Write standard datasets from a cohort.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
OutputDir = Annotated[Path, typer.Option("--output", "-o", help="Cohort folder to write.")]


def _imported(rec, output: Path) -> None:  # type: ignore[no-untyped-def]
    from itpcohort.cohort import validate_cohort

    rec.print(out)
    report, cohort = validate_cohort(output)
    if cohort is not None:
        cohort.con.close()
    verdict = "valid" if report.ok else "NOT valid"
    out.print(
        f"cohort -> {output} ({verdict}: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s); reconciliation.csv beside the tables)"
    )
    if not report.ok:
        for problem in report.errors[:20]:
            err.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(1)


@import_app.command("redcap")
def import_redcap_cmd(
    records: Annotated[
        Path | None, typer.Argument(help="Records export (raw CSV); omit with --url.")
    ] = None,
    dictionary: Annotated[
        Path | None, typer.Option("--dictionary", help="Data dictionary CSV.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Mapping TOML (fields -> cohort columns).")
    ] = None,
    output: OutputDir = Path("cohort"),
    url: Annotated[
        str | None,
        typer.Option("--url", help="REDCap API URL; the token is read from $REDCAP_API_TOKEN."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Records per API call.")] = 100,
) -> None:
    """REDCap: a records export (or the API) + data dictionary + mapping -> cohort folder.

    The shipped ITP project (dictionary and mapping) is used when --dictionary
    and --mapping are omitted; `itpcohort import redcap-template` copies it.
    """
    import os

    from itpcohort.importers.redcap import import_redcap, template_paths

    with _handled():
        default_dictionary, default_mapping = template_paths()
        dictionary = dictionary or default_dictionary
        mapping = mapping or default_mapping
        if url:
            from itpcohort.importers.redcap_api import export_project

            token = os.environ.get("REDCAP_API_TOKEN")
            if not token:
                raise ItpCohortError(
                    "set REDCAP_API_TOKEN to the project's API token (never on the command line)"
                )
            records_frame, dictionary = export_project(
                url, token, batch_size=batch_size, workdir=output.parent
            )
            rec = import_redcap(records_frame, dictionary, mapping, output)
        else:
            if records is None:
                raise ItpCohortError("give the records CSV, or --url for the API")
            rec = import_redcap(records, dictionary, mapping, output)
        _imported(rec, output)


@import_app.command("redcap-template")
def redcap_template(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
) -> None:
    """Copy the ITP REDCap project (data dictionary to load into REDCap) and its mapping."""
    import shutil

    from itpcohort.importers.redcap import template_paths

    with _handled():
        output.mkdir(parents=True, exist_ok=True)
        for path in template_paths():
            shutil.copy(path, output / path.name)
        out.print(f"dictionary.csv and mapping.toml -> {output}")


@import_app.command("sdtm")
def import_sdtm_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of SDTM domains (.xpt or .csv).")],
    output: OutputDir = Path("cohort"),
    study_drug: Annotated[
        str | None, typer.Option("--study-drug", help="EXTRT of the study drug (check only).")
    ] = None,
    cm_mapping: Annotated[
        Path | None, typer.Option("--cm-mapping", help="TOML: rescue / concomitant CM names.")
    ] = None,
) -> None:
    """CDISC SDTM (DM, EX, LB/LBHE/LBCH/LBUR, AE, CM, MH, DS) -> cohort folder."""
    from itpcohort.importers.sdtm import import_sdtm

    with _handled():
        _imported(import_sdtm(folder, output, study_drug=study_drug, cm_mapping=cm_mapping), output)


@import_app.command("omop")
def import_omop_cmd(
    source: Annotated[
        str, typer.Option("--source", help="Folder of CDM tables (CSV/Parquet) or duckdb:FILE.")
    ],
    output: OutputDir = Path("cohort"),
    study_drug: Annotated[
        str | None, typer.Option("--study-drug", help="Study drug name (matched in CONCEPT).")
    ] = None,
    study_drug_concept: Annotated[
        int | None,
        typer.Option("--study-drug-concept", help="Ingredient concept id (via CONCEPT_ANCESTOR)."),
    ] = None,
    spark: Annotated[
        bool, typer.Option("--spark", help="Run the import on Spark (a folder source).")
    ] = False,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master URL (default: local mode).")
    ] = None,
) -> None:
    """OMOP CDM (PERSON, MEASUREMENT, DRUG_EXPOSURE, CONDITION_OCCURRENCE) -> cohort folder."""
    from itpcohort.importers.omop import import_omop

    with _handled():
        rec = import_omop(
            source,
            output,
            study_drug=study_drug,
            study_drug_concept=study_drug_concept,
            engine="spark" if spark else "duckdb",
            master=master,
        )
        _imported(rec, output)


@import_app.command("fhir")
def import_fhir_cmd(
    path: Annotated[Path, typer.Argument(help="Bundle JSON, NDJSON, or a folder of them.")],
    output: OutputDir = Path("cohort"),
    study_drug: Annotated[
        str | None, typer.Option("--study-drug", help="Study drug name (medication text).")
    ] = None,
) -> None:
    """FHIR R4 (Patient, Observation 777-3, Medication*, Condition, AdverseEvent) -> cohort."""
    from itpcohort.importers.fhir import import_fhir

    with _handled():
        _imported(import_fhir(path, output, study_drug=study_drug), output)


@import_app.command("mimic")
def import_mimic_cmd(
    folder: Annotated[Path, typer.Argument(help="MIMIC-IV folder (with hosp/).")],
    output: OutputDir = Path("cohort"),
    study_drug: Annotated[
        str, typer.Option("--study-drug", help="Study drug in prescriptions.")
    ] = "prednisone",
) -> None:
    """MIMIC-IV hosp module (itemid 51265, prescriptions, ICD) -> cohort folder."""
    from itpcohort.importers.mimic import import_mimic

    with _handled():
        _imported(import_mimic(folder, output, study_drug=study_drug), output)


@export_app.command("adam")
def export_adam(
    cohort_dir: CohortDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the datasets.")],
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
    studyid: Annotated[str | None, typer.Option("--studyid", help="STUDYID value.")] = None,
) -> None:
    """ADaM ADSL, ADRS, ADTTE as CSV, Parquet and SAS XPORT v5."""
    from itpcohort.exporters import write_adam

    with _handled():
        written = write_adam(
            cohort_dir, output, criteria=criteria, study_drug=study_drug, studyid=studyid
        )
        for name, paths in written.items():
            out.print(f"{name.upper()}: " + ", ".join(p.name for p in paths))
        out.print(f"-> {output}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
