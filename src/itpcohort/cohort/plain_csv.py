"""Plain CSV files, read by Arrow's CSV reader: the fast way for machine-written tables.

The exact way (``sources.py``) reads a CSV file record by record with Python's
csv module: it knows every oddity (a quoted field over several lines, a blank
line, a short row, a stray byte) and says where it is, but it takes about 4 s
and 0.5 GB per million rows. Registry exports are mostly *plain*: ASCII text
without quotes, without blank lines and without control characters other than
tabs, every line ending in a newline or CRLF. In a plain file one line is one
record, split at its commas, so a row's line number is its position plus 2
(the header is line 1) and Arrow's reader gives the very cells the csv module
gives. :func:`data_lines` decides from the file's bytes; :func:`batches`
reads it and fails on anything unexpected (a row of another width, a cell
longer than the csv module allows). The caller then takes the exact way: the
fast way never changes what is read, only how fast.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: bytes a plain file may hold: printable ASCII but the quote, tab, newline, carriage return
_PLAIN_BYTES = bytes(b for b in range(0x20, 0x7F) if b != ord('"')) + b"\t\n\r"
#: bytes read at a time while checking (then up to the end of that line)
CHUNK = 1 << 24
#: the longest cell the exact way accepts (the csv module's limit)
FIELD_LIMIT = csv.field_size_limit()


class NotPlain(Exception):
    """Arrow met something a plain file does not hold: take the exact way."""


def data_lines(path: Path) -> int | None:
    """The number of lines after the header if ``path`` is a plain file, else None.

    Plain: only the bytes above (after a UTF-8 byte-order mark, if any), no blank
    line, no carriage return but in a CRLF line end.
    """
    lines, ends_in_newline, first = 0, True, True
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            chunk += handle.readline()  # whole lines: no CRLF or blank line is split
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]  # Excel's mark (the header's, read apart)
            if chunk.translate(None, _PLAIN_BYTES):
                return None  # a quote, a byte that is not ASCII, a control character
            if b"\n\n" in chunk or b"\n\r\n" in chunk or chunk.count(b"\r") != chunk.count(b"\r\n"):
                return None  # a blank line, or a bare carriage return
            if chunk.startswith((b"\n", b"\r\n")):
                return None  # a blank first line, or one after the previous chunk's last
            lines += chunk.count(b"\n")
            ends_in_newline = chunk.endswith(b"\n")
            first = False
    if first:
        return None  # empty: the exact way says so
    return lines - (1 if ends_in_newline else 0)


def batches(path: Path, width: int) -> Iterator[pa.RecordBatch]:
    """The rows after the header as text columns ``c0``, ``c1``, ... and ``_line``.

    Every row must have ``width`` fields and no cell may be longer than the csv
    module's limit; otherwise :class:`NotPlain` is raised (possibly after some
    batches were given).
    """
    names = [f"c{i}" for i in range(width)]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            quote_char=False, newlines_in_values=False, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False
        ),
    )
    line = 2
    try:
        for batch in reader:
            for column in batch.columns:
                longest = pc.max(pc.binary_length(column)).as_py()
                if longest is not None and longest > FIELD_LIMIT:
                    raise NotPlain(f"a cell longer than {FIELD_LIMIT} characters")
            numbers = pa.array(np.arange(line, line + batch.num_rows, dtype=np.int64))
            line += batch.num_rows
            yield pa.RecordBatch.from_arrays([*batch.columns, numbers], [*names, "_line"])
    except pa.ArrowInvalid as exc:  # a row of another width, say
        raise NotPlain(str(exc)) from None
