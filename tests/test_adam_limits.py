"""ADaM export at the edges: dates past pandas' 2262 limit and what SAS XPORT v5
cannot hold (text over 200 characters, non-ASCII). Expected values worked by hand."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
from typer.testing import CliRunner

from itpcohort.cli import app
from itpcohort.exporters import adam
from tests.conftest import ROOT

MINI = ROOT / "examples" / "tacrolimus-mini"


def _seconds(*values: str | None) -> np.ndarray:
    return np.array([v or "NaT" for v in values], dtype="datetime64[s]")


def _mini_copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(MINI, folder)
    return folder


def _edit(path: Path, row: int, column: str, value: str) -> None:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    rows[row][column] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_adtte_after_2262_by_hand() -> None:
    e = pd.DataFrame(
        {
            "start_date": _seconds("2300-01-01", None),
            "treatment_days": pd.array([100, None], dtype="Int64"),
            "response_date": _seconds("2300-01-15", None),
            "cr_date": _seconds(None, None),
            "response_duration_days": pd.array([30, None], dtype="Int64"),
            "response_duration_censored": pd.array([False, None], dtype="boolean"),
        },
        index=pd.Index(["A", "B"], name="patient_id"),
    )
    out = adam._adtte(e, "S", {"A": "S-A", "B": "S-B"})
    # B never started: no rows. A: TTR event on day 14; TTCR censored at start + 100 days
    # (2300 is not a leap year: Jan 31 + Feb 28 + Mar 31 = 90, so 2300-04-11);
    # DOR from 2300-01-15 for 30 days = 2300-02-14, a loss (CNSR 0).
    assert out[["USUBJID", "PARAMCD", "AVAL", "CNSR"]].values.tolist() == [
        ["S-A", "TTR", 14.0, 0.0],
        ["S-A", "TTCR", 100.0, 1.0],
        ["S-A", "DOR", 30.0, 0.0],
    ]
    assert out["STARTDT"].dt.strftime("%Y-%m-%d").tolist() == [
        "2300-01-01",
        "2300-01-01",
        "2300-01-15",
    ]
    assert out["ADT"].dt.strftime("%Y-%m-%d").tolist() == ["2300-01-15", "2300-04-11", "2300-02-14"]
    assert out["EVNTDESC"].tolist() == [
        "RESPONSE (CR OR R)",
        "NO COMPLETE RESPONSE",
        "LOSS OF RESPONSE",
    ]


def test_writers_keep_dates_after_2262(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(
        {
            "STUDYID": ["S"],
            "USUBJID": ["S-A"],
            "ADT": pd.Series([pd.Timestamp("2300-12-31")], dtype=object),  # as objects
            "AVAL": [1.0],
        }
    )
    monkeypatch.setattr(adam, "adam_datasets", lambda *a, **k: {"adtte": frame})
    written = adam.write_adam(MINI, tmp_path / "out")
    csv_path, parquet_path, xpt_path = written["adtte"]
    assert csv_path.read_text().splitlines() == ["STUDYID,USUBJID,ADT,AVAL", "S,S-A,2300-12-31,1.0"]
    assert pd.read_parquet(parquet_path)["ADT"].astype(str).tolist() == ["2300-12-31"]
    xpt, _ = pyreadstat.read_xport(str(xpt_path))
    assert str(xpt["ADT"][0])[:10] == "2300-12-31"


def test_export_adam_with_a_date_after_2262_never_an_internal_error(tmp_path: Path) -> None:
    folder = _mini_copy(tmp_path, "far")
    _edit(folder / "treatments.csv", 1, "end_date", "2300-12-31")  # line 3: P01's taper
    result = CliRunner().invoke(app, ["export", "adam", str(folder), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    adrs = pd.read_csv(tmp_path / "o" / "adrs.csv")
    # P01's SUSTOFF row is dated at the end of the study drug, 2300-12-31
    sustoff = adrs[(adrs["PARAMCD"] == "SUSTOFF") & adrs["USUBJID"].str.endswith("P01")]
    assert list(sustoff["ADT"]) == ["2300-12-31"]


def test_xpt_limits_are_refused_naming_dataset_variable_subject(tmp_path: Path) -> None:
    folder = _mini_copy(tmp_path, "long")
    reason = "SLE with lupus nephritis " + "x" * 282
    assert len(reason) == 307
    _edit(folder / "patients.csv", 3, "excluded", reason)  # P04, the screened patient
    _edit(folder / "patients.csv", 0, "site", "Zürich")  # P01
    result = CliRunner().invoke(app, ["export", "adam", str(folder), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "SAS XPORT v5 cannot hold 2 value(s)" in output
    assert "ADSL SITEID of subject LONG-P01: non-ASCII character 'ü'" in output
    assert "ADSL EXCLREAS of subject LONG-P04: 307 characters (at most 200)" in output
    assert not (tmp_path / "o").exists()  # nothing written


def test_xpt_problems_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-2", "S-3"],
            "TEXT": ["ok", "é" + "a" * 200, None],
            "AVAL": [1.0, 2.0, 3.0],
        }
    )
    assert adam.xpt_problems("adsl", frame) == [
        "ADSL TEXT of subject S-2: non-ASCII character 'é' and 201 characters (at most 200)"
    ]
    assert adam.xpt_problems("adsl", frame.assign(TEXT="a" * 200)) == []
