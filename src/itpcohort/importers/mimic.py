"""MIMIC-IV (hosp module) -> cohort folder: a documented mapping recipe, in SQL on DuckDB.

- patients.csv.gz -> patients: subject_id, gender, anchor_age. Enrolment =
  first prescription of the study drug (default ``prednisone``), else the first
  platelet count; subjects never given the study drug are kept as excluded.
- labevents.csv.gz, itemid 51265 (platelet count; not 51266, a smear estimate,
  nor 51704) -> labs: valuenum with valueuom (``K/uL``), date of charttime.
  Rows without valuenum are set aside.
- prescriptions.csv.gz -> treatments: drug (lower case); the study drug
  (substring match) is role ``study``; methylprednisolone, dexamethasone and
  immune globulin are ``rescue``; others ``concomitant``; starttime-stoptime
  dates, overlapping prescriptions of one drug merged.
- diagnoses_icd.csv.gz -> patients.sle (ICD-10 M32, ICD-9 710.0), aps (ICD-10
  D68.61, ICD-9 289.81).

Dates in the demo are shifted into 2100-2200, as MIMIC publishes them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from itpcohort.cohort.cells import literal
from itpcohort.importers.common import (
    MappingError,
    Reconciliation,
    first_line,
    merge_periods_sql,
)

RESCUE = ("methylprednisolone", "dexamethasone", "immune glob")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])


SOURCES = ("patients", "labevents", "prescriptions", "diagnoses_icd")
OPTIONAL = ("diagnoses_icd",)
SLE_ICD = "(icd_version = 10 AND icd_code LIKE 'M32%') OR (icd_version = 9 AND icd_code = '7100')"
APS_ICD = "(icd_version = 10 AND icd_code = 'D6861') OR (icd_version = 9 AND icd_code = '28981')"
#: the columns the recipe reads, per hosp table
COLUMNS = {
    "patients": ("subject_id", "gender", "anchor_age", "dod"),
    "labevents": ("subject_id", "itemid", "charttime", "valuenum", "valueuom"),
    "prescriptions": ("subject_id", "drug", "starttime", "stoptime"),
    "diagnoses_icd": ("subject_id", "icd_code", "icd_version"),
}
OUTPUT_COLUMNS = {
    "patients": "patient_id, enrollment_date, excluded, sex, age, sle, aps, followup_end_date",
    "treatments": "patient_id, drug, role, start_date, end_date, phase, daily_dose_mg, stop_reason",
    "labs": "patient_id, date, test, value, unit",
}


def import_mimic(
    folder: str | Path, output: str | Path, *, study_drug: str = "prednisone"
) -> Reconciliation:
    """Turn a MIMIC-IV hosp folder into a cohort folder; returns the reconciliation."""
    files = _source_files(Path(folder))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    rec = Reconciliation()
    drug = study_drug.lower().replace("'", "''")
    try:
        _open_sources(con, files)
        _import_treatments(con, drug, rec)
        _import_labs(con, rec)
        _import_patients(con, drug, rec)
        if files["diagnoses_icd"] is not None:
            _import_diagnoses(con, rec)
        for t, cols in OUTPUT_COLUMNS.items():
            # the relational API takes the path as a value (no SQL text to escape)
            con.sql(f"SELECT {cols} FROM {t} ORDER BY ALL").write_csv(str(out / f"{t}.csv"))
    except duckdb.Error as exc:  # a value of the wrong type, an unreadable CSV line
        raise MappingError(
            f"{folder}: the MIMIC-IV tables cannot be imported ({first_line(exc)})"
        ) from None
    rec.write(out)
    con.close()
    return rec


def _open_sources(con: duckdb.DuckDBPyConnection, files: dict[str, Path | None]) -> None:
    """A view per source file; every column the recipe reads must be there."""
    for name, path in files.items():
        if path is None:
            continue
        con.sql(
            f"CREATE VIEW src_{name} AS SELECT * FROM read_csv({literal(str(path))}, "
            "header = true, sample_size = -1)"
        )
        have = {str(row[0]).lower() for row in con.sql(f"DESCRIBE src_{name}").fetchall()}
        lacking = [c for c in COLUMNS[name] if c not in have]
        if lacking:
            raise MappingError(f"{path}: no column(s) {', '.join(lacking)} (MIMIC-IV hosp names)")


def _source_files(root: Path) -> dict[str, Path | None]:
    """Each hosp table's file (``.csv.gz`` or ``.csv``); None for a missing optional one."""
    hosp = root / "hosp" if (root / "hosp").is_dir() else root
    files = {}
    for name in SOURCES:
        path = next(
            (p for p in (hosp / f"{name}.csv.gz", hosp / f"{name}.csv") if p.exists()), None
        )
        if path is None and name not in OPTIONAL:
            raise MappingError(f"{hosp}: {name}.csv.gz is missing")
        files[name] = path
    return files


def _import_treatments(con: duckdb.DuckDBPyConnection, drug: str, rec: Reconciliation) -> None:
    """prescriptions -> ``treatments`` (roles by name, overlaps merged), counted."""
    rescue = " OR ".join(f"lower(drug) LIKE '%{r}%'" for r in RESCUE)
    con.sql(f"""CREATE TABLE exposures AS SELECT CAST(subject_id AS VARCHAR) AS patient_id,
        CASE WHEN lower(drug) LIKE '%{drug}%' AND NOT ({rescue}) THEN '{drug}'
             ELSE lower(trim(drug)) END AS drug,
        CASE WHEN lower(drug) LIKE '%{drug}%' AND NOT ({rescue}) THEN 'study'
             WHEN {rescue} THEN 'rescue' ELSE 'concomitant' END AS role,
        CAST(starttime AS DATE) AS start_date,
        CAST(coalesce(stoptime, starttime) AS DATE) AS end_date FROM src_prescriptions""")
    rec.read("prescriptions", _count(con, "SELECT * FROM src_prescriptions"))
    bad = "start_date IS NULL OR drug IS NULL OR drug = '' OR end_date < start_date"
    rec.set_aside(
        "prescriptions",
        "no start time or drug, or stop before start",
        _count(con, f"SELECT * FROM exposures WHERE {bad}"),
    )
    con.sql(
        "CREATE TABLE treatments AS "
        + merge_periods_sql(f"SELECT * FROM exposures WHERE NOT ({bad})")
    )
    for role, periods, rows in con.sql(
        "SELECT role, count(*), sum(rows_in) FROM treatments GROUP BY 1 ORDER BY 1"
    ).fetchall():
        rec.imported("prescriptions", f"treatments ({role})", int(periods))
        rec.set_aside(
            "prescriptions",
            "merged into an overlapping prescription of the same drug",
            int(rows - periods),
        )


def _import_labs(con: duckdb.DuckDBPyConnection, rec: Reconciliation) -> None:
    """labevents itemid 51265 with value, time and unit -> ``labs``, counted."""
    con.sql("""CREATE TABLE labs AS SELECT CAST(subject_id AS VARCHAR) AS patient_id,
        CAST(charttime AS DATE) AS date, 'platelets' AS test, CAST(valuenum AS DOUBLE) AS value,
        trim(valueuom) AS unit FROM src_labevents
        WHERE itemid = 51265 AND valuenum IS NOT NULL AND charttime IS NOT NULL
          AND valueuom IS NOT NULL""")
    rec.read("labevents", _count(con, "SELECT * FROM src_labevents"))
    platelet = _count(con, "SELECT * FROM src_labevents WHERE itemid = 51265")
    imported = _count(con, "SELECT * FROM labs")
    rec.imported("labevents", "labs (platelets, itemid 51265)", imported)
    rec.set_aside("labevents", "platelet row without valuenum, time or unit", platelet - imported)
    rec.set_aside("labevents", "other lab items", rec.source("labevents").read - platelet)


def _import_patients(con: duckdb.DuckDBPyConnection, drug: str, rec: Reconciliation) -> None:
    """patients -> ``patients`` (enrolled at the first study drug, else the first count)."""
    con.sql(f"""CREATE TABLE patients AS SELECT CAST(p.subject_id AS VARCHAR) AS patient_id,
        coalesce(s.first_study, l.first_lab) AS enrollment_date,
        CASE WHEN s.first_study IS NULL THEN 'no {drug} prescription' ELSE '' END AS excluded,
        p.gender AS sex, p.anchor_age AS age, 'no' AS sle, 'no' AS aps,
        CAST(p.dod AS DATE) AS followup_end_date
        FROM src_patients p
        LEFT JOIN (SELECT patient_id, min(start_date) AS first_study FROM treatments
                   WHERE role = 'study' GROUP BY 1) s
               ON s.patient_id = CAST(p.subject_id AS VARCHAR)
        LEFT JOIN (SELECT patient_id, min(date) AS first_lab FROM labs GROUP BY 1) l
               ON l.patient_id = CAST(p.subject_id AS VARCHAR)""")
    n = _count(con, "SELECT * FROM patients")
    no_date = _count(con, "SELECT * FROM patients WHERE enrollment_date IS NULL")
    con.sql("DELETE FROM patients WHERE enrollment_date IS NULL")
    rec.read("patients", n)
    rec.imported("patients", "patients", n - no_date)
    rec.set_aside("patients", "no prescription and no platelet count (no date to enrol)", no_date)
    for table in ("treatments", "labs"):
        orphans = _count(
            con, f"SELECT * FROM {table} WHERE patient_id NOT IN (SELECT patient_id FROM patients)"
        )
        if orphans:
            raise MappingError(f"MIMIC: {orphans} {table} rows of subjects not enrolled")


def _import_diagnoses(con: duckdb.DuckDBPyConnection, rec: Reconciliation) -> None:
    """diagnoses_icd -> patients.sle and aps, counted."""
    rec.read("diagnoses_icd", _count(con, "SELECT * FROM src_diagnoses_icd"))
    for flag, cond in (("sle", SLE_ICD), ("aps", APS_ICD)):
        con.sql(
            f"UPDATE patients SET {flag} = 'yes' WHERE patient_id IN (SELECT "
            f"CAST(subject_id AS VARCHAR) FROM src_diagnoses_icd WHERE {cond})"
        )
    used = _count(con, f"SELECT * FROM src_diagnoses_icd WHERE {SLE_ICD} OR {APS_ICD}")
    rec.imported("diagnoses_icd", "patients (sle, aps)", used)
    rec.set_aside("diagnoses_icd", "other diagnoses", rec.source("diagnoses_icd").read - used)
