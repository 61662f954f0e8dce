"""The patient page's response part (study/timelines.py): loaded lazily, from the
study's cached evaluation, in the words of ``itpcohort explain``, per site, escaped.

The study is the tiny cohort of tests/test_patient_timeline.py imported as it is
(P1: CR on 2024-02-05, response lost on 2024-03-01; P2 excluded; P4 untreated),
P1, P2 and ODD at SITE-A, P4 at SITE-B.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.study.conftest import PASSWORD
from tests.test_patient_timeline import write_cohort

ODD = "<img src=x onerror=alert(1)>$x"  # no slash: a path segment of the URL


@pytest.fixture
def imported(db: None, tmp_path: Path, settings: object) -> Iterator[dict[str, object]]:
    from itpcohort.study import monitoring, people
    from itpcohort.study.exchange import import_cohort

    # the study's own data folder: no snapshot left there by another test
    settings.DATA_DIR = tmp_path / "data"  # type: ignore[attr-defined]
    monitoring._memory.clear()

    sites = {"P1": "SITE-A", "P2": "SITE-A", ODD: "SITE-A", "P4": "SITE-B"}
    import_cohort(write_cohort(tmp_path / "cohort", ODD, sites))
    people.add_user("coord_a", "coordinator", ["SITE-A"], PASSWORD, by="test")
    people.add_user("coord_b", "coordinator", ["SITE-B"], PASSWORD, by="test")
    yield {"folder": tmp_path / "cohort"}
    monitoring._memory.clear()


def _text(page: str) -> str:
    return html.unescape(page)


# 1. the page itself never waits on the engine: a placeholder loads the response part
def test_1_page_loads_the_response_lazily(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    from itpcohort.study import monitoring

    page = login("coord_a").get("/patients/P1/").content.decode()
    assert 'hx-get="/patients/P1/response/"' in page and 'hx-trigger="load"' in page
    assert "Visits (labs)" in page and "2024-03-01" in page  # the visit history is there
    assert monitoring.latest() is None  # nothing evaluated to show the page


# 2. status, data version and the engine's explanation in the words of `itpcohort explain`
def test_2_response_part_has_the_explains_words(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    from itpcohort.cli import app
    from itpcohort.study import monitoring

    page = login("coord_a").get("/patients/P1/response/").content.decode()
    snap = monitoring.snapshot()
    assert f"Computed from data version {snap.version} on" in page
    assert "criteria iwg2009" in page
    assert '<span class="level level-CR">CR</span>' in page
    assert "response lost on 2024-05-10" in page  # now: the last event (the rescue)
    assert "2024-03-01 (full)" in page  # the first loss, an endpoint
    assert f'src="/patients/P1/timeline.svg?v={snap.version}"' in page
    cli = CliRunner().invoke(app, ["explain", str(snap.cohort_folder), "P1"]).output
    events = [line.strip() for line in cli.splitlines() if ": response achieved —" in line]
    events += [line.strip() for line in cli.splitlines() if ": loss —" in line]
    assert len(events) == 4  # response, loss, response, loss
    for line in events:
        assert f"<li>{line}</li>" in _text(page)
    endpoints = next(line for line in cli.splitlines() if line.strip().startswith("=>"))
    assert endpoints.strip().removeprefix("=> ") in _text(page)


# 3. the figure: an SVG image, drawn once per data version
def test_3_figure_svg_cached_per_version(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    from itpcohort.study import monitoring

    client = login("coord_a")
    first = client.get("/patients/P1/timeline.svg?v=1")
    assert first.status_code == 200
    assert first["Content-Type"].startswith("image/svg+xml")
    assert "default-src 'none'" in first["Content-Security-Policy"]
    snap = monitoring.snapshot()
    kept = list((snap.folder / "figures").glob("*.svg"))
    assert len(kept) == 1 and kept[0].read_bytes() == first.content
    kept[0].write_bytes(b"<svg>kept</svg>")  # the second answer comes from the file
    assert client.get("/patients/P1/timeline.svg").content == b"<svg>kept</svg>"


# 4. per site: another site's patient is not found, for the part and the figure alike
def test_4_other_sites_patient_is_404(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    b = login("coord_b")
    assert b.get("/patients/P1/response/").status_code == 404
    assert b.get("/patients/P1/timeline.svg").status_code == 404
    assert b.get("/patients/P4/response/").status_code == 200
    a = login("coord_a")
    assert a.get("/patients/P4/response/").status_code == 404
    assert a.get("/patients/P4/timeline.svg").status_code == 404
    assert a.get("/patients/NOPE/timeline.svg").status_code == 404


# 5. an excluded patient: said in words, no figure
def test_5_excluded_patient(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    a = login("coord_a")
    page = a.get("/patients/P2/response/").content.decode()
    assert "No response is evaluated for P2" in page and "timeline.svg" not in page
    assert a.get("/patients/P2/timeline.svg").status_code == 404


# 6. data escaped: in the page, the response part and the figure
def test_6_markup_in_a_patient_id_is_escaped(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    a = login("coord_a")
    url = f"/patients/{quote(ODD)}/"
    for path in (url, url + "response/", url + "timeline.svg"):
        body = a.get(path).content.decode()
        assert "<img src=x" not in body, path
    part = a.get(url + "response/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;$x" in part


# 7. after a change the part shows the new data version
def test_7_new_version_after_a_change(imported: dict[str, object], login) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from itpcohort.study import monitoring, records
    from itpcohort.study.models import Lab, Patient

    a = login("coord_a")
    a.get("/patients/P1/response/")
    before = monitoring.snapshot().version
    patient = Patient.objects.get(patient_id="P1")
    records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date(2024, 6, 1),
            "test": "platelets",
            "value": 80.0,
            "unit": "10^9/L",
        },
    )
    page = a.get("/patients/P1/response/").content.decode()
    after = monitoring.snapshot().version
    assert after > before
    assert f"Computed from data version {after} on" in page


# 8. where the patient stands now: the engine's last event
def test_8_current_state_from_the_event_stream() -> None:
    import datetime as dt

    import pandas as pd

    from itpcohort.study.timelines import current_state

    def stream(*events: tuple[str, str]) -> pd.DataFrame:
        return pd.DataFrame(
            {"date": [dt.date.fromisoformat(d) for d, _ in events], "event": [e for _, e in events]}
        )

    achieved, lost = "response achieved", "loss"
    assert current_state("NR", stream()) == ("NR", "no response")
    assert current_state("NE", stream()) == ("NE", "not evaluable")
    assert current_state("R", stream(("2024-01-15", achieved))) == (
        "R",
        "in response since 2024-01-15",
    )
    assert current_state("CR", stream(("2024-01-15", achieved), ("2024-03-01", lost))) == (
        "lost",
        "response lost on 2024-03-01",
    )
    regained = stream(("2024-01-15", achieved), ("2024-03-01", lost), ("2024-03-11", achieved))
    assert current_state("CR", regained) == ("CR", "in response again since 2024-03-11")
