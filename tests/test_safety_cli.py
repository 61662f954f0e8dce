"""``itpcohort grade``: a cohort folder in, every graded value with its threshold row out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from itpcohort.cli import app
from tests.conftest import ROOT, write_csv

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"
runner = CliRunner()


def _cohort(folder: Path) -> Path:
    """Two patients; labs in conventional units as a laboratory reports them."""
    folder.mkdir()
    write_csv(
        folder / "patients.csv",
        ["patient_id", "enrollment_date", "sex", "site"],
        [["P1", "2024-01-01", "F", "A"], ["P2", "2024-01-01", "", "A"]],
    )
    write_csv(
        folder / "treatments.csv",
        ["patient_id", "drug", "role", "start_date", "end_date"],
        [
            ["P1", "tacrolimus", "study", "2024-01-10", ""],
            ["P2", "tacrolimus", "study", "2024-01-10", ""],
        ],
    )
    write_csv(
        folder / "labs.csv",
        ["patient_id", "date", "test", "value", "unit"],
        [
            ["P1", "2024-01-10", "platelets", "20000", "/uL"],
            ["P1", "2024-01-10", "creatinine", "0.6", "mg/dL"],
            ["P1", "2024-02-10", "platelets", "50000", "/uL"],
            ["P1", "2024-02-10", "creatinine", "0.91", "mg/dL"],  # > 1.5 x baseline 0.6
            ["P1", "2024-02-10", "magnesium", "1.0", "mEq/L"],  # 0.5 mmol/L: grade 1
            ["P2", "2024-01-10", "platelets", "30", "10^9/L"],
            ["P2", "2024-02-10", "creatinine", "80", "umol/L"],  # sex unknown: no range
        ],
    )
    return folder


def test_grade_writes_every_value_with_its_threshold_row(tmp_path: Path) -> None:
    cohort = _cohort(tmp_path / "cohort")
    result = runner.invoke(app, ["grade", str(cohort), "--output", str(tmp_path / "g.csv")])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(tmp_path / "g.csv", dtype=str, keep_default_na=False)
    rows = got[["patient_id", "date", "test", "period", "grade", "threshold_row"]]
    assert rows.values.tolist() == [
        ["P1", "2024-01-10", "creatinine", "baseline", "0", ""],
        ["P1", "2024-02-10", "creatinine", "treatment", "2", "CREAT-2B"],
        ["P1", "2024-02-10", "magnesium", "treatment", "1", "HYPOMG-1"],
        ["P1", "2024-01-10", "platelets", "baseline", "4", "PLT-4"],
        ["P1", "2024-02-10", "platelets", "treatment", "2", "PLT-2"],
        ["P2", "2024-02-10", "creatinine", "treatment", "", ""],
        ["P2", "2024-01-10", "platelets", "baseline", "3", "PLT-3"],
    ]
    assert "no ULN for creatinine (sex '', site 'A')" in result.output
    assert "creatinine: 3 values (grade 2: 1; 1 not graded)" in result.output


def test_grade_with_own_reference_ranges_and_parquet(tmp_path: Path) -> None:
    cohort = _cohort(tmp_path / "cohort")
    write_csv(
        tmp_path / "ranges.csv",
        ["test", "sex", "site", "lln", "uln", "unit", "source"],
        [
            ["creatinine", "*", "A", "40", "70", "umol/L", "site A laboratory"],
            ["platelets", "*", "*", "150", "400", "10^9/L", "site A laboratory"],
            ["magnesium", "*", "*", "0.66", "1.07", "mmol/L", "site A laboratory"],
        ],
    )
    out = tmp_path / "g.parquet"
    argv = [
        "grade",
        str(cohort),
        "-o",
        str(out),
        "--reference-ranges",
        str(tmp_path / "ranges.csv"),
    ]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    p2 = got[(got["patient_id"] == "P2") & (got["test"] == "creatinine")].iloc[0]
    assert (p2["grade"], p2["threshold_row"], p2["range_key"]) == (1, "CREAT-1", "creatinine * A")


def test_grade_refuses_bad_inputs_with_a_message(tmp_path: Path) -> None:
    cohort = _cohort(tmp_path / "cohort")
    bad = tmp_path / "ranges.csv"
    write_csv(
        bad, ["test", "sex", "site", "lln", "uln", "unit"], [["alt", "*", "*", "x", "40", "U/L"]]
    )
    result = runner.invoke(
        app, ["grade", str(cohort), "-o", str(tmp_path / "g.csv"), "--reference-ranges", str(bad)]
    )
    assert result.exit_code == 2
    assert "lln 'x' is not a number" in result.output
    result = runner.invoke(app, ["grade", str(cohort), "-o", str(tmp_path / "g.txt")])
    assert result.exit_code == 2 and "use a .csv or .parquet file name" in result.output
    result = runner.invoke(app, ["grade", str(cohort), "-o", str(cohort / "labs.csv")])
    assert result.exit_code == 2 and "inside the input folder" in result.output


def test_grade_the_example_cohort(tmp_path: Path) -> None:
    result = runner.invoke(app, ["grade", str(EXAMPLE), "-o", str(tmp_path / "g.csv")])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(tmp_path / "g.csv")
    assert set(got["test"]) == {"platelets", "creatinine"}
    assert got["grade"].notna().all()
