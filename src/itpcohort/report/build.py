"""``itpcohort report``: every table, figure and number of a cohort study, in one folder."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from itpcohort import __version__
from itpcohort.cohort import Cohort
from itpcohort.criteria import Criteria
from itpcohort.outputs import check_output, write_text
from itpcohort.pipeline import Evaluation, run
from itpcohort.report import documents, figures
from itpcohort.response import write_endpoints
from itpcohort.statistics import Analysis, analyse

FIGURES = ("figure1", "km_time_to_response", "km_response_duration", "swimmer", "trajectories")


@dataclass
class Report:
    """What ``write_report`` wrote, and the numbers behind it."""

    folder: Path
    html: Path
    summary_json: Path
    summary: dict[str, object]
    paragraph: str
    files: list[Path] = field(default_factory=list)


def write_report(
    cohort: Cohort | str | Path,
    output: str | Path,
    *,
    by: str | None = None,
    criteria: str | Path | Criteria = "iwg2009",
    study_drug: str | None = None,
    comparators: str | Path | None = None,
) -> Report:
    """Evaluate, analyse and write report.html, summary.json, tables (CSV, DOCX), figures.

    Every file is written atomically; none may replace a file of the cohort
    folder (:mod:`itpcohort.outputs`).
    """
    evaluation = run(cohort, criteria, study_drug=study_drug)
    out = check_output(output, [evaluation.cohort.folder], folder=True)
    analysis = analyse(evaluation.cohort, evaluation.endpoints, by=by, comparators=comparators)
    for path in _report_files(out, analysis):
        check_output(path, [evaluation.cohort.folder])
    files = [write_endpoints(evaluation.endpoints, out / "endpoints.csv")]
    files += _write_tables(analysis, out / "tables")
    files += _draw_figures(evaluation, analysis, out / "figures")
    paragraph = documents.results_paragraph(analysis.summary, by, evaluation.study_drug)
    summary = {
        **analysis.summary,
        "criteria": evaluation.criteria.name,
        "study_drug": evaluation.study_drug,
        "grouped_by": by,
        "generated_by": f"itpcohort {__version__}",
    }
    page = _html(evaluation, analysis, paragraph, out / "figures")
    files += [
        write_text(out / "results.txt", paragraph + "\n"),
        write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"),
        write_text(out / "report.html", page),
    ]
    return Report(out, out / "report.html", out / "summary.json", summary, paragraph, files)


def _report_files(out: Path, analysis: Analysis) -> list[Path]:
    """Every file the report writes, known before any is written."""
    names = ["endpoints.csv", "results.txt", "summary.json", "report.html"]
    names += [f"tables/{t}.{ext}" for t in analysis.tables for ext in ("csv", "docx")]
    names += [f"figures/{f}.{ext}" for f in FIGURES for ext in ("png", "svg")]
    return [out / name for name in names]


def _write_tables(analysis: Analysis, folder: Path) -> list[Path]:
    files = []
    for name, frame in analysis.tables.items():
        title = documents.TITLES[name]
        files.append(documents.write_csv(frame, folder / f"{name}.csv"))
        files.append(documents.write_docx(frame, title, folder / f"{name}.docx"))
    return files


def _draw_figures(evaluation: Evaluation, analysis: Analysis, folder: Path) -> list[Path]:
    cohort, endpoints = evaluation.cohort, evaluation.endpoints
    labs = cohort.labs
    made = {
        "figure1": figures.figure1(endpoints, labs),
        "km_time_to_response": figures.km_figure(
            analysis.curves["time_to_response"],
            invert=True,
            xlabel="Months after the start of treatment",
        ),
        "km_response_duration": figures.km_figure(
            analysis.curves["response_duration"], xlabel="Months after response"
        ),
        "swimmer": figures.swimmer(
            endpoints,
            cohort.treatments,
            cohort.bleeding,
            cohort.adverse_events,
            evaluation.study_drug,
            follow_up=cohort.patients.set_index("patient_id")["followup_end_date"],
        ),
        "trajectories": figures.trajectories(labs, endpoints),
    }
    files: list[Path] = []
    for name, fig in made.items():
        files += figures.save(fig, folder, name)
    return files


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


CAPTIONS = {
    "figure1": "Figure 1. Percentage of patients in each response category (A) and mean "
    "platelet count with standard error by response group (B) during follow-up",
    "km_time_to_response": "Figure 2. Time to response (Kaplan-Meier, cumulative)",
    "km_response_duration": "Figure 3. Duration of response under treatment (Kaplan-Meier)",
    "swimmer": "Figure 4. Treatment course, response and events per patient",
    "trajectories": "Figure 5. Platelet counts per patient by best response",
}


def _html(evaluation: Evaluation, analysis: Analysis, paragraph: str, figure_dir: Path) -> str:
    cohort, criteria, drug = evaluation.cohort, evaluation.criteria, evaluation.study_drug
    tables = "\n".join(
        f'<section class="table" id="table-{name}">'
        f"{documents.table_html(frame, documents.TITLES[name])}</section>"
        for name, frame in analysis.tables.items()
    )
    images = "\n".join(_img(figure_dir / f"{name}.png", CAPTIONS[name]) for name in FIGURES)
    style = (
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;"
        "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
        "figure{margin:1.5em 0}img{max-width:100%;height:auto}"
        "figcaption{font-size:.9em;color:#444}section.table{margin:1.5em 0;overflow-x:auto}"
        ".meta{color:#666;font-size:.85em}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>itpcohort report: {html.escape(cohort.folder.name)}</title>
<style>{style}</style></head>
<body>
<h1>Treatment response: {html.escape(drug)} cohort</h1>
<p class="meta">Cohort folder {html.escape(str(cohort.folder))}; response criteria
{html.escape(criteria.name)} ({html.escape(criteria.description)}; {html.escape(criteria.source)});
generated {dt.date.today().isoformat()} by itpcohort {__version__}.</p>
<h2>Results</h2>
<p id="results">{html.escape(paragraph)}</p>
<h2>Tables</h2>
{tables}
<h2>Figures</h2>
{images}
</body></html>
"""
