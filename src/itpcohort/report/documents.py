"""Tables as CSV, DOCX (python-docx) and HTML (great_tables); the results paragraph."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
from docx import Document
from docx.shared import Pt
from great_tables import GT

from itpcohort import outputs

TITLES = {
    "flow": "Patient flow",
    "baseline": "Baseline characteristics",
    "response": "Table 1. Response characteristics of the studied patients",
    "subgroup": "Overall response by subgroup",
    "safety": "Side effects and bleeding",
    "comparison": "Response rate compared with published second-line therapies",
}


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "")


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A table as CSV, spreadsheet-safe and atomic (:mod:`itpcohort.outputs`)."""
    return outputs.write_csv(frame, path)


def write_docx(frame: pd.DataFrame, title: str, path: Path, note: str = "") -> Path:
    """One table in a Word document, ready to paste into a manuscript."""
    doc = Document()
    doc.add_heading(title, level=2)
    shown = outputs.safe_frame(_display(frame))
    table = doc.add_table(rows=1, cols=len(shown.columns))
    table.style = "Light Grid Accent 1"
    for cell, name in zip(table.rows[0].cells, shown.columns, strict=True):
        cell.text = str(name)
    for row in shown.itertuples(index=False):
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = str(value)
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(9)
    if note:
        doc.add_paragraph(note).runs[0].font.size = Pt(8)
    with outputs.atomic_path(path) as temporary:
        doc.save(str(temporary))
    return path


def table_html(frame: pd.DataFrame, title: str) -> str:
    """A rendered table (great_tables), self-contained HTML."""
    return GT(_display(frame)).tab_header(title=html.escape(title)).as_raw_html()


def results_paragraph(summary: dict, by: str | None, drug: str) -> str:
    """The results written from the numbers, in the abstract's style."""
    s = summary
    o, cr = s["overall_response"], s["complete_response"]
    loss = s["loss_of_response"]
    parts = [
        f"A total of {s['patients_enrolled']} patients were enrolled with a median treatment "
        f"duration of {_num(s['treatment_months']['median'])} months.",
        f"The overall response rate was {_num(o['percent'])}% (n = {o['n']}; 95% CI "
        f"{_num(o['ci_low'])}-{_num(o['ci_high'])}), including {_num(cr['percent'])}% complete "
        f"responses (n = {cr['n']}).",
    ]
    ttr = s["time_to_response_months"]
    if ttr["median"] is not None:
        parts.append(
            f"The median time to achieve a response was {_num(ttr['median'])} months "
            f"(IQR {_num(ttr['q1'])}, {_num(ttr['q3'])})."
        )
    if o["n"]:
        where = [
            f"{_num(_pct(loss['full'], o['n']))}% (n = {loss['full']}) during full-dose treatment"
        ]
        if loss["taper"]:
            where.append(f"{loss['taper']} during tapering")
        if loss["off"]:
            where.append(f"{loss['off']} after stopping {drug}")
        parts.append(
            f"A total of {loss['n']} ({_num(loss['percent'])}%) patients with a response "
            f"experienced a loss of response, {', '.join(where)}."
        )
        dur = s["response_duration_months"]
        parts.append(
            f"The median duration of response under treatment was {_num(dur['median'])} months "
            f"(IQR {_num(dur['q1'])}, {_num(dur['q3'])})."
        )
    sus = s["sustained_off_treatment"]
    parts.append(
        f"{sus['n']} ({_num(sus['percent'])}%) patients had a sustained response after the "
        f"termination of {drug} treatment."
    )
    if by and by in s.get("overall_response_by", {}):
        groups = s["overall_response_by"][by]
        t, f = groups.get("true"), groups.get("false")
        if t and f:
            parts.append(
                f"Patients with {by.upper() if len(by) <= 4 else by} had an overall response "
                f"rate of {_num(t['percent'])}% ({t['n']}/{t['of']}) versus {_num(f['percent'])}% "
                f"({f['n']}/{f['of']}) without ({groups['test']}, p = {_p(groups['p_value'])})."
            )
    ae, stop = s["adverse_effects"], s["stopped_for_adverse_effects"]
    parts.append(
        f"Side effects were reported in {_num(ae['percent'])}% (n = {ae['n']}) of the patients "
        f"and treatment was stopped due to side effects in {_num(stop['percent'])}% "
        f"(n = {stop['n']}) of patients."
    )
    return " ".join(parts)


def _pct(k: int, n: int) -> float:
    return round(100 * k / n, 1) if n else 0.0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
