"""The reference study's published figures are data (statistics/reference_study.toml):
the simulated reference cohort reproduces each, and the demo prints them side by side."""

from __future__ import annotations

import pytest
from rich.console import Console

import itpcohort
from itpcohort.report import console
from itpcohort.simulate import simulate
from itpcohort.statistics import analyse
from itpcohort.statistics.published import reference_study


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("reference") / "cohort"
    simulate(folder)
    cohort = itpcohort.read_cohort(folder)
    return analyse(cohort, itpcohort.evaluate(cohort), by="sle").summary


def test_the_file_holds_every_figure_of_the_abstract() -> None:
    citation, figures = reference_study()
    assert "Lupus Sci Med 2023" in citation
    # the abstract (shared/reference-study/abstract-LO-040.txt), number by number
    assert [(f.label.strip(), f.text) for f in figures] == [
        ("patients enrolled", "61"),
        ("median treatment duration, months", "22"),
        ("overall response (CR + R)", "49 (80.3%)"),
        ("complete response", "30 (49.2%)"),
        ("time to response, months", "3 (IQR 1, 3)"),
        ("loss of response", "8 (16.3%)"),
        ("during full dose / taper", "6 / 2"),
        ("duration of response, months", "24.5 (IQR 9.8, 40.3)"),
        ("sustained response off treatment", "11 (18%)"),
        ("overall response, SLE vs no SLE", "91.3% vs 73.7%"),
        ("patients with side effects", "6 (9.8%)"),
        ("stopped for side effects", "2 (3.3%)"),
    ]


@pytest.mark.parametrize("index", range(12))
def test_the_reference_cohort_reproduces_each_figure(
    summary: dict[str, object], index: int
) -> None:
    figure = reference_study()[1][index]
    assert figure.reproduced(summary), (figure.label, figure.observed(summary), figure.published)


def test_a_changed_summary_is_not_reproduced(summary: dict[str, object]) -> None:
    figure = next(f for f in reference_study()[1] if f.key == "overall_response")
    changed = {**summary, "overall_response": {"n": 48, "percent": 78.7}}
    assert not figure.reproduced(changed)
    assert figure.format(changed) == "48 (78.7%)"


def test_the_demo_table_prints_both_columns(summary: dict[str, object]) -> None:
    screen = Console(width=200, record=True)
    screen.print(console.headline(summary))
    text = screen.export_text()
    assert "overall response (CR + R)" in text
    assert text.count("49 (80.3%)") == 2  # the cohort's and the abstract's
    assert text.count("24.5 (IQR 9.8, 40.3)") == 2
