"""Outputs are safe (issue 9): never over an input, never half a file, no formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from docx import Document
from typer.testing import CliRunner

from itpcohort.cli import app
from itpcohort.outputs import atomic_path, safe_cell
from tests.conftest import day, write_cohort

runner = CliRunner()
ATTACKS = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)*cmd|' /C calc'!A0"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("+cmd", "'+cmd"),
        ("-2+3+cmd", "'-2+3+cmd"),
        ("\tindent", "'\tindent"),
        ("\rreturn", "'\rreturn"),
        # numbers stay numbers
        ("-5", "-5"),
        ("+3.2", "+3.2"),
        ("-1e-3", "-1e-3"),
        ("P01", "P01"),
        ("a=b", "a=b"),
        (-5, -5),
        (None, None),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(cell: object, expected: object) -> None:
    assert safe_cell(cell) == expected


def _cohort(folder: Path, patient: str = "P01", term: str = "tremor") -> Path:
    return write_cohort(
        folder,
        patients=[(patient, day(0), None, None)],
        treatments=[(patient, "tacrolimus", "study", day(0), day(100), "full")],
        labs=[
            (patient, day(n), "platelets", v, "10^9/L") for n, v in [(0, 10), (10, 50), (17, 50)]
        ],
        adverse_events=[(patient, day(20), term, 1)],
    )


def test_evaluate_refuses_to_replace_an_input(tmp_path: Path) -> None:
    folder = _cohort(tmp_path / "c")
    before = (folder / "labs.csv").read_bytes()
    result = runner.invoke(app, ["evaluate", str(folder), "-o", str(folder / "labs.csv")])
    assert result.exit_code == 2
    assert "would replace a file there" in result.output
    assert (folder / "labs.csv").read_bytes() == before


def test_evaluate_output_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    folder = _cohort(tmp_path / "c")
    (tmp_path / "out.csv").mkdir()
    result = runner.invoke(app, ["evaluate", str(folder), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 2 and "is a folder: name a file" in result.output


def test_evaluate_creates_a_missing_parent_folder(tmp_path: Path) -> None:
    folder = _cohort(tmp_path / "c")
    target = tmp_path / "new" / "deeper" / "endpoints.csv"
    result = runner.invoke(app, ["evaluate", str(folder), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.exists() and not list(target.parent.glob("*.part"))


def test_report_onto_a_file_or_the_cohort_folder_is_refused(tmp_path: Path) -> None:
    folder = _cohort(tmp_path / "c")
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["report", str(folder), "-o", str(tmp_path / "file")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    result = runner.invoke(app, ["report", str(folder), "-o", str(folder)])
    assert result.exit_code == 2 and "is the input folder" in result.output


def test_an_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half a fi")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def _cells(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*.csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            found += [cell for row in csv.reader(handle) for cell in row]
    for path in folder.rglob("*.docx"):
        for table in Document(str(path)).tables:
            found += [cell.text for row in table.rows for cell in row.cells]
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_output_cell_starts_a_formula(tmp_path: Path, attack: str) -> None:
    folder = _cohort(tmp_path / "c", patient=attack, term=attack)
    result = runner.invoke(app, ["report", str(folder), "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    cells = _cells(tmp_path / "report")
    assert "'" + attack in cells  # the patient ID in endpoints.csv, quoted
    risky = [c for c in cells if c[:1] in ("=", "@", "+", "\t", "\r")]
    assert not risky


def test_a_carriage_return_in_a_cell_is_quoted(tmp_path: Path) -> None:
    """A bare \\r breaks a row for CSV readers; Python 3.11's csv module quotes a cell only
    for its line end's characters, so such a file is written with CRLF line ends."""
    import io

    import pandas as pd

    from itpcohort.outputs import line_end, write_csv

    frame = pd.DataFrame({"patient_id": ["P1", "a\rb"], "n": [1, 2]})
    assert line_end(frame) == "\r\n" and line_end(frame.iloc[:1]) == "\n"
    data = write_csv(frame, tmp_path / "t.csv").read_bytes()
    assert b'"a\rb",2\r\n' in data
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows == [["patient_id", "n"], ["P1", "1"], ["a\rb", "2"]]
    plain = write_csv(frame.iloc[:1], tmp_path / "p.csv").read_bytes()
    assert plain == b"patient_id,n\nP1,1\n"  # without one: \n line ends, as before
