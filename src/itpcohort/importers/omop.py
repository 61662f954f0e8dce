"""OMOP CDM v5.x -> cohort folder, in SQL on DuckDB (no trip through pandas).

Sources: a folder of CSV or Parquet tables (``PERSON.csv`` or ``person.parquet``,
any case) or a DuckDB database file (``duckdb:FILE``).

Mapping:

- PERSON -> patients: person_id, gender_concept_id (8507 M, 8532 F), age at
  enrolment from year_of_birth. Enrolment = first exposure to the study drug;
  persons never exposed are kept as excluded ("no exposure to DRUG"), dated by
  their first observation period. Follow-up end = last observation period end.
- MEASUREMENT -> labs: platelet concepts (default 3024929, LOINC 777-3, and
  3007461, LOINC 26515-7; ``platelet_concepts`` to change) with
  value_as_number and unit_source_value.
- DRUG_EXPOSURE -> treatments: the study drug by ingredient (names matched in
  CONCEPT, or an ingredient concept id expanded through CONCEPT_ANCESTOR when
  that table is present) is role ``study``; rescue drugs by name list; the rest
  ``concomitant``. Overlapping exposures of one drug are merged.
- CONDITION_OCCURRENCE -> patients.sle, aps, diagnosis_date (first
  thrombocytopenia), by concept name.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from itpcohort.importers.common import MappingError, Reconciliation, merge_periods_sql

PLATELET_CONCEPTS = (3024929, 3007461)
RESCUE_NAMES = (
    "immunoglobulin",
    "methylprednisolone",
    "dexamethasone",
    "platelet",
    "romiplostim",
    "eltrombopag",
    "rho(d) immune globulin",
)
TABLES = (
    "person",
    "observation_period",
    "measurement",
    "drug_exposure",
    "condition_occurrence",
    "concept",
    "concept_ancestor",
    "death",
)
KNOWN_PLATELET_UNITS = ("10^9/l", "x10^9/l", "10*9/l", "g/l", "10^3/ul", "10*3/ul", "k/ul", "/ul")


def _open(source: str) -> tuple[duckdb.DuckDBPyConnection, set[str]]:
    con = duckdb.connect()
    present: set[str] = set()
    if source.startswith("duckdb:"):
        path = source.removeprefix("duckdb:")
        if not Path(path).exists():
            raise MappingError(f"{source}: no such DuckDB file")
        con.sql(f"ATTACH '{path}' AS src (READ_ONLY)")
        names = {
            r[0].lower(): r[0]
            for r in con.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
            ).fetchall()
        }
        for t in TABLES:
            if t in names:
                con.sql(f'CREATE VIEW {t} AS SELECT * FROM src."{names[t]}"')
                present.add(t)
    elif source.startswith(("postgresql://", "postgres://")):
        raise MappingError(
            "PostgreSQL sources need DuckDB's postgres extension, which this installation "
            "cannot download; export the CDM tables to CSV or Parquet, or to a DuckDB file"
        )
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise MappingError(f"{source}: not a folder of CDM tables nor duckdb:FILE")
        files = {
            p.stem.lower(): p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".parquet")
        }
        for t in TABLES:
            if t in files:
                p = files[t]
                reader = (
                    f"read_parquet('{p}')"
                    if p.suffix.lower() == ".parquet"
                    else f"read_csv('{p}', header = true, sample_size = -1)"
                )
                con.sql(f"CREATE VIEW {t} AS SELECT * FROM {reader}")
                present.add(t)
    missing = {"person", "measurement", "drug_exposure"} - present
    if missing:
        raise MappingError(f"{source}: CDM table(s) {', '.join(sorted(missing))} missing")
    return con, present


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def import_omop(
    source: str | Path,
    output: str | Path,
    *,
    study_drug: str | None = None,
    study_drug_concept: int | None = None,
    platelet_concepts: tuple[int, ...] = PLATELET_CONCEPTS,
    rescue_names: tuple[str, ...] = RESCUE_NAMES,
) -> Reconciliation:
    """Turn an OMOP CDM into a cohort folder; returns the reconciliation."""
    con, present = _open(str(source))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rec = Reconciliation()
    has_concept = "concept" in present
    name = "lower(c.concept_name)" if has_concept else "CAST(d.drug_concept_id AS VARCHAR)"
    join = "LEFT JOIN concept c ON c.concept_id = d.drug_concept_id" if has_concept else ""
    study_ids = "(SELECT NULL::BIGINT WHERE FALSE)"
    if study_drug_concept is not None:
        study_ids = f"(SELECT {int(study_drug_concept)})"
        if "concept_ancestor" in present:
            study_ids = (
                "(SELECT descendant_concept_id FROM concept_ancestor WHERE "
                f"ancestor_concept_id = {int(study_drug_concept)})"
            )
    study_label = (
        study_drug or (f"concept {study_drug_concept}" if study_drug_concept else "")
    ).lower()
    is_study = f"d.drug_concept_id IN {study_ids}"
    if study_drug:
        if not has_concept:
            raise MappingError(
                "--study-drug by name needs the CONCEPT table; give --study-drug-concept instead"
            )
        is_study += f" OR {name} LIKE {_quote('%' + study_drug.lower() + '%')}"
    is_rescue = " OR ".join(f"{name} LIKE {_quote('%' + r.lower() + '%')}" for r in rescue_names)
    con.sql(f"""
        CREATE TABLE exposures AS
        SELECT CAST(d.person_id AS VARCHAR) AS patient_id,
               CASE WHEN {is_study} THEN {_quote(study_label)} ELSE {name} END AS drug,
               CASE WHEN {is_study} THEN 'study' WHEN {is_rescue or "FALSE"} THEN 'rescue'
                    ELSE 'concomitant' END AS role,
               CAST(d.drug_exposure_start_date AS DATE) AS start_date,
               CAST(coalesce(d.drug_exposure_end_date, d.drug_exposure_start_date) AS DATE)
                   AS end_date
        FROM drug_exposure d {join}""")
    rec.read("DRUG_EXPOSURE", _count(con, "SELECT * FROM drug_exposure"))
    if study_label and not _count(con, "SELECT * FROM exposures WHERE role = 'study'"):
        raise MappingError(f"study drug '{study_label}': no DRUG_EXPOSURE row matches it")
    bad = "start_date IS NULL OR drug IS NULL OR end_date < start_date"
    rec.set_aside(
        "DRUG_EXPOSURE",
        "no start date, no drug, or end before start",
        _count(con, f"SELECT * FROM exposures WHERE {bad}"),
    )
    kept = f"SELECT * FROM exposures WHERE NOT ({bad})"
    con.sql(f"CREATE TABLE treatments AS {merge_periods_sql(kept)}")
    for role, periods, rows in con.sql(
        "SELECT role, count(*), sum(rows_in) FROM treatments GROUP BY 1 ORDER BY 1"
    ).fetchall():
        rec.imported("DRUG_EXPOSURE", f"treatments ({role})", int(periods))
        rec.set_aside(
            "DRUG_EXPOSURE",
            "merged into an overlapping exposure of the same drug",
            int(rows - periods),
        )
    # patients
    obs = (
        "(SELECT person_id, min(observation_period_start_date) AS obs_start, "
        "max(observation_period_end_date) AS obs_end FROM observation_period GROUP BY 1)"
        if "observation_period" in present
        else "(SELECT NULL::BIGINT AS person_id, NULL::DATE AS obs_start, NULL::DATE AS obs_end "
        "WHERE FALSE)"
    )
    first = (
        "(SELECT patient_id, min(start_date) AS first_study FROM treatments "
        "WHERE role = 'study' GROUP BY 1)"
    )
    con.sql(f"""
        CREATE TABLE patients AS
        SELECT CAST(p.person_id AS VARCHAR) AS patient_id,
               CAST(coalesce(f.first_study, o.obs_start,
                    make_date(CAST(p.year_of_birth AS INTEGER), 1, 1)) AS DATE)
                   AS enrollment_date,
               CASE WHEN {bool(study_label)} AND f.first_study IS NULL
                    THEN {_quote("no exposure to " + study_label)} ELSE '' END AS excluded,
               CASE p.gender_concept_id WHEN 8507 THEN 'M' WHEN 8532 THEN 'F' ELSE '' END AS sex,
               year(coalesce(f.first_study, o.obs_start)) - p.year_of_birth AS age,
               CAST(o.obs_end AS DATE) AS followup_end_date
        FROM person p LEFT JOIN {obs} o USING (person_id)
        LEFT JOIN {first} f ON f.patient_id = CAST(p.person_id AS VARCHAR)""")
    n_person = _count(con, "SELECT * FROM person")
    rec.read("PERSON", n_person)
    rec.imported("PERSON", "patients", n_person)
    if "observation_period" in present:
        n = _count(con, "SELECT * FROM observation_period")
        rec.read("OBSERVATION_PERIOD", n)
        rec.imported("OBSERVATION_PERIOD", "patients (enrolment, follow-up end)", n)
    _conditions(con, present, rec)
    # labs
    concepts = ", ".join(str(int(c)) for c in platelet_concepts)
    units = ", ".join(_quote(u) for u in KNOWN_PLATELET_UNITS)
    unit_key = "regexp_replace(lower(replace(trim(m.unit_source_value), ' ', '')), '^x', '')"
    con.sql(f"""
        CREATE TABLE labs AS
        SELECT CAST(m.person_id AS VARCHAR) AS patient_id,
               CAST(m.measurement_date AS DATE) AS date, 'platelets' AS test,
               CAST(m.value_as_number AS DOUBLE) AS value, trim(m.unit_source_value) AS unit
        FROM measurement m
        WHERE m.measurement_concept_id IN ({concepts}) AND m.value_as_number IS NOT NULL
          AND m.measurement_date IS NOT NULL AND {unit_key} IN ({units})""")
    rec.read("MEASUREMENT", _count(con, "SELECT * FROM measurement"))
    platelet_rows = _count(
        con, f"SELECT * FROM measurement m WHERE measurement_concept_id IN ({concepts})"
    )
    imported = _count(con, "SELECT * FROM labs")
    rec.imported("MEASUREMENT", "labs (platelets)", imported)
    rec.set_aside(
        "MEASUREMENT", "platelet row without value, date or a known unit", platelet_rows - imported
    )
    rec.set_aside(
        "MEASUREMENT", "not a platelet concept", rec.source("MEASUREMENT").read - platelet_rows
    )
    for t in ("concept", "concept_ancestor", "death"):
        if t in present:
            n = _count(con, f"SELECT * FROM {t}")
            rec.read(t.upper(), n)
            rec.set_aside(
                t.upper(),
                "vocabulary / not used (read for names only)" if t != "death" else "not used",
                n,
            )
    for t, cols in (
        (
            "patients",
            "patient_id, enrollment_date, excluded, sex, age, sle, aps, "
            "diagnosis_date, followup_end_date",
        ),
        (
            "treatments",
            "patient_id, drug, role, start_date, end_date, phase, daily_dose_mg, stop_reason",
        ),
        ("labs", "patient_id, date, test, value, unit"),
    ):
        con.sql(
            f"COPY (SELECT {cols} FROM {t} ORDER BY ALL) TO '{out / (t + '.csv')}' "
            "(HEADER, DELIMITER ',')"
        )
    rec.check()
    rec.frame().to_csv(out / "reconciliation.csv", index=False)
    con.close()
    return rec


def _conditions(con: duckdb.DuckDBPyConnection, present: set[str], rec: Reconciliation) -> None:
    con.sql("ALTER TABLE patients ADD COLUMN sle VARCHAR DEFAULT 'no'")
    con.sql("ALTER TABLE patients ADD COLUMN aps VARCHAR DEFAULT 'no'")
    con.sql("ALTER TABLE patients ADD COLUMN diagnosis_date DATE")
    if "condition_occurrence" not in present:
        return
    n = _count(con, "SELECT * FROM condition_occurrence")
    rec.read("CONDITION_OCCURRENCE", n)
    if "concept" not in present:
        rec.set_aside("CONDITION_OCCURRENCE", "no CONCEPT table to name conditions", n)
        return
    con.sql("""
        CREATE TABLE named_conditions AS
        SELECT CAST(o.person_id AS VARCHAR) AS patient_id, lower(c.concept_name) AS name,
               CAST(o.condition_start_date AS DATE) AS start_date
        FROM condition_occurrence o LEFT JOIN concept c ON c.concept_id = o.condition_concept_id
    """)
    used = (
        "name LIKE '%lupus erythematosus%' OR name LIKE '%antiphospholipid%' "
        "OR name LIKE '%thrombocytopeni%'"
    )
    con.sql("""UPDATE patients SET sle = 'yes' WHERE patient_id IN
               (SELECT patient_id FROM named_conditions WHERE name LIKE '%lupus erythematosus%')""")
    con.sql("""UPDATE patients SET aps = 'yes' WHERE patient_id IN
               (SELECT patient_id FROM named_conditions WHERE name LIKE '%antiphospholipid%')""")
    con.sql("""UPDATE patients SET diagnosis_date = d.first FROM
               (SELECT patient_id, min(start_date) AS first FROM named_conditions
                WHERE name LIKE '%thrombocytopeni%' GROUP BY 1) d
               WHERE patients.patient_id = d.patient_id""")
    k = _count(con, f"SELECT * FROM named_conditions WHERE {used}")
    rec.imported("CONDITION_OCCURRENCE", "patients (sle, aps, diagnosis_date)", k)
    rec.set_aside("CONDITION_OCCURRENCE", "other conditions", n - k)
