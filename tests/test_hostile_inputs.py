"""Issue 9: inputs that were lost or changed silently, and messages that said too little.

Each case is the exact input that went wrong, with the problem (file, line,
column, words) worked out by hand. At the end, a property test: random
mutations of a small valid cohort never raise anything but itpcohort's own
errors, and every table's rows are accounted for (read = used + set aside).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

import itpcohort
from itpcohort.cohort import Problem, validate_cohort
from itpcohort.cohort.sources import BROKEN_QUOTE, FORMULA_ROW, UNREADABLE_FILE
from tests.conftest import ROOT
from tests.test_cohort_reader import LABS, PATIENTS, TREATMENTS, folder_with, problems_of


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings_(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def where(problem: Problem) -> tuple[str, int | None, str | None]:
    return (problem.file, problem.line, problem.column)


def summary(folder: Path, table: str) -> dict[str, object]:
    report, _ = validate_cohort(folder)
    return next(s for s in report.summaries if s.table == table).as_dict()


# -- B1: an unbalanced quote swallows rows ---------------------------------------------
BLEEDING_HEADER = "patient_id,date,who_grade,site\n"


def bleeding_lines(last: int) -> list[str]:
    """Data lines 2..last of bleeding.csv: P1 on odd lines, P2 on even, one a day."""
    return [f"P{1 + line % 2},2024-01-{line:02d},1,gum\n" for line in range(2, last + 1)]


def test_a_stray_quote_that_swallows_lines_is_an_error_at_its_first_line(
    tmp_path: Path,
) -> None:
    folder = folder_with(tmp_path)
    lines = bleeding_lines(18)
    lines[5 - 2] = 'P2,2024-01-05,1,"gum\n'  # line 5 opens a quote ...
    lines[17 - 2] = 'P2,2024-01-17,1,gum"\n'  # ... that line 17 closes
    (folder / "bleeding.csv").write_text(BLEEDING_HEADER + "".join(lines))
    report, cohort = validate_cohort(folder)
    assert cohort is None
    problem = errors(report.problems)[0]
    assert len(errors(report.problems)) == 1
    assert where(problem) == ("bleeding.csv", 5, "site")
    assert "starts on line 5 and runs over 13 lines (to line 17)" in problem.message
    # lines 2-4 and 18 are read; 5-17 (13 lines) are set aside, none silently
    assert summary(folder, "bleeding") == {
        "table": "bleeding",
        "file": "bleeding.csv",
        "read": 17,
        "used": 4,
        "set_aside": {BROKEN_QUOTE: 13},
    }


def test_a_quote_never_closed_runs_to_the_end_and_is_reported(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    lines = bleeding_lines(18)
    lines[5 - 2] = 'P2,2024-01-05,1,"gum\n'
    (folder / "bleeding.csv").write_text(BLEEDING_HEADER + "".join(lines))
    problem = errors(problems_of(folder))[0]
    assert where(problem) == ("bleeding.csv", 5, "site")
    assert "runs over 14 lines (to line 18)" in problem.message


# -- B2: NaN and infinities in Parquet numbers -------------------------------------------
def test_nan_and_infinities_in_a_parquet_number_column_are_errors(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").unlink()
    table = pa.table(
        {
            "patient_id": ["P1", "P1", "P1", "P2"],
            "date": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-02"],
            "test": ["platelets"] * 4,
            "value": pa.array([float("nan"), float("inf"), float("-inf"), 15.0]),
            "unit": ["10^9/L"] * 4,
        }
    )
    pq.write_table(table, folder / "labs.parquet")
    found = errors(problems_of(folder))
    assert [where(p) for p in found] == [("labs.parquet", n, "value") for n in (1, 2, 3)]
    assert [p.message.split(" is not")[0] for p in found] == ["'nan'", "'inf'", "'-inf'"]
    assert all("not-a-number and infinite values are not measurements" in p.message for p in found)


# -- B3: time-zoned Parquet timestamps ---------------------------------------------------
ZONED_SCRIPT = """
import sys
from itpcohort.cohort import read_cohort
with read_cohort(sys.argv[1]) as cohort:
    patients = cohort.patients.set_index("patient_id")
    print(" ".join(str(patients.loc[p, "enrollment_date"])[:10] for p in ("P1", "P2", "P3")))
"""


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "+05:30"])
@pytest.mark.parametrize("machine", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_zoned_timestamps_take_their_date_in_their_own_zone(
    tmp_path: Path, zone: str, machine: str
) -> None:
    instants = {
        "Asia/Shanghai": dt.datetime(2023, 12, 31, 18, 0),  # 2024-01-01 02:00 at +08:00
        "UTC": dt.datetime(2024, 1, 1, 2, 0),  # 2024-01-01 02:00 UTC
        "+05:30": dt.datetime(2024, 1, 1, 18, 0),  # 2024-01-01 23:30 at +05:30
    }
    folder = folder_with(tmp_path)
    (folder / "patients.csv").unlink()
    utc = instants[zone].replace(tzinfo=dt.UTC)
    late = utc + dt.timedelta(days=1)
    pq.write_table(
        pa.table(
            {
                "patient_id": ["P1", "P2", "P3"],
                "enrollment_date": pa.array([utc, late, utc], pa.timestamp("us", tz=zone)),
            }
        ),
        folder / "patients.parquet",
    )
    (folder / "treatments.csv").write_text(
        ",".join(TREATMENTS)
        + "\nP1,tacrolimus,study,2024-01-01,,\nP2,tacrolimus,study,2024-01-02,,\n"
        + "P3,tacrolimus,study,2024-01-01,,\n"
    )
    env = {**os.environ, "TZ": machine}
    out = subprocess.run(
        [sys.executable, "-c", ZONED_SCRIPT, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    assert out == ["2024-01-01", "2024-01-02", "2024-01-01"]


# -- B4: dates followed by text ----------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("2017-02-24 or 2017-03-24?", "remove the text after the date"),
        ("2017-02-20T99:99:99", "remove the text after the date"),
        ("2017-02-20T10:00 later", "remove the text after the date"),
        ("2017-02-30", "write it as YYYY-MM-DD"),
    ],
)
def test_a_date_followed_by_anything_but_a_valid_time_is_an_error(
    tmp_path: Path, cell: str, words: str
) -> None:
    folder = folder_with(
        tmp_path,
        patients=(PATIENTS, [["P1", cell, "", ""], ["P2", "2024-01-02", "", ""]]),
    )
    problem = errors(problems_of(folder))[0]
    assert len(errors(problems_of(folder))) == 1
    assert where(problem) == ("patients.csv", 2, "enrollment_date")
    assert problem.message.startswith(f"'{cell}' is not a date")
    assert words in problem.message


@pytest.mark.parametrize(
    "cell",
    [
        "2024-01-01T09:30",
        "2024-01-01 09:30:00",
        "2024-01-01T09:30:00.123456",
        "2024-01-01T23:59:59Z",
        "2024-01-01T09:30:00+05:30",
        "2024-01-01 00:00:00-0800",
    ],
)
def test_a_date_with_a_valid_time_is_its_date(tmp_path: Path, cell: str) -> None:
    folder = folder_with(
        tmp_path, patients=(PATIENTS, [["P1", cell, "", ""], ["P2", "2024-01-02", "", ""]])
    )
    with itpcohort.read_cohort(folder) as cohort:
        assert cohort.patients.enrollment_date.astype(str).str[:10].tolist() == [
            "2024-01-01",
            "2024-01-02",
        ]


# -- B5: Excel formulas without a saved value --------------------------------------------
def test_an_excel_formula_without_a_saved_value_is_an_error(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "patients.csv").unlink()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["patient_id", "enrollment_date", "age"])
    sheet.append(["P1", "2024-01-01", 40])
    sheet.append(["P2", "2024-01-02", 33])
    sheet.append(["P3", "2024-01-03", "=40+1"])  # openpyxl saves no value for it
    book.save(folder / "patients.xlsx")
    problem = errors(problems_of(folder))[0]
    assert len(errors(problems_of(folder))) == 1
    assert where(problem) == ("patients.xlsx", 4, "age")
    assert problem.message == (
        "cell holds a formula without a saved value (=40+1): save it from a spreadsheet "
        "program or enter the value"
    )
    assert summary(folder, "patients")["set_aside"] == {FORMULA_ROW: 1}


# -- B6: columns without a name, extra columns -------------------------------------------
def test_a_column_without_a_name_that_holds_data_is_reported(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            ["patient_id", "enrollment_date", "", "sle"],
            [["P1", "2024-01-01", "", "yes"], ["P2", "2024-01-02", "see notes", "no"]],
        ),
    )
    problem = warnings_(problems_of(folder))[0]
    assert len(problems_of(folder)) == 1
    assert where(problem) == ("patients.csv", None, "#3")
    assert problem.message.startswith(
        "column 3 has no name in the header but 1 row(s) hold data in it (first: line 3)"
    )


def test_an_empty_unnamed_column_is_no_problem(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            ["patient_id", "enrollment_date", ""],
            [["P1", "2024-01-01", ""], ["P2", "2024-01-02", ""]],
        ),
    )
    assert problems_of(folder) == []


def test_extra_columns_are_kept_in_every_table(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        treatments=(
            [*TREATMENTS, "batch"],
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "", "full", "B7"],
                ["P2", "tacrolimus", "study", "2024-01-02", "", "", "B8"],
            ],
        ),
        labs=(
            [*LABS, "lab_site"],
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L", "north"],
                ["P2", "2024-01-02", "platelets", "15", "10^9/L", "south"],
            ],
        ),
    )
    (tmp_path / "base").mkdir()
    base = itpcohort.evaluate(folder_with(tmp_path / "base"))
    with itpcohort.read_cohort(folder) as cohort:
        assert cohort.treatments.batch.tolist() == ["B7", "B8"]
        assert cohort.labs.lab_site.tolist() == ["north", "south"]
        assert cohort.covariates == ()
        pd.testing.assert_frame_equal(itpcohort.evaluate(cohort), base)


# -- B7: underscores in numbers ----------------------------------------------------------
def test_an_underscore_in_a_number_is_an_error(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "2_5", "10^9/L"],
                ["P2", "2024-01-02", "platelets", "15", "10^9/L"],
            ],
        ),
    )
    problem = errors(problems_of(folder))[0]
    assert where(problem) == ("labs.csv", 2, "value")
    assert problem.message == "'2_5' is not a number: remove the underscores"


# -- B8: implausible dates, no platelet counts, platelet-like test names ------------------
def test_dates_before_1900_or_over_a_year_ahead_are_warnings(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            [*PATIENTS, "diagnosis_date"],
            [
                ["P1", "2024-01-01", "", "", "1899-12-31"],
                ["P2", "2024-01-02", "", "", "2999-01-01"],
                ["P3", "2024-01-02", "x", "", "1900-01-01"],  # the first plausible day
            ],
        ),
    )
    found = warnings_(problems_of(folder))
    assert [where(p) for p in found] == [
        ("patients.csv", 2, "diagnosis_date"),
        ("patients.csv", 3, "diagnosis_date"),
    ]
    assert found[0].message == "date 1899-12-31 is before 1900-01-01: check the year"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert found[1].message == (
        f"date 2999-01-01 is more than a year after today ({today}): check the year"
    )


def test_a_labs_table_without_rows_is_a_warning(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, labs=(LABS, []))
    report, cohort = validate_cohort(folder)
    assert cohort is not None
    assert [(where(p), p.message) for p in report.warnings] == [
        (
            ("labs.csv", None, "test"),
            "labs has no rows (test 'platelets'): every enrolled patient will be NE "
            "(not evaluable)",
        )
    ]


def test_labs_without_platelet_counts_is_a_warning(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "hemoglobin", "120", "g/L"],
                ["P2", "2024-01-02", "platelets", "", "10^9/L"],  # an error, still a count
            ],
        ),
    )
    assert warnings_(problems_of(folder)) == []
    folder = folder_with(tmp_path, labs=(LABS, [["P1", "2024-01-01", "hemoglobin", "120", "g/L"]]))
    only_warning = warnings_(problems_of(folder))
    assert [(where(p), p.message) for p in only_warning] == [
        (
            ("labs.csv", None, "test"),
            "labs has no platelet counts (test 'platelets'): every enrolled patient will be NE "
            "(not evaluable)",
        )
    ]


@pytest.mark.parametrize("name", ["PLT", "Platelet count", "platelet_count", "PLT count"])
def test_a_test_named_like_platelets_is_a_warning(tmp_path: Path, name: str) -> None:
    folder = folder_with(
        tmp_path,
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L"],
                ["P2", "2024-01-02", name, "15", "10^9/L"],
                ["P2", "2024-01-03", name, "16", "10^9/L"],
            ],
        ),
    )
    problem = warnings_(problems_of(folder))[0]
    assert len(problems_of(folder)) == 1
    assert where(problem) == ("labs.csv", 3, "test")
    assert problem.message == (
        f"test '{name}' (2 rows) is not a known test name (kept, not used): if it is the "
        "platelet count, write it as 'platelets'"
    )


# -- B9: a Parquet column named file_row_number ------------------------------------------
def test_a_parquet_column_named_file_row_number_is_kept(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").unlink()
    pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P2"],
            "date": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "test": ["platelets"] * 3,
            "value": [20.0, 15.0, -1.0],
            "unit": ["10^9/L"] * 3,
            "file_row_number": [70, 80, 90],
        }
    ).to_parquet(folder / "labs.parquet")
    problem = errors(problems_of(folder))[0]
    assert where(problem) == ("labs.parquet", 3, "value")
    (folder / "labs.parquet").unlink()
    pq.write_table(
        pa.table(
            {
                "patient_id": ["P1"],
                "date": ["2024-01-01"],
                "test": ["platelets"],
                "value": [20.0],
                "unit": ["10^9/L"],
                "file_row_number": [70],
            }
        ),
        folder / "labs.parquet",
    )
    with itpcohort.read_cohort(folder) as cohort:
        assert cohort.labs[["_line", "file_row_number"]].values.tolist() == [[1, 70]]


# -- C: clearer messages -------------------------------------------------------------------
def test_an_overlong_cell_names_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").write_text(
        ",".join(LABS)
        + "\nP1,2024-01-01,platelets,20,10^9/L\n"
        + "P1,2024-01-02,platelets,20,"
        + "x" * 140_000
        + "\n"
        + "P2,2024-01-02,platelets,15,10^9/L\n"
    )
    problem = errors(problems_of(folder))[0]
    assert len(errors(problems_of(folder))) == 1
    assert where(problem) == ("labs.csv", 3, None)
    assert "a cell is longer than 131,072 characters" in problem.message
    assert summary(folder, "labs")["read"] == 3
    assert summary(folder, "labs")["used"] == 2


def test_a_missing_patients_table_is_one_error_without_follow_ons(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "patients.csv").unlink()
    found = problems_of(folder)
    assert [(where(p), p.severity) for p in found] == [(("patients.csv", None, None), "error")]
    assert "required table 'patients' is missing" in found[0].message
    assert summary(folder, "labs")["set_aside"] == {
        "patients table missing or unusable (see problems)": 2
    }


def test_repeats_of_one_message_are_capped(tmp_path: Path) -> None:
    rows = [["P1", "2024-01-01", "platelets", "20", "10^9/L"]]
    rows += [["P9", "2024-01-02", "platelets", str(n), "10^9/L"] for n in range(50)]
    folder = folder_with(tmp_path, labs=(LABS, rows))
    found = errors(problems_of(folder))
    assert [p.line for p in found] == [*range(3, 23), 22]  # 20 listed (lines 3-22), 1 more
    assert found[-1].message.startswith("... and 30 more errors like line 22 (")
    assert found[-1].column == "patient_id"


def test_a_semicolon_separated_file_is_named_as_such(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").write_text(
        "patient_id;date;test;value;unit\nP1;2024-01-01;platelets;20,5;10^9/L\n"
        "P2;2024-01-02;platelets;15;10^9/L\n"
    )
    found = problems_of(folder)
    assert [where(p) for p in found] == [("labs.csv", 1, None)]
    assert "this looks like a semicolon-separated file; save it as comma-separated" in (
        found[0].message
    )
    assert summary(folder, "labs")["set_aside"] == {UNREADABLE_FILE: 2}


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "the file is empty (0 bytes)"), (b"\n  \n\r\n", "the file is empty (only blank")],
)
def test_an_empty_file_is_one_problem(tmp_path: Path, content: bytes, words: str) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").write_bytes(content)
    found = problems_of(folder)
    assert [where(p) for p in found] == [("labs.csv", None, None)]
    assert found[0].message.startswith(words)


def test_what_is_there_instead_of_a_table_file(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").rename(folder / "Labs.csv")
    (folder / "patients.csv").unlink()
    (folder / "patients.csv").symlink_to(folder / "gone.csv")
    (folder / "treatments.csv").unlink()
    (folder / "treatments.csv").mkdir()
    (folder / "bleeding.csv").symlink_to(folder / "bleeding.csv")
    found = {p.file: p.message for p in errors(problems_of(folder))}
    assert found == {
        "Labs.csv": "this looks like table 'labs' but file names are case-sensitive: "
        "rename it to labs.csv",
        "patients.csv": f"a symbolic link to '{folder / 'gone.csv'}', which does not exist: "
        "fix the link or copy the file here",
        "treatments.csv": "a folder, not a file: put the table file here instead",
        "bleeding.csv": "a symbolic link that loops (points back to itself): replace it "
        "with the file",
    }


def test_two_study_drugs_and_a_blank_role_are_warnings_with_lines(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        treatments=(
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "", ""],
                ["P2", "sirolimus", "", "2024-01-02", "2024-01-31", ""],
                ["P2", "sirolimus", "study", "2024-02-01", "", "taper"],
            ],
        ),
    )
    found = warnings_(problems_of(folder))
    assert [where(p) for p in found] == [
        ("treatments.csv", 3, "drug"),
        ("treatments.csv", 3, "role"),
    ]
    assert found[0].message.startswith(
        "a second study drug: 'sirolimus' on lines 3, 4, besides 'tacrolimus' (from line 2): "
        "evaluate needs one study drug; name the one to evaluate"
    )
    assert found[1].message.startswith("role is empty: read as 'study' (the default)")


@pytest.mark.parametrize(
    ("in_patients", "in_labs", "hint"),
    [
        ("4", "4.0", "(written as a decimal number: patients may have it as '4';"),
        ("4.0", "4", "(patients writes IDs as decimal numbers, e.g. '4.0':"),
    ],
)
def test_decimal_ids_get_a_hint(tmp_path: Path, in_patients: str, in_labs: str, hint: str) -> None:
    folder = folder_with(
        tmp_path,
        patients=(PATIENTS, [["P1", "2024-01-01", "", ""], [in_patients, "2024-01-02", "", ""]]),
        treatments=(TREATMENTS, [["P1", "tacrolimus", "study", "2024-01-01", "", ""]]),
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L"],
                [in_labs, "2024-01-02", "platelets", "15", "10^9/L"],
            ],
        ),
    )
    problem = errors(problems_of(folder))[0]
    assert where(problem) == ("labs.csv", 3, "patient_id")
    assert problem.message.startswith(f"patient '{in_labs}' is not in patients: add the patient")
    assert hint in problem.message


def test_control_and_invisible_characters_cannot_forge_lines(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").unlink()
    long_id = "P" * 200
    pq.write_table(
        pa.table(
            {
                "patient_id": ["P9\nlabs.csv:1: error: forged", "P1\u200b", "P1", long_id],
                "date": ["2024-01-01", "2024-01-01", "2024\u201001\u201002", "2024-01-01"],
                "test": ["platelets"] * 4,
                "value": [20.0] * 4,
                "unit": ["10^9/L"] * 4,
            }
        ),
        folder / "labs.parquet",
    )
    found = errors(problems_of(folder))
    messages = [p.message for p in found]
    assert all("\n" not in str(p) and "\u200b" not in str(p) for p in found)
    assert messages[0].startswith("patient 'P9\\nlabs.csv:1: error: forged' is not in patients")
    assert messages[1].startswith("patient 'P1\\u200b' is not in patients")
    assert messages[2].startswith("'2024\\u201001\\u201002' is not a date")
    assert messages[3].startswith(f"patient '{'P' * 80}…' is not in patients")


def test_a_temporary_folder_with_a_quote_in_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = tmp_path / "it's tmp"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    (tmp_path / "cohort").mkdir()
    with itpcohort.read_cohort(folder_with(tmp_path / "cohort")) as cohort:
        assert len(cohort.patients) == 2
        setting = cohort.con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0]
        assert setting == str(spill / "itpcohort-duckdb")


# -- D: random mutations of a valid cohort -------------------------------------------------
BASE_TABLES = {
    "patients.csv": "patient_id,enrollment_date,excluded,sle,age\n"
    "P1,2024-01-01,,yes,41\nP2,2024-01-02,,no,35.5\nP3,2024-01-03,SLE nephritis,,\n",
    "treatments.csv": "patient_id,drug,role,start_date,end_date,phase\n"
    "P1,tacrolimus,study,2024-01-01,2024-03-31,full\nP1,tacrolimus,study,2024-04-01,,taper\n"
    "P2,tacrolimus,study,2024-01-02,,\nP2,ivig,rescue,2024-02-01,2024-02-02,\n",
    "labs.csv": "patient_id,date,test,value,unit\n"
    "P1,2024-01-01,platelets,20,10^9/L\nP1,2024-01-15,platelets,60000,/uL\n"
    "P1,2024-02-01,platelets,120,10^9/L\nP2,2024-01-02,platelets,15,G/L\n"
    "P2,2024-01-20,hemoglobin,11,g/dL\nP3,2024-01-03,platelets,25,10^9/L\n",
    "bleeding.csv": "patient_id,date,who_grade,site\nP1,2024-01-05,2,gum\nP2,2024-01-06,1,\n",
}
HOSTILE = [
    b'"',
    b'""',
    b",",
    b";",
    b"\t",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xe9",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    "\u200b".encode(),
    "\u2010".encode(),
    b"NaN",
    b"inf",
    b"-1e400",
    b"2_5",
    b"4.0",
    b"2017-02-20T99:99:99",
    b"2024-02-30",
    b"0001-01-01",
    b"9999-12-31",
    b"1,5",
    b"=1+1",
    b"PLT",
    b"_line",
    b"file_row_number",
    b"P9",
    b"'",
    b"\\",
    b" ",
    b"x" * 300,
]


def as_binary_table(csv_text: str, suffix: str, cell: tuple[int, int], value: str) -> bytes:
    """The CSV table as Parquet or Excel (all text), with one cell set to ``value``."""
    header, *rows = [line.split(",") for line in csv_text.splitlines()]
    row, column = cell
    rows[row % len(rows)][column % len(header)] = value
    if suffix == ".parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), sink)
        return sink.getvalue().to_pybytes()
    book = openpyxl.Workbook()
    sheet = book.active
    for values in (header, *rows):
        # a value starting with '=' is saved as a formula; control characters cannot be saved
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) for v in values])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@st.composite
def mutated_cohort(draw: st.DrawFn) -> tuple[dict[str, bytes], dict[str, int]]:
    """Files of a cohort folder, some mutated, and the rows of those written as
    Parquet or Excel (each keeps every row: one cell changed)."""
    files = {name: text.encode() for name, text in BASE_TABLES.items()}
    rows: dict[str, int] = {}
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(BASE_TABLES)))
        suffix = draw(st.sampled_from([".parquet", ".xlsx"]))
        value = draw(st.sampled_from(HOSTILE)).decode("utf-8", errors="replace")
        cell = (draw(st.integers(0, 9)), draw(st.integers(0, 9)))
        del files[name]
        binary = name.replace(".csv", suffix)
        files[binary] = as_binary_table(BASE_TABLES[name], suffix, cell, value)
        rows[binary] = BASE_TABLES[name].count("\n") - 1
    for _ in range(draw(st.integers(0 if rows else 1, 3))):
        name = draw(st.sampled_from(sorted(files)))
        rows.pop(name, None)
        files[name] = mutate(draw, files[name])
    return files, rows


def mutate(draw: st.DrawFn, data: bytes) -> bytes:
    """One random change to a file's bytes."""
    kind = draw(st.sampled_from(["insert", "replace", "delete", "delimiter", "encode", "truncate"]))
    # a position as a share of the length (Excel files differ in length from run to run)
    at = draw(st.integers(0, 1000)) * len(data) // 1000
    if kind == "insert":
        piece = draw(st.sampled_from(HOSTILE) | st.binary(min_size=1, max_size=6))
        return data[:at] + piece + data[at:]
    if kind == "replace":
        # a whole cell: from the comma or line start at or before `at` to the next one
        start = max(data.rfind(b",", 0, at), data.rfind(b"\n", 0, at)) + 1
        ends = [i for i in (data.find(b",", at), data.find(b"\n", at)) if i >= 0]
        end = min(ends) if ends else len(data)
        return data[:start] + draw(st.sampled_from(HOSTILE)) + data[end:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 20)) :]
    if kind == "delimiter":
        return data.replace(b",", draw(st.sampled_from([b";", b"\t", b"|"])))
    if kind == "encode":
        codec = draw(st.sampled_from(["latin-1", "utf-16", "cp1252"]))
        text = data.decode("utf-8", errors="replace")
        return text.encode(codec, errors="replace") + "é".encode(codec)
    return data[:at]


def physical_lines(data: bytes) -> list[bytes]:
    """Lines as Python's csv reader counts them (``\\r``, ``\\n`` and ``\\r\\n`` end one)."""
    lines = re.split(rb"\r\n|\r|\n", data)
    return lines[:-1] if lines and lines[-1] == b"" else lines


@settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cohort_files=mutated_cohort())
def test_mutated_cohorts_raise_only_our_errors_and_lose_no_row(
    tmp_path_factory: pytest.TempPathFactory, cohort_files: tuple[dict[str, bytes], dict[str, int]]
) -> None:
    files, binary_rows = cohort_files
    folder = tmp_path_factory.mktemp("mutated")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    report, cohort = validate_cohort(folder)  # never raises
    for s in report.summaries:
        assert all(n > 0 for n in s.set_aside.values()), s
        assert s.used >= 0, s
        if s.file in binary_rows:
            assert s.read == binary_rows[s.file], s
        if s.file is None or not s.file.endswith(".csv"):
            continue
        # every physical line after the header is read once at most, and every line
        # with a visible character (not only separators, quotes or spaces) is read
        lines = physical_lines(files[s.file])[1:]
        visible = sum(1 for line in lines if line.strip(b' ,;\t|"\x00'))
        assert min(visible, len(lines)) <= s.read <= len(lines), (s, files[s.file])
    for p in report.problems:
        assert "\n" not in str(p) and "\r" not in str(p)
    if cohort is None:
        assert not report.ok
        with pytest.raises(itpcohort.CohortDataError):
            itpcohort.read_cohort(folder)
        return
    with cohort:
        by_table = {s.table: s for s in report.summaries}
        for table in ("patients", "treatments", "labs", "bleeding"):
            s = by_table[table]
            kept = sum(n for why, n in s.set_aside.items() if "kept" in why)
            if table == "patients":
                kept += s.set_aside.get("patient excluded (screened, not enrolled)", 0)
            rows = cohort.con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            assert rows == s.used + kept, (table, s)
