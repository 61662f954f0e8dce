"""Issue 14: the endpoints CSV is formatted in Arrow, column by column, and must
give the very bytes the pandas writer gave (``_reference_csv`` below, a frozen
copy of the formatting before the change: ``_csv_frame`` + ``safe_frame`` +
``to_csv``) for every input: missing cells in every column, formula-like and
quoted text, unicode, large integers, float spellings, dates of any year.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import itpcohort
from itpcohort.response import table
from itpcohort.response.table import ENDPOINT_COLUMNS, normalise_endpoints
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"


# -- the reference: the writer as it was before issue 14's change, frozen here --

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _old_safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _old_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out[column] = values.map(_old_safe_cell, na_action="ignore")
    out.columns = [_old_safe_cell(str(c)) for c in out.columns]
    return out


def _old_csv_frame(endpoints: pd.DataFrame) -> pd.DataFrame:
    out = endpoints.copy()
    for col in table.DATE_COLUMNS:
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    for col in ("response_duration_censored", "sustained_off_treatment"):
        out[col] = out[col].map({True: "true", False: "false"}).astype("string")
    return out


def _reference_csv(endpoints: pd.DataFrame, batches: int = 1) -> bytes:
    """The bytes ``write_endpoints`` (``write_endpoint_batches``) wrote before."""
    size = max(1, math.ceil(len(endpoints) / batches))
    parts = [endpoints.iloc[i : i + size] for i in range(0, len(endpoints), size)] or [endpoints]
    text = "".join(
        _quoted_cr(_old_safe_frame(_old_csv_frame(part))).to_csv(
            None, header=n == 0, index=False, na_rep=""
        )
        for n, part in enumerate(parts)
    )
    # one change on purpose: a cell with a carriage return is quoted (Python 3.11's csv
    # module left it bare with a \n line end, and readers broke the row there)
    return text.replace(_CR, "\r").encode("utf-8")


_CR = "\x01,\x01"  # stands for \r while pandas writes: its comma makes the cell quoted


def _quoted_cr(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in ("patient_id", "best_response", "loss_phase"):
        out[column] = out[column].astype("string").str.replace("\r", _CR, regex=False)
    return out


def _written(endpoints: pd.DataFrame, folder: Path, batches: int = 1) -> tuple[bytes, bytes]:
    """What ``write_endpoints`` and ``write_endpoint_batches`` write now."""
    size = max(1, math.ceil(len(endpoints) / batches))
    parts = [endpoints.iloc[i : i + size] for i in range(0, len(endpoints), size)] or [endpoints]
    whole = table.write_endpoints(endpoints, folder / "whole.csv")
    batched = table.write_endpoint_batches(parts, folder / "batched.csv")
    return whole.read_bytes(), batched.read_bytes()


# -- the frames --


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A normalised endpoints table from rows (a missing key = a missing cell)."""
    columns = {c: [r.get(c) for r in rows] for c in ENDPOINT_COLUMNS}
    for col in table.DATE_COLUMNS:
        columns[col] = np.array(  # type: ignore[assignment]
            [np.datetime64("NaT") if v is None else np.datetime64(v, "s") for v in columns[col]],
            dtype="datetime64[s]",
        )
    columns["sustained_off_treatment"] = [bool(v) for v in columns["sustained_off_treatment"]]
    raw = pd.DataFrame(columns)
    raw["baseline_platelets"] = pd.array(
        [np.nan if v is None else v for v in columns["baseline_platelets"]], dtype="float64"
    )
    for col in table.DAY_COLUMNS:
        raw[col] = pd.array(columns[col], dtype="Int64")
    raw["response_duration_censored"] = pd.array(
        columns["response_duration_censored"], dtype="boolean"
    )
    return normalise_endpoints(raw)


FORMULA_IDS = ["=SUM(A1)", "+1+2", "-x", "@cmd", "\tP1", "\rP2", "-5", "+3.2", "1e-3", "-inf"]
ODD_IDS = ["a,b", 'say "hi"', "line\nbreak", "cr\rin", "é-ñ-中文", " lead", "'q", "", "x\x00y"]


def _hand_made() -> pd.DataFrame:
    full = {
        "start_date": "2020-01-01",
        "end_date": "2020-12-31",
        "baseline_platelets": 33.0,
        "best_response": "R",
        "response_date": "2020-02-01",
        "days_to_response": 31,
        "cr_date": "2020-03-01",
        "days_to_cr": 60,
        "loss_date": "2020-06-01",
        "loss_phase": "full",
        "response_duration_days": 2**62,
        "response_duration_censored": False,
        "sustained_off_treatment": True,
        "treatment_days": -(2**63) + 1,
    }
    rows = [{"patient_id": p, **full} for p in FORMULA_IDS + ODD_IDS]
    rows.append({"patient_id": None})  # missing in every column
    rows.append({"patient_id": "P-none", "response_duration_censored": True})
    floats = [0.1, 1e-5, 1e20, 1e16, 123456789.123, -0.0, float("inf"), 2.5e-300, 15.0]
    floats += [-3.0, 0.0, 1e15, 999999999999999.0, 5e-324, -float("inf"), 2**53 + 2.0]
    rows += [{"patient_id": f"F{i}", "baseline_platelets": v} for i, v in enumerate(floats)]
    times = ["1969-12-31T12:00:00", "1000-01-01", "9999-12-31T23:59:59", "1500-06-01T23:59"]
    rows += [{"patient_id": f"D{i}", "start_date": t, "loss_date": t} for i, t in enumerate(times)]
    rows += [
        {"patient_id": f"T{i}", "loss_phase": v, "best_response": v}
        for i, v in enumerate(FORMULA_IDS + ODD_IDS)
    ]
    return _frame(rows)


def test_the_hand_made_table_is_written_as_before(tmp_path: Path) -> None:
    frame = _hand_made()
    assert table._csv_columns(frame) is not None  # the fast path, not the fallback
    expected = _reference_csv(frame)
    assert _written(frame, tmp_path, batches=4) == (expected, _reference_csv(frame, batches=4))
    text = expected.decode()
    # spot checks worked out by hand, so that the reference itself is pinned
    assert "\n'=SUM(A1),2020-01-01," in text
    assert "\n-5,2020-01-01," in text  # a number: no quote mark
    assert '\n"\'\tP1",' not in text and "\n'\tP1," in text  # a tab is not quoted
    assert '\n"\'\rP2",2020' in text  # a carriage return is quoted (readers break rows there)
    assert '\n"line\nbreak",2020' in text
    assert '\n"a,b",' in text and '\n"say ""hi""",' in text
    assert ",true,-9223372036854775807\n" in text and ",4611686018427387904," in text
    assert "\n,,,,,,,,,,,,,false,\n" in text  # the all-missing row
    assert "\nF10,,,0.0," in text and "\nF12,,,999999999999999.0," in text
    assert "\nF11,,,1000000000000000.0," in text and "\nF5,,,-0.0," in text
    assert "\nF2,,,1e+20," in text and "\nF1,,,1e-05," in text and "\nF6,,,inf," in text
    assert "\nD0,1969-12-31,,," in text and "\nD2,9999-12-31,," in text


def test_dates_before_year_1000_take_the_old_path(tmp_path: Path) -> None:
    frame = _frame([{"patient_id": "old", "start_date": "0999-05-06"}, {"patient_id": "new"}])
    assert table._csv_columns(frame) is None
    assert _written(frame, tmp_path) == (_reference_csv(frame),) * 2


def test_a_table_not_normalised_takes_the_old_path(tmp_path: Path) -> None:
    frame = _hand_made().astype({"patient_id": object, "days_to_cr": "float64"})
    assert table._csv_columns(frame) is None
    whole, batched = _written(frame, tmp_path, batches=3)
    # the hand-made table has a carriage return in a cell: the old path then ends its
    # lines with CRLF, so that the csv module quotes that cell; the cells are the same
    assert whole.count(b"\r\n") == len(frame) + 1 and b'"\'\rP2",' in whole

    def rows(data: bytes) -> list[list[str]]:
        return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))

    assert rows(whole) == rows(_reference_csv(frame))
    assert rows(batched) == rows(_reference_csv(frame, batches=3))
    texts = frame[["patient_id", "best_response", "loss_phase"]].astype("string")
    plain = frame[~texts.apply(lambda c: c.str.contains("\r", na=False)).any(axis=1)]
    assert _written(plain, tmp_path, batches=3) == (
        _reference_csv(plain),
        _reference_csv(plain, batches=3),
    )  # without one, the bytes of before


def test_empty_tables_and_no_batches(tmp_path: Path) -> None:
    empty = _hand_made().iloc[:0]
    assert _written(empty, tmp_path) == (_reference_csv(empty),) * 2
    assert _reference_csv(empty) == (",".join(ENDPOINT_COLUMNS) + "\n").encode()
    assert table.write_endpoint_batches([], tmp_path / "none.csv").read_bytes() == b""


def test_the_demo_cohorts_endpoints_are_written_as_before(tmp_path: Path) -> None:
    endpoints = itpcohort.evaluate(EXAMPLE)
    assert len(endpoints) == 5 and table._csv_columns(endpoints) is not None
    assert _written(endpoints, tmp_path, batches=2) == (
        _reference_csv(endpoints),
        _reference_csv(endpoints, batches=2),
    )


_TEXT = st.one_of(
    st.none(),
    st.sampled_from(FORMULA_IDS + ODD_IDS),
    st.text(alphabet=st.sampled_from("=+-@\t\r\n,\"' aZ09.é中e"), max_size=6),
)
_DATE = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)),
)
_INT = st.one_of(st.none(), st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
_ROW = st.fixed_dictionaries(
    {
        "patient_id": _TEXT,
        "start_date": _DATE,
        "end_date": _DATE,
        "baseline_platelets": st.one_of(st.none(), st.floats(allow_nan=False)),
        "best_response": _TEXT,
        "response_date": _DATE,
        "days_to_response": _INT,
        "cr_date": _DATE,
        "days_to_cr": _INT,
        "loss_date": _DATE,
        "loss_phase": _TEXT,
        "response_duration_days": _INT,
        "response_duration_censored": st.one_of(st.none(), st.booleans()),
        "sustained_off_treatment": st.booleans(),
        "treatment_days": _INT,
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_ROW, min_size=1, max_size=6), batches=st.integers(1, 3))
def test_any_table_is_written_as_before(
    tmp_path: Path, rows: list[dict[str, Any]], batches: int
) -> None:
    frame = _frame(rows)
    assert _written(frame, tmp_path, batches) == (
        _reference_csv(frame),
        _reference_csv(frame, batches),
    )


@pytest.mark.parametrize("value", FORMULA_IDS + ODD_IDS)
def test_each_odd_text_in_each_text_column(tmp_path: Path, value: str) -> None:
    frame = _frame([{"patient_id": value, "best_response": value, "loss_phase": value}])
    assert _written(frame, tmp_path) == (_reference_csv(frame),) * 2


def test_slices_of_rows_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path formats a slice of rows at a time (memory): slices of 3 rows give the
    bytes of one slice, with and without a header, in one file and in batches."""
    frame = _hand_made()
    whole = _written(frame, tmp_path)
    monkeypatch.setattr(table, "_CSV_SLICE_ROWS", 3)
    assert len(frame) > 3 and _written(frame, tmp_path, batches=2) == (
        whole[0],
        _reference_csv(frame, batches=2),
    )
    empty = frame.iloc[:0]
    assert _written(empty, tmp_path) == (_reference_csv(empty),) * 2
