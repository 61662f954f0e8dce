"""The fast way for plain CSV files (Arrow's reader) reads exactly what the exact way reads.

Every case loads one file twice, through ``load_source`` as the reader does and
with the fast way switched off, and compares the relation (every cell and
``_line``), the columns, the problems and the rows set aside. The cases that are
plain also check that the fast way was taken, so a fast way that always gave
up would fail here.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itpcohort.cohort import plain_csv, sources


def _load(path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    taken: list[bool] = []
    real = sources._load_plain_csv

    def spy(*args):  # type: ignore[no-untyped-def]
        source = real(*args)
        taken.append(source is not None)
        return source

    with monkeypatch.context() as m:
        m.setattr(sources, "_load_plain_csv", spy)
        if not fast:
            m.setattr(plain_csv, "data_lines", lambda p: None)
        con = duckdb.connect()
        source = sources.load_source(con, path, "labs")
        rows = con.sql(f"SELECT * FROM {source.relation} ORDER BY _line").fetchall()
        names = [d[0] for d in con.sql(f"SELECT * FROM {source.relation}").description]
        con.close()
    problems = [(p.file, p.line, p.column, p.message, p.severity) for p in source.problems]
    return (
        any(taken),
        names,
        rows,
        source.columns,
        problems,
        dict(source.set_aside),
        source.readable,
    )


def _both(tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[bool, object]:
    """(whether the fast way read the file, what was read); fails if the two ways differ."""
    path = tmp_path / "labs.csv"
    path.write_bytes(data)
    fast = _load(path, fast=True, monkeypatch=monkeypatch)
    exact = _load(path, fast=False, monkeypatch=monkeypatch)
    assert exact[0] is False
    assert fast[1:] == exact[1:]
    return bool(fast[0]), fast[1:]


PLAIN = (
    b"patient_id,date,test,value,unit\n"
    b"P01,2024-01-02,platelets,25,10^9/L\n"
    b"P01,2024-01-09,platelets,,10^9/L\n"
)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (PLAIN, "newline line ends"),
        (PLAIN.replace(b"\n", b"\r\n"), "CRLF line ends"),
        (PLAIN.rstrip(b"\n"), "no newline after the last line"),
        (PLAIN + b" , \t,, ,\n", "a row of blanks holds no row"),
        (PLAIN + b"P02, 2024-01-03 ,\tplatelets , \t,10^9/L\n", "cells of spaces and tabs"),
        (b"patient_id,,date\nP01,x,2024-01-01\nP02,,2024-01-02\n", "an unnamed column with data"),
        (b"patient_id, ,date\nP01,,2024-01-01\n", "an unnamed column without data"),
        (b"patient_id,Date,DATE\nP01,2024-01-01,2024-01-02\n", "a repeated column name"),
        (b"patient_id,_line\nP01,7\n", "a reserved column name"),
        (b"patient_id\nP01\n   \nP02\n", "one column, a line of spaces"),
        (b"patient_id,date\n", "the header only"),
        (b"\xef\xbb\xbf" + PLAIN, "a byte-order mark (Excel's CSV UTF-8)"),
    ],
)
def test_plain_files_take_the_fast_way_and_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, why: str
) -> None:
    fast, _ = _both(tmp_path, data, monkeypatch)
    assert fast, why


def test_plain_rows_keep_their_physical_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = PLAIN + b",,,,\n" + b"P03,2024-02-01,platelets,99,10^9/L\n"
    fast, read = _both(tmp_path, data, monkeypatch)
    assert fast
    names, rows = read[0], read[1]
    assert names == ["patient_id", "date", "test", "value", "unit", "_line"]  # type: ignore[comparison-overlap]
    # header line 1, rows on 2 and 3, the blank row on line 4 holds no row, P03 on line 5
    assert [r[-1] for r in rows] == [2, 3, 5]  # type: ignore[attr-defined]
    assert rows[1][3] is None  # type: ignore[index]  # the empty value stays empty


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (PLAIN + b'P02,2024-01-03,platelets,"1,5",10^9/L\n', "a quote"),
        (PLAIN + b'P02,2024-01-03,platelets,"1\n5",10^9/L\n', "a quoted line break"),
        (PLAIN + "P02,2024-01-03,plaquettes,12,µmol/L\n".encode(), "a byte that is not ASCII"),
        (PLAIN + b"\nP02,2024-01-03,platelets,12,10^9/L\n", "a blank line"),
        (PLAIN + b"\r\nP02,2024-01-03,platelets,12,10^9/L\r\n", "a blank CRLF line"),
        (PLAIN + b"P02,2024-01-03,platelets,12,10^9/L\rP03,x,y,z,w\n", "a bare carriage return"),
        (PLAIN + b"P02,2024-01-03,platelets,12\n", "a short row"),
        (PLAIN + b"P02,2024-01-03,platelets,12,10^9/L,,\n", "a long row with blank extras"),
        (PLAIN + b"P02,2024-01-03,platelets,12,10^9/L,extra\n", "a long row with data"),
        (PLAIN + b"P02,2024-01-03,platelets,12,10^9/L\x0b\n", "a control character"),
        (PLAIN + b"P02,2024-01-03,platelets,12,10^9/L\n   \n", "a line of spaces"),
        (PLAIN + b"P02,x,y," + b"9" * (plain_csv.FIELD_LIMIT + 1) + b",u\n", "an overlong cell"),
        (PLAIN + b"\n\n", "blank lines at the end"),
        (b"", "an empty file"),
        (b"\npatient_id\nP01\n", "a blank first line"),
        (PLAIN + b"\xef\xbb\xbfP02,x,y,z,w\n", "a byte-order mark after the start"),
        (b"\xef\xbb\xbf\xef\xbb\xbf" + PLAIN, "two byte-order marks"),
    ],
)
def test_other_files_take_the_exact_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, why: str
) -> None:
    fast, _ = _both(tmp_path, data, monkeypatch)
    assert not fast, why


def test_a_cell_at_the_csv_modules_limit_is_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = PLAIN + b"P02,x,y," + b"9" * plain_csv.FIELD_LIMIT + b",u\n"
    fast, _ = _both(tmp_path, data, monkeypatch)
    assert fast


def test_data_lines_counts_the_lines_after_the_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    for data, lines in [(b"a\n1\n2\n", 2), (b"a\n1\n2", 2), (b"a\r\n1\r\n", 1), (b"a\n", 0)]:
        path.write_bytes(data)
        assert plain_csv.data_lines(path) == lines, data


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.text(alphabet='aZ09 \t._-"é\x0b', max_size=5), min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.booleans(),
)
def test_any_file_reads_the_same_both_ways(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
    end: bytes,
    final_end: bool,
) -> None:
    text = end.join(",".join(row).encode() for row in [["h1", "", "H3"][: len(rows[0])], *rows])
    _both(tmp_path, text + (end if final_end else b""), monkeypatch)
