"""The endpoints table: its columns (the spec's), one set of dtypes, and writing it."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from itpcohort.errors import ItpCohortError
from itpcohort.outputs import atomic_path, line_end, safe_cell, safe_frame

#: the per-patient endpoints table, in the spec's column order
ENDPOINT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "start_date",
    "end_date",
    "baseline_platelets",
    "best_response",
    "response_date",
    "days_to_response",
    "cr_date",
    "days_to_cr",
    "loss_date",
    "loss_phase",
    "response_duration_days",
    "response_duration_censored",
    "sustained_off_treatment",
    "treatment_days",
)
DATE_COLUMNS = ("start_date", "end_date", "response_date", "cr_date", "loss_date")
DAY_COLUMNS = ("days_to_response", "days_to_cr", "response_duration_days", "treatment_days")


#: Arrow types to pandas' nullable dtypes, straight (no conversion pass per column)
NULLABLE_DTYPES = {
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
}


def normalise_endpoints(frame: pd.DataFrame) -> pd.DataFrame:
    """One set of dtypes whatever the engine: dates, nullable ints and booleans."""
    out = pd.DataFrame({"patient_id": frame["patient_id"].astype("string")})
    for col in ENDPOINT_COLUMNS[1:]:
        values = frame[col]
        if col in DATE_COLUMNS:
            out[col] = pd.to_datetime(values).astype("datetime64[s]")
        elif col in DAY_COLUMNS:
            out[col] = values.astype("Int64")
        elif col == "baseline_platelets":
            out[col] = values.astype("float64")
        elif col == "response_duration_censored":
            out[col] = values.astype("boolean")
        elif col == "sustained_off_treatment":
            out[col] = values.astype("bool")
        else:
            out[col] = values.astype("string")
    if not out["patient_id"].is_monotonic_increasing:
        out = out.sort_values("patient_id", kind="stable")
    return out.reset_index(drop=True)


def _csv_frame(endpoints: pd.DataFrame) -> pd.DataFrame:
    out = endpoints.copy()
    for col in DATE_COLUMNS:
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    for col in ("response_duration_censored", "sustained_off_treatment"):
        out[col] = out[col].map({True: "true", False: "false"}).astype("string")
    return out


#: the CSV's text columns: the only ones whose cells may need ``'`` or quotes
TEXT_COLUMNS = ("patient_id", "best_response", "loss_phase")
BOOLEAN_COLUMNS = ("response_duration_censored", "sustained_off_treatment")
#: a text cell matching neither needs neither a ``'`` (outputs.safe_cell) nor quotes
_FORMULA_START = "^[=+@\t\r-]"
_NOT_PLAIN = "[^0-9A-Za-z_ .:/'=+@-]"
#: rows joined into lines at a time (the text of a slice stays well under 2 GB)
_CSV_SLICE_ROWS = 1 << 16
#: dates the fast path writes as strftime does (4-digit years)
_DATE_RANGE = (np.datetime64("1000-01-01", "s"), np.datetime64("9999-12-31T23:59:59", "s"))


def _write_csv_rows(endpoints: pd.DataFrame, handle: BinaryIO, *, header: bool) -> None:
    """Append ``endpoints`` to a CSV: the bytes ``safe_frame(_csv_frame(...)).to_csv`` gives.

    A normalised table (:func:`normalise_endpoints`) is formatted column by
    column in Arrow, much faster, a slice of rows at a time (little memory on top of
    the table's); any other frame takes the pandas path.
    """
    for start in range(0, max(len(endpoints), 1), _CSV_SLICE_ROWS):
        part = endpoints.iloc[start : start + _CSV_SLICE_ROWS]
        first = header and start == 0
        columns = _csv_columns(part)
        if columns is None:
            frame = safe_frame(_csv_frame(part))
            # a text cell with a carriage return: CRLF line ends, so the csv module quotes it
            text = frame.to_csv(
                None, header=first, index=False, na_rep="", lineterminator=line_end(frame)
            )
            handle.write(text.encode("utf-8"))
            continue
        if first:
            handle.write((",".join(ENDPOINT_COLUMNS) + os.linesep).encode("utf-8"))
        if not len(part):
            continue
        rows = pc.binary_join_element_wise(*columns, ",")
        lines = pc.binary_join_element_wise(rows, os.linesep, "")
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
        handle.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[len(lines)]])


def _csv_columns(endpoints: pd.DataFrame) -> list[pa.Array] | None:
    """The cells of each column as CSV text (no nulls), or None if not a normalised table."""
    if tuple(endpoints.columns) != ENDPOINT_COLUMNS or not all(
        _normalised(col, endpoints[col].dtype) for col in ENDPOINT_COLUMNS
    ):
        return None
    columns: list[pa.Array] = []
    for col in ENDPOINT_COLUMNS:
        values = endpoints[col]
        if col in DATE_COLUMNS:
            dates = _csv_dates(values)
            if dates is None:
                return None
            columns.append(dates)
        elif col in TEXT_COLUMNS:
            columns.append(_csv_text(pa.array(values.array, type=pa.string())))
        elif col in BOOLEAN_COLUMNS:
            flags = pa.array(values.array, type=pa.bool_())
            columns.append(pc.fill_null(pc.if_else(flags, "true", "false"), ""))
        elif col == "baseline_platelets":
            columns.append(_csv_floats(values.to_numpy()))
        else:
            counts = pa.array(values.array, type=pa.int64())
            columns.append(pc.fill_null(pc.cast(counts, pa.string()), ""))
    return [_one_chunk(pc.fill_null(c, "")) for c in columns]


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _normalised(col: str, dtype: object) -> bool:
    """Whether a column has the dtype :func:`normalise_endpoints` gives it."""
    if col in DATE_COLUMNS:
        return isinstance(dtype, np.dtype) and dtype.kind == "M"
    if col in DAY_COLUMNS:
        return isinstance(dtype, pd.Int64Dtype)
    if col in BOOLEAN_COLUMNS:
        return isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool)
    if col == "baseline_platelets":
        return dtype == np.dtype("float64")
    return isinstance(dtype, pd.StringDtype)


def _csv_dates(values: pd.Series) -> pa.Array | None:
    """ISO dates as ``strftime("%Y-%m-%d")`` gives them; None outside years 1000-9999."""
    seconds = values.to_numpy().astype("datetime64[s]")
    missing = np.isnat(seconds)
    present = seconds[~missing]
    if len(present) and (present.min() < _DATE_RANGE[0] or present.max() > _DATE_RANGE[1]):
        return None
    days = seconds.astype("datetime64[D]").view("int64")
    days = np.where(missing, 0, days).astype("int32")
    return pc.cast(pa.array(days, mask=missing, type=pa.date32()), pa.string())


def _csv_floats(numbers: np.ndarray) -> pa.Array:
    """Floats as pandas' ``to_csv`` writes them: numpy's ``str`` (shortest repr), NaN empty.

    A whole number under 10**15 (not -0.0) is ``str`` of the integer plus ``.0``
    there; made so in Arrow, only the other numbers go through numpy's ``str``.
    """
    missing = np.isnan(numbers)
    whole = (np.abs(numbers) < 1e15) & (numbers == np.trunc(numbers))
    whole &= ~((numbers == 0) & np.signbit(numbers))
    integers = pa.array(np.where(whole, numbers, 0).astype(np.int64), mask=~whole)
    cells = pc.binary_join_element_wise(pc.cast(integers, pa.string()), ".0", "")
    rest = ~whole & ~missing
    if rest.any():
        cells = pc.replace_with_mask(cells, pa.array(rest), pa.array(numbers[rest].astype(str)))
    return cells


def _csv_text(values: pa.Array) -> pa.Array:
    """Text cells made spreadsheet-safe (:func:`safe_cell`) then quoted as the csv module does.

    Only cells that could need either go through Python, one by one.
    """
    for pattern, fix in ((_FORMULA_START, safe_cell), (_NOT_PLAIN, _csv_field)):
        mask = pc.fill_null(pc.match_substring_regex(values, pattern), False)
        if pc.any(mask).as_py():
            fixed = [fix(v) for v in pc.filter(values, mask).to_pylist()]
            values = pc.replace_with_mask(values, mask, pa.array(fixed, type=pa.string()))
    return values


def _csv_field(text: str) -> str:
    """One non-empty cell as pandas' ``to_csv`` writes it (the csv module, minimal quoting),
    and quoted too when it holds a carriage return: Python 3.11's csv module leaves
    ``\r`` unquoted with a ``\n`` line end, and a reader would break the row there."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL).writerow([text])
    field = buffer.getvalue()[: -len(os.linesep)]
    if "\r" in text and not field.startswith('"'):
        field = '"' + text.replace('"', '""') + '"'
    return field


#: the endpoints table's file formats, by suffix
FORMATS = (".csv", ".parquet")


def check_endpoints_path(path: str | Path) -> Path:
    """``path`` if it names a format of :data:`FORMATS`; else a clear error."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise ItpCohortError(
            f"cannot write the endpoints to '{target.name}': use a {' or '.join(FORMATS)} file name"
        )
    return target


def write_endpoints(endpoints: pd.DataFrame, path: str | Path) -> Path:
    """Write the endpoints table as CSV (ISO dates, true/false, empty = missing) or Parquet.

    Written atomically; in CSV a text cell a spreadsheet would run as a formula
    is prefixed with ``'`` (:mod:`itpcohort.outputs`).
    """
    target = check_endpoints_path(path)
    with atomic_path(target) as temporary:
        if target.suffix.lower() == ".csv":
            with temporary.open("wb") as handle:
                _write_csv_rows(endpoints, handle, header=True)
        else:
            pq.write_table(_arrow_table(endpoints), temporary, row_group_size=ROW_GROUP_ROWS)
    return target


#: rows per Parquet row group (pyarrow's default, so that batches give the same file)
ROW_GROUP_ROWS = 1024 * 1024


def write_endpoint_batches(batches: Iterable[pd.DataFrame], path: str | Path) -> Path:
    """Write the endpoints table given as consecutive batches of patients, one at a time.

    The same bytes as :func:`write_endpoints` of the batches concatenated, without
    holding more than a batch (and, in Parquet, a row group) in memory.
    """
    target = check_endpoints_path(path)
    with atomic_path(target) as temporary:
        if target.suffix.lower() == ".csv":
            with temporary.open("wb") as handle:
                for number, batch in enumerate(batches):
                    _write_csv_rows(batch, handle, header=number == 0)
        else:
            _write_parquet_batches((_arrow_table(b) for b in batches), temporary)
    return target


def _write_parquet_batches(tables: Iterable[pa.Table], path: Path) -> None:
    """Row groups of :data:`ROW_GROUP_ROWS` rows whatever the batches' sizes."""
    writer: pq.ParquetWriter | None = None
    pending: list[pa.Table] = []
    try:
        for table in tables:
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(path, schema)
            pending.append(table.cast(schema))
            while sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                rows = pa.concat_tables(pending)
                writer.write_table(rows.slice(0, ROW_GROUP_ROWS))
                pending = [rows.slice(ROW_GROUP_ROWS)]
        if writer is not None and sum(t.num_rows for t in pending):
            writer.write_table(pa.concat_tables(pending))
    finally:
        if writer is not None:
            writer.close()


def _arrow_table(endpoints: pd.DataFrame) -> pa.Table:
    """The endpoints as Arrow: text IDs as ``string``, dates as ``date32``."""
    table = pa.Table.from_pandas(endpoints, preserve_index=False)
    table = table.set_column(0, "patient_id", table.column("patient_id").cast(pa.string()))
    for col in DATE_COLUMNS:
        i = table.schema.get_field_index(col)
        table = table.set_column(i, col, table.column(col).cast(pa.date32()))
    return table
