"""``itpcohort import`` (REDCap, SDTM, OMOP, FHIR, MIMIC-IV) and ``itpcohort export`` (ADaM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from itpcohort.cli.common import (
    CohortDir,
    CriteriaOpt,
    MasterOpt,
    OutputDir,
    StudyDrugOpt,
    handled,
    out,
)
from itpcohort.errors import ItpCohortError

import_app = typer.Typer(
    help="REDCap, CDISC SDTM, OMOP CDM, FHIR R4 or MIMIC-IV data in, a cohort folder out "
    "(every source row reconciled).",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Write standard datasets from a cohort.", no_args_is_help=True)
ImportDir = Annotated[Path, typer.Option("--output", "-o", help="Cohort folder to write.")]
DrugName = Annotated[str | None, typer.Option("--study-drug", help="Study drug name.")]


def _imported(rec, output: Path) -> None:  # type: ignore[no-untyped-def]
    """Print the reconciliation, then check the written cohort folder as validate does."""
    from itpcohort.cohort import validate_cohort
    from itpcohort.report import console

    rec.print(out)
    report, cohort = validate_cohort(output)
    if cohort is not None:
        cohort.close()
    out.print(f"cohort -> {output}; reconciliation.csv beside the tables")
    out.print(console.validation(report))
    if not report.ok:
        raise typer.Exit(1)


@import_app.command("redcap")
def import_redcap_cmd(
    records: Annotated[Path | None, typer.Argument(help="Records CSV; omit with --url.")] = None,
    dictionary: Annotated[Path | None, typer.Option(help="Data dictionary CSV.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Mapping TOML (fields -> columns).")] = None,
    output: ImportDir = Path("cohort"),
    url: Annotated[
        str | None, typer.Option(help="REDCap API URL; the token comes from $REDCAP_API_TOKEN.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Records per API call.")] = 100,
) -> None:
    """REDCap: a records export (or the API) + data dictionary + mapping -> cohort folder.

    The shipped ITP project (dictionary and mapping) is used when --dictionary
    and --mapping are omitted; `itpcohort import redcap-template` copies it.
    """
    from itpcohort.importers.redcap import import_redcap
    from itpcohort.importers.redcap_api import import_redcap_api

    with handled():
        if url:
            rec = import_redcap_api(url, mapping, output, batch_size=batch_size)
        elif records is None:
            raise ItpCohortError("give the records CSV, or the REDCap API's URL")
        else:
            rec = import_redcap(records, dictionary, mapping, output)
        _imported(rec, output)


@import_app.command("redcap-template")
def redcap_template(output: OutputDir) -> None:
    """Copy the ITP REDCap project (data dictionary to load into REDCap) and its mapping."""
    from itpcohort.importers.redcap import write_template

    with handled():
        written = write_template(output)
    out.print(f"{', '.join(p.name for p in written)} -> {output}")


@import_app.command("sdtm")
def import_sdtm_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of SDTM domains (.xpt or .csv).")],
    output: ImportDir = Path("cohort"),
    study_drug: DrugName = None,
    cm_mapping: Annotated[Path | None, typer.Option(help="TOML: rescue CM names.")] = None,
) -> None:
    """CDISC SDTM (DM, EX, LB/LBHE/LBCH/LBUR, AE, CM, MH, DS) -> cohort folder."""
    from itpcohort.importers.sdtm import import_sdtm

    with handled():
        _imported(import_sdtm(folder, output, study_drug=study_drug, cm_mapping=cm_mapping), output)


@import_app.command("omop")
def import_omop_cmd(
    source: Annotated[str, typer.Option(help="Folder of CDM tables (CSV/Parquet) or duckdb:FILE.")],
    output: ImportDir = Path("cohort"),
    study_drug: DrugName = None,
    study_drug_concept: Annotated[int | None, typer.Option(help="Ingredient concept id.")] = None,
    spark: Annotated[bool, typer.Option(help="Run the import on Spark.")] = False,
    master: MasterOpt = None,
) -> None:
    """OMOP CDM (PERSON, MEASUREMENT, DRUG_EXPOSURE, CONDITION_OCCURRENCE) -> cohort folder."""
    from itpcohort.importers.omop import import_omop

    engine = "spark" if spark else "duckdb"
    with handled():
        rec = import_omop(
            source,
            output,
            study_drug=study_drug,
            study_drug_concept=study_drug_concept,
            engine=engine,
            master=master,
        )
        _imported(rec, output)


@import_app.command("fhir")
def import_fhir_cmd(
    path: Annotated[Path, typer.Argument(help="Bundle JSON, NDJSON, or a folder of them.")],
    output: ImportDir = Path("cohort"),
    study_drug: DrugName = None,
) -> None:
    """FHIR R4 (Patient, Observation 777-3, Medication*, Condition, AdverseEvent) -> cohort."""
    from itpcohort.importers.fhir import import_fhir

    with handled():
        _imported(import_fhir(path, output, study_drug=study_drug), output)


@import_app.command("mimic")
def import_mimic_cmd(
    folder: Annotated[Path, typer.Argument(help="MIMIC-IV folder (with hosp/).")],
    output: ImportDir = Path("cohort"),
    study_drug: Annotated[str, typer.Option(help="Study drug in prescriptions.")] = "prednisone",
) -> None:
    """MIMIC-IV hosp module (itemid 51265, prescriptions, ICD) -> cohort folder."""
    from itpcohort.importers.mimic import import_mimic

    with handled():
        _imported(import_mimic(folder, output, study_drug=study_drug), output)


@export_app.command("adam")
def export_adam(
    cohort_dir: CohortDir,
    output: OutputDir,
    criteria: CriteriaOpt = "iwg2009",
    study_drug: StudyDrugOpt = None,
    studyid: Annotated[str | None, typer.Option(help="STUDYID value.")] = None,
) -> None:
    """ADaM ADSL, ADRS, ADTTE as CSV, Parquet and SAS XPORT v5."""
    from itpcohort.exporters import write_adam

    with handled():
        written = write_adam(
            cohort_dir, output, criteria=criteria, study_drug=study_drug, studyid=studyid
        )
    for name, paths in written.items():
        out.print(f"{name.upper()}: " + ", ".join(p.name for p in paths))
    out.print(f"-> {output}")
