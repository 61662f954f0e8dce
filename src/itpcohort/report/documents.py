"""Tables as CSV, DOCX (python-docx) and HTML, printed as a journal prints them.

A table is a display-ready DataFrame and its :class:`Layout` (numbered title,
column headers with units and N, footnotes). Printed tables use the plain
three-line style (a rule above and below the header, one below the body), no
vertical lines; a row label starting with spaces is indented; ``>=``, ``<=``
and ``x10^9/L`` are set as ``≥``, ``≤`` and ``×10⁹/L``. CSV files keep the
frame's own column names (stable for scripts) and its cells as printed.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from itpcohort import outputs
from itpcohort.statistics.tables import Layout

REPLACEMENTS = (
    ("x10^9/L", "\u00d710\u2079/L"),
    (">=", "\u2265"),
    ("<=", "\u2264"),
)
INDENT = "  "


def typographic(text: str) -> str:
    """``>=`` as ``≥``, ``<=`` as ``≤``, ``x10^9/L`` as ``×10⁹/L``."""
    for plain, typeset in REPLACEMENTS:
        text = text.replace(plain, typeset)
    return text


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "").astype(str)


def _indent(label: str) -> tuple[int, str]:
    stripped = label.lstrip(" ")
    return (len(label) - len(stripped)) // len(INDENT), stripped


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A table as CSV, spreadsheet-safe and atomic (:mod:`itpcohort.outputs`)."""
    return outputs.write_csv(frame, path)


def _border(cell_or_table: object, edges: dict[str, str], tag: str) -> None:
    """Set single rules on the given edges of a table (tblBorders) or a cell (tcBorders)."""
    element = cell_or_table._element if hasattr(cell_or_table, "_element") else cell_or_table
    properties = element.find(qn("w:tblPr" if tag == "w:tblBorders" else "w:tcPr"))
    if properties is None:
        properties = OxmlElement("w:tcPr")
        element.insert(0, properties)
    borders = OxmlElement(tag)
    for edge, value in edges.items():
        rule = OxmlElement(f"w:{edge}")
        rule.set(qn("w:val"), value)
        rule.set(qn("w:sz"), "8" if value == "single" else "0")
        rule.set(qn("w:space"), "0")
        rule.set(qn("w:color"), "000000")
        borders.append(rule)
    properties.append(borders)


def write_docx(frame: pd.DataFrame, layout: Layout, path: Path) -> Path:
    """One table in a Word document, three-line style with its footnotes."""
    doc = Document()
    columns = [c for c in layout.headers if c in frame.columns] or list(frame.columns)
    if len(columns) > 5:
        section = doc.sections[0]
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    for margin in ("left_margin", "right_margin"):
        setattr(doc.sections[0], margin, Cm(1.8))
    title = doc.add_paragraph()
    title.add_run(typographic(layout.title)).bold = True
    shown = outputs.safe_frame(_cells(frame[columns]))
    table = doc.add_table(rows=1, cols=len(columns))
    none = {e: "nil" for e in ("left", "right", "insideH", "insideV")}
    _border(table._tbl, {"top": "single", "bottom": "single", **none}, "w:tblBorders")
    for cell, name in zip(table.rows[0].cells, columns, strict=True):
        cell.text = typographic(layout.headers.get(name, name))
        cell.paragraphs[0].runs[0].bold = True
        _border(cell._tc, {"bottom": "single"}, "w:tcBorders")
    for row in shown.itertuples(index=False):
        cells = table.add_row().cells
        for i, (cell, value) in enumerate(zip(cells, row, strict=True)):
            level, text = _indent(str(value)) if i == 0 else (0, str(value))
            cell.text = typographic(outputs.safe_cell(text))  # indentation is not a shield
            if level:
                cell.paragraphs[0].paragraph_format.left_indent = Cm(0.4 * level)
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.space_after = Pt(0)
                for run in paragraph.runs:
                    run.font.size = Pt(8.5)
    for note in layout.footnotes:
        paragraph = doc.add_paragraph(typographic(note))
        paragraph.paragraph_format.space_after = Pt(2)
        for run in paragraph.runs:
            run.font.size = Pt(7.5)
    with outputs.atomic_path(path) as temporary:
        doc.save(str(temporary))
    return path


def table_html(frame: pd.DataFrame, layout: Layout, anchor: str = "") -> str:
    """A table as self-contained HTML: caption, header, indented rows, footnotes."""
    columns = [c for c in layout.headers if c in frame.columns] or list(frame.columns)
    head = "".join(
        f'<th scope="col">{html.escape(typographic(layout.headers.get(c, c)))}</th>'
        for c in columns
    )
    body = []
    for row in _cells(frame[columns]).itertuples(index=False):
        cells = []
        for i, value in enumerate(row):
            level, text = _indent(value) if i == 0 else (0, value)
            attrs = f' class="l{level}"' if level else ""
            if i == 0 and not level and not any(row[1:]):
                attrs = ' class="section"'
            cells.append(f"<td{attrs}>{html.escape(typographic(text))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{html.escape(typographic(n))}</li>" for n in layout.footnotes)
    ident = f' id="{html.escape(anchor)}"' if anchor else ""
    return (
        f'<table class="journal"{ident}><caption>{html.escape(typographic(layout.title))}'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )


TABLE_CSS = (
    "table.journal{border-collapse:collapse;width:100%;font-size:.86em;margin:.3em 0 .2em}"
    "table.journal caption{text-align:left;font-weight:600;padding:.3em 0}"
    "table.journal thead th{border-top:1.5px solid #000;border-bottom:1px solid #000;"
    "text-align:left;padding:.3em .5em;vertical-align:bottom;font-weight:600}"
    "table.journal td{padding:.18em .5em;vertical-align:top}"
    "table.journal tbody tr:last-child td{border-bottom:1.5px solid #000}"
    "table.journal td.l1{padding-left:1.6em}table.journal td.l2{padding-left:2.8em}"
    "table.journal td.section{font-weight:600;padding-top:.5em}"
    "ul.notes{list-style:none;padding:0;margin:.2em 0 1.6em;font-size:.78em;color:#333}"
    "ul.notes li{margin:.15em 0}"
)


def figure_html(path: Path, number: int, caption: str) -> str:
    """A PNG embedded in the page (report.html opens offline), numbered and captioned."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    text = f"Figure {number}. {caption}"
    return (
        f'<figure id="figure-{number}"><img alt="{html.escape(text)}" '
        f'src="data:image/png;base64,{data}"/><figcaption>{html.escape(text)}</figcaption></figure>'
    )
