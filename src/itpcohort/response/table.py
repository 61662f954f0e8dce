"""The endpoints table: its columns (the spec's), one set of dtypes, and writing it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from itpcohort.errors import ItpCohortError
from itpcohort.outputs import atomic_path, safe_frame, write_csv

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
    if target.suffix.lower() == ".csv":
        return write_csv(_csv_frame(endpoints), target)  # spreadsheet-safe IDs
    with atomic_path(target) as temporary:
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
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                for number, batch in enumerate(batches):
                    csv = safe_frame(_csv_frame(batch))
                    csv.to_csv(handle, header=number == 0, index=False, na_rep="")
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
