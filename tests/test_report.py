"""The report: every file, summary.json keys (the abstract's and the estimates first),
the Methods and Results paragraphs, journal tables (numbered, N per column,
footnotes, three-line DOCX), an HTML page that a real headless Chromium renders
offline with its figures and no console errors, and the commands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from docx import Document
from docx.oxml.ns import qn
from typer.testing import CliRunner

from itpcohort.cli import app
from itpcohort.report import write_report
from itpcohort.report.build import FIGURES
from itpcohort.report.safety import CAPTIONS as SAFETY_CAPTIONS
from itpcohort.report.safety import SHOWN as SAFETY_SHOWN
from itpcohort.simulate import simulate

CHROMIUM = "/usr/bin/chromium"
#: the abstract's keys (their shapes are stable), then the estimates the report leads with
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
    "time_to_response",
    "duration_of_response",
    "loss_under_treatment",
    "loss_after_stopping",
    "subgroups",
    "adverse_events",
    "bleeding",
    "comparison",
    "kaplan_meier",
    "flow",
}
TABLES = ("baseline", "response", "subgroup", "safety", "comparison", "flow")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("report")
    simulate(folder / "cohort")
    return write_report(folder / "cohort", folder / "out", by=["sle", "age:50"])


def test_every_file_is_written(report) -> None:
    out = report.folder
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
        doc = Document(str(out / "tables" / f"{name}.docx"))
        assert doc.tables and len(doc.tables[0].rows) > 1
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / "figures" / f"{name}.svg").read_bytes()[:500]
    assert (out / "endpoints.csv").exists() and (out / "results.txt").exists()


def test_summary_json_keys_and_values(report) -> None:
    s = json.loads(report.summary_json.read_text())
    assert set(s) >= SUMMARY_KEYS
    assert s["overall_response"] == {"n": 49, "percent": 80.3, "ci_low": 68.2, "ci_high": 89.4}
    assert s["overall_response_by"]["sle"]["true"]["n"] == 21
    # p-values at full precision: Fisher on [[21, 2], [28, 10]] (R: 0.11132165072425)
    assert s["subgroups"]["sle"]["p_value"] == pytest.approx(0.11132165072425, rel=1e-12)
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
    # the estimates (R's values in tests/fixtures/r): plateau = crude rate 49/61
    ttr = s["time_to_response"]
    assert ttr["plateau"]["percent"] == 80.3 and ttr["stopped_without_response"] == 12
    assert ttr["median_months"] == {"value": 3.0, "ci_low": 2.0, "ci_high": 4.0}
    dor = s["duration_of_response"]
    assert dor["median_months"] == {"value": None, "ci_low": None, "ci_high": None}
    assert dor["in_response"]["12"] == {"percent": 87.5, "ci_low": 74.2, "ci_high": 94.2}
    assert dor["follow_up_months"] == {"value": 29.6, "ci_low": 22.3, "ci_high": 38.1}
    assert s["loss_under_treatment"]["full"]["n"] == 6
    assert s["bleeding"]["worst_grade"]["0"]["of"] == 61
    assert s["grouped_by"] == ["sle", "age:50"]


def test_results_lead_with_estimates_and_end_with_the_abstract(report) -> None:
    text = report.paragraph
    assert text.startswith(
        "Of 68 patients screened, 61 were enrolled and 61 started tacrolimus (median "
        "treatment duration 22.0 months, IQR 10.7\u201339.8). The overall response rate was "
        "80.3% (49/61; 95% CI 68.2\u201389.4), including complete responses in 49.2% (30/61; "
        "95% CI 36.1\u201362.3)."
    )
    assert (
        "the cumulative incidence of response was 60.7% (95% CI 47.3\u201371.6) at 3 months" in text
    )
    assert "The median duration of response under treatment (Kaplan-Meier) was not reached" in text
    assert "remaining in response: 87.5% (95% CI 74.2\u201394.2) at 12 months" in text
    assert "Fisher's exact test, p = 0.111; exploratory" in text
    assert text.index("Aalen-Johansen") < text.index("Reported as in the abstract")
    assert text.endswith(
        "the median time to response among responders was 3.0 months (IQR 1.0, 3.0; "
        "conditional on responding) and the median observed duration of response 24.5 months "
        "(IQR 9.8, 40.3; 41 of 49 durations censored); 8 responders (16.3%) lost their "
        "response in any phase."
    )
    assert "= <" not in text and "p = 0.0 " not in text


def test_methods_paragraph_is_written_from_the_settings(report) -> None:
    m = report.methods
    assert "iwg2009 criteria" in m and "at least 100\u00d710\u2079/L" in m
    assert "at least 30\u00d710\u2079/L and at least 2 times the baseline count" in m
    assert "at least 7 days apart" in m and "to 56 days after its end" in m
    assert "Aalen-Johansen" in m and "reverse Kaplan-Meier" in m and "Newcombe" in m
    assert "30 days after its end" in m


def test_tables_are_numbered_with_n_per_column_and_footnotes(report) -> None:
    page = report.html.read_text()
    captions = re.findall(r"<caption>(Table \d+)\. ([^<]*)</caption>", page)
    assert [c[0] for c in captions] == [f"Table {i}" for i in range(1, 6)]
    assert captions[0][1].startswith("Baseline") and captions[1][1] == "Response to tacrolimus"
    assert "All patients (N = 61)" in page and "SLE: yes (N = 23)" in page
    assert "aCL IgG, GPL units, median [IQR]" in page
    assert "Baseline platelet count, \u00d710\u2079/L, median [IQR]" in page
    body = page.split("<body>")[1]
    assert "x10^9" not in body and "&gt;=" not in body and "&lt;=" not in body
    assert "log-log" in page and "Greenwood" in page and "Clopper-Pearson" in page
    # no p-values in the baseline table (STROBE)
    baseline = page.split('id="table-baseline"')[1].split("</section>")[0]
    assert '<th scope="col">p-value</th>' not in baseline and "No p-values" in baseline


def test_docx_is_three_line_with_footnotes(report) -> None:
    doc = Document(str(report.folder / "tables" / "response.docx"))
    table = doc.tables[0]
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    values = {child.tag.split("}")[1]: child.get(qn("w:val")) for child in borders}
    assert values == {
        "top": "single",
        "bottom": "single",
        "left": "nil",
        "right": "nil",
        "insideH": "nil",
        "insideV": "nil",
    }
    header = table.rows[0].cells[0]._tc.tcPr.find(qn("w:tcBorders"))
    assert header[0].get(qn("w:val")) == "single"
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "Table 2. Response to tacrolimus"
    assert any(t.startswith("Response criteria iwg2009") for t in texts)
    assert table.rows[0].cells[2].text == "95% CI"


def test_figure1_means_from_the_engine_equal_the_pandas_ones(report) -> None:
    from itpcohort.pipeline import run
    from itpcohort.report import build, figures

    evaluation = run(report.folder.parent / "cohort")
    engine = build.platelet_means(evaluation)
    by_hand = figures.platelets_by_month(evaluation.cohort.labs, evaluation.endpoints, 24)
    assert len(engine) == 57  # groups x months with at least 3 patients
    pd.testing.assert_frame_equal(
        engine, by_hand[list(engine.columns)].reset_index(drop=True), check_dtype=False
    )


def test_html_is_self_contained(report) -> None:
    page = report.html.read_text()
    assert not re.search(r"""(src|href)=["']?https?://""", page)
    # the efficacy figures, then the safety section's three
    assert page.count("data:image/png;base64,") == len(FIGURES) + len(SAFETY_CAPTIONS)
    assert page.index('id="methods"') < page.index('id="results"')


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
        rows = page.eval_on_selector_all("table.journal", "els => els.map(e => e.rows.length)")
        page.screenshot(path=str(report.folder / "report-screenshot.png"), full_page=False)
        browser.close()
    assert errors == []
    assert len(widths) == len(FIGURES) + len(SAFETY_CAPTIONS) and all(w > 500 for w in widths)
    # five efficacy tables, then the safety tables shown in the page
    assert len(rows) == 5 + len(SAFETY_SHOWN) and all(r > 2 for r in rows)
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
        app,
        ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r"), "--by", "aps", "--by", "age:50"],
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert set(s["overall_response_by"]["aps"]) >= {"true", "false", "p_value"}
    assert set(s["subgroups"]["age:50"]["groups"]) == {"<50", ">=50"}
    r = runner.invoke(
        app, ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r2"), "--by", "nosuch"]
    )
    assert r.exit_code == 2 and "no such column" in r.output
    r = runner.invoke(
        app, ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r3"), "--by", "age"]
    )
    assert r.exit_code == 2 and "'age:50'" in r.output
    r = runner.invoke(app, ["simulate", "--preset", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown preset" in r.output
    shutil.rmtree(tmp_path / "c")


def test_without_adverse_events_the_report_says_not_recorded(tmp_path: Path) -> None:
    # the mini cohort without its adverse_events file; one enrolled patient has no
    # baseline count (NE): reported apart, outside the time-to-response risk set
    mini = Path(__file__).resolve().parents[1] / "examples" / "tacrolimus-mini"
    shutil.copytree(mini, tmp_path / "cohort")
    (tmp_path / "cohort" / "adverse_events.csv").unlink()
    r = write_report(tmp_path / "cohort", tmp_path / "out")
    assert r.summary["adverse_effects"] == {"n": None, "percent": None}
    assert r.summary["adverse_events"]["any"] is None
    assert "Adverse events were not recorded" in r.paragraph
    assert "adverse events occurred" not in r.paragraph
    safety = pd.read_csv(tmp_path / "out" / "tables" / "safety.csv", keep_default_na=False)
    assert safety.set_index("characteristic").loc["  Adverse events", "value"] == "not recorded"
    assert r.summary["time_to_response"]["not_evaluable"] == 1
    assert "1 patient without a baseline count was not evaluable" in r.paragraph


def test_safety_section_is_in_the_report(report) -> None:
    """Issue 13's safety section: tables, figures, summary.json and report.html."""
    out = report.folder
    worst = pd.read_csv(out / "tables" / "safety_lab_worst_grade.csv").set_index("test")
    # the reference preset plans exactly one grade 3 hyperkalaemia and no other grade >= 3
    assert worst.loc["potassium", "grade_3"] == 1
    assert worst.loc["any", "grade_3_or_more"] == 1
    assert "platelets" not in worst.index  # the disease's own measure is not a toxicity
    safety = report.summary["safety"]
    assert safety["lab_grade_3_or_more"]["n"] == 1
    assert safety["adverse_events"]["stopping_patients"] == 2  # the abstract's 2 (3.3%)
    for name in ("safety_worst_grades", "safety_creatinine", "safety_trough"):
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<h2 id="safety">Safety</h2>' in page
    numbers = [int(n) for n in re.findall(r'<figure id="figure-(\d+)"', page)]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered on after the efficacy figures
