"""The report: every file, summary.json keys, DOCX that opens, an HTML page that a
real headless Chromium renders offline with its figures and no console errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from docx import Document
from typer.testing import CliRunner

from itpcohort.cli import app
from itpcohort.report import write_report
from itpcohort.simulate import simulate

CHROMIUM = "/usr/bin/chromium"
SUMMARY_KEYS = {
    "patients_enrolled",
    "treatment_months",
    "overall_response",
    "complete_response",
    "time_to_response_months",
    "loss_of_response",
    "response_duration_months",
    "sustained_off_treatment",
    "overall_response_by",
    "adverse_effects",
    "stopped_for_adverse_effects",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("report")
    simulate(folder / "cohort")
    return write_report(folder / "cohort", folder / "out", by="sle")


def test_every_file_is_written(report) -> None:
    out = report.folder
    for name in ("flow", "baseline", "response", "subgroup", "safety", "comparison"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
        doc = Document(str(out / "tables" / f"{name}.docx"))
        assert doc.tables and len(doc.tables[0].rows) > 1
    for name in (
        "figure1",
        "km_time_to_response",
        "km_response_duration",
        "swimmer",
        "trajectories",
    ):
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / "figures" / f"{name}.svg").read_bytes()[:500]
    assert (out / "endpoints.csv").exists() and (out / "results.txt").exists()


def test_summary_json_keys_and_values(report) -> None:
    s = json.loads(report.summary_json.read_text())
    assert set(s) >= SUMMARY_KEYS
    assert s["overall_response"] == {"n": 49, "percent": 80.3, "ci_low": 68.2, "ci_high": 89.4}
    assert s["overall_response_by"]["sle"]["true"]["n"] == 21
    # the abstract publishes the median only (22 months); the quartiles are worked out
    # from the simulator's intended courses (cohort-truth.csv, which the report never
    # reads): 61 sorted treatment durations, type 7 positions (61 - 1) x 0.25 = 15 and
    # (61 - 1) x 0.75 = 45 fall on values (no interpolation): 326 and 1211 days,
    # 326 / 30.4375 = 10.71 -> 10.7 and 1211 / 30.4375 = 39.79 -> 39.8 months
    truth = pd.read_csv(report.folder.parent / "cohort-truth.csv")
    durations = sorted(truth["treatment_days"])
    assert len(durations) == 61
    assert (durations[15], durations[30], durations[45]) == (326, 670, 1211)
    assert s["treatment_months"] == {"median": 22.0, "q1": 10.7, "q3": 39.8}


def test_results_paragraph(report) -> None:
    text = report.paragraph
    assert text.startswith(
        "A total of 61 patients were enrolled with a median treatment "
        "duration of 22.0 months. The overall response rate was 80.3% "
        "(n = 49; 95% CI 68.2-89.4), including 49.2% complete responses "
        "(n = 30)."
    )
    assert (
        "8 (16.3%) patients with a response experienced a loss of response, 12.2% (n = 6) "
        "during full-dose treatment, 2 during tapering." in text
    )
    assert "11 (18.0%) patients had a sustained response" in text


def test_html_is_self_contained(report) -> None:
    page = report.html.read_text()
    assert not re.search(r"""(src|href)=["']?https?://""", page)
    assert page.count("data:image/png;base64,") == 5
    assert "Table 1. Response characteristics" in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_report_renders_in_headless_chromium(report) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.html.as_uri())
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        heading = page.inner_text("h1")
        page.screenshot(path=str(report.folder / "report-screenshot.png"), full_page=False)
        browser.close()
    assert errors == []
    assert len(widths) == 5 and all(w > 500 for w in widths)
    assert "tacrolimus" in heading


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--output", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "49 (80.3%)" in result.output
    assert (tmp_path / "demo" / "report" / "report.html").exists()
    assert (tmp_path / "demo" / "truth.csv").exists()


def test_simulate_and_report_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        app, ["simulate", "--seed", "5", "--patients", "40", "-o", str(tmp_path / "c")]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r"), "--by", "aps"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(s["overall_response_by"]["aps"]) >= {"true", "false", "p_value"}
    r = runner.invoke(
        app, ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r2"), "--by", "nosuch"]
    )
    assert r.exit_code == 2 and "no such column" in r.output
    r = runner.invoke(app, ["simulate", "--preset", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown preset" in r.output
    shutil.rmtree(tmp_path / "c")
