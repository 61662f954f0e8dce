"""Reading a cohort folder (shared/spec/cohort-format.md): types, units, every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

import itpcohort
from itpcohort.cohort import Problem, validate_cohort
from tests.conftest import ROOT, write_csv

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"

PATIENTS = ["patient_id", "enrollment_date", "excluded", "sle"]
TREATMENTS = ["patient_id", "drug", "role", "start_date", "end_date", "phase"]
LABS = ["patient_id", "date", "test", "value", "unit"]


def good_tables() -> dict[str, tuple[list[str], list[list[object]]]]:
    return {
        "patients": (PATIENTS, [["P1", "2024-01-01", "", "yes"], ["P2", "2024-01-02", "", "no"]]),
        "treatments": (
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "", "full"],
                ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
            ],
        ),
        "labs": (
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L"],
                ["P2", "2024-01-02", "platelets", "15", "10^9/L"],
            ],
        ),
    }


def folder_with(tmp_path: Path, **changes: tuple[list[str], list[list[object]]]) -> Path:
    tables = good_tables() | changes
    for name, (header, rows) in tables.items():
        write_csv(tmp_path / f"{name}.csv", header, rows)
    return tmp_path


def problems_of(folder: Path) -> list[Problem]:
    report, _ = validate_cohort(folder)
    return report.problems


def only(problems: list[Problem], severity: str = "error") -> Problem:
    chosen = [p for p in problems if p.severity == severity]
    assert len(chosen) == 1, chosen
    return chosen[0]


def test_example_cohort_is_valid() -> None:
    report, cohort = validate_cohort(EXAMPLE)
    assert report.ok and not report.warnings, report.problems
    assert cohort is not None
    assert [s.read for s in report.summaries] == [6, 8, 34, 2, 2]
    assert len(cohort.patients) == 6


def test_types_and_units_are_normalised(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            ["Patient_ID ", " ENROLLMENT_DATE", "sle", "age", "site_group"],
            [
                ["P1", "2024-01-01T09:30:00", "Y", "41.5", "north"],
                ["P2", "2024-01-02 10:00", "0", "", "south"],
            ],
        ),
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "Platelets", "35000", "/uL"],
                ["P1", "2024-01-02", "platelets", "35", "K/uL"],
                ["P2", "2024-01-02", "platelets", "15", "x10^9/L"],
                ["P2", "2024-01-02", "creatinine", "1", "mg/dL"],
                ["P2", "2024-01-02", "ferritin", "80", "ng/mL"],
            ],
        ),
    )
    cohort = itpcohort.read_cohort(folder)
    patients = cohort.patients.set_index("patient_id")
    assert str(patients.loc["P1", "enrollment_date"])[:10] == "2024-01-01"
    assert bool(patients.loc["P1", "sle"]) is True and bool(patients.loc["P2", "sle"]) is False
    assert patients.loc["P1", "age"] == 41.5
    assert cohort.covariates == ("site_group",)
    labs = cohort.labs
    platelets = labs[labs.test == "platelets"].value.tolist()
    assert platelets == [35.0, 35.0, 15.0]
    creatinine = labs[labs.test == "creatinine"].iloc[0]
    assert creatinine.value == pytest.approx(88.42) and creatinine.unit == "umol/L"
    assert "ferritin" in labs.test.tolist()  # unknown test: kept, not used
    labs_summary = cohort.report.summaries[2]
    assert labs_summary.set_aside == {"unknown test 'ferritin' (kept, not used)": 1}
    assert labs_summary.used == 4


@pytest.mark.parametrize(
    ("table", "header", "rows", "where", "words"),
    [
        (
            "patients",
            PATIENTS,
            [["P1", "2024-02-30", "", ""], ["P2", "2024-01-02", "", ""]],
            ("patients.csv", 2, "enrollment_date"),
            "'2024-02-30' is not a date",
        ),
        (
            "patients",
            PATIENTS,
            [["P1", "01/03/2024", "", ""], ["P2", "2024-01-02", "", ""]],
            ("patients.csv", 2, "enrollment_date"),
            "not a date",
        ),
        (
            "patients",
            PATIENTS,
            [["P1", "2024-01-01", "", "maybe"], ["P2", "2024-01-02", "", ""]],
            ("patients.csv", 2, "sle"),
            "not a yes/no value",
        ),
        (
            "patients",
            PATIENTS,
            [
                ["P1", "2024-01-01", "", ""],
                ["P2", "2024-01-02", "", ""],
                ["P1", "2024-01-05", "", ""],
            ],
            ("patients.csv", 4, "patient_id"),
            "duplicate patient_id 'P1' (first on line 2)",
        ),
        (
            "patients",
            PATIENTS,
            [["P1", "", "", ""], ["P2", "2024-01-02", "", ""]],
            ("patients.csv", 2, "enrollment_date"),
            "missing value",
        ),
        (
            "labs",
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "twenty", "10^9/L"],
                ["P2", "2024-01-02", "platelets", "15", "10^9/L"],
            ],
            ("labs.csv", 2, "value"),
            "'twenty' is not a number",
        ),
        (
            "labs",
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "-3", "10^9/L"],
                ["P2", "2024-01-02", "platelets", "15", "10^9/L"],
            ],
            ("labs.csv", 2, "value"),
            "cannot be negative",
        ),
        (
            "labs",
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L"],
                ["P2", "2024-01-02", "platelets", "15", "mg/dL"],
            ],
            ("labs.csv", 3, "unit"),
            "unknown unit 'mg/dL' for platelets",
        ),
        (
            "labs",
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "20", "10^9/L"],
                ["P9", "2024-01-02", "platelets", "15", "10^9/L"],
            ],
            ("labs.csv", 3, "patient_id"),
            "patient 'P9' is not in patients",
        ),
        (
            "treatments",
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-05", "2024-01-04", ""],
                ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
            ],
            ("treatments.csv", 2, "end_date"),
            "end_date 2024-01-04 is before start_date 2024-01-05",
        ),
        (
            "treatments",
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "2024-03-01", ""],
                ["P1", "tacrolimus", "study", "2024-03-01", "", "taper"],
                ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
            ],
            ("treatments.csv", 3, "start_date"),
            "must not overlap",
        ),
        (
            "treatments",
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "", "full"],
                ["P1", "ivig", "emergency", "2024-02-01", "2024-02-01", ""],
                ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
            ],
            ("treatments.csv", 3, "role"),
            "'emergency' is not one of: study, concomitant, rescue",
        ),
    ],
)
def test_each_kind_of_bad_cell(
    tmp_path: Path,
    table: str,
    header: list[str],
    rows: list[list[object]],
    where: tuple[str, int, str],
    words: str,
) -> None:
    problem = only(problems_of(folder_with(tmp_path, **{table: (header, rows)})))
    assert (problem.file, problem.line, problem.column) == where
    assert words in problem.message


def test_who_grade_outside_0_to_4(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    write_csv(
        folder / "bleeding.csv",
        ["patient_id", "date", "who_grade"],
        [["P1", "2024-01-05", "5"], ["P1", "2024-01-06", "2.5"], ["P2", "2024-01-06", "0"]],
    )
    errors = [p for p in problems_of(folder) if p.severity == "error"]
    assert [(p.line, p.column) for p in errors] == [(2, "who_grade"), (3, "who_grade")]
    assert "outside 0-4" in errors[0].message and "whole number" in errors[1].message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(PATIENTS, [["P1", "2024-13-01", "", "x"], ["P2", "2024-01-02", "", ""]]),
        labs=(LABS, [["P1", "2024-01-01", "platelets", "-1", "furlong"]]),
    )
    errors = [(p.file, p.line, p.column) for p in problems_of(folder) if p.severity == "error"]
    assert errors == [
        ("patients.csv", 2, "enrollment_date"),
        ("patients.csv", 2, "sle"),
        ("labs.csv", 2, "unit"),
        ("labs.csv", 2, "value"),
    ]


def test_missing_required_file_and_column(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, labs=(["patient_id", "date", "test", "value"], []))
    (folder / "treatments.csv").unlink()
    errors = [p for p in problems_of(folder) if p.severity == "error"]
    assert [(p.file, p.line, p.column) for p in errors] == [
        ("treatments.csv", None, None),
        ("labs.csv", 1, "unit"),
    ]
    assert "required table 'treatments' is missing" in errors[0].message


def test_two_files_with_one_stem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    pd.DataFrame({"patient_id": ["P1"]}).to_parquet(folder / "labs.parquet")
    problem = only(problems_of(folder))
    assert "two files hold table 'labs'" in problem.message


def test_malformed_csv_line(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    with (folder / "labs.csv").open("a") as handle:
        handle.write("P1,2024-01-03,platelets,1,000,10^9/L\n")
    problem = only(problems_of(folder))
    assert (problem.file, problem.line) == ("labs.csv", 4)
    report, _ = validate_cohort(folder)
    assert report.summaries[2].set_aside == {"unreadable line": 1}


def test_warnings_do_not_stop_reading(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            PATIENTS,
            [
                ["P1", "2024-01-01", "", ""],
                ["P2", "2024-01-02", "", ""],
                ["P3", "2024-01-02", "", ""],
            ],
        ),
        labs=(
            LABS,
            [
                ["P1", "2024-01-01", "platelets", "2001", "10^9/L"],
                ["P2", "2022-12-31", "platelets", "15", "10^9/L"],
                ["P2", "2023-01-02", "platelets", "15", "10^9/L"],
            ],
        ),
    )
    report, cohort = validate_cohort(folder)
    assert report.ok and cohort is not None
    got = [(p.file, p.line, p.column) for p in report.warnings]
    assert got == [
        ("patients.csv", 4, "patient_id"),  # P3: enrolled with no study drug
        ("labs.csv", 2, "value"),  # > 2000
        ("labs.csv", 3, "date"),  # before 2023-01-02 = enrolment minus one year
    ]


def test_excluded_patients_are_set_aside_not_dropped(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            PATIENTS,
            [["P1", "2024-01-01", "", ""], ["P2", "2024-01-02", "SLE nephritis", ""]],
        ),
    )
    cohort = itpcohort.read_cohort(folder)
    summaries = {s.table: s for s in cohort.report.summaries}
    assert summaries["patients"].set_aside == {"patient excluded (screened, not enrolled)": 1}
    assert summaries["labs"].set_aside == {"patient excluded (screened, not enrolled)": 1}
    assert summaries["treatments"].used == 1
    assert len(cohort.patients) == 2  # kept for the flow counts


def test_read_cohort_raises_with_every_problem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, labs=(LABS, [["P1", "x", "platelets", "y", "10^9/L"]]))
    with pytest.raises(itpcohort.CohortDataError) as info:
        itpcohort.read_cohort(folder)
    assert len([p for p in info.value.problems if p.severity == "error"]) == 2


def test_parquet_rows_are_numbered_from_1(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").unlink()
    pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "test": ["platelets", "platelets"],
            "value": [20.0, -1.0],
            "unit": ["10^9/L", "10^9/L"],
        }
    ).to_parquet(folder / "labs.parquet")
    problem = only(problems_of(folder))
    assert (problem.file, problem.line, problem.column) == ("labs.parquet", 2, "value")


def test_excel_rows_are_sheet_rows(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "patients.csv").unlink()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["patient_id", "enrollment_date", "excluded", "age"])
    sheet.append(["P1", pd.Timestamp("2024-01-01").to_pydatetime(), None, 40])
    sheet.append(["P2", "not a date", None, 33])
    book.save(folder / "patients.xlsx")
    problem = only(problems_of(folder))
    assert (problem.file, problem.line, problem.column) == ("patients.xlsx", 3, "enrollment_date")


def test_a_cohort_in_parquet_and_excel_evaluates_like_csv(tmp_path: Path) -> None:
    base = itpcohort.read_cohort(EXAMPLE)
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("patients", "treatments", "labs", "bleeding", "adverse_events"):
        frame = pd.read_csv(EXAMPLE / f"{name}.csv", dtype=str)
        if name == "labs":
            frame.to_parquet(folder / "labs.parquet")
        elif name == "patients":
            frame.to_excel(folder / "patients.xlsx", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    pd.testing.assert_frame_equal(itpcohort.evaluate(base), itpcohort.evaluate(folder))


def test_several_study_drugs_must_be_named(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        treatments=(
            TREATMENTS,
            [
                ["P1", "tacrolimus", "study", "2024-01-01", "", ""],
                ["P2", "sirolimus", "study", "2024-01-02", "", ""],
            ],
        ),
    )
    with pytest.raises(itpcohort.CohortDataError, match="several study drugs"):
        itpcohort.evaluate(folder)
    endpoints = itpcohort.evaluate(folder, study_drug="Sirolimus")
    assert endpoints.start_date.notna().tolist() == [False, True]


def test_a_file_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "labs.csv").write_bytes(
        b"patient_id,date,test,value,unit\nP1,2024-01-01,plaquettes \xe9,20,10^9/L\n"
    )
    problem = only(problems_of(folder))
    # "P1,2024-01-01,plaquettes " is 25 characters: the byte is the 26th, in column test
    assert (problem.file, problem.line, problem.column) == ("labs.csv", 2, "test")
    assert "byte 0xE9 at character 26 of the line is not UTF-8" in problem.message
    assert "Latin-1/Windows-1252 text, where it is 'é'" in problem.message
    assert "save the file as UTF-8" in problem.message


def test_a_broken_excel_or_parquet_file_is_one_problem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "patients.csv").unlink()
    (folder / "patients.xlsx").write_bytes(b"this is not a workbook")
    (folder / "labs.csv").unlink()
    (folder / "labs.parquet").write_bytes(b"PAR1 nor a parquet file")
    errors = [p for p in problems_of(folder) if p.severity == "error" and p.line is None]
    assert {p.file for p in errors} >= {"patients.xlsx", "labs.parquet"}
    assert all(
        "cannot read the file" in p.message
        for p in errors
        if p.file in ("patients.xlsx", "labs.parquet")
    )


def test_cohort_closes_its_database_as_a_context_manager(tmp_path: Path) -> None:
    with itpcohort.read_cohort(folder_with(tmp_path)) as cohort:
        assert len(cohort.patients) == 2
    with pytest.raises(duckdb.ConnectionException):
        cohort.con.sql("SELECT 1")
    cohort.close()  # closing twice is fine


def test_patient_status(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        patients=(
            PATIENTS,
            [["P1", "2024-01-01", "", ""], ["P2", "2024-01-02", " SLE nephritis ", ""]],
        ),
    )
    with itpcohort.read_cohort(folder) as cohort:
        assert cohort.patient_status("P1") == "enrolled"
        assert cohort.patient_status("P2") == "SLE nephritis"
        assert cohort.patient_status("P3") is None
        assert cohort.patient_status("P1' OR '1'='1") is None


def test_every_period_overlapping_an_earlier_one_is_reported(tmp_path: Path) -> None:
    # A (line 2) runs Jan-Dec; B (line 3, Feb) and C (line 4, Mar) both lie inside A.
    # Compared only with the period just before, C (starting after B ended) would pass.
    rows = [
        ["P1", "tacrolimus", "study", "2024-01-01", "2024-12-31", "full"],
        ["P1", "tacrolimus", "study", "2024-02-01", "2024-02-29", "taper"],
        ["P1", "tacrolimus", "study", "2024-03-01", "2024-03-31", "taper"],
        ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
    ]
    found = problems_of(folder_with(tmp_path, treatments=(TREATMENTS, rows)))
    overlaps = [p for p in found if "must not overlap" in p.message]
    assert [(p.line, p.column) for p in overlaps] == [(3, "start_date"), (4, "start_date")]
    assert all("earlier period (line 2) ends on 2024-12-31" in p.message for p in overlaps)


def test_a_period_after_an_ongoing_one_names_it_ongoing(tmp_path: Path) -> None:
    rows = [
        ["P1", "tacrolimus", "study", "2024-01-01", "", "full"],
        ["P1", "tacrolimus", "study", "2024-05-01", "2024-06-01", "taper"],
        ["P2", "tacrolimus", "study", "2024-01-02", "", ""],
    ]
    (problem,) = [
        p
        for p in problems_of(folder_with(tmp_path, treatments=(TREATMENTS, rows)))
        if "overlap" in p.message
    ]
    assert problem.line == 3 and "earlier period (line 2) ends (ongoing)" in problem.message
