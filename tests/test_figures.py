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
    assert fig.axes[0].get_title(loc="left") == (
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
    assert curve.empty and curve.n == 0 and curve.events == 0
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
    for name in ("flow", "figure1", "response_duration", "swimmer", "trajectories"):
        with Image.open(tmp_path / "report" / "figures" / f"{name}.png") as image:
            assert max(image.size) <= figures.MAX_PIXELS


def test_flow_diagram_is_drawn_with_every_count() -> None:
    flow = {
        "screened": 12,
        "excluded: declined consent": 2,
        "excluded: platelet count >= 100 x10^9/L": 1,
        "excluded": 3,
        "enrolled": 9,
        "started the study drug": 9,
        "not evaluable (no baseline count)": 1,
        "evaluable": 8,
        "responders (CR or R)": 5,
        "complete responders (CR)": 2,
    }
    fig = figures.flow_diagram(flow)
    texts = _texts(fig)
    assert "Screened\nn = 12" in texts and "Enrolled\nn = 9" in texts
    assert (
        "Excluded, n = 3\ndeclined consent: 2\nplatelet count \u2265 100 \u00d710\u2079/L: 1"
        in texts
    )
    assert "Not evaluable: no baseline count\nn = 1" in texts
    assert "Responders (CR or R)\nn = 5\nof whom CR, n = 2" in texts
    assert len(fig.axes[0].patches) == 7  # five boxes down, two to the side
    plt.close(fig)


def _annotations(fig: plt.Figure) -> list[str]:
    from matplotlib.text import Annotation

    return [c.get_text() for ax in fig.axes for c in ax.get_children() if isinstance(c, Annotation)]


def test_curves_have_censor_ticks_and_numbers_at_risk() -> None:
    # times in days: 30 (event), 61 (censored), 91 (event), 400 (censored)
    curve = kaplan_meier("x", pd.Series([30, 61, 91, 400]), pd.Series([1, 0, 1, 0]))
    fig = figures.km_figure(curve)
    ax = fig.axes[0]
    ticks = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert len(ticks) == 1 and list(ticks[0].get_xdata()) == pytest.approx(
        [61 / 30.4375, 400 / 30.4375]
    )
    # x ticks every 3 months to 13.1 months: at 0, 3, 6, 9, 12 months (0, 91.3, ... days)
    # at risk (time >= t): 4, 2 (91 and 400 at 91.3 days? 91 < 91.3: only 400), ...
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "3", "6", "9", "12"]
    assert _annotations(fig) == ["4", "1", "1", "1", "1"]
    assert "No. at risk" in _texts(fig)
    plt.close(fig)


def test_incidence_figure_draws_the_competing_event() -> None:
    from itpcohort.statistics.survival import aalen_johansen

    curve = aalen_johansen("t", pd.Series([10, 20, 30, 40]), pd.Series([1, 2, 1, 0]))
    fig = figures.incidence_figure(curve)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "stopped without response (competing)" in labels and "censored" in labels
    plt.close(fig)


def test_status_by_month_is_worked_by_hand() -> None:
    e = _endpoints(["P1", "P2", "P3"])
    e["best_response"] = ["CR", "R", "NR"]
    e["response_date"] = pd.to_datetime(["2024-01-20", "2024-02-15", None])
    e["cr_date"] = pd.to_datetime(["2024-02-10", None, None])
    e["loss_date"] = pd.to_datetime([None, "2024-03-20", None])
    e["treatment_days"] = pd.array([100, 100, 40], dtype="Int64")
    shares = figures.status_by_month(e, 3)
    # month 0 (day 0): all three NR; month 1 (day 30.4): P1 R (CR from day 40), P2 NR, P3 NR;
    # month 2 (day 60.9): P1 CR, P2 R (day 45), P3 gone (40 days); month 3 (day 91.3):
    # P1 CR, P2 lost (day 79)
    assert shares["patients"].tolist() == [3, 3, 2, 2]
    assert shares["CR"].round(1).tolist() == [0.0, 0.0, 50.0, 50.0]
    assert shares["R"].round(1).tolist() == [0.0, 33.3, 50.0, 0.0]
    assert shares["lost"].round(1).tolist() == [0.0, 0.0, 0.0, 50.0]
    assert shares["NR"].round(1).tolist() == [100.0, 66.7, 0.0, 0.0]


def test_swimmer_groups_by_best_response_with_labels() -> None:
    ids = ["P1", "P2", "P3", "P4"]
    e = _endpoints(ids)
    e["best_response"] = ["NR", "CR", "NR", "R"]
    bleeding = pd.DataFrame({"patient_id": [], "date": [], "who_grade": []})
    aes = pd.DataFrame({"patient_id": [], "onset_date": []})
    fig = figures.swimmer(e, _treatments(ids), bleeding, aes, "tacrolimus")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["P2", "P4", "P1", "P3"]  # CR, R, then NR
    assert {"CR (n = 1)", "R (n = 1)", "NR (n = 2)"} <= set(_annotations(fig))
    plt.close(fig)


def test_trajectories_share_the_time_axis_and_mark_10_30_100() -> None:
    ids = ["P1", "P2"]
    e = _endpoints(ids)
    e["best_response"] = ["CR", "NR"]
    labs = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P2"],
            "date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-01", "2024-06-01"]),
            "test": "platelets",
            "value": [10.0, 150.0, 8.0, 20.0],
        }
    )
    fig = figures.trajectories(labs, e)
    a, b = fig.axes
    assert a.get_shared_x_axes().joined(a, b)
    assert {"10", "30", "100"} <= {t.get_text() for t in a.get_yticklabels()}
    assert a.get_title() == "Best response CR (n = 1)"
    plt.close(fig)


def test_trajectories_draw_at_most_the_first_patients_per_group() -> None:
    ids = [f"P{i:03d}" for i in range(figures.MAX_TRAJECTORY_PATIENTS + 5)]
    shown, sizes = figures.trajectory_patients(_endpoints(ids))
    assert shown["patient_id"].tolist() == ids[: figures.MAX_TRAJECTORY_PATIENTS]
    assert sizes == {"NR": len(ids)}


def test_forest_plot_rows() -> None:
    groups = {
        "sle": {
            "label": "SLE",
            "groups": {
                "true": {
                    "label": "Yes",
                    "n": 21,
                    "of": 23,
                    "percent": 91.3,
                    "ci_low": 72.0,
                    "ci_high": 98.9,
                },
                "false": {
                    "label": "No",
                    "n": 28,
                    "of": 38,
                    "percent": 73.7,
                    "ci_low": 56.9,
                    "ci_high": 86.6,
                },
            },
        }
    }
    fig = figures.forest(groups, 80.3)
    texts = _texts(fig)
    assert {"SLE", "   Yes", "   No", "21/23", "28/38"} <= set(texts)
    plt.close(fig)


def test_swimmer_draws_a_few_artists_whatever_the_number_of_patients() -> None:
    # bars and markers are collected per style and drawn once each (linear, bounded SVG)
    for n in (10, 500):
        ids = [f"P{i:03d}" for i in range(n)]
        e = _endpoints(ids)
        e["response_date"] = pd.Timestamp("2024-02-01")
        e["loss_date"] = pd.Timestamp("2024-03-01")
        bleeding = pd.DataFrame(
            {"patient_id": ids, "date": pd.Timestamp("2024-02-10"), "who_grade": 2}
        )
        aes = pd.DataFrame({"patient_id": ids, "onset_date": pd.Timestamp("2024-02-20")})
        fig = figures.swimmer(e, _treatments(ids), bleeding, aes, "tacrolimus")
        lines = fig.axes[0].get_lines()
        assert len(lines) == 4  # response, loss, bleeding, adverse event
        assert len(lines[0].get_xdata()) == min(n, figures.MAX_SWIMMER_PATIENTS)
        plt.close(fig)
