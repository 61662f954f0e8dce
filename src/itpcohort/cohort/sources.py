"""Loading one table file (CSV, Parquet, Excel) into DuckDB as it is.

Every loader produces a DuckDB relation named ``src_<table>`` whose column
names are normalised (lower case, surrounding spaces removed) and which has a
``_line`` column: the CSV line (header = 1), the Excel sheet row (header = 1)
or the Parquet row number (first row = 1).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from itpcohort.cohort.problems import Problem

SUFFIXES = (".csv", ".parquet", ".xlsx")


@dataclass
class Source:
    """A table file loaded into DuckDB, before typing and checks."""

    table: str
    path: Path
    relation: str
    #: normalised column name -> DuckDB type of the source column
    columns: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    #: rows that could not be read at all (malformed CSV lines)
    unreadable_rows: int = 0
    #: False when the file itself could not be read (encoding, not a CSV)
    readable: bool = True


def find_table_file(folder: Path, table: str) -> tuple[Path | None, list[Problem]]:
    """The one file holding ``table`` in ``folder``; two with one stem is an error."""
    found = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.stem == table and p.suffix.lower() in SUFFIXES
    )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        return None, [
            Problem(
                found[0].name,
                None,
                None,
                f"two files hold table '{table}' ({names}): keep exactly one",
            )
        ]
    return (found[0] if found else None), []


def load_source(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    """Load ``path`` into DuckDB as ``src_<table>``; problems of shape are collected."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _load_parquet(con, path, table)
    if suffix == ".xlsx":
        header, rows = _xlsx_rows(path)
        return _register_text(con, path, table, header, rows)
    return _load_csv(con, path, table)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _normalised_header(
    path: Path, header: list[str], line: int | None
) -> tuple[list[str | None], list[Problem]]:
    """Normalised names, ``None`` for a column to drop (empty or repeated name)."""
    names: list[str | None] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for raw in header:
        name = (raw or "").strip().lower()
        if not name:
            names.append(None)
            continue
        if name in seen:
            problems.append(
                Problem(path.name, line, name, f"column '{name}' appears twice: keep one")
            )
            names.append(None)
            continue
        seen.add(name)
        names.append(name)
    return names, problems


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    scan = f"read_parquet({_literal(str(path))}, file_row_number = true)"
    described = con.sql(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    raw_names = [r[0] for r in described if r[0] != "file_row_number"]
    types = {r[0]: r[1] for r in described}
    names, problems = _normalised_header(path, raw_names, None)
    select = [
        f"{_quote(raw)} AS {_quote(name)}"
        for raw, name in zip(raw_names, names, strict=True)
        if name is not None
    ]
    relation = f"src_{table}"
    select.append("CAST(file_row_number + 1 AS BIGINT) AS _line")
    con.sql(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT {', '.join(select)} FROM {scan}")
    columns = {
        name: types[raw] for raw, name in zip(raw_names, names, strict=True) if name is not None
    }
    return Source(table, path, relation, columns, problems)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _register_text(con, path, table, *_csv_rows(handle))
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text ({exc.reason}): save as UTF-8 CSV"
    except csv.Error as exc:
        why = f"not a readable CSV file: {exc}"
    source = _register_text(con, path, table, [], iter(()), [Problem(path.name, None, None, why)])
    source.readable = False
    return source


def _csv_rows(handle: Iterable[str]) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    reader = csv.reader(handle)
    header = next(reader, [])

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        last = reader.line_num
        for row in reader:
            line, last = last + 1, reader.line_num
            yield line, list(row)

    return header, rows()


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    header = [_cell_text(v) or "" for v in next(it, ())]

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        for number, values in enumerate(it, start=2):
            yield number, [_cell_text(v) for v in values]
        book.close()

    return header, rows()


def _register_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    header: list[str],
    rows: Iterator[tuple[int, list[str | None]]],
    problems: list[Problem] | None = None,
) -> Source:
    """Register text rows (CSV, Excel) as an all-VARCHAR table with ``_line``."""
    problems = list(problems or [])
    names, header_problems = _normalised_header(path, header, 1)
    problems += header_problems
    keep = [i for i, n in enumerate(names) if n is not None]
    columns: list[list[str | None]] = [[] for _ in keep]
    lines: list[int] = []
    unreadable = 0
    width = len(header)
    for line, row in rows:
        if all(c is None or not str(c).strip() for c in row):
            continue  # a blank line holds no row
        if len(row) > width and any(c is not None and str(c).strip() for c in row[width:]):
            problems.append(
                Problem(
                    path.name,
                    line,
                    None,
                    f"{len(row)} fields but the header has {width}: "
                    "check for an unquoted comma or a missing header",
                )
            )
            unreadable += 1
            continue
        if len(row) < width and path.suffix.lower() == ".csv":
            problems.append(
                Problem(
                    path.name,
                    line,
                    None,
                    f"{len(row)} fields but the header has {width}: fill the missing cells",
                )
            )
            unreadable += 1
            continue
        lines.append(line)
        for out, i in zip(columns, keep, strict=True):
            value = row[i] if i < len(row) else None
            out.append(value if value is None or value.strip() else None)
    data = {names[i]: pa.array(col, pa.string()) for i, col in zip(keep, columns, strict=True)}
    data["_line"] = pa.array(lines, pa.int64())
    arrow = pa.table(data)
    relation = f"src_{table}"
    con.register(f"{relation}_arrow", arrow)
    con.sql(f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT * FROM {relation}_arrow")
    con.unregister(f"{relation}_arrow")
    cols = {str(names[i]): "VARCHAR" for i in keep}
    return Source(table, path, relation, cols, problems, unreadable)
