"""Reading and validating a cohort folder (``shared/spec/cohort-format.md``).

Every table is loaded into an embedded DuckDB database, typed column by column,
and checked; every problem is collected (never only the first) with its file,
line and column. The clean tables (``patients``, ``treatments``, ``labs``,
``bleeding``, ``adverse_events``) stay in that database for the engines.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from itpcohort.cohort import units
from itpcohort.cohort.cells import (
    literal,
    quote,
    raw_text,
    shown,
    typed_expr,
    unparseable_message,
)
from itpcohort.cohort.database import open_database, query_fraction
from itpcohort.cohort.problems import (
    KIND_PATTERN,
    MAX_PER_KIND,
    Problem,
    TableSummary,
    ValidationReport,
    cap_repeats,
    clip,
    escape,
    kind_of,
    more_like,
)
from itpcohort.cohort.progress import SILENT, Progress
from itpcohort.cohort.schema import EARLIEST_PLAUSIBLE_DATE, TABLES, ColumnSpec, TableSpec
from itpcohort.cohort.sources import Source, find_table_file, load_source
from itpcohort.errors import CohortDataError

SET_ASIDE_ERROR = "has an error (see problems)"
SET_ASIDE_EXCLUDED = "patient excluded (screened, not enrolled)"
SET_ASIDE_NO_PATIENTS = "patients table missing or unusable (see problems)"
#: columns the reader adds: the source line, the engines' integer key, and (patients)
#: whether the patient is enrolled (see :data:`EXCLUDED_SQL`)
INTERNAL_COLUMNS = ("_line", "_pid", "_enrolled")


@dataclass
class Cohort:
    """A validated cohort: clean typed tables in an embedded DuckDB database.

    Use the table properties (pandas DataFrames) to look at the data, and
    :func:`itpcohort.evaluate` to derive response endpoints.
    """

    folder: Path
    con: duckdb.DuckDBPyConnection
    report: ValidationReport
    #: extra columns of ``patients`` (kept as covariates to group by)
    covariates: tuple[str, ...]
    #: distinct drugs with role ``study``
    study_drugs: tuple[str, ...]
    #: the temporary folder holding the database file (removed on closing)
    storage: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def table(self, name: str) -> pd.DataFrame:
        """One clean table as a pandas DataFrame (``_line`` is the source line).

        The internal integer key ``_pid`` (the engines' join key) is left out;
        ``patients`` has ``_enrolled`` (True unless ``excluded`` holds a reason).
        """
        return self.con.sql(f"SELECT * EXCLUDE (_pid) FROM {quote(name)} ORDER BY ALL").df()

    @property
    def patients(self) -> pd.DataFrame:
        return self.table("patients")

    @property
    def treatments(self) -> pd.DataFrame:
        return self.table("treatments")

    @property
    def labs(self) -> pd.DataFrame:
        return self.table("labs")

    @property
    def bleeding(self) -> pd.DataFrame:
        return self.table("bleeding")

    @property
    def adverse_events(self) -> pd.DataFrame:
        return self.table("adverse_events")

    def patient_status(self, patient_id: str) -> str | None:
        """``None`` when ``patient_id`` is not in patients, ``"enrolled"`` when the
        patient is enrolled, otherwise the exclusion reason (the ``excluded`` text).
        """
        row = self.con.execute(
            "SELECT _enrolled, TRIM(excluded) FROM patients WHERE patient_id = ?",
            [patient_id],
        ).fetchone()
        if row is None:
            return None
        enrolled, reason = row
        return "enrolled" if enrolled else str(reason)

    def close(self) -> None:
        """Close the DuckDB database (its tables are gone afterwards); closing twice is fine."""
        self.con.close()
        if self.storage is not None:
            self.storage.cleanup()

    def __enter__(self) -> Cohort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_cohort(
    folder: str | Path, *, memory_limit: str | None = None, progress: Progress | None = None
) -> Cohort:
    """Read and validate a cohort folder; raise :class:`CohortDataError` on any error.

    Warnings do not stop reading; they are in ``cohort.report.warnings``.
    ``memory_limit`` (e.g. ``"3GB"``) caps DuckDB's memory; beyond it DuckDB
    spills to a temporary folder. By default the limit is derived from the
    machine (:func:`itpcohort.cohort.database.default_memory_limit`). ``progress``
    hears of each file read and each table validated (:mod:`itpcohort.cohort.progress`).
    """
    report, cohort = validate_cohort(folder, memory_limit=memory_limit, progress=progress)
    if cohort is None:
        errors = report.errors
        raise CohortDataError(
            f"{folder}: {len(errors)} error(s) in the cohort folder; first: {errors[0]}",
            report.problems,
        )
    return cohort


def validate_cohort(
    folder: str | Path, *, memory_limit: str | None = None, progress: Progress | None = None
) -> tuple[ValidationReport, Cohort | None]:
    """Check a cohort folder; the report lists every problem, the cohort is None on errors."""
    path = Path(folder)
    if not path.is_dir():
        problem = Problem(str(path), None, None, "no such folder: give the cohort folder's path")
        return ValidationReport(str(path), [problem], []), None
    try:
        sorted(path.iterdir())
    except OSError as exc:
        problem = Problem(str(path), None, None, f"cannot list the folder ({exc.strerror})")
        return ValidationReport(str(path), [problem], []), None
    con, storage = open_database(memory_limit)
    shown = progress or SILENT
    shown.watch(lambda: query_fraction(con))
    sources, problems = _load_sources(con, path, shown)
    checker = _Checker(con, problems)
    summaries = []
    for spec in TABLES:
        shown.stage("validating", spec.name)
        summaries.append(checker.type_table(spec, sources[spec.name]))
        shown.done(summaries[-1].read)
    shown.stage("validating", "across tables")
    try:
        checker.cross_checks(summaries)
    except duckdb.Error as exc:  # a safety net, like the one for each table
        problems.append(Problem(str(path), None, None, f"cannot finish the checks: {exc}"))
    shown.watch(None)
    listed = cap_repeats(problems)
    report = ValidationReport(str(path), sorted(listed, key=_problem_order), summaries)
    if not report.ok:
        con.close()
        storage.cleanup()
        return report, None
    covariates = tuple(
        c
        for c in con.sql("SELECT * FROM patients LIMIT 0").columns
        if c not in {s.name for s in TABLES[0].columns} and c not in INTERNAL_COLUMNS
    )
    drugs = tuple(
        r[0]
        for r in con.sql(
            "SELECT DISTINCT drug FROM treatments WHERE role = 'study' ORDER BY drug"
        ).fetchall()
    )
    return report, Cohort(path, con, report, covariates, drugs, storage)


def _load_sources(
    con: duckdb.DuckDBPyConnection, path: Path, progress: Progress
) -> tuple[dict[str, Source | None], list[Problem]]:
    """Each table's file loaded as it is (None when absent or unreadable), and problems."""
    problems: list[Problem] = []
    sources: dict[str, Source | None] = {}
    for spec in TABLES:
        file, found = find_table_file(path, spec.name, spec.required)
        problems += found
        sources[spec.name] = None
        if file is None:
            if spec.required and not found:
                problems.append(
                    Problem(
                        f"{spec.name}.csv",
                        None,
                        None,
                        f"required table '{spec.name}' is missing: add {spec.name}.csv, "
                        f".parquet or .xlsx to {path}",
                    )
                )
            continue
        progress.stage("reading", file.name)
        try:
            source = load_source(con, file, spec.name)
        except (duckdb.Error, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            problems.append(Problem(file.name, None, None, f"cannot read the file: {why}"))
            continue
        problems += source.problems
        sources[spec.name] = source
    return sources, problems


def _problem_order(p: Problem) -> tuple[int, str, int, str]:
    order = [t.name for t in TABLES]
    stem = p.file.rsplit(".", 1)[0]
    return (order.index(stem) if stem in order else len(order), p.file, p.line or 0, p.column or "")


class _Checker:
    """Types each table and runs the format's checks, collecting problems."""

    def __init__(self, con: duckdb.DuckDBPyConnection, problems: list[Problem]) -> None:
        self.con = con
        self.problems = problems
        self.files: dict[str, str] = {}
        self.usable: dict[str, bool] = {}
        #: columns of each table that the format does not list (kept as they are)
        self.extras: dict[str, list[str]] = {}

    # -- collecting ---------------------------------------------------------
    def collect(
        self, table: str, sql: str, severity: str = "error", *, row_local: bool = False
    ) -> int:
        """Run ``sql`` (rows: _line, column, message); list them; return how many.

        At most :data:`MAX_PER_KIND` of one kind (column, message with its values
        blanked) are listed, and one more problem says how many others there are.
        Rows with an error are set aside: ``row_local`` errors are those in the
        typed table's ``_errors``; others are remembered in ``bad_lines``.
        """
        file = self.files[table]
        con = self.con
        con.sql(
            "CREATE OR REPLACE TEMP TABLE found AS SELECT _line, col, msg, "
            f"regexp_replace(msg, {literal(KIND_PATTERN)}, '?', 'g') AS kind "
            f"FROM ({sql}) q(_line, col, msg)"
        )
        total = int(con.sql("SELECT count(*) FROM found").fetchall()[0][0])
        if not total:
            return 0
        rows = con.sql(
            "SELECT _line, col, msg, n FROM (SELECT *, row_number() OVER (PARTITION BY col, "
            "kind ORDER BY _line NULLS FIRST, msg) AS rn, count(*) OVER (PARTITION BY col, "
            f"kind) AS n FROM found) WHERE rn <= {MAX_PER_KIND} ORDER BY _line NULLS FIRST, "
            "col, rn"
        ).fetchall()
        last: dict[tuple[str, str], tuple[Problem, int]] = {}
        for line, column, message, n in rows:
            problem = Problem(file, line, column, message, severity)  # type: ignore[arg-type]
            self.problems.append(problem)
            last[(column, kind_of(message))] = (problem, n)
        for problem, n in last.values():
            if n > MAX_PER_KIND:
                self.problems.append(more_like(problem, n - MAX_PER_KIND))
        if severity == "error" and not row_local:
            con.sql(
                f"INSERT INTO bad_lines SELECT DISTINCT '{table}', _line FROM found "
                "WHERE _line IS NOT NULL"
            )
        return total

    # -- one table ----------------------------------------------------------
    def type_table(self, spec: TableSpec, source: Source | None) -> TableSummary:
        """Type one table (patients first: the others are keyed on it)."""
        try:
            summary = self._type_table(spec, source)
        except duckdb.Error as exc:  # a safety net: a type DuckDB cannot handle, say
            self.problems.append(
                Problem(self.files[spec.name], None, None, f"cannot check this table: {exc}")
            )
            self.usable[spec.name] = False
            self._create_empty(spec)
            summary = _read_summary(self.con, spec, source)
            unchecked = summary.read - summary.set_aside.total()
            if unchecked:
                summary.set_aside["table cannot be checked (see problems)"] += unchecked
        if spec.name == "patients":
            self._patient_keys()
        return summary

    def _type_table(self, spec: TableSpec, source: Source | None) -> TableSummary:
        self.con.sql("CREATE TEMP TABLE IF NOT EXISTS bad_lines (tbl VARCHAR, _line BIGINT)")
        self.files[spec.name] = source.path.name if source else f"{spec.name}.csv"
        summary = _read_summary(self.con, spec, source)
        self.usable[spec.name] = source is not None and self._has_required_columns(
            spec, source, summary
        )
        if source is None or not self.usable[spec.name]:
            self._create_empty(spec)
            return summary
        typed = self._typed_sql(spec, source)
        if spec.name != "patients":
            typed = self._keyed(spec, typed, source)
        self._materialise(spec, typed)
        return summary

    def _has_required_columns(self, spec: TableSpec, source: Source, summary: TableSummary) -> bool:
        """Whether the columns of ``source`` can be checked; reports missing required ones."""
        if not source.readable:  # already reported; its columns cannot be checked
            return False
        missing = [c.name for c in spec.columns if c.required and c.name not in source.columns]
        for name in missing:
            self.problems.append(
                Problem(
                    source.path.name,
                    1 if source.path.suffix.lower() != ".parquet" else None,
                    name,
                    f"required column '{name}' is missing: add it to the header",
                )
            )
        rows = summary.read - source.unreadable_rows
        if missing and rows:
            summary.set_aside["required column missing"] += rows
        return not missing

    def _typed_sql(self, spec: TableSpec, source: Source) -> str:
        """SQL typing each column of ``source``, with each row's errors and warnings as lists."""
        select = ["_line"]
        checks: list[tuple[str, str, str, str]] = []  # (column, condition, message, severity)
        for col in spec.columns:
            if col.name not in source.columns:
                select.append(f"CAST(NULL AS {_sql_type(col.kind)}) AS {quote(col.name)}")
                continue
            expr, can_fail = typed_expr(col, source.columns[col.name], source.zones.get(col.name))
            select.append(f"{expr} AS {quote(col.name)}")
            checks += _cell_checks(col, expr, can_fail, source.columns[col.name])
        # columns the format does not list are kept as they are, in every table
        self.extras[spec.name] = [
            c for c in source.columns if c not in {s.name for s in spec.columns}
        ]
        select += [quote(c) for c in self.extras[spec.name]]
        for severity in ("error", "warning"):
            select.append(f"{_issues_sql([c for c in checks if c[3] == severity])} AS _{severity}s")
        return f"SELECT {', '.join(select)} FROM {source.relation}"

    def _materialise(self, spec: TableSpec, typed: str) -> None:
        """Run ``typed`` once into ``typed_<table>``; list its problems only when flagged.

        One pass over the source: typed values, the patient key and whether the row
        has problems; the clean tables are views of this one table. The problems
        themselves (file, line, column, message) are listed in a second pass only
        when there are some, so that a clean million-patient cohort is read once.
        """
        con = self.con
        dropped = ["_errors", "_warnings", *_NOT_KEPT.get(spec.name, ())]
        con.sql(
            f"CREATE OR REPLACE TABLE typed_{spec.name} AS SELECT * "
            f"EXCLUDE ({', '.join(dropped)}), _errors IS NOT NULL AS _bad, "
            f"_warnings IS NOT NULL AS _warned FROM ({typed})"
        )
        flagged = con.sql(
            f"SELECT count(*) FILTER (_bad OR _warned) FROM typed_{spec.name}"
        ).fetchall()[0][0]
        if not flagged:
            return
        con.sql(
            f"CREATE OR REPLACE TEMP TABLE issues_{spec.name} AS SELECT _line, _errors, "
            f"_warnings FROM ({typed}) WHERE _errors IS NOT NULL OR _warnings IS NOT NULL"
        )
        for severity in ("error", "warning"):
            self.collect(
                spec.name,
                f"SELECT _line, p.col, p.msg FROM (SELECT _line, unnest(_{severity}s) AS p "
                f"FROM issues_{spec.name} WHERE _{severity}s IS NOT NULL) "
                "WHERE p IS NOT NULL",
                severity,
                row_local=True,
            )

    def _keyed(self, spec: TableSpec, typed: str, source: Source) -> str:
        """``typed`` with the patient's key ``_pid`` and ``_excluded`` flag joined on.

        A row whose patient is not in ``patients`` gets an error; labs rows also get
        their unit resolved (value in the canonical unit; an unknown unit is an error).
        """
        # without a usable patients table, that table's own problem says it all, once
        errors = _with_issue(
            "t._errors",
            f"t.patient_id IS NOT NULL AND p._pid IS NULL AND {self.usable['patients']}",
            "patient_id",
            f"'patient ''' || {shown('t.patient_id')} || ''' is not in patients: add the "
            f"patient or fix the ID' || {self._id_hint()}",
        )
        select = [
            "p._pid",
            "coalesce(p.is_excluded, FALSE) AS _excluded",
            "p.enrollment_date AS _enrolled",
        ]
        joins = "LEFT JOIN patients_ok p ON p.patient_id = t.patient_id"
        replaced = ["_errors"]
        if spec.name == "labs":
            self._lab_units(source)
            errors = _with_issue(
                errors,
                "u.known_test AND u.factor IS NULL",
                "unit",
                f"'unknown unit ''' || {shown('t.unit')} || ''' for ' || u.test || "
                "': use one of ' || u.allowed",
            )
            # known tests in their canonical unit; unknown tests kept as they came. The
            # test and unit are kept as the key _unit of their lab_units row (not as text
            # on every row: a million patients' labs stay small)
            select += [
                "CASE WHEN u.known_test THEN t.value * u.factor ELSE t.value END AS value",
                "u._unit",
            ]
            joins += " LEFT JOIN lab_units u ON u.test_raw = t.test AND u.unit_raw = t.unit"
            replaced += ["value"]
        return (
            f"SELECT t.* EXCLUDE ({', '.join(replaced)}), {', '.join(select)}, "
            f"{errors} AS _errors FROM ({typed}) t {joins}"
        )

    def _id_hint(self) -> str:
        """SQL: a hint for an ID not in patients when one side writes IDs like ``4.0``."""
        decimal_id = self.con.sql(
            "SELECT min(patient_id) FROM patients_ok "
            f"WHERE regexp_full_match(patient_id, {literal(_DECIMAL_ID)})"
        ).fetchall()[0][0]
        reverse = (
            literal(
                f" (patients writes IDs as decimal numbers, e.g. '{clip(decimal_id, 20)}': "
                "write IDs the same way, as text, in every table)"
            )
            if decimal_id is not None
            else "''"
        )
        return (
            f"CASE WHEN regexp_full_match(t.patient_id, {literal(_DECIMAL_ID)}) THEN "
            "' (written as a decimal number: patients may have it as ''' || "
            f"regexp_replace(t.patient_id, {literal(_DECIMAL_SUFFIX)}, '') || '''; write IDs the "
            "same way, as text, in every table)' "
            f"WHEN regexp_full_match(t.patient_id, '[+-]?[0-9]+') THEN {reverse} ELSE '' END"
        )

    def _patient_keys(self) -> None:
        """One row per patient ID with an integer key ``_pid`` in ``patient_id`` order.

        The first row counts if an ID repeats; the engines join and sort on ``_pid``
        instead of on text.
        """
        self.con.sql(
            "CREATE OR REPLACE TEMP TABLE patients_ok AS SELECT patient_id, "
            "CAST(row_number() OVER (ORDER BY patient_id) AS BIGINT) AS _pid, "
            "arg_min(enrollment_date, _line) AS enrollment_date, "
            f"arg_min({EXCLUDED_SQL}, _line) AS is_excluded "
            "FROM typed_patients WHERE patient_id IS NOT NULL GROUP BY patient_id"
        )

    def _create_empty(self, spec: TableSpec) -> None:
        not_kept = _NOT_KEPT.get(spec.name, ())
        cols = ", ".join(
            f"{quote(c.name)} {_sql_type(c.kind)}" for c in spec.columns if c.name not in not_kept
        )
        keys = "" if spec.name == "patients" else ", _pid BIGINT, _excluded BOOLEAN, _enrolled DATE"
        if spec.name == "labs":
            keys += ", _unit INTEGER"
            self.con.sql(
                "CREATE TABLE IF NOT EXISTS lab_units (_unit INTEGER, test VARCHAR, unit VARCHAR)"
            )
        self.con.sql(
            f"CREATE OR REPLACE TABLE typed_{spec.name} (_line BIGINT, {cols}{keys}, "
            "_bad BOOLEAN, _warned BOOLEAN)"
        )

    # -- across tables ------------------------------------------------------
    def cross_checks(self, summaries: list[TableSummary]) -> None:
        by_name = {s.table: s for s in summaries}
        if self.usable["patients"]:
            self.collect(
                "patients",
                f"SELECT _line, 'patient_id', 'duplicate patient_id ''' || {shown('patient_id')} "
                "|| ''' (first on line ' || first_line || '): IDs must be unique' FROM ("
                "SELECT _line, patient_id, min(_line) OVER (PARTITION BY patient_id) AS first_line "
                "FROM typed_patients WHERE patient_id IS NOT NULL) WHERE _line > first_line",
            )
            self.collect(
                "patients",
                "SELECT _line, 'followup_end_date', 'followup_end_date ' || followup_end_date || "
                "' is before enrollment_date ' || enrollment_date FROM typed_patients "
                "WHERE followup_end_date < enrollment_date",
            )
        if self.usable["treatments"]:
            self._treatment_checks()
        if self.usable["adverse_events"]:
            self.collect(
                "adverse_events",
                "SELECT _line, 'end_date', 'end_date ' || end_date || ' is before onset_date ' "
                "|| onset_date FROM typed_adverse_events WHERE end_date < onset_date",
            )
        self._build_clean_tables(by_name)
        if self.usable["treatments"]:
            self._study_drug_warnings()
        if self.usable["labs"]:
            self._lab_warnings(by_name["labs"])

    def _treatment_checks(self) -> None:
        self.collect(
            "treatments",
            "SELECT _line, 'end_date', 'end_date ' || end_date || ' is before start_date ' "
            "|| start_date FROM typed_treatments WHERE end_date < start_date",
        )
        self.collect(
            "treatments",
            f"SELECT _line, 'start_date', 'this period of ' || {shown('drug')} || ' starts ' "
            "|| start_date || ', before the earlier period (line ' || prev_line || ') ends' || "
            "coalesce(' on ' || prev_end, ' (ongoing)') || ': periods of one drug must not "
            "overlap' FROM (SELECT _line, drug, start_date, "
            # every earlier period counts, not only the one just before: the one that ends
            # last is the one a period overlaps (A Jan-Dec, B Feb, C Mar: B and C both)
            "arg_max(_line, coalesce(end_date, DATE '9999-12-31')) OVER w AS prev_line, "
            "max(coalesce(end_date, DATE '9999-12-31')) OVER w AS prev_last, "
            "CASE WHEN max(coalesce(end_date, DATE '9999-12-31')) OVER w < DATE '9999-12-31' "
            "THEN max(end_date) OVER w END AS prev_end "
            "FROM typed_treatments WHERE patient_id IS NOT NULL AND start_date IS NOT NULL "
            "WINDOW w AS (PARTITION BY patient_id, lower(drug) ORDER BY start_date, _line "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) "
            "WHERE start_date <= prev_last",
        )
        self.collect(
            "patients",
            f"SELECT p._line, 'patient_id', 'enrolled patient ''' || {shown('p.patient_id')} || "
            "''' has no study drug in treatments' FROM typed_patients p "
            f"WHERE p.patient_id IS NOT NULL AND NOT ({EXCLUDED_SQL}) "
            "AND NOT EXISTS "
            "(SELECT 1 FROM typed_treatments t WHERE t.patient_id = p.patient_id "
            "AND coalesce(lower(t.role), 'study') = 'study')",
            severity="warning",
        )

    def _study_drug_warnings(self) -> None:
        """A warning for each study drug after the first (by line): evaluate needs one."""
        drugs = self.con.sql(
            "SELECT drug, count(*), list(_line ORDER BY _line)[1:5] AS lines FROM treatments "
            "WHERE role = 'study' GROUP BY drug ORDER BY min(_line)"
        ).fetchall()
        if len(drugs) < 2:
            return
        first, _, first_lines = drugs[0]
        for drug, n, lines in drugs[1:]:
            self.problems.append(
                Problem(
                    self.files["treatments"],
                    lines[0],
                    "drug",
                    f"a second study drug: '{clip(drug)}' on {_lines(lines, n)}, besides "
                    f"'{clip(first)}' (from line {first_lines[0]}): evaluate needs one study "
                    "drug; name the one to evaluate, or give the other drug's rows the role "
                    "concomitant or rescue",
                    "warning",
                )
            )

    def _lab_units(self, source: Source) -> None:
        """Each distinct (test, unit) pair of the source, resolved once (not once per row)."""
        con = self.con
        rows = units.conversion_rows()
        values = ", ".join(f"('{t}', '{u}', {f}, '{c}')" for t, u, f, c in rows)
        con.sql(
            "CREATE OR REPLACE TEMP TABLE unit_table (test VARCHAR, unit_key VARCHAR, "
            f"factor DOUBLE, canonical VARCHAR); INSERT INTO unit_table VALUES {values}"
        )
        known = ", ".join(f"'{t}'" for t in units.TESTS)
        con.sql(
            "CREATE OR REPLACE TABLE lab_units AS SELECT CAST(row_number() OVER () AS INTEGER) "
            "AS _unit, d.test AS test_raw, d.unit AS unit_raw, lower(d.test) AS test, "
            f"lower(d.test) IN ({known}) AS known_test, u.factor, u.canonical, "
            "CASE WHEN lower(d.test) IN "
            f"({known}) THEN u.canonical ELSE d.unit END AS unit, (SELECT string_agg(DISTINCT "
            "k.unit_key, ', ' ORDER BY k.unit_key) FROM unit_table k WHERE k.test = "
            "lower(d.test)) AS allowed FROM (SELECT DISTINCT "
            f"{raw_text('test')} AS test, {raw_text('unit')} AS unit FROM {source.relation}) d "
            f"LEFT JOIN unit_table u ON u.test = lower(d.test) AND u.unit_key = "
            f"{_unit_key_sql('d.unit')} WHERE d.test IS NOT NULL AND d.unit IS NOT NULL"
        )

    def _lab_warnings(self, summary: TableSummary) -> None:
        """Warnings on the clean labs: a count above 2000, a date long before enrolment,
        no platelet counts at all, a test named like platelets that is not ``platelets``.
        """
        self.collect(
            "labs",
            "SELECT _line, 'value', 'platelet count ' || value || ' x10^9/L is above 2000: "
            "check the value and its unit' FROM labs WHERE test = 'platelets' AND value > 2000",
            severity="warning",
        )
        self.collect(
            "labs",
            "SELECT l._line, 'date', 'measurement on ' || l.date || ' is more than a year "
            "before enrolment (' || l._enrolled || '): check the date' "
            f"FROM {self._kept_rows('labs')} l WHERE NOT l._excluded "
            "AND l.date < l._enrolled - INTERVAL 1 YEAR",
            severity="warning",
        )
        like = (
            "SELECT * FROM lab_units WHERE NOT known_test AND regexp_matches("
            f"regexp_replace(test, '[^a-z]', '', 'g'), {literal(_PLATELET_LIKE)})"
        )
        if self.con.sql(f"SELECT count(*) FROM ({like})").fetchall()[0][0]:
            self.collect(
                "labs",
                "SELECT min(t._line), 'test', 'test ''' || "
                f"{shown('u.test_raw')} || ''' (' || count(*) || CASE WHEN count(*) = 1 "
                "THEN ' row' ELSE ' rows' END || ') is not a known test name "
                "(kept, not used): if it is the platelet count, write it as ''platelets''' "
                f"FROM typed_labs t JOIN ({like}) u USING (_unit) GROUP BY u.test_raw",
                severity="warning",
            )
        # any platelet row, even one with an error (its error says what to fix)
        if not self.con.sql(
            "SELECT 1 FROM typed_labs JOIN lab_units u USING (_unit) "
            "WHERE u.test = 'platelets' LIMIT 1"
        ).fetchall():
            what = "has no rows" if summary.read == 0 else "has no platelet counts"
            self.problems.append(
                Problem(
                    self.files["labs"],
                    None,
                    "test",
                    f"labs {what} (test 'platelets'): every enrolled patient will be NE "
                    "(not evaluable)",
                    "warning",
                )
            )

    def _build_clean_tables(self, by_name: dict[str, TableSummary]) -> None:
        """The clean tables: views of the typed rows without errors, of enrolled patients.

        ``patients`` keeps every row without errors (excluded patients feed the
        flow counts); the other tables keep the rows of enrolled patients. Views,
        not copies: a million patients' labs are not held twice. Columns the
        format does not list are kept, after the format's columns.
        """
        con = self.con
        kept = {table: self._kept_rows(table) for table in by_name}
        extra = {
            table: "".join(f", t.{quote(c)}" for c in self.extras.get(table, []))
            for table in by_name
        }
        con.sql(
            "CREATE OR REPLACE VIEW patients AS SELECT p._pid, t.* EXCLUDE (_bad, _warned), "
            "NOT p.is_excluded AS _enrolled "
            f"FROM {kept['patients']} t JOIN patients_ok p USING (patient_id)"
        )
        enrolled = {table: f"{kept[table]} t WHERE NOT t._excluded" for table in by_name}
        con.sql(
            "CREATE OR REPLACE VIEW treatments AS SELECT t._line, t._pid, t.patient_id, "
            "lower(t.drug) AS drug, coalesce(lower(t.role), 'study') AS role, t.start_date, "
            "t.end_date, coalesce(lower(t.phase), 'full') AS phase, t.daily_dose_mg, "
            f"lower(t.stop_reason) AS stop_reason{extra['treatments']} "
            f"FROM {enrolled['treatments']}"
        )
        # labs keep their test and unit by key (lab_units), and their patient ID by _pid:
        # labs_keyed is what the engines read (they need no text IDs, and DuckDB does
        # not drop an unused join to patients_ok); labs adds the text ID back
        con.sql(
            "CREATE OR REPLACE VIEW labs_keyed AS SELECT t._line, t._pid, t.date, u.test, t.value, "
            f"u.unit{extra['labs']} FROM {kept['labs']} t LEFT JOIN lab_units u USING (_unit) "
            "WHERE NOT t._excluded"
        )
        con.sql(
            "CREATE OR REPLACE VIEW labs AS SELECT k._line, k._pid, p.patient_id, k.* "
            "EXCLUDE (_line, _pid) FROM labs_keyed k LEFT JOIN patients_ok p USING (_pid)"
        )
        con.sql(
            "CREATE OR REPLACE VIEW bleeding AS SELECT t._line, t._pid, t.patient_id, t.date, "
            f"t.who_grade, t.site{extra['bleeding']} FROM {enrolled['bleeding']}"
        )
        con.sql(
            "CREATE OR REPLACE VIEW adverse_events AS SELECT t._line, t._pid, t.patient_id, "
            "t.onset_date, t.term, t.grade, t.related, lower(t.action) AS action, t.end_date"
            f"{extra['adverse_events']} FROM {enrolled['adverse_events']}"
        )
        for table, summary in by_name.items():
            if summary.file is not None and self.usable[table]:
                summary.set_aside.update(self._set_aside(table, kept[table]))

    def _set_aside(self, table: str, kept: str) -> Counter[str]:
        """Rows of a usable table set aside (or kept but not used), by reason."""
        con = self.con
        n_bad = con.sql(
            f"SELECT count(*) FROM typed_{table} WHERE _bad OR _line IN "
            f"(SELECT _line FROM bad_lines WHERE tbl = '{table}')"
        ).fetchall()[0][0]
        counts: Counter[str] = Counter({SET_ASIDE_ERROR: n_bad})
        if table == "patients":
            excluded = "SELECT count(*) FROM patients WHERE NOT _enrolled"
        elif not self.usable["patients"]:
            counts[SET_ASIDE_NO_PATIENTS] = con.sql(f"SELECT count(*) FROM {kept}").fetchall()[0][0]
            return +counts
        else:
            excluded = f"SELECT count(*) FROM {kept} t WHERE t._excluded"
        counts[SET_ASIDE_EXCLUDED] = con.sql(excluded).fetchall()[0][0]
        if table == "labs":
            known = ", ".join(f"'{t}'" for t in units.TESTS)
            tests = con.sql(
                f"SELECT test, count(*) FROM labs WHERE test NOT IN ({known}) "
                "GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
            for test, n in tests[:MAX_PER_KIND]:
                counts[f"unknown test '{escape(clip(test))}' (kept, not used)"] = n
            if len(tests) > MAX_PER_KIND:
                others = tests[MAX_PER_KIND:]
                counts[f"{len(others)} other unknown tests (kept, not used)"] = sum(
                    n for _, n in others
                )
        return +counts

    def _kept_rows(self, table: str) -> str:
        """SQL for the typed rows of ``table`` that have no error."""
        has_bad = self.con.sql(f"SELECT count(*) FROM bad_lines WHERE tbl = '{table}'").fetchall()[
            0
        ][0]
        if not has_bad:
            return f"(SELECT * FROM typed_{table} WHERE NOT _bad)"
        return (
            f"(SELECT * FROM typed_{table} WHERE NOT _bad AND _line NOT IN "
            f"(SELECT _line FROM bad_lines WHERE tbl = '{table}'))"
        )


def _read_summary(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, source: Source | None
) -> TableSummary:
    """The table's summary with its rows read (unreadable lines set aside)."""
    if source is None:
        return TableSummary(spec.name, None)
    summary = TableSummary(spec.name, source.path.name)
    summary.read = con.sql(f"SELECT count(*) FROM {source.relation}").fetchall()[0][0]
    summary.read += source.unreadable_rows
    summary.set_aside.update(source.set_aside)
    return summary


#: the one place the rule lives: a patient is excluded (screened, not enrolled) when
#: ``excluded`` holds a reason (cohort format, patients table). The clean ``patients``
#: table carries the answer as ``_enrolled``; every other module reads that column.
EXCLUDED_SQL = "NULLIF(TRIM(excluded), '') IS NOT NULL"


def _unit_key_sql(column: str) -> str:
    """SQL twin of :func:`units.normalise_unit`."""
    return (
        f"regexp_replace(replace(replace(lower(replace(trim({column}), ' ', '')), 'µ', 'u'), "
        f"'μ', 'u'), '^[x×]', '')"
    )


def _cell_checks(
    col: ColumnSpec, expr: str, can_fail: bool, source_type: str
) -> list[tuple[str, str, str, str]]:
    """(column, SQL condition, SQL message, severity) for each check of one column."""
    raw, value = raw_text(col.name), f"({expr})"
    # a text cell is empty when blank; a typed one (Parquet) only when NULL: no text
    # conversion of millions of numbers and dates just to find the empty ones
    empty = f"{raw} IS NULL" if source_type == "VARCHAR" else f"{quote(col.name)} IS NULL"
    checks = []
    if col.required:
        checks.append((empty, f"'missing value: {col.name} is required'", "error"))
    elif col.blank_warning:
        checks.append((empty, literal(col.blank_warning), "warning"))
    if can_fail:
        checks.append((f"NOT ({empty}) AND {value} IS NULL", unparseable_message(col), "error"))
    if col.kind == "date":
        checks.append(_date_range_check(value))
    # a value with a range (a grade) is outside it on either side; below a bare minimum
    # of 0 (a count, a titre) it is negative
    outside = f"' is outside {_num(col.minimum)}-{_num(col.maximum)}'"
    if col.minimum is not None:
        hint = ": a count cannot be negative" if col.minimum == 0 else ""
        below = f"' is below {_num(col.minimum)}{hint}'" if col.maximum is None else outside
        checks.append((f"{value} < {col.minimum}", f"'{col.name} ' || {value} || {below}", "error"))
    if col.maximum is not None:
        checks.append(
            (f"{value} > {col.maximum}", f"'{col.name} ' || {value} || {outside}", "error")
        )
    if col.choices:
        allowed = ", ".join(f"'{c}'" for c in col.choices)
        listed = ", ".join(col.choices)
        checks.append(
            (
                f"lower({raw}) NOT IN ({allowed})",
                f"'''' || {shown(raw)} || ''' is not one of: {listed}'",
                "error" if col.choices_strict else "warning",
            )
        )
    return [(col.name, *check) for check in checks]


def _date_range_check(value: str) -> tuple[str, str, str]:
    """A warning for a date before 1900 or more than a year after today (a likely typo)."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        latest = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + 1, day=28)
    earliest = EARLIEST_PLAUSIBLE_DATE
    return (
        f"{value} < DATE '{earliest}' OR {value} > DATE '{latest.isoformat()}'",
        f"'date ' || {value} || CASE WHEN {value} < DATE '{earliest}' THEN ' is before "
        f"{earliest}' ELSE ' is more than a year after today ({today.isoformat()})' END "
        "|| ': check the year'",
        "warning",
    )


_ISSUES_TYPE = "STRUCT(col VARCHAR, msg VARCHAR)[]"
#: a test name (letters only, lower case) that may mean the platelet count
_PLATELET_LIKE = "^(plt|platelet|plaquette|thrombocyt|thrombozyt)"
#: an ID written as a decimal number (``4.0``), and its decimal part
_DECIMAL_ID = r"[+-]?[0-9]+\.0+"
_DECIMAL_SUFFIX = r"\.0+$"

#: text columns the typed table does not keep on every row (the clean view joins them back)
_NOT_KEPT: dict[str, tuple[str, ...]] = {"labs": ("patient_id", "test", "unit")}


def _with_issue(issues: str, condition: str, column: str, message: str) -> str:
    """SQL: the list ``issues`` with (``column``, ``message``) appended where ``condition``."""
    return (
        f"CASE WHEN coalesce({condition}, FALSE) THEN list_append(coalesce({issues}, []), "
        f"{{'col': '{column}', 'msg': {message}}}) ELSE {issues} END"
    )


def _issues_sql(checks: list[tuple[str, str, str, str]]) -> str:
    """SQL giving a row's failed checks as a list of (column, message), NULL when none."""
    if not checks:
        return f"CAST(NULL AS {_ISSUES_TYPE})"
    items = ", ".join(
        f"CASE WHEN {cond} THEN {{'col': '{col}', 'msg': {msg}}} END"
        for col, cond, msg, _ in checks
    )
    failed = " OR ".join(f"coalesce({cond}, FALSE)" for _, cond, _, _ in checks)
    return f"CASE WHEN {failed} THEN [{items}] END"


def _lines(lines: list[int], n: int) -> str:
    """``line 3`` or ``lines 3, 7, 9 (and 4 more)``."""
    listed = ", ".join(str(x) for x in lines)
    more = f" (and {n - len(lines)} more)" if n > len(lines) else ""
    return f"line {listed}" if n == 1 else f"lines {listed}{more}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _sql_type(kind: str) -> str:
    return {
        "text": "VARCHAR",
        "date": "DATE",
        "number": "DOUBLE",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
    }[kind]
