"""Figures on hostile and empty inputs: bounded PNGs, capped patient IDs, a capped
swimmer plot, and "no data" figures instead of errors. Expected values by hand."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from itpcohort.report import figures, write_report
from itpcohort.statistics.survival import kaplan_meier
from tests.conftest import ROOT

MINI = ROOT / "examples" / "tacrolimus-mini"


def _png_size(fig: plt.Figure, folder: Path, name: str) -> tuple[int, int]:
    png = figures.save(fig, folder, name)[0]
    with Image.open(png) as image:
        return image.size


def _endpoints(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    nat = np.array(["NaT"] * n, dtype="datetime64[s]")
    return pd.DataFrame(
        {
            "patient_id": ids,
            "start_date": np.array(["2024-01-01"] * n, dtype="datetime64[s]"),
            "end_date": np.array(["2024-04-09"] * n, dtype="datetime64[s]"),
            "best_response": "NR",
            "response_date": nat,
            "cr_date": nat,
            "loss_date": nat,
            "treatment_days": pd.array([100] * n, dtype="Int64"),
        }
    )


def _treatments(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ids,
            "drug": "tacrolimus",
            "role": "study",
            "start_date": pd.Timestamp("2024-01-01"),
            "end_date": pd.Timestamp("2024-04-09"),
            "phase": "full",
        }
    )


def _swimmer(ids: list[str]) -> plt.Figure:
    bleeding = pd.DataFrame({"patient_id": [], "date": [], "who_grade": []})
    aes = pd.DataFrame({"patient_id": [], "onset_date": []})
    return figures.swimmer(_endpoints(ids), _treatments(ids), bleeding, aes, "tacrolimus")


def _texts(fig: plt.Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


def test_short_label() -> None:
    assert figures.short_label("P01") == "P01"
    assert figures.short_label("x" * 24) == "x" * 24
    assert figures.short_label("x" * 25) == "x" * 23 + "\u2026"


def test_swimmer_with_a_10000_character_id_is_bounded(tmp_path: Path) -> None:
    fig = _swimmer(["P" * 10_000, "P02"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == ["P02", "P" * 23 + "\u2026"]
    width, height = _png_size(fig, tmp_path, "swimmer")
    assert width <= figures.MAX_PIXELS and height <= figures.MAX_PIXELS
    assert width < 2000  # 8 inches at 200 dpi, plus the capped labels


def test_swimmer_of_500_patients_shows_the_first_100_by_id(tmp_path: Path) -> None:
    ids = [f"P{i:03d}" for i in range(499, -1, -1)]  # given in reverse order
    fig = _swimmer(ids)
    shown = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert shown == {f"P{i:03d}" for i in range(100)}
    assert fig.axes[0].get_title() == (
        "Treatment course per patient (the first 100 of 500 patients by patient ID)"
    )
    width, height = _png_size(fig, tmp_path, "swimmer")
    assert width <= figures.MAX_PIXELS and height <= figures.MAX_PIXELS


def test_save_bounds_any_figure(tmp_path: Path) -> None:
    fig, ax = plt.subplots(figsize=(40, 30))  # 8000 x 6000 px at 200 dpi
    ax.plot([0, 1], [0, 1])
    width, height = _png_size(fig, tmp_path, "big")
    assert width <= figures.MAX_PIXELS and height <= figures.MAX_PIXELS
    assert width > 0.9 * figures.MAX_PIXELS  # scaled down, not cropped: 4:3 kept
    assert abs(width / height - 4 / 3) < 0.02


def test_empty_kaplan_meier_is_an_empty_curve_and_a_no_data_figure() -> None:
    curve = kaplan_meier("duration of response", pd.Series([], dtype="Int64"), pd.Series([]))
    assert curve.fitter is None
    assert curve.as_dict() == {
        "n": 0,
        "events": 0,
        "median_months": None,
        "ci_low_months": None,
        "ci_high_months": None,
    }
    fig = figures.km_figure(curve)
    assert "No data: no patient to estimate this curve from" in _texts(fig)
    assert "Duration of response" in _texts(fig)
    plt.close(fig)


def test_swimmer_without_treated_patients_says_no_data() -> None:
    fig = _swimmer([])
    assert "No data: no patient started the study drug" in _texts(fig)
    plt.close(fig)


def _mini_copy(tmp_path: Path, platelets: str) -> Path:
    folder = tmp_path / "cohort"
    shutil.copytree(MINI, folder)
    path = folder / "labs.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    if platelets == "none":
        rows = []
    else:  # at most 20 x10^9/L: nobody responds
        for row in rows:
            if row["test"] == "platelets":
                row["value"] = str(min(float(row["value"]), 20))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["patient_id", "date", "test", "value", "unit"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.mark.parametrize("platelets", ["no responder", "none"])
def test_report_without_responders_or_labs_is_written(tmp_path: Path, platelets: str) -> None:
    report = write_report(_mini_copy(tmp_path, platelets), tmp_path / "report")
    assert report.html.exists()
    assert report.summary["kaplan_meier"]["response_duration"]["n"] == 0
    for name in ("figure1", "km_response_duration", "swimmer", "trajectories"):
        with Image.open(tmp_path / "report" / "figures" / f"{name}.png") as image:
            assert max(image.size) <= figures.MAX_PIXELS
