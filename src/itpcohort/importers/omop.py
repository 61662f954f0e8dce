"""OMOP CDM v5.x -> cohort folder, in SQL on DuckDB (no trip through pandas).

Sources: a folder of CSV or Parquet tables (``PERSON.csv`` or ``person.parquet``,
any case), a DuckDB database file (``duckdb:FILE``), or a PostgreSQL database
(``postgresql://user@host/db``; its CDM tables are copied out with COPY first).

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

The statements are written once (DuckDB's SQL) and run on DuckDB, or on Spark
(``engine="spark"``; transpiled with sqlglot) for a registry-sized CDM: the
rows never pass through pandas; the cohort tables are written by the engine.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from itpcohort.cohort.cells import literal
from itpcohort.importers.common import (
    MappingError,
    Reconciliation,
    first_line,
    merge_periods_sql,
)

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
#: the columns the import reads, per CDM table
COLUMNS = {
    "person": ("person_id", "gender_concept_id", "year_of_birth"),
    "observation_period": (
        "person_id",
        "observation_period_start_date",
        "observation_period_end_date",
    ),
    "measurement": (
        "person_id",
        "measurement_concept_id",
        "measurement_date",
        "value_as_number",
        "unit_source_value",
    ),
    "drug_exposure": (
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_end_date",
    ),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "concept": ("concept_id", "concept_name"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}
KNOWN_PLATELET_UNITS = ("10^9/l", "x10^9/l", "10*9/l", "g/l", "10^3/ul", "10*3/ul", "k/ul", "/ul")


class _Duck:
    """Runs the importer's statements on an embedded DuckDB."""

    def __init__(self) -> None:
        self.con = duckdb.connect()

    def view(self, name: str, path: Path | None, attached: str | None = None) -> None:
        if attached:
            self.con.sql(f'CREATE VIEW {name} AS SELECT * FROM src."{attached}"')
        elif path is not None and path.suffix.lower() == ".parquet":
            self.con.sql(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({literal(str(path))})")
        else:
            self.con.sql(
                f"CREATE VIEW {name} AS SELECT * FROM read_csv({literal(str(path))}, "
                "header = true, sample_size = -1)"
            )

    def columns(self, name: str) -> set[str]:
        return {str(row[0]).lower() for row in self.con.sql(f"DESCRIBE {name}").fetchall()}

    def create(self, name: str, select: str) -> None:
        self.con.sql(f"CREATE TABLE {name} AS {select}")

    def rows(self, select: str) -> list[tuple[Any, ...]]:
        return self.con.sql(select).fetchall()

    def write_csv(self, select: str, path: Path) -> None:
        # the relational API takes the path as a value (no SQL text to escape)
        self.con.sql(select).write_csv(str(path))

    def close(self) -> None:
        self.con.close()


class _Spark:
    """The same statements on Spark SQL (sqlglot transpiles DuckDB's dialect).

    Tables are session temporary views (cached), named as in DuckDB; one import
    runs at a time in a process.
    """

    def __init__(self, master: str | None) -> None:
        from itpcohort.engines import spark_session

        self.spark = spark_session(master)

    def _sql(self, text: str) -> str:
        import sqlglot

        return sqlglot.transpile(text, read="duckdb", write="spark")[0]

    def view(self, name: str, path: Path | None, attached: str | None = None) -> None:
        reader = self.spark.read
        frame = (
            reader.parquet(str(path))
            if path is not None and path.suffix.lower() == ".parquet"
            else reader.option("header", True).option("inferSchema", True).csv(str(path))
        )
        frame.createOrReplaceTempView(name)

    def columns(self, name: str) -> set[str]:
        return {c.lower() for c in self.spark.table(name).columns}

    def create(self, name: str, select: str) -> None:
        frame = self.spark.sql(self._sql(select))
        frame.cache().createOrReplaceTempView(name)

    def rows(self, select: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.spark.sql(self._sql(select)).collect()]

    def write_csv(self, select: str, path: Path) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="itpcohort-omop-"))
        frame = self.spark.sql(self._sql(select))
        frame.coalesce(1).write.mode("overwrite").option("header", True).option(
            "dateFormat", "yyyy-MM-dd"
        ).csv(str(tmp / "out"))
        part = next((tmp / "out").glob("part-*.csv"))
        shutil.move(str(part), path)
        shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> None:
        pass


def _open(source: str, engine: str, master: str | None) -> tuple[_Duck | _Spark, set[str]]:
    present: set[str] = set()
    if source.startswith(("postgresql://", "postgres://")):
        source = str(_copy_out_postgres(source))
    if engine not in ("duckdb", "spark"):
        raise MappingError(f"unknown engine '{engine}': use duckdb or spark")
    if source.startswith("duckdb:"):
        if engine == "spark":
            raise MappingError(
                "duckdb:FILE sources run on DuckDB; give Spark a folder of CSV or Parquet tables"
            )
        path = source.removeprefix("duckdb:")
        if not Path(path).exists():
            raise MappingError(f"{source}: no such DuckDB file")
        duck = _Duck()
        duck.con.sql(f"ATTACH {literal(path)} AS src (READ_ONLY)")
        names = {
            r[0].lower(): r[0]
            for r in duck.con.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
            ).fetchall()
        }
        for t in TABLES:
            if t in names:
                duck.view(t, None, attached=names[t])
                present.add(t)
        runner: _Duck | _Spark = duck
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise MappingError(f"{source}: not a folder of CDM tables nor duckdb:FILE")
        files = {
            p.stem.lower(): p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".parquet")
        }
        runner = _Duck() if engine == "duckdb" else _Spark(master)
        for t in TABLES:
            if t in files:
                runner.view(t, files[t])
                present.add(t)
    missing = {"person", "measurement", "drug_exposure"} - present
    if missing:
        raise MappingError(f"{source}: CDM table(s) {', '.join(sorted(missing))} missing")
    _check_columns(runner, present, source)
    return runner, present


def _check_columns(runner: _Duck | _Spark, present: set[str], source: str) -> None:
    """Every column the import reads is there (else the message names table and columns)."""
    for table in sorted(present & set(COLUMNS)):
        try:
            have = runner.columns(table)
        except duckdb.Error as exc:
            raise MappingError(
                f"{source}: CDM table {table} cannot be read ({first_line(exc)})"
            ) from None
        lacking = [c for c in COLUMNS[table] if c not in have]
        if lacking:
            raise MappingError(
                f"{source}: CDM table {table} has no column(s) {', '.join(lacking)} "
                "(OMOP CDM v5.3/v5.4 names)"
            )


def _copy_out_postgres(url: str) -> Path:
    """Copy the CDM tables of a PostgreSQL database out as CSV files (server-side COPY).

    The schema is the connection's search path (``?options=-csearch_path%3Dcdm``
    to choose one). Rows stream from the server to files, never into Python
    objects; the files are then imported like a folder of CSV tables.
    """
    try:
        import psycopg
    except ImportError:
        raise MappingError(
            "PostgreSQL sources need psycopg: pip install 'itpcohort[postgres]'"
        ) from None
    folder = Path(tempfile.mkdtemp(prefix="itpcohort-cdm-"))
    try:
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
            names = {row[0].lower(): row[0] for row in cur.fetchall()}
            for table in TABLES:
                if table not in names:
                    continue
                quoted = '"' + names[table].replace('"', '""') + '"'
                with (
                    (folder / f"{table}.csv").open("wb") as handle,
                    cur.copy(
                        f"COPY (SELECT * FROM {quoted}) TO STDOUT WITH (FORMAT csv, HEADER)"
                    ) as copy,
                ):
                    for chunk in copy:
                        handle.write(chunk)
    except psycopg.Error as exc:
        raise MappingError(f"PostgreSQL CDM: {str(exc).strip()}") from None
    return folder


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _count(db: _Duck | _Spark, select: str) -> int:
    return int(db.rows(f"SELECT count(*) FROM ({select}) AS q")[0][0])


@dataclass(frozen=True)
class _DrugSql:
    """The SQL pieces that name a DRUG_EXPOSURE row's drug and tell its role."""

    name: str  # the drug's name (lower case), or its concept id without CONCEPT
    join: str  # the join to CONCEPT that ``name`` needs, or ""
    is_study: str  # a condition: the row is the study drug
    is_rescue: str  # a condition: the row is a rescue drug
    study_label: str  # the study drug as written in the cohort ("" when none is named)


def _drug_sql(
    present: set[str],
    study_drug: str | None,
    study_drug_concept: int | None,
    rescue_names: tuple[str, ...],
) -> _DrugSql:
    has_concept = "concept" in present
    name = "lower(c.concept_name)" if has_concept else "CAST(d.drug_concept_id AS VARCHAR)"
    join = "LEFT JOIN concept c ON c.concept_id = d.drug_concept_id" if has_concept else ""
    conditions = []
    if study_drug_concept is not None:
        ids = f"({int(study_drug_concept)})"
        if "concept_ancestor" in present:
            ids = (
                "(SELECT descendant_concept_id FROM concept_ancestor WHERE "
                f"ancestor_concept_id = {int(study_drug_concept)})"
            )
        conditions.append(f"d.drug_concept_id IN {ids}")
    if study_drug:
        if not has_concept:
            raise MappingError(
                "a study drug by name needs the CONCEPT table; give its ingredient concept id"
            )
        conditions.append(f"{name} LIKE {_quote('%' + study_drug.lower() + '%')}")
    study_label = (
        study_drug or (f"concept {study_drug_concept}" if study_drug_concept else "")
    ).lower()
    is_rescue = (
        " OR ".join(f"{name} LIKE {_quote('%' + r.lower() + '%')}" for r in rescue_names) or "FALSE"
    )
    return _DrugSql(name, join, " OR ".join(conditions) or "FALSE", is_rescue, study_label)


def _exposures_sql(drug: _DrugSql) -> str:
    return f"""
        SELECT CAST(d.person_id AS VARCHAR) AS patient_id,
               CASE WHEN {drug.is_study} THEN {_quote(drug.study_label)} ELSE {drug.name} END
                   AS drug,
               CASE WHEN {drug.is_study} THEN 'study' WHEN {drug.is_rescue} THEN 'rescue'
                    ELSE 'concomitant' END AS role,
               CAST(d.drug_exposure_start_date AS DATE) AS start_date,
               CAST(coalesce(d.drug_exposure_end_date, d.drug_exposure_start_date) AS DATE)
                   AS end_date
        FROM drug_exposure d {drug.join} """


def _import_treatments(db: _Duck | _Spark, drug: _DrugSql, rec: Reconciliation) -> None:
    """DRUG_EXPOSURE -> the ``treatments`` table (periods merged), counted."""
    db.create("exposures", _exposures_sql(drug))
    rec.read("DRUG_EXPOSURE", _count(db, "SELECT * FROM drug_exposure "))
    if drug.study_label and not _count(db, "SELECT * FROM exposures WHERE role = 'study'"):
        raise MappingError(f"study drug '{drug.study_label}': no DRUG_EXPOSURE row matches it")
    bad = "start_date IS NULL OR drug IS NULL OR end_date < start_date"
    rec.set_aside(
        "DRUG_EXPOSURE",
        "no start date, no drug, or end before start",
        _count(db, f"SELECT * FROM exposures WHERE {bad}"),
    )
    db.create("treatments", merge_periods_sql(f"SELECT * FROM exposures WHERE NOT ({bad})"))
    for role, periods, rows in db.rows(
        "SELECT role, count(*), sum(rows_in) FROM treatments GROUP BY role ORDER BY role"
    ):
        rec.imported("DRUG_EXPOSURE", f"treatments ({role})", int(periods))
        rec.set_aside(
            "DRUG_EXPOSURE",
            "merged into an overlapping exposure of the same drug",
            int(rows - periods),
        )


def _patients_sql(present: set[str], flags: str, study_label: str) -> str:
    """PERSON with first study exposure, observation period and condition flags."""
    obs = (
        "(SELECT person_id, CAST(min(observation_period_start_date) AS DATE) AS obs_start, "
        "CAST(max(observation_period_end_date) AS DATE) AS obs_end "
        "FROM observation_period GROUP BY person_id)"
        if "observation_period" in present
        else "(SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS DATE) AS obs_start, "
        "CAST(NULL AS DATE) AS obs_end)"
    )
    excluded = (
        f"CASE WHEN f.first_study IS NULL THEN {_quote('no exposure to ' + study_label)}"
        " ELSE '' END"
        if study_label
        else "''"
    )
    return f"""
        SELECT CAST(p.person_id AS VARCHAR) AS patient_id,
               CAST(coalesce(f.first_study, o.obs_start,
                    make_date(CAST(p.year_of_birth AS INTEGER), 1, 1)) AS DATE)
                   AS enrollment_date,
               {excluded} AS excluded,
               CASE p.gender_concept_id WHEN 8507 THEN 'M' WHEN 8532 THEN 'F' ELSE '' END AS sex,
               year(coalesce(f.first_study, o.obs_start)) - p.year_of_birth AS age,
               coalesce(k.sle, 'no') AS sle, coalesce(k.aps, 'no') AS aps,
               k.diagnosis_date, o.obs_end AS followup_end_date
        FROM person p LEFT JOIN {obs} o ON o.person_id = p.person_id
        LEFT JOIN (SELECT patient_id, min(start_date) AS first_study FROM treatments
                   WHERE role = 'study' GROUP BY patient_id) f
               ON f.patient_id = CAST(p.person_id AS VARCHAR)
        LEFT JOIN {flags} k ON k.patient_id = CAST(p.person_id AS VARCHAR) """


def _import_patients(
    db: _Duck | _Spark, present: set[str], flags: str, study_label: str, rec: Reconciliation
) -> None:
    """PERSON (and OBSERVATION_PERIOD) -> the ``patients`` table, counted."""
    db.create("patients", _patients_sql(present, flags, study_label))
    n_person = _count(db, "SELECT * FROM person ")
    rec.read("PERSON", n_person)
    rec.imported("PERSON", "patients", n_person)
    if "observation_period" in present:
        n = _count(db, "SELECT * FROM observation_period ")
        rec.read("OBSERVATION_PERIOD", n)
        rec.imported("OBSERVATION_PERIOD", "patients (enrolment, follow-up end)", n)


def _labs_sql(concepts: str) -> str:
    units = ", ".join(_quote(u) for u in KNOWN_PLATELET_UNITS)
    unit_key = "regexp_replace(lower(replace(trim(m.unit_source_value), ' ', '')), '^x', '')"
    return f"""
        SELECT CAST(m.person_id AS VARCHAR) AS patient_id,
               CAST(m.measurement_date AS DATE) AS date, 'platelets' AS test,
               CAST(m.value_as_number AS DOUBLE) AS value, trim(m.unit_source_value) AS unit
        FROM measurement m
        WHERE m.measurement_concept_id IN ({concepts}) AND m.value_as_number IS NOT NULL
          AND m.measurement_date IS NOT NULL AND {unit_key} IN ({units}) """


def _import_labs(
    db: _Duck | _Spark, platelet_concepts: tuple[int, ...], rec: Reconciliation
) -> None:
    """MEASUREMENT platelet rows with a value, date and known unit -> ``labs``, counted."""
    concepts = ", ".join(str(int(c)) for c in platelet_concepts)
    db.create("labs", _labs_sql(concepts))
    rec.read("MEASUREMENT", _count(db, "SELECT * FROM measurement "))
    platelet_rows = _count(
        db, f"SELECT * FROM measurement m WHERE measurement_concept_id IN ({concepts})"
    )
    imported = _count(db, "SELECT * FROM labs ")
    rec.imported("MEASUREMENT", "labs (platelets)", imported)
    rec.set_aside(
        "MEASUREMENT", "platelet row without value, date or a known unit", platelet_rows - imported
    )
    rec.set_aside(
        "MEASUREMENT", "not a platelet concept", rec.source("MEASUREMENT").read - platelet_rows
    )


def _count_unused(db: _Duck | _Spark, present: set[str], rec: Reconciliation) -> None:
    """CONCEPT, CONCEPT_ANCESTOR and DEATH rows: read, and set aside as such."""
    for t in ("concept", "concept_ancestor", "death"):
        if t in present:
            n = _count(db, f"SELECT * FROM {t} ")
            rec.read(t.upper(), n)
            rec.set_aside(
                t.upper(), "vocabulary (read for names only)" if t != "death" else "not used", n
            )


OUTPUT_COLUMNS = {
    "patients": "patient_id, enrollment_date, excluded, sex, age, sle, aps, "
    "diagnosis_date, followup_end_date",
    "treatments": "patient_id, drug, role, start_date, end_date, phase, daily_dose_mg, stop_reason",
    "labs": "patient_id, date, test, value, unit",
}


def import_omop(
    source: str | Path,
    output: str | Path,
    *,
    study_drug: str | None = None,
    study_drug_concept: int | None = None,
    platelet_concepts: tuple[int, ...] = PLATELET_CONCEPTS,
    rescue_names: tuple[str, ...] = RESCUE_NAMES,
    engine: str = "duckdb",
    master: str | None = None,
) -> Reconciliation:
    """Turn an OMOP CDM into a cohort folder on DuckDB or Spark; returns the reconciliation."""
    db, present = _open(str(source), engine, master)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rec = Reconciliation()
    drug = _drug_sql(present, study_drug, study_drug_concept, rescue_names)
    try:
        _import_treatments(db, drug, rec)
        flags = _conditions(db, present, rec)
        _import_patients(db, present, flags, drug.study_label, rec)
        _import_labs(db, platelet_concepts, rec)
        _count_unused(db, present, rec)
        for t, cols in OUTPUT_COLUMNS.items():
            db.write_csv(f"SELECT {cols} FROM {t} ORDER BY {cols}", out / f"{t}.csv")
    except duckdb.Error as exc:  # a value of the wrong type, an unreadable CSV line
        raise MappingError(
            f"{source}: the CDM tables cannot be imported ({first_line(exc)})"
        ) from None
    rec.write(out)
    db.close()
    return rec


def _conditions(db: _Duck | _Spark, present: set[str], rec: Reconciliation) -> str:
    """A per-patient table of sle, aps and diagnosis_date from named conditions (SQL)."""
    empty = (
        "(SELECT CAST(NULL AS VARCHAR) AS patient_id, CAST(NULL AS VARCHAR) AS sle, "
        "CAST(NULL AS VARCHAR) AS aps, CAST(NULL AS DATE) AS diagnosis_date)"
    )
    if "condition_occurrence" not in present:
        return empty
    n = _count(db, "SELECT * FROM condition_occurrence ")
    rec.read("CONDITION_OCCURRENCE", n)
    if "concept" not in present:
        rec.set_aside("CONDITION_OCCURRENCE", "no CONCEPT table to name conditions", n)
        return empty
    db.create(
        "named_conditions",
        """
        SELECT CAST(o.person_id AS VARCHAR) AS patient_id, lower(c.concept_name) AS name,
               CAST(o.condition_start_date AS DATE) AS start_date
        FROM condition_occurrence o LEFT JOIN concept c ON c.concept_id = o.condition_concept_id
    """,
    )
    sle, aps, itp = (
        "name LIKE '%lupus erythematosus%'",
        "name LIKE '%antiphospholipid%'",
        "name LIKE '%thrombocytopeni%'",
    )
    used = _count(db, f"SELECT * FROM named_conditions WHERE {sle} OR {aps} OR {itp}")
    rec.imported("CONDITION_OCCURRENCE", "patients (sle, aps, diagnosis_date)", used)
    rec.set_aside("CONDITION_OCCURRENCE", "other conditions", n - used)
    return (
        f"(SELECT patient_id, CASE WHEN max(CASE WHEN {sle} THEN 1 ELSE 0 END) = 1 "
        "THEN 'yes' ELSE 'no' END AS sle, "
        f"CASE WHEN max(CASE WHEN {aps} THEN 1 ELSE 0 END) = 1 THEN 'yes' ELSE 'no' END "
        f"AS aps, min(CASE WHEN {itp} THEN start_date END) AS diagnosis_date "
        "FROM named_conditions GROUP BY patient_id)"
    )
