"""What a person sees on long work (issue 14): the stages with their rows, and where every
screened patient went."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

import itpcohort
from itpcohort.cli import app
from itpcohort.cohort.database import query_fraction
from itpcohort.cohort.progress import Fraction
from itpcohort.report import console
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"


class Recorded:
    """A Progress that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.watched: list[Fraction | None] = []

    def stage(
        self, name: str, detail: str = "", total: int | None = None, unit: str = "rows"
    ) -> None:
        self.events.append(("stage", f"{name} {detail}".strip()))

    def done(self, count: int) -> None:
        self.events.append(("done", count))

    def watch(self, fraction: Fraction | None) -> None:
        self.watched.append(fraction)


def test_the_reader_tells_each_file_and_table_with_its_rows() -> None:
    seen = Recorded()
    with itpcohort.read_cohort(EXAMPLE, progress=seen) as cohort:
        labs = next(s for s in cohort.report.summaries if s.table == "labs")
    stages = [what for kind, what in seen.events if kind == "stage"]
    assert stages[:3] == ["reading patients.csv", "reading treatments.csv", "reading labs.csv"]
    assert "validating labs" in stages and stages[-1] == "validating across tables"
    after_labs = seen.events[seen.events.index(("stage", "validating labs")) + 1]
    assert after_labs == ("done", labs.read)
    # the engine's own count is watched while reading, and no longer afterwards
    assert seen.watched[0] is not None and seen.watched[-1] is None


def test_duckdb_tells_no_fraction_when_idle() -> None:
    with itpcohort.read_cohort(EXAMPLE) as cohort:
        assert query_fraction(cohort.con) is None
    assert query_fraction(cohort.con) is None  # closed


def test_the_display_counts_with_thousands_separators() -> None:
    screen = io.StringIO()
    with console.StageProgress(Console(file=screen, width=100)) as shown:
        shown.stage("validating", "labs")
        shown.done(30_000_000)
        shown.stage("evaluating on duckdb", total=1_000_000, unit="patients")
        shown.watch(lambda: 0.5)
        shown.done(1_000_000)
    text = screen.getvalue()
    assert "validating labs" in text and "30,000,000 rows" in text
    assert "1,000,000/1,000,000 patients" in text


def test_evaluate_says_where_every_screened_patient_went(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(EXAMPLE), "-o", str(tmp_path / "e.csv")])
    assert result.exit_code == 0, result.output
    # tacrolimus-mini: 6 screened, P04 excluded
    assert "5 patients (CR 1, R 2, NR 1, NE 1)" in result.output
    assert "of 6 screened, 5 enrolled and 1 excluded" in result.output
    for stage in ("reading labs.csv", "validating labs", "evaluating on duckdb", "writing e.csv"):
        assert stage in result.output
