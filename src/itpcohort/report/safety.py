"""The report's safety section: CTCAE v5.0 laboratory grades, exposure, adverse events.

What :func:`itpcohort.safety.safety_section` computed, written as tables
(``tables/safety_*.csv|docx``), figures (``figures/safety_*.png|svg``) and one
HTML section; the numbers go to ``summary.json`` under ``safety``
(``docs/summary-json.md``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from itpcohort.report import documents, figures
from itpcohort.safety import SafetySection
from itpcohort.statistics.tables import Layout

_GRADES = (
    "Grades by CTCAE v5.0 (safety/ctcae_v5.csv) against the reference ranges of "
    "safety/reference_ranges.csv."
)
_POPULATION = "Denominator: enrolled patients who started the study drug (the safety population)."
_PLATELETS = (
    "The platelet count is the disease's own measure: it is graded by 'itpcohort grade' but "
    "left out of these tables."
)
LAYOUTS: dict[str, Layout] = {
    "lab_worst_grade": Layout(
        "Laboratory toxicity: worst grade after the start per patient",
        {},
        (_GRADES, _POPULATION, _PLATELETS),
    ),
    "lab_shift": Layout(
        "Laboratory shift table: baseline grade to worst grade after the start",
        {},
        (_GRADES, "Baseline: the last value on or before the start date."),
    ),
    "adverse_events": Layout(
        "Treatment-emergent adverse events by term and worst grade",
        {},
        (_POPULATION, "n (%) of patients; a patient counts once per term, at the worst grade."),
    ),
    "related_adverse_events": Layout(
        "Adverse events related to the study drug", {}, (_POPULATION,)
    ),
    "adverse_events_stopping": Layout(
        "Adverse events leading to stopping the study drug", {}, (_POPULATION,)
    ),
    "incidence": Layout(
        "Exposure-adjusted incidence of adverse events",
        {},
        ("Events per 100 patient-years on treatment, with exact Poisson 95% CIs.",),
    ),
    "bleeding": Layout(
        "Bleeding by worst WHO grade after the start", {}, (_POPULATION,)
    ),
    "creatinine_by_month": Layout(
        "Serum creatinine by month on treatment (median and IQR)", {}, ("Creatinine in µmol/L.",)
    ),
    "trough_by_month": Layout(
        "Tacrolimus trough by month on treatment (median and IQR)",
        {},
        ("Trough in ng/mL; target range 4-8 ng/mL.",),
    ),
    "exposure": Layout(
        "Tacrolimus exposure per patient",
        {},
        (
            "Time in range by linear interpolation between troughs (Rosendaal method); "
            "dose per kilogram where the patient's weight is recorded.",
        ),
    ),
}
#: tables with one row per patient: CSV only (a Word table of a registry's patients
#: is neither readable nor quick to write)
PER_PATIENT = ("exposure",)
#: tables printed in report.html (the per-patient ones are not)
SHOWN = (
    "lab_worst_grade",
    "lab_shift",
    "adverse_events",
    "adverse_events_stopping",
    "incidence",
    "bleeding",
    "creatinine_by_month",
    "trough_by_month",
)
CAPTIONS = {
    "safety_worst_grades": "Worst CTCAE grade after the start per laboratory test "
    "(share of the safety population).",
    "safety_creatinine": "Serum creatinine by month on treatment: median and interquartile range.",
    "safety_trough": "Tacrolimus trough by month on treatment: median and interquartile range, "
    "with the target range shaded.",
}


_WORDS = {
    "ci_low": "95% CI, lower",
    "ci_high": "95% CI, upper",
    "who_grade": "WHO grade",
    "q1": "Q1",
    "q3": "Q3",
    "rate": "Rate per 100 patient-years",
}


def _pretty(column: str) -> str:
    """A column in words: ``grade_3_or_more`` -> ``Grade >=3``."""
    if column in _WORDS:
        return _WORDS[column]
    text = column.replace("_3_or_more", " >=3").replace("_", " ")
    return text[:1].upper() + text[1:]


def layout_of(name: str, frame: pd.DataFrame) -> Layout:
    """The table's layout, every column headed in words."""
    base = LAYOUTS[name]
    return Layout(base.title, {c: _pretty(str(c)) for c in frame.columns}, base.footnotes)


def files(out: Path) -> list[Path]:
    """Every file the safety section writes (checked before any is written)."""
    names = [f"tables/safety_{t}.csv" for t in LAYOUTS]
    names += [f"tables/safety_{t}.docx" for t in LAYOUTS if t not in PER_PATIENT]
    names += [f"figures/{f}.{ext}" for f in CAPTIONS for ext in ("png", "svg")]
    return [out / name for name in names]


def write(section: SafetySection, out: Path) -> list[Path]:
    """The safety tables (CSV, DOCX) and figures (PNG, SVG) into ``out``."""
    written: list[Path] = []
    for name in LAYOUTS:
        frame = section.tables[name]
        written.append(documents.write_csv(frame, out / "tables" / f"safety_{name}.csv"))
        if name in PER_PATIENT:
            continue
        written.append(
            documents.write_docx(
                frame, layout_of(name, frame), out / "tables" / f"safety_{name}.docx"
            )
        )
    for name in CAPTIONS:
        written += figures.save(section.figures[name], out / "figures", name)
    return written


def section_html(section: SafetySection, figure_dir: Path, first_figure: int) -> str:
    """The HTML section: the tables of :data:`SHOWN`, then the figures, numbered on."""
    tables = "\n".join(
        f'<section class="table" id="table-safety-{name}">'
        f"{documents.table_html(section.tables[name], layout_of(name, section.tables[name]))}"
        "</section>"
        for name in SHOWN
    )
    images = "\n".join(
        documents.figure_html(figure_dir / f"{name}.png", number, caption)
        for number, (name, caption) in enumerate(CAPTIONS.items(), first_figure)
    )
    return f'<h2 id="safety">Safety</h2>\n{tables}\n{images}'
