"""Finding and loading one table file (CSV, Parquet, Excel) into DuckDB as it is.

Every loader produces a DuckDB relation named ``src_<table>`` whose column
names are normalised (lower case, surrounding spaces removed) and which has a
``_line`` column: the CSV line (header = 1), the Excel sheet row (header = 1)
or the Parquet row number (first row = 1).

Nothing is dropped without a word: a CSV record that cannot be read (wrong
number of fields, a quoted field running over several lines, an overlong cell)
and an Excel row with a formula that has no saved value are problems with
their line, and are counted in ``Source.set_aside``; a column without a name
that holds data is reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from itpcohort.cohort import plain_csv
from itpcohort.cohort.problems import Problem

SUFFIXES = (".csv", ".parquet", ".xlsx")
#: column names the reader uses for itself; a source column may not have them
RESERVED_COLUMNS = (
    "_line",
    "_pid",
    "_enrolled",
    "_excluded",
    "_unit",
    "_bad",
    "_warned",
    "_errors",
    "_warnings",
)
#: Python's csv module refuses longer fields; the record is reported with its line
FIELD_LIMIT = csv.field_size_limit()

UNREADABLE_LINE = "unreadable line"
BROKEN_QUOTE = "line inside a quoted field that runs over several lines"
FORMULA_ROW = "row with a formula without a saved value"
UNREADABLE_FILE = "file cannot be read (see problems)"


@dataclass
class Source:
    """A table file loaded into DuckDB, before typing and checks."""

    table: str
    path: Path
    relation: str
    #: normalised column name -> DuckDB type of the source column
    columns: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    #: rows of the file that are not in ``relation``, by reason (each has a problem)
    set_aside: Counter[str] = field(default_factory=Counter)
    #: False when the file itself could not be read (encoding, empty, not a CSV)
    readable: bool = True
    #: Parquet timestamp columns with a time zone -> the zone (IANA name or +HH:MM)
    zones: dict[str, str] = field(default_factory=dict)

    @property
    def unreadable_rows(self) -> int:
        return sum(self.set_aside.values())


# -- finding the file -----------------------------------------------------------
def find_table_file(
    folder: Path, table: str, required: bool = True
) -> tuple[Path | None, list[Problem]]:
    """The one file holding ``table`` in ``folder``; two with one stem is an error.

    When there is none, the problems say what is there instead: a name in another
    case (``Labs.csv``), a broken or looping symbolic link, a folder, another suffix.
    """
    entries = sorted(folder.iterdir())
    found = [p for p in entries if p.stem == table and p.suffix.lower() in SUFFIXES]
    files = [p for p in found if p.is_file()]
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        return None, [
            Problem(
                files[0].name,
                None,
                None,
                f"two files hold table '{table}' ({names}): keep exactly one",
            )
        ]
    problems = [Problem(p.name, None, None, _not_a_file(p)) for p in found if not p.is_file()]
    if files:
        return files[0], problems
    for p in entries:
        if p in found:
            continue
        if p.stem.lower() == table and p.suffix.lower() in SUFFIXES:
            problems.append(
                Problem(
                    p.name,
                    None,
                    None,
                    f"this looks like table '{table}' but file names are case-sensitive: "
                    f"rename it to {table}{p.suffix.lower()}",
                )
            )
        elif p.stem == table or p.name.lower().startswith(table + "."):
            problems.append(
                Problem(
                    p.name,
                    None,
                    None,
                    f"this looks like table '{table}' but is not read: a table must be "
                    f"{table}.csv, {table}.parquet or {table}.xlsx (save it as one of them)",
                    "error" if required else "warning",
                )
            )
    return None, problems


def _not_a_file(path: Path) -> str:
    """Why ``path``, named like a table file, cannot be read as one."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except (RuntimeError, OSError) as exc:
            if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
                return (
                    "a symbolic link that loops (points back to itself): replace it with the file"
                )
            target = os.readlink(path)
            return (
                f"a symbolic link to '{target}', which does not exist: "
                "fix the link or copy the file here"
            )
    if path.is_dir():
        return "a folder, not a file: put the table file here instead"
    return "not a regular file: put the table file here instead"


# -- loading --------------------------------------------------------------------
def load_source(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    """Load ``path`` into DuckDB as ``src_<table>``; problems of shape are collected."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _load_parquet(con, path, table)
    if suffix == ".xlsx":
        return _load_xlsx(con, path, table)
    return _load_csv(con, path, table)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _normalised_header(
    path: Path, header: list[str], line: int | None
) -> tuple[list[str | None], list[Problem]]:
    """Normalised names, ``None`` for a column to drop (empty, repeated or reserved name)."""
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
        if name in RESERVED_COLUMNS:
            problems.append(
                Problem(
                    path.name,
                    line,
                    name,
                    f"column name '{name}' is reserved for itpcohort's own use: rename the column",
                )
            )
            names.append(None)
            continue
        seen.add(name)
        names.append(name)
    return names, problems


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    arrow_schema = pq.read_schema(path)
    raw_names = list(arrow_schema.names)
    names, problems = _normalised_header(path, raw_names, None)
    relation = f"src_{table}"
    if "file_row_number" in raw_names:
        # DuckDB's row-number option would collide with the file's column: number here
        arrow = pq.read_table(path)
        arrow = arrow.rename_columns([f"c{i}" for i in range(arrow.num_columns)])
        arrow = arrow.append_column("_row", pa.array(range(1, arrow.num_rows + 1), pa.int64()))
        con.register(f"{relation}_arrow", arrow)
        con.sql(f"CREATE OR REPLACE TEMP TABLE {relation}_raw AS SELECT * FROM {relation}_arrow")
        con.unregister(f"{relation}_arrow")
        scan, line = f"{relation}_raw", "_row"
    else:
        scan = f"read_parquet({_literal(str(path))}, file_row_number = true)"
        line = "file_row_number + 1"
    # DuckDB's names for the columns (it renames empty and repeated ones), in file order
    described = con.sql(f"DESCRIBE SELECT * FROM {scan}").fetchall()[: len(raw_names)]
    stored = [r[0] for r in described]
    types = [r[1] for r in described]
    select = [
        f"{_quote(db_name)} AS {_quote(name)}"
        for db_name, name in zip(stored, names, strict=True)
        if name is not None
    ]
    select.append(f"CAST({line} AS BIGINT) AS _line")
    con.sql(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT {', '.join(select)} FROM {scan}")
    columns = {name: t for t, name in zip(types, names, strict=True) if name is not None}
    zones = {
        name: str(f.type.tz)
        for f, name in zip(arrow_schema, names, strict=True)
        if name is not None and pa.types.is_timestamp(f.type) and f.type.tz
    }
    problems += _unnamed_problems(con, path, raw_names, scan, line, lambda i: _quote(stored[i]))
    return Source(table, path, relation, columns, problems, zones=zones)


def _unnamed_problems(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    scan: str,
    line: str,
    column: Callable[[int], str],
) -> list[Problem]:
    """A warning for each column of ``header`` without a name that holds data in ``scan``
    (``column``: the SQL of the column at an index; ``line``: of a row's line)."""
    found = []
    for i, raw in enumerate(header):
        if not raw.strip():
            n, first = con.sql(
                f"SELECT count(*), min({line}) FROM {scan} "
                f"WHERE NULLIF(TRIM(CAST({column(i)} AS VARCHAR)), '') IS NOT NULL"
            ).fetchall()[0]
            if n:
                found.append(_unnamed(path, i, n, first))
    return found


def _unnamed(path: Path, index: int, n: int, first: int) -> Problem:
    """A warning: the column without a name at ``index`` holds data in ``n`` rows."""
    return Problem(
        path.name,
        None,
        f"#{index + 1}",
        f"column {index + 1} has no name in the header but {n} row(s) hold data in it "
        f"(first: line {first}); it is not read: name the column (it is then kept) or "
        "delete it",
        "warning",
    )


# -- CSV ------------------------------------------------------------------------
def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    try:
        records = _CsvRecords(path)
        try:
            plain = None if records.fatal else _load_plain_csv(con, path, table, records.header)
            return plain or _register_text(con, path, table, records)
        finally:
            records.close()
    except UnicodeDecodeError:
        problem = _encoding_problem(path)
    except csv.Error as exc:  # records catch their own; this is a safety net
        problem = Problem(path.name, None, None, f"not a readable CSV file: {exc}")
    return _unreadable(con, path, table, problem, _count_data_lines(path))


def _load_plain_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, header: list[str]
) -> Source | None:
    """A plain file (``plain_csv``) through Arrow's reader; None if it is not plain.

    The same relation, problems and line numbers as :func:`_register_text` gives
    (``tests/test_plain_csv.py`` holds the two equal): cells holding only spaces
    and tabs are empty, blank rows hold no row, a column without a name is not
    read but reported when it holds data.
    """
    expected = plain_csv.data_lines(path)
    if expected is None:
        return None
    names, problems = _normalised_header(path, header, 1)
    width, relation = len(header), f"src_{table}"
    schema = pa.schema([(f"c{i}", pa.string()) for i in range(width)] + [("_line", pa.int64())])
    read = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal read
        for batch in plain_csv.batches(path, width):
            read += batch.num_rows
            yield batch

    def unnamed(i: int) -> str:
        return _quote(f"#unnamed{i}")

    blank = [f"trim(c{i}, ' \t') = ''" for i in range(width)]
    cells = [
        f"CASE WHEN {blank[i]} THEN NULL ELSE c{i} END AS " + (_quote(name) if name else unnamed(i))
        for i, name in enumerate(names)
        if name is not None or not header[i].strip()
    ]
    con.register(f"{relation}_plain", pa.RecordBatchReader.from_batches(schema, counted()))
    try:
        con.sql(
            f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT {', '.join(cells)}, _line "
            f"FROM {relation}_plain WHERE NOT ({' AND '.join(blank)})"
        )
    except (plain_csv.NotPlain, pa.ArrowException, duckdb.Error):
        read = -1
    finally:
        con.unregister(f"{relation}_plain")
    if read != expected:  # not plain after all: the exact way reads it again
        con.sql(f"DROP TABLE IF EXISTS {relation}")
        return None
    problems += _unnamed_problems(con, path, header, relation, "_line", unnamed)
    for i, raw in enumerate(header):
        if not raw.strip():  # reported; not read
            con.sql(f"ALTER TABLE {relation} DROP COLUMN {unnamed(i)}")
    columns = {name: "VARCHAR" for name in names if name is not None}
    return Source(table, path, relation, columns, problems)


class _CsvRecords:
    """The records of a CSV file after its header, each with its first line.

    Records that cannot be loaded are problems (with the line where they start)
    and are counted in ``set_aside`` by physical line: a quoted field holding a
    line break (a stray ``"`` swallows the following lines into one cell), a
    cell longer than the csv module's limit, any other CSV error.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.set_aside: Counter[str] = Counter()
        self.fatal: Problem | None = None
        self.short_rows_are_errors = True
        self.header: list[str] = []
        self._handle = path.open(newline="", encoding="utf-8-sig")
        try:
            self._read_header()
        except BaseException:
            self._handle.close()
            raise

    def _read_header(self) -> None:
        path = self.path
        self._reader = csv.reader(self._handle)
        try:
            self.header = next(self._reader, [])
        except csv.Error as exc:
            self.fatal = Problem(
                path.name, 1, None, f"the header cannot be read: {_csv_error(exc)}"
            )
            return
        if self._reader.line_num > 1:
            self.fatal = Problem(
                path.name,
                1,
                None,
                f"a quoted field in the header runs over {self._reader.line_num} lines: a "
                'stray or unbalanced quote (")? Close the quote; the header must be one line',
            )
        elif not _has_text(self.header):
            self.fatal = self._blank_header()
        elif len(self.header) == 1 and (";" in self.header[0] or "\t" in self.header[0]):
            kind = "semicolon" if ";" in self.header[0] else "tab"
            self.fatal = Problem(
                path.name,
                1,
                None,
                f"the header has a single column '{self.header[0][:80]}': this looks like a "
                f"{kind}-separated file; save it as comma-separated CSV",
            )

    def _blank_header(self) -> Problem:
        if self.path.stat().st_size == 0:
            return Problem(
                self.path.name,
                None,
                None,
                "the file is empty (0 bytes): "
                "write the header row and the data, or remove the file",
            )
        for row in self._reader:
            if _has_text(row):
                return Problem(
                    self.path.name,
                    1,
                    None,
                    "line 1 is blank: the first line must be the header (the column names)",
                )
        return Problem(
            self.path.name,
            None,
            None,
            "the file is empty (only blank lines): write the header row and the data, "
            "or remove the file",
        )

    def close(self) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[tuple[int, list[str | None]]]:
        reader = self._reader
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._broken(start, reader.line_num, None, _csv_error(exc), UNREADABLE_LINE)
                continue
            if reader.line_num > start:
                column = next((i for i, c in enumerate(row) if "\n" in c or "\r" in c), None)
                self._broken(start, reader.line_num, column, None, BROKEN_QUOTE)
                continue
            yield start, list(row)

    def _broken(
        self, start: int, end: int, column: int | None, why: str | None, reason: str
    ) -> None:
        name = self.header[column] if column is not None and column < len(self.header) else None
        if why is None:
            in_column = f" in column '{name.strip()}'" if name else ""
            why = (
                f"a quoted field{in_column} starts on line {start} and runs over "
                f'{end - start + 1} lines (to line {end}): a stray or unbalanced quote (")? '
                "Close the quote, or remove the line breaks from the cell"
            )
        else:
            why += f" (the record starts on line {start}" + (
                f" and was read to line {end})" if end > start else ")"
            )
        self.problems.append(Problem(self.path.name, start, name, why))
        self.set_aside[reason] += max(end - start + 1, 1)


def _csv_error(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return (
            f'a cell is longer than {FIELD_LIMIT:,} characters: an unbalanced quote (")? '
            "Otherwise shorten the cell"
        )
    return f"this line cannot be read as CSV ({exc})"


def _has_text(row: Iterable[object]) -> bool:
    return any(c is not None and str(c).strip() for c in row)


def _encoding_problem(path: Path) -> Problem:
    """The first byte that is not UTF-8: its line, column and a guess of the encoding."""
    header: list[str] = []
    number = 0
    with path.open("rb") as handle:
        for chunk in handle:
            for raw in chunk.splitlines():
                number += 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return _bad_byte(path, number, raw, exc, header)
                if number == 1:
                    header = next(csv.reader([text.lstrip("\ufeff")]), [])
    return Problem(path.name, None, None, "not UTF-8 text: save the file as UTF-8 CSV")


def _bad_byte(
    path: Path, number: int, raw: bytes, exc: UnicodeDecodeError, header: list[str]
) -> Problem:
    prefix = raw[: exc.start].decode("utf-8", errors="replace")
    fields = next(csv.reader([prefix]), [""]) if prefix else [""]
    index = len(fields) - 1
    column = header[index].strip() if number > 1 and index < len(header) else None
    byte = raw[exc.start]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and number == 1:
        guess = "the file is UTF-16 text"
    else:
        try:
            char = raw[exc.start : exc.start + 1].decode("cp1252")
            guess = f"the file looks like Latin-1/Windows-1252 text, where it is '{char}'"
        except UnicodeDecodeError:
            guess = "the file is in another encoding"
    return Problem(
        path.name,
        number,
        column,
        f"byte 0x{byte:02X} at character {len(prefix) + 1} of the line is not UTF-8 "
        f"({guess}): save the file as UTF-8 CSV",
    )


def _count_data_lines(path: Path) -> int:
    """Non-blank physical lines after the first (an unreadable file's rows, for the count)."""
    count = 0
    with path.open("rb") as handle:
        for chunk in handle:
            count += sum(1 for line in chunk.splitlines() if line.strip())
    first_has_text = False
    with path.open("rb") as handle:
        first = handle.readline().splitlines()
        first_has_text = bool(first and first[0].strip())
    return max(count - 1, 0) if first_has_text else count


# -- Excel ----------------------------------------------------------------------
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


def _load_xlsx(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Source:
    try:
        records = _XlsxRecords(path)
        try:
            return _register_text(con, path, table, records)
        finally:
            records.close()
    except Exception as exc:  # zipfile, zlib, XML and openpyxl errors share no base class
        why = f"{type(exc).__name__}: {exc}"
    problem = Problem(
        path.name,
        None,
        None,
        f"cannot read the file as an Excel workbook ({why}): open it in a spreadsheet "
        "program and save it again as .xlsx, or save it as CSV",
    )
    return _unreadable(con, path, table, problem, 0)


class _XlsxRecords:
    """The rows of an Excel file's first sheet after its header, each with its sheet row.

    A formula whose value was never saved (files written by scripts) reads as an
    empty cell; such cells, and cells holding a spreadsheet error (``#DIV/0!``),
    are problems, and their rows are set aside rather than read as empty.
    """

    def __init__(self, path: Path) -> None:
        import openpyxl

        self.path = path
        self.problems: list[Problem] = []
        self.set_aside: Counter[str] = Counter()
        self.fatal: Problem | None = None
        self.short_rows_are_errors = False
        self._books = [
            openpyxl.load_workbook(path, read_only=True, data_only=data_only)
            for data_only in (True, False)
        ]
        sheets = [book.worksheets[0] for book in self._books]
        for sheet in sheets:
            sheet.reset_dimensions()  # a wrong saved size must not cut rows off
        self._rows = zip(*(sheet.iter_rows() for sheet in sheets), strict=False)
        first = next(self._rows, None)
        self.header = [_cell_text(c.value) or "" for c in first[0]] if first else []
        if not _has_text(self.header):
            self.fatal = Problem(
                path.name,
                None if first is None else 1,
                None,
                "the first sheet is empty: put the table (header row first) on the first sheet"
                if first is None
                else "row 1 is blank: the first row must be the header (the column names)",
            )

    def close(self) -> None:
        for book in self._books:
            book.close()

    def __iter__(self) -> Iterator[tuple[int, list[str | None]]]:
        try:
            for number, (values, formulas) in enumerate(self._rows, start=2):
                if self._cell_problems(number, values, formulas):
                    continue
                yield number, [_cell_text(c.value) for c in values]
        finally:
            self.close()

    def _cell_problems(self, number: int, values: tuple, formulas: tuple) -> bool:  # type: ignore[type-arg]
        bad = False
        for i, (value, formula) in enumerate(zip(values, formulas, strict=False)):
            name = self.header[i].strip() if i < len(self.header) else None
            if formula.data_type == "f" and value.value is None:
                why = (
                    f"cell holds a formula without a saved value ({str(formula.value)[:80]}): "
                    "save it from a spreadsheet program or enter the value"
                )
            elif value.data_type == "e":
                why = f"cell holds the spreadsheet error {value.value}: enter the value"
            else:
                continue
            self.problems.append(Problem(self.path.name, number, name or f"#{i + 1}", why))
            bad = True
        if bad:
            self.set_aside[FORMULA_ROW] += 1
        return bad


# -- registering text rows --------------------------------------------------------
def _unreadable(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, problem: Problem, rows: int
) -> Source:
    """An unreadable file: one problem; its rows counted as set aside."""
    source = _register_text(con, path, table, _NoRecords())
    source.problems = [problem]
    source.readable = False
    if rows:
        source.set_aside[UNREADABLE_FILE] += rows
    return source


class _NoRecords:
    """No rows at all (the file could not be read)."""

    def __init__(self) -> None:
        self.header: list[str] = []
        self.problems: list[Problem] = []
        self.set_aside: Counter[str] = Counter()
        self.fatal: Problem | None = None
        self.short_rows_are_errors = False

    def __iter__(self) -> Iterator[tuple[int, list[str | None]]]:
        return iter(())


def _register_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    records: _CsvRecords | _XlsxRecords | _NoRecords,
) -> Source:
    """Register text rows (CSV, Excel) as an all-VARCHAR table with ``_line``."""
    if records.fatal is not None:
        rows = _count_data_lines(path) if isinstance(records, _CsvRecords) else 0
        return _unreadable(con, path, table, records.fatal, rows)
    header = records.header
    names, problems = _normalised_header(path, header, 1)
    keep = [i for i, n in enumerate(names) if n is not None]
    unnamed = {i: [0, 0] for i, raw in enumerate(header) if not (raw or "").strip()}
    columns: list[list[str | None]] = [[] for _ in keep]
    lines: list[int] = []
    set_aside: Counter[str] = Counter()
    width = len(header)
    for line, row in records:
        if not _has_text(row):
            continue  # a blank line holds no row
        problem = _width_problem(path, line, row, width, records.short_rows_are_errors)
        if problem is not None:
            problems.append(problem)
            set_aside[UNREADABLE_LINE] += 1
            continue
        lines.append(line)
        for out, i in zip(columns, keep, strict=True):
            value = row[i] if i < len(row) else None
            out.append(value if value is None or value.strip() else None)
        for i, seen in unnamed.items():
            cell = row[i] if i < len(row) else None
            if cell is not None and cell.strip():
                seen[0] += 1
                seen[1] = seen[1] or line
    problems += records.problems
    problems += [_unnamed(path, i, n, first) for i, (n, first) in unnamed.items() if n]
    set_aside.update(records.set_aside)
    data = {names[i]: pa.array(col, pa.string()) for i, col in zip(keep, columns, strict=True)}
    data["_line"] = pa.array(lines, pa.int64())
    relation = f"src_{table}"
    con.register(f"{relation}_arrow", pa.table(data))
    con.sql(f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT * FROM {relation}_arrow")
    con.unregister(f"{relation}_arrow")
    cols = {str(names[i]): "VARCHAR" for i in keep}
    return Source(table, path, relation, cols, problems, set_aside)


def _width_problem(
    path: Path, line: int, row: list[str | None], width: int, short_is_error: bool
) -> Problem | None:
    """A problem when the row has more fields (with data) or, in CSV, fewer than the header."""
    if len(row) > width and _has_text(row[width:]):
        return Problem(
            path.name,
            line,
            None,
            f"{len(row)} fields but the header has {width}: "
            "check for an unquoted comma or a missing header",
        )
    if len(row) < width and short_is_error:
        return Problem(
            path.name,
            line,
            None,
            f"{len(row)} fields but the header has {width}: fill the missing cells",
        )
    return None
