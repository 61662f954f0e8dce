"""The command line: exit codes, messages, outputs (run as users run it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from itpcohort.cli import app
from tests.conftest import ROOT, write_csv

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"
runner = CliRunner()


def test_help_explains_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "evaluate", "explain", "criteria"):
        assert command in result.output


def test_validate_clean_cohort() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "valid: 0 error(s), 0 warning(s)" in result.output
    assert "1 patient excluded" in result.output


def test_validate_bad_cohort_exits_1_with_file_line_column(tmp_path: Path) -> None:
    write_csv(tmp_path / "patients.csv", ["patient_id", "enrollment_date"], [["P1", "2024-1-1"]])
    write_csv(
        tmp_path / "treatments.csv",
        ["patient_id", "drug", "start_date"],
        [["P1", "tacrolimus", "2024-01-01"]],
    )
    write_csv(tmp_path / "labs.csv", ["patient_id", "date", "test", "value", "unit"], [])
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "patients.csv:2 [enrollment_date]: error: '2024-1-1' is not a date" in result.output
    assert "Traceback" not in result.output


def test_validate_json() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLE), "--json"])
    assert result.exit_code == 0
    assert '"ok": true' in result.output


def test_evaluate_writes_csv_with_spec_columns(tmp_path: Path) -> None:
    out = tmp_path / "endpoints.csv"
    result = runner.invoke(app, ["evaluate", str(EXAMPLE), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 patients (CR 1, R 2, NR 1, NE 1)" in result.output
    text = out.read_text().splitlines()
    assert text[0].split(",")[:5] == [
        "patient_id",
        "start_date",
        "end_date",
        "baseline_platelets",
        "best_response",
    ]
    # P01 and P05 rows, worked out in examples/tacrolimus-mini/README.md
    assert text[1] == (
        "P01,2024-01-10,2024-12-31,20.0,CR,2024-01-24,14,2024-02-14,35,,,342,true,true,356"
    )
    assert text[4] == "P05,2024-02-05,2024-06-30,,NE,,,,,,,,,false,146"


def test_evaluate_parquet_and_other_profile(tmp_path: Path) -> None:
    out = tmp_path / "endpoints.parquet"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(EXAMPLE),
            "-o",
            str(out),
            "--criteria",
            "platelet50",
            "--memory-limit",
            "500MB",
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out).set_index("patient_id")
    # P03 (start 2024-01-20, baseline 15 on 01-18): 50 on 02-01 and 55 on 02-10 (9 days
    # apart) are >= 50, R from 02-01 (12 days); 20 on 03-01 and 18 on 03-05 are a loss
    # on 03-01 (full dose until 10-31): 29 days, an event. 80 and 90 in April are a new
    # episode, lost again in November (25, 22), so not sustained. Never >= 100: R.
    p03 = frame.loc["P03"]
    assert p03.best_response == "R"
    assert str(p03.response_date) == "2024-02-01" and p03.days_to_response == 12
    assert str(p03.loss_date) == "2024-03-01" and p03.loss_phase == "full"
    assert (p03.response_duration_days, p03.response_duration_censored) == (29, False)
    assert not p03.sustained_off_treatment
    # P06 (baseline 8): 40 and 45 are < 50; 52 on 04-10 is followed by a WHO grade 2
    # bleeding on 05-02 (an NR day), so it is never confirmed: NR
    assert frame.loc["P06", "best_response"] == "NR"
    # dates are Parquet dates (date32), not text or timestamps
    schema = pq.read_schema(out)
    for column in ("start_date", "end_date", "response_date", "cr_date", "loss_date"):
        assert schema.field(column).type == pa.date32(), column


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["evaluate", str(EXAMPLE), "-o", "x.txt"], "use a .csv or .parquet"),
        (["evaluate", str(EXAMPLE), "-o", "x.csv", "--criteria", "iwg2020"], "unknown criteria"),
        (["evaluate", "/no/such/folder", "-o", "x.csv"], "no such folder"),
        (["explain", str(EXAMPLE), "P04"], "was excluded"),
        (["explain", str(EXAMPLE), "P99"], "is not in patients"),
        (["evaluate", str(EXAMPLE), "-o", "x.csv", "--memory-limit", "lots"], "is not a size"),
    ],
)
def test_errors_are_one_clear_line_exit_2(args: list[str], words: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_explain_shows_the_timeline() -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "P03"])
    assert result.exit_code == 0, result.output
    assert "baseline: 15 x10^9/L on 2024-01-18" in result.output
    assert (
        "2024-03-01: loss — level < R on this day and on the next evaluable day (2024-03-05)"
        in result.output
    )
    assert "best response R" in result.output


def test_explain_shows_washout() -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE), "P02"])
    assert result.exit_code == 0
    assert "rescue ivig" in result.output and "no: washout" in result.output


def test_console_script_and_module_run() -> None:
    for command in (["itpcohort", "--version"], [sys.executable, "-m", "itpcohort", "--version"]):
        exe = Path(sys.executable).parent / command[0] if command[0] == "itpcohort" else None
        argv = [str(exe), *command[1:]] if exe else command
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "itpcohort 0.1.0" in done.stdout
