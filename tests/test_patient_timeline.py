"""One patient's platelet timeline as a figure (report/timeline.py), read through the
figure's artists (their ``gid`` and data), not its pixels. Expected values by hand.

The tiny cohort below, day 0 = 2024-01-01 (the start of tacrolimus; 2024 is a leap
year, so 2024-03-01 is day 60), profile iwg2009 (CR >= 100; R >= 30 and >= 2 x
baseline; response confirmed 7 days apart, loss 1 day apart; washout 56 days):

P1  baseline 12 on day -4 (2023-12-28), so R needs >= max(30, 24) = 30
    tacrolimus full days 0-90 (to 03-31), taper 91-120 (04-01 to 04-30), then off;
    ivig (rescue) days 130-132 (05-10 to 05-12): washout to day 132 + 56 = 188
    counts: d14 45 R, d21 60 R, d35 120 CR, d42 150 CR, d60 20 NR, d63 18 NR,
            d70 50 R, d77 55 R, d100 90 R, d140 200 (in the washout: not evaluable)
    -> response achieved d14 (confirmed by d21), CR d35 (by d42), loss d60 (by d63),
       re-achieved d70 (by d77), loss d130 (rescue started, rescue_is_loss)
    bleeding WHO 1 on d100 (does not count), WHO 2 on d150; AE hypertension G2 on d50;
    last contact 2024-06-29 = day 180, so off treatment from day 121 to 180
P2  excluded (no consent)
P3  an ID with markup and a dollar: baseline 25 on day 0, 60 on d10, 70 on d20 ->
    R needs >= 50; response d10 confirmed by d20; counts span 25-70 (< 10x): linear axis
P4  enrolled, a count, no study drug: nothing to draw
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import itpcohort
from itpcohort.errors import CohortDataError, OutputError
from itpcohort.report.timeline import (
    PatientTimeline,
    explain_and_draw,
    patient_timeline,
    timeline_of,
    write_figure,
)

P3 = "<script>alert(1)</script>$x"


def write_cohort(folder: Path, odd_id: str = P3, sites: dict[str, str] | None = None) -> Path:
    """The cohort of the module docstring (cohort-format.md, CSV); ``odd_id`` is P3's ID,
    ``sites`` each patient's site (a ``site`` column when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = ("P1", "P2", odd_id, "P4")
    rows = [
        ("P1", "2024-01-01", "", "2024-06-29"),
        ("P2", "2024-01-01", "no consent", ""),
        (odd_id, "2024-01-01", "", ""),
        ("P4", "2024-01-01", "", ""),
    ]
    head = "patient_id,enrollment_date,excluded,followup_end_date"
    if sites is not None:
        head += ",site"
        rows = [(*row, sites.get(pid, "")) for pid, row in zip(ids, rows, strict=True)]
    (folder / "patients.csv").write_text(head + "\n" + "".join(",".join(r) + "\n" for r in rows))
    (folder / "treatments.csv").write_text(
        "patient_id,drug,role,start_date,end_date,phase\n"
        "P1,tacrolimus,study,2024-01-01,2024-03-31,full\n"
        "P1,tacrolimus,study,2024-04-01,2024-04-30,taper\n"
        "P1,ivig,rescue,2024-05-10,2024-05-12,\n"
        f"{odd_id},tacrolimus,study,2024-01-01,,full\n"
    )
    p1 = (
        ("2023-12-28", 12),
        ("2024-01-15", 45),
        ("2024-01-22", 60),
        ("2024-02-05", 120),
        ("2024-02-12", 150),
        ("2024-03-01", 20),
        ("2024-03-04", 18),
        ("2024-03-11", 50),
        ("2024-03-18", 55),
        ("2024-04-10", 90),
        ("2024-05-20", 200),
    )
    labs = [("P1", d, v) for d, v in p1]
    labs += [
        (odd_id, d, v) for d, v in (("2024-01-01", 25), ("2024-01-11", 60), ("2024-01-21", 70))
    ]
    labs.append(("P4", "2024-01-05", 20))
    (folder / "labs.csv").write_text(
        "patient_id,date,test,value,unit\n"
        + "".join(f"{p},{d},platelets,{v},10^9/L\n" for p, d, v in labs)
    )
    (folder / "bleeding.csv").write_text(
        "patient_id,date,who_grade,site\nP1,2024-04-10,1,gum\nP1,2024-05-30,2,epistaxis\n"
    )
    (folder / "adverse_events.csv").write_text(
        "patient_id,onset_date,term,grade\nP1,2024-02-20,hypertension,2\n"
    )
    return folder


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cohort(tmp_path_factory.mktemp("timeline") / "cohort")


@pytest.fixture(scope="module")
def evaluation(cohort_dir: Path) -> itpcohort.Evaluation:
    return itpcohort.run(cohort_dir)


@pytest.fixture(scope="module")
def p1(evaluation: itpcohort.Evaluation) -> plt.Figure:
    return patient_timeline(evaluation, "P1")


def _with(fig: plt.Figure, gid: str) -> list:  # type: ignore[type-arg]
    return fig.findobj(lambda a: a.get_gid() == gid)


def _x(fig: plt.Figure, gid: str) -> list[float]:
    """The x of every point (or vertical line) drawn with ``gid``."""
    xs: list[float] = []
    for line in _with(fig, gid):
        xs += sorted({float(x) for x in line.get_xdata()})
    return sorted(xs)


def _spans(fig: plt.Figure, gid: str) -> list[tuple[float, float]]:
    """(left, right) of every band or shaded span drawn with ``gid``."""
    return sorted(
        (round(r.get_x(), 6), round(r.get_x() + r.get_width(), 6)) for r in _with(fig, gid)
    )


def _texts(fig: plt.Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(plt.Text)]


# 1. the thresholds come from the profile, the baseline from the engine
def test_1_thresholds_and_baseline(p1: plt.Figure) -> None:
    assert [line.get_ydata()[0] for line in _with(p1, "threshold:cr")] == [100]
    assert [line.get_ydata()[0] for line in _with(p1, "threshold:r")] == [30]
    assert [line.get_ydata()[0] for line in _with(p1, "threshold:fold")] == [24]  # 2 x 12
    (baseline,) = _with(p1, "baseline")
    assert list(baseline.get_xdata()) == [-4] and list(baseline.get_ydata()) == [12]


# 2. another profile, other lines: criteria as data, never 30/100 in the code
def test_2_thresholds_follow_the_criteria(cohort_dir: Path, tmp_path: Path) -> None:
    profile = tmp_path / "strict.toml"
    profile.write_text(
        'extends = "iwg2009"\nname = "strict"\ncr_threshold = 150\nr_threshold = 50\n'
    )
    fig = patient_timeline(itpcohort.run(cohort_dir, profile), "P1")
    assert [line.get_ydata()[0] for line in _with(fig, "threshold:cr")] == [150]
    assert [line.get_ydata()[0] for line in _with(fig, "threshold:r")] == [50]
    fig = patient_timeline(itpcohort.run(cohort_dir, "platelet50"), "P1")
    assert [line.get_ydata()[0] for line in _with(fig, "threshold:r")] == [50]
    assert _with(fig, "threshold:fold") == []  # fold_rule "none": no fold line
    plt.close("all")


# 3. the engine's events at their days: response, CR, loss, re-achievement, loss again
def test_3_events_at_their_days(p1: plt.Figure) -> None:
    assert _x(p1, "event:response") == [14]
    assert _x(p1, "event:cr") == [35]
    assert _x(p1, "event:loss") == [60, 130]
    assert _x(p1, "event:again") == [70]
    labels = _texts(p1)
    assert "loss d60" in labels  # counts below R: no cause in brackets
    assert "loss d130 (rescue)" in labels


# 4. confirmation windows: a qualifying count to its confirming count
def test_4_confirmation_windows(p1: plt.Figure) -> None:
    assert _spans(p1, "window:response") == [(14, 21), (70, 77)]
    assert _spans(p1, "window:cr") == [(35, 42)]
    assert _spans(p1, "window:loss") == [(60, 63)]  # the rescue loss has none


# 5. treatment phases as bands (a period's last day included), rescue and its washout
def test_5_phase_bands_and_washout(p1: plt.Figure) -> None:
    assert _spans(p1, "phase:full") == [(0, 91)]
    assert _spans(p1, "phase:taper") == [(91, 121)]
    assert _spans(p1, "phase:off") == [(121, 180)]  # to the last contact
    assert _spans(p1, "phase:rescue") == [(130, 133)]
    assert _spans(p1, "washout") == [(130, 189)]  # through day 132 + 56


# 6. each count coloured by the engine's level of its day
def test_6_counts_by_level(p1: plt.Figure) -> None:
    assert _x(p1, "level:CR") == [35, 42]
    assert _x(p1, "level:R") == [14, 21, 70, 77, 100]
    assert _x(p1, "level:NR") == [60, 63]
    assert _x(p1, "level:none") == [140]  # in the washout
    assert _x(p1, "level:before") == [-4]


# 7. bleeding (WHO grade) and adverse events (CTCAE grade) as markers
def test_7_bleeding_and_adverse_events(p1: plt.Figure) -> None:
    assert _x(p1, "bleeding") == [150]  # grade 2 counts (bleeding_min_grade 2)
    assert _x(p1, "bleeding:minor") == [100]  # grade 1 does not
    assert _x(p1, "adverse_event") == [50]
    assert {"WHO 1", "WHO 2", "G2 hypertension"} <= set(_texts(p1))


# 8. title, legend, the scale
def test_8_title_legend_and_scale(p1: plt.Figure, evaluation: itpcohort.Evaluation) -> None:
    titles = [ax.get_title(loc="left") for ax in p1.axes]
    assert "P1: best response CR · response lost on 2024-03-01 · criteria iwg2009" in titles
    (legend,) = p1.legends
    shown = [t.get_text() for t in legend.get_texts()]
    for label in ("CR threshold (100)", "R threshold (30)", "loss of response", "taper"):
        assert label in shown
    assert len(shown) == len(set(shown))  # each once
    assert p1.axes[1].get_yscale() == "log"  # counts 12-200: more than a decade
    linear = patient_timeline(evaluation, P3)
    assert linear.axes[1].get_yscale() == "linear"  # 25-70
    assert _spans(linear, "window:response") == [(10, 20)]
    assert _spans(linear, "phase:off") == []  # ongoing
    plt.close(linear)


# 9. what cannot be drawn says so
def test_9_excluded_unknown_and_untreated(evaluation: itpcohort.Evaluation) -> None:
    with pytest.raises(CohortDataError, match=r"'P2' was excluded \(no consent\)"):
        patient_timeline(evaluation, "P2")
    with pytest.raises(CohortDataError, match="'P9' is not in patients"):
        patient_timeline(evaluation, "P9")
    fig = patient_timeline(evaluation, "P4")
    assert "No data: the patient did not start the study drug" in _texts(fig)
    plt.close(fig)


# 10. nothing is derived here: the timeline carries the engine's own tables
def test_10_the_engines_explanation(evaluation: itpcohort.Evaluation) -> None:
    t = timeline_of(evaluation, "P1")
    assert isinstance(t, PatientTimeline)
    assert list(t.explanation.events["event"]) == [
        "response achieved",
        "loss",
        "response achieved",
        "loss",
    ]
    assert t.explanation.endpoints["best_response"] == "CR"
    assert len(t.counts) == 11 and len(t.bleeding) == 2 and len(t.adverse_events) == 1


# 11. files: SVG and PNG, data escaped in the SVG, other suffixes refused
def test_11_files_and_escaping(cohort_dir: Path, tmp_path: Path) -> None:
    _, fig = explain_and_draw(cohort_dir, P3)
    svg = write_figure(fig, tmp_path / "p3.svg").read_text(encoding="utf-8")
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg  # the title, as an escaped comment
    _, fig = explain_and_draw(cohort_dir, "P1")
    png = write_figure(fig, tmp_path / "p1.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, fig = explain_and_draw(cohort_dir, "P1")
    with pytest.raises(OutputError, match=r"name a \.svg or \.png file"):
        write_figure(fig, tmp_path / "p1.pdf")
    with pytest.raises(OutputError, match="inside the input folder"):
        _, fig = explain_and_draw(cohort_dir, "P1")
        write_figure(fig, cohort_dir / "labs.csv", [cohort_dir])
    assert (cohort_dir / "labs.csv").read_text().startswith("patient_id,date")


# 12. the command line: explain ... --figure FILE writes the figure beside the words
def test_12_cli_explain_figure(cohort_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from itpcohort.cli import app

    runner = CliRunner()
    target = tmp_path / "P1.svg"
    result = runner.invoke(app, ["explain", str(cohort_dir), "P1", "--figure", str(target)])
    assert result.exit_code == 0, result.output
    assert "2024-03-01: loss" in result.output  # the same words as without the figure
    assert f"figure -> {target}" in result.output
    assert target.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    result = runner.invoke(app, ["explain", str(cohort_dir), "P1", "--figure", "x.pdf"])
    assert result.exit_code == 2
    assert "name a .svg or .png file" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["explain", str(cohort_dir), "P2", "--figure", str(target)])
    assert result.exit_code == 2 and "excluded (no consent)" in result.output
