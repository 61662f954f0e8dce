"""Every row of a valid cohort folder, typed by the reader's own rules (for round trips).

The analysis reads a folder into DuckDB (:func:`itpcohort.cohort.read_cohort`);
a program that keeps the rows themselves (the study database's import) reads
them here instead: the folder is checked by :func:`itpcohort.validate_cohort`
first (any error refuses it, with file, line and column), then every row is
typed with the reader's loaders and :func:`itpcohort.cohort.cells.typed_expr`,
including the rows the analysis sets aside (excluded patients' screening labs),
with values and units as they came.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from itpcohort.cohort import schema
from itpcohort.cohort.cells import quote, raw_text, typed_expr
from itpcohort.cohort.reader import validate_cohort
from itpcohort.cohort.sources import find_table_file, load_source
from itpcohort.errors import CohortDataError

Row = dict[str, Any]


def read_rows(folder: str | Path) -> dict[str, list[Row]]:
    """Every row of every table of a valid cohort folder, typed by the reader's rules.

    Raises :class:`CohortDataError` (every problem, with file, line, column) when
    ``validate_cohort`` finds errors. A row's columns: the format's columns typed
    (missing ones as None), then the columns the format does not list, as text.
    """
    path = Path(folder)
    report, cohort = validate_cohort(path)
    if cohort is not None:
        cohort.close()
    if not report.ok:
        raise CohortDataError(
            f"{path}: {len(report.errors)} error(s) in the cohort folder; first: "
            f"{report.errors[0]}",
            report.problems,
        )
    con = duckdb.connect(":memory:")
    try:
        con.sql("SET TimeZone = 'UTC'")
        return {spec.name: _typed_rows(con, path, spec) for spec in schema.TABLES}
    finally:
        con.close()


def _typed_rows(con: duckdb.DuckDBPyConnection, folder: Path, spec: schema.TableSpec) -> list[Row]:
    file, _ = find_table_file(folder, spec.name, spec.required)
    if file is None:
        return []
    source = load_source(con, file, spec.name)
    select = []
    for col in spec.columns:
        if col.name in source.columns:
            expr, _ = typed_expr(col, source.columns[col.name], source.zones.get(col.name))
        else:
            expr = "NULL"
        select.append(f"{expr} AS {quote(col.name)}")
    known = {c.name for c in spec.columns}
    extras = [c for c in source.columns if c not in known and c != "_line"]
    select += [f"{raw_text(c)} AS {quote(c)}" for c in extras]
    relation = con.sql(f"SELECT {', '.join(select)} FROM {source.relation} ORDER BY _line")
    names = relation.columns
    return [dict(zip(names, values, strict=True)) for values in relation.fetchall()]
