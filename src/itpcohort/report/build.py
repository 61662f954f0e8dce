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
from itpcohort.pipeline import run
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
    """Evaluate, analyse and write report.html, summary.json, tables (CSV, DOCX), figures."""
    evaluation = run(cohort, criteria, study_drug=study_drug)
    cohort, settings, drug = evaluation.cohort, evaluation.criteria, evaluation.study_drug
    endpoints = evaluation.endpoints
    analysis = analyse(cohort, endpoints, by=by, comparators=comparators)
    out = Path(output)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    files = [write_endpoints(endpoints, out / "endpoints.csv")]
    for name, frame in analysis.tables.items():
        title = documents.TITLES[name]
        files.append(documents.write_csv(frame, out / "tables" / f"{name}.csv"))
        files.append(documents.write_docx(frame, title, out / "tables" / f"{name}.docx"))
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
            drug,
            follow_up=cohort.patients.set_index("patient_id")["followup_end_date"],
        ),
        "trajectories": figures.trajectories(labs, endpoints),
    }
    for name, fig in made.items():
        files += figures.save(fig, out / "figures", name)
    paragraph = documents.results_paragraph(analysis.summary, by, drug)
    (out / "results.txt").write_text(paragraph + "\n", encoding="utf-8")
    summary = {
        **analysis.summary,
        "criteria": settings.name,
        "study_drug": drug,
        "grouped_by": by,
        "generated_by": f"itpcohort {__version__}",
    }
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(
        _html(cohort, analysis, paragraph, settings, drug, out / "figures"), encoding="utf-8"
    )
    files += [summary_path, html_path, out / "results.txt"]
    return Report(out, html_path, summary_path, summary, paragraph, files)


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


def _html(
    cohort: Cohort,
    analysis: Analysis,
    paragraph: str,
    criteria: Criteria,
    drug: str,
    figure_dir: Path,
) -> str:
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
