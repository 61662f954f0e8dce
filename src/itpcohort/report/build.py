"""``itpcohort report``: every table, figure and number of a cohort study, in one folder."""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from ibis import _

from itpcohort import __version__
from itpcohort.cohort import Cohort, read_cohort
from itpcohort.criteria import Criteria
from itpcohort.outputs import check_output, write_text
from itpcohort.pipeline import Evaluation, run
from itpcohort.report import documents, figures, prose, safety
from itpcohort.response import write_endpoints
from itpcohort.safety import safety_section
from itpcohort.statistics import Analysis, analyse
from itpcohort.statistics.adverse_events import TEAE_WINDOW_DAYS
from itpcohort.statistics.analysis import CohortFrames
from itpcohort.statistics.descriptive import DAYS_PER_MONTH
from itpcohort.statistics.subgroups import check_groupings

#: every figure, in print order, with its caption (``forest`` only with ``--by``)
CAPTIONS = {
    "flow": "Patient flow (STROBE): screened, excluded by reason, enrolled, evaluable, responders.",
    "time_to_response": "Time to response: Aalen-Johansen cumulative incidence of response with "
    "its 95% confidence band; stopping the study drug without response is a competing event "
    "(dashed). Ticks mark censored patients; below the axis, the number at risk (evaluable "
    "patients still followed without response or stopping at each time).",
    "response_duration": "Duration of response under treatment (Kaplan-Meier) with its 95% "
    "confidence band; ticks mark censored responders; below the axis, the number at risk "
    "(responders still followed in response at each time).",
    "figure1": "The abstract's Figure 1: percentage of patients in each response category by "
    "month on treatment (A) and mean platelet count with its standard error by best-response "
    "group (B); the number of patients is given under each month.",
    "swimmer": "Treatment course per patient, grouped by best response: full dose, taper and "
    "time off treatment, with response, complete response, loss, bleeding and adverse events.",
    "trajectories": "Platelet counts per patient by best response (log scale; dotted lines at "
    "10 and 30, dashed at 100 \u00d710\u2079/L).",
    "forest": "Overall response by subgroup with exact 95% confidence intervals (exploratory); "
    "the dashed line is the rate among all patients.",
}
FIGURES = tuple(CAPTIONS)
#: DuckDB's memory limit when write_report reads the cohort folder itself
REPORT_MEMORY_LIMIT = "1GB"


@dataclass
class Report:
    """What ``write_report`` wrote, and the numbers behind it."""

    folder: Path
    html: Path
    summary_json: Path
    summary: dict[str, object]
    paragraph: str
    files: list[Path] = field(default_factory=list)
    methods: str = ""


def write_report(
    cohort: Cohort | str | Path,
    output: str | Path,
    *,
    by: str | list[str] | None = None,
    criteria: str | Path | Criteria = "iwg2009",
    study_drug: str | None = None,
    comparators: str | Path | None = None,
    baseline_tests: bool = False,
    memory_limit: str | None = REPORT_MEMORY_LIMIT,
) -> Report:
    """Evaluate, analyse and write report.html, summary.json, tables (CSV, DOCX), figures.

    ``by`` names one patients column or several (``"age:50"`` cuts a numeric one
    at 50). Every file is written atomically; none may replace a file of the
    cohort folder (:mod:`itpcohort.outputs`). A cohort given as a folder is read with
    DuckDB's ``memory_limit`` (``"1GB"``: past it DuckDB spills to disk; None for
    DuckDB's default of 80% of the memory).
    """
    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort, memory_limit=memory_limit)
    evaluation = run(cohort, criteria, study_drug=study_drug)
    out = check_output(output, [evaluation.cohort.folder], folder=True)
    frames = CohortFrames(evaluation.cohort)
    patients = frames.patients
    check_groupings(patients[patients["_enrolled"]], by)  # a bad --by fails before evaluating
    analysis = analyse(
        evaluation.cohort,
        evaluation.endpoints,
        by=by,
        comparators=comparators,
        criteria=evaluation.criteria,
        study_drug=evaluation.study_drug,
        baseline_tests=baseline_tests,
        frames=frames,
    )
    names = _figure_names(analysis)
    for path in _report_files(out, analysis, names) + safety.files(out):
        check_output(path, [evaluation.cohort.folder])
    safety_part = safety_section(evaluation)
    files = [write_endpoints(evaluation.endpoints, out / "endpoints.csv")]
    files += _write_tables(analysis, out / "tables")
    files += _draw_figures(evaluation, analysis, out / "figures", names)
    files += safety.write(safety_part, out)
    by_names = [spec.column for spec in analysis.by]
    paragraph = prose.results_paragraph(analysis.summary, by_names, evaluation.study_drug)
    methods = prose.methods_paragraph(
        evaluation.criteria, evaluation.study_drug, TEAE_WINDOW_DAYS, by_names
    )
    summary = {
        **analysis.summary,
        "criteria": evaluation.criteria.name,
        "study_drug": evaluation.study_drug,
        "grouped_by": by if by is None or isinstance(by, str) else list(by),
        "safety": safety_part.summary,
        "generated_by": f"itpcohort {__version__}",
    }
    safety_html = safety.section_html(safety_part, out / "figures", len(names) + 1)
    page = _html(evaluation, analysis, paragraph, methods, out / "figures", names, safety_html)
    files += [
        write_text(out / "results.txt", f"Methods\n\n{methods}\n\nResults\n\n{paragraph}\n"),
        write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"),
        write_text(out / "report.html", page),
    ]
    return Report(
        out, out / "report.html", out / "summary.json", summary, paragraph, files, methods
    )


def _figure_names(analysis: Analysis) -> list[str]:
    return [name for name in FIGURES if name != "forest" or analysis.by]


def _report_files(out: Path, analysis: Analysis, names: list[str]) -> list[Path]:
    """Every file the report writes, known before any is written."""
    files = ["endpoints.csv", "results.txt", "summary.json", "report.html"]
    files += [f"tables/{t}.{ext}" for t in analysis.tables for ext in ("csv", "docx")]
    files += [f"figures/{f}.{ext}" for f in names for ext in ("png", "svg")]
    return [out / name for name in files]


def _write_tables(analysis: Analysis, folder: Path) -> list[Path]:
    files = []
    for name, frame in analysis.tables.items():
        files.append(documents.write_csv(frame, folder / f"{name}.csv"))
        files.append(documents.write_docx(frame, analysis.layouts[name], folder / f"{name}.docx"))
    return files


def platelet_means(evaluation: Evaluation, months: int = 24) -> pd.DataFrame:
    """:func:`figures.platelets_by_month` computed by the engine (linear, small result).

    Each patient's mean count per month after the start (month = round(days /
    30.4375), 0 to ``months``), then per best-response group and month: the mean
    of those, its standard error and the number of patients (at least
    ``figures.MIN_PATIENTS``). Nothing of the labs table comes into pandas.
    """
    tables = evaluation.tables
    keys = tables.backend.to_pyarrow(tables["patients"].select("patient_id", "_pid")).to_pandas()
    groups = evaluation.endpoints[["patient_id", "start_date", "best_response"]].merge(
        keys, on="patient_id"
    )
    groups = groups[groups["start_date"].notna()].drop(columns="patient_id")
    groups["start_date"] = pd.to_datetime(groups["start_date"]).dt.date
    g = ibis.memtable(groups.astype({"best_response": str}))
    labs = evaluation.inputs["labs"]
    rows = labs.filter(labs.test == "platelets")
    joined = rows.join(g, rows.patient_id == g._pid)
    days = joined.date.delta(joined.start_date, unit="day")
    month = (days / DAYS_PER_MONTH).round().cast("int64")
    per_patient = (
        joined.mutate(month=month)
        .filter((_.month >= 0) & (_.month <= months))
        .group_by(["best_response", "month", "_pid"])
        .aggregate(value=_.value.mean())
    )
    grouped = per_patient.group_by(["best_response", "month"]).aggregate(
        mean=_.value.mean(), sd=_.value.std(how="sample"), n=_.value.count()
    )
    out = tables.backend.to_pyarrow(grouped.filter(_.n >= figures.MIN_PATIENTS)).to_pandas()
    out["se"] = out["sd"] / np.sqrt(out["n"])
    out = out.sort_values(["best_response", "month"], ignore_index=True)
    return out[["best_response", "month", "mean", "se", "n"]]


def _platelets_of(evaluation: Evaluation, ids: pd.Series) -> pd.DataFrame:
    """The platelet counts of a few patients (text IDs), for the per-patient figures."""
    tables = evaluation.tables
    patients = tables["patients"]
    keys = patients.filter(patients.patient_id.isin(list(ids))).select("patient_id", "_pid")
    labs = evaluation.inputs["labs"]
    rows = labs.filter(labs.test == "platelets").select(
        _pid="patient_id", date="date", value="value"
    )
    joined = rows.join(keys, rows._pid == keys._pid).select("patient_id", "date", "value")
    return tables.backend.to_pyarrow(joined).to_pandas(date_as_object=False)


def _draw(evaluation: Evaluation, analysis: Analysis, name: str) -> plt.Figure:
    endpoints, curves, frames = evaluation.endpoints, analysis.curves, analysis.frames
    assert curves is not None and frames is not None
    if name == "flow":
        return figures.flow_diagram(analysis.summary["flow"])
    if name == "figure1":
        return figures.figure1(endpoints, means=platelet_means(evaluation))
    if name == "time_to_response":
        return figures.incidence_figure(curves.time_to_response)
    if name == "response_duration":
        return figures.km_figure(curves.response_duration)
    if name == "swimmer":
        return figures.swimmer(
            endpoints,
            frames.treatments,
            frames.bleeding,
            frames.adverse_events,
            evaluation.study_drug,
            follow_up=frames.patients.set_index("patient_id")["followup_end_date"],
        )
    if name == "trajectories":
        shown, _ = figures.trajectory_patients(endpoints)
        return figures.trajectories(_platelets_of(evaluation, shown["patient_id"]), endpoints)
    overall = analysis.summary["overall_response"]["percent"]
    return figures.forest(analysis.summary["subgroups"], overall)


def _draw_figures(
    evaluation: Evaluation, analysis: Analysis, folder: Path, names: list[str]
) -> list[Path]:
    files: list[Path] = []
    for name in names:
        files += figures.save(_draw(evaluation, analysis, name), folder, name)
    return files


STYLE = (
    "body{font-family:Georgia,'Times New Roman',serif;max-width:980px;margin:2em auto;"
    "padding:0 1em;color:#1a1a1a;line-height:1.5}h1{font-size:1.5em}h2{font-size:1.2em;"
    "border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}"
    "figure{margin:1.5em 0}img{max-width:100%;height:auto}"
    "figcaption{font-size:.86em;color:#333;margin-top:.3em}section.table{margin:1.2em 0;"
    "overflow-x:auto}.meta{color:#666;font-size:.85em}p{text-align:justify}"
)


def _html(
    evaluation: Evaluation,
    analysis: Analysis,
    paragraph: str,
    methods: str,
    figure_dir: Path,
    names: list[str],
    safety_html: str,
) -> str:
    cohort, criteria, drug = evaluation.cohort, evaluation.criteria, evaluation.study_drug
    tables = "\n".join(
        f'<section class="table" id="table-{name}">'
        f"{documents.table_html(frame, analysis.layouts[name])}</section>"
        for name, frame in analysis.tables.items()
        if name != "flow"
    )
    images = "\n".join(
        documents.figure_html(figure_dir / f"{name}.png", i, CAPTIONS[name])
        for i, name in enumerate(names, 1)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>itpcohort report: {html.escape(cohort.folder.name)}</title>
<style>{STYLE}{documents.TABLE_CSS}</style></head>
<body>
<h1>Treatment response: {html.escape(drug)} cohort</h1>
<p class="meta">Cohort folder {html.escape(str(cohort.folder))}; response criteria
{html.escape(criteria.name)} ({html.escape(documents.typographic(criteria.description))};
{html.escape(criteria.source)});
generated {dt.date.today().isoformat()} by itpcohort {__version__}.</p>
<h2>Methods</h2>
<p id="methods">{html.escape(documents.typographic(methods))}</p>
<h2>Results</h2>
<p id="results">{html.escape(documents.typographic(paragraph))}</p>
<h2>Tables</h2>
{tables}
<h2>Figures</h2>
{images}
{safety_html}
</body></html>
"""
