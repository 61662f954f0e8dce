"""The response engine inside the app equals ``itpcohort evaluate`` on ``itpcohort study export``.

The demo study (``itpcohort serve --demo``'s: the simulated reference study) is
evaluated by the app (``monitoring.snapshot``) and by the CLI on an export of the
same database; the endpoints files are compared byte for byte, before and after
edits made through the app's views. Expected statuses of the edited patient are
worked out by hand from the criteria (``shared/spec/response-criteria.md``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

# TAC-06 of the simulated study: baseline 25 x10^9/L, tacrolimus 2017-02-24 to 2017-10-24,
# every count from 2017-03-10 to 2017-07-26 between 23 and 29 (NR), 80 on 2017-08-26
# followed by 16 the next day (never confirmed): best response NR
PATIENT = "TAC-06"


@pytest.fixture
def demo(tmp_path: Path, settings: Any) -> Path:
    """The demo study loaded as ``itpcohort serve --demo`` loads it; snapshots under tmp_path."""
    from itpcohort.study import monitoring, runtime

    settings.DATA_DIR = tmp_path
    monitoring._memory.clear()
    runtime.load_demo(tmp_path)
    return tmp_path


def cli_endpoints(tmp_path: Path, name: str) -> bytes:
    """``itpcohort study export`` (its function) then ``itpcohort evaluate`` (the CLI)."""
    from typer.testing import CliRunner

    from itpcohort.cli import app
    from itpcohort.study.exchange import export_cohort

    folder = tmp_path / f"export-{name}"
    export_cohort(folder)
    out = tmp_path / f"cli-{name}.csv"
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def app_endpoints(tmp_path: Path, name: str) -> tuple[Any, bytes]:
    from itpcohort.response import write_endpoints
    from itpcohort.study import monitoring

    s = monitoring.snapshot()
    out = write_endpoints(s.endpoints, tmp_path / f"app-{name}.csv")
    return s, Path(out).read_bytes()


def assert_app_equals_cli(tmp_path: Path, name: str) -> Any:
    s, app = app_endpoints(tmp_path, name)
    assert app == cli_endpoints(tmp_path, name)
    exported = tmp_path / f"export-{name}"
    for path in sorted(exported.iterdir()):  # the engine read the export, byte for byte
        assert (s.cohort_folder / path.name).read_bytes() == path.read_bytes(), path.name
    return s


def _lab(patient: str, day: str) -> Any:
    from itpcohort.study.models import Lab

    return Lab.objects.get(
        patient__patient_id=patient, date=dt.date.fromisoformat(day), test="platelets"
    )


def test_app_equals_cli_on_the_demo_study_and_after_edits(demo: Path, login: Any) -> None:
    s0 = assert_app_equals_cli(demo, "0")
    assert len(s0.endpoints) == 61 and s0.flow["screened"] == 68
    assert s0.status(PATIENT)["status"] == "NR"
    assert s0.status("TAC-999") is None
    c = login("coordinator")  # the demo's coordinator at PUMCH
    visit = {"platelets_unit": "10^9/L", "confirm": "on"}
    for day in ("2017-04-01", "2017-04-10"):
        r = c.post(f"/patients/{PATIENT}/visit/", {**visit, "date": day, "platelets_value": "150"})
        assert r.status_code == 302, r.content.decode()[:2000]
    # 150 on 04-01 and 04-10 (9 days apart, nothing between): CR achieved 04-01 (day 36);
    # 29 on 04-26 and 26 on 05-26 (below 50 = 2 x baseline): lost on 04-26, in full dose
    s1 = assert_app_equals_cli(demo, "1")
    assert s1.version > s0.version
    got = s1.status(PATIENT)
    assert (got["best_response"], got["status"]) == ("CR", "lost")
    assert (got["response_date"], got["days_to_response"]) == (dt.date(2017, 4, 1), 36)
    assert (got["loss_date"], got["loss_phase"]) == (dt.date(2017, 4, 26), "full")
    lab = _lab(PATIENT, "2017-04-10")
    form = {"date": "2017-04-10", "test": "platelets", "unit": "10^9/L", "version": "1"}
    r = c.post(f"/patients/{PATIENT}/lab/{lab.pk}/", {**form, "value": "60", "reason": "typo"})
    assert r.status_code == 302
    # 150 then 60 (>= 30 and >= 50): R confirmed from 04-01, CR no longer confirmed
    s2 = assert_app_equals_cli(demo, "2")
    got = s2.status(PATIENT)
    assert (got["best_response"], got["cr_date"], got["status"]) == ("R", None, "lost")
    first = _lab(PATIENT, "2017-04-01")
    r = c.post(f"/patients/{PATIENT}/lab/{first.pk}/delete/", {"version": "1", "reason": "clotted"})
    assert r.status_code == 302
    # 60 on 04-10 alone, 29 sixteen days later: nothing confirmed, NR again
    s3 = assert_app_equals_cli(demo, "3")
    assert s3.status(PATIENT)["status"] == "NR" and s3.version > s2.version
    others = s3.endpoints[s3.endpoints["patient_id"] != PATIENT].reset_index(drop=True)
    assert others.equals(s0.endpoints[s0.endpoints["patient_id"] != PATIENT].reset_index(drop=True))


def test_stale_snapshots_are_seen_and_recomputed_and_the_cache_is_reused(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itpcohort.study import monitoring, records
    from itpcohort.study.models import DataQuery, Lab, Patient

    s = monitoring.snapshot()
    assert monitoring.is_current(s) and monitoring.staleness(s) is None
    assert monitoring.snapshot() is s  # same process: the same object
    monitoring._memory.clear()  # another worker: the same version read from disk
    monkeypatch.setattr(monitoring, "_compute", _refuse)
    again = monitoring.snapshot()
    assert again is not s and again.version == s.version and again.folder == s.folder
    assert again.endpoints.equals(s.endpoints) and again.flow == s.flow
    patient = Patient.objects.get(patient_id=PATIENT)
    DataQuery.objects.create(patient=patient, question="is 80 on 2017-08-26 right?")
    assert monitoring.is_current(s)  # a query changes no result: not stale
    records.create(
        Lab,
        {
            "patient": patient,
            "date": dt.date(2017, 4, 1),
            "test": "platelets",
            "value": 90.0,
            "unit": "10^9/L",
        },
    )
    assert not monitoring.is_current(s)
    assert f"computed from data version {s.version}; the data changed since" in (
        monitoring.staleness(s) or ""
    )
    with pytest.raises(AssertionError, match="computed"):
        monitoring.snapshot()  # the version moved: it computes (refused here)
    monkeypatch.undo()
    new = monitoring.snapshot()
    assert new.version > s.version and monitoring.is_current(new)
    assert monitoring.snapshot() is new
    refreshed = monitoring.snapshot(refresh=True)  # on demand: computed again, same version
    assert refreshed is not new and refreshed.version == new.version
    assert refreshed.computed_at > new.computed_at
    assert sorted(p.name for p in monitoring.root().iterdir() if p.name.isdigit()) == sorted(
        {str(s.version), str(new.version)}
    )  # older versions cleaned up (the newest two stay)


def _refuse(base: Path) -> Any:
    raise AssertionError("computed although nothing changed")


def test_a_failed_evaluation_says_so_and_the_last_results_stay(demo: Path) -> None:
    import pghistory

    from itpcohort.study import monitoring
    from itpcohort.study.models import StudySettings

    s = monitoring.snapshot()
    settings = StudySettings.current()
    with pghistory.context(reason="the wrong drug, on purpose"):
        StudySettings.objects.filter(pk=settings.pk).update(study_drug="romiplostim")
    with pytest.raises(monitoring.MonitoringError) as failure:
        monitoring.snapshot()
    assert "study drug 'romiplostim' has no periods with role 'study'" in str(failure.value)
    last = monitoring.latest()
    assert last is not None and last.version == s.version
    assert "computed from data version" in (monitoring.staleness(last) or "")


def test_the_export_by_copy_is_byte_identical_to_pythons(
    study: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's COPY writes what Python's csv module writes; values it would write
    otherwise (tiny and huge floats, cells to quote, extra columns) go through Python."""
    from itpcohort.study import exchange, records
    from itpcohort.study.models import AdverseEvent, Bleeding, Lab

    pa = study["patient_a"]
    values = (12.0, 0.1, 1 / 3, 0.0001, 123456789012345.6, 2600.0, 45000.0)
    for number, value in enumerate(values):
        records.create(
            Lab,
            {
                "patient": pa,
                "date": dt.date(2024, 2, 1 + number),
                "test": "platelets",
                "value": value,
                "unit": "10^9/L",
            },
        )
    records.create(Bleeding, {"patient": pa, "date": dt.date(2024, 2, 3), "who_grade": 2})
    exchange.export_cohort(tmp_path / "copy")
    monkeypatch.setattr(exchange, "_copied", lambda *args: None)
    exchange.export_cohort(tmp_path / "python")
    monkeypatch.undo()
    for name in ("patients", "treatments", "labs", "bleeding", "adverse_events"):
        copy = (tmp_path / "copy" / f"{name}.csv").read_bytes()
        assert copy == (tmp_path / "python" / f"{name}.csv").read_bytes(), name
    labs = (tmp_path / "copy" / "labs.csv").read_text()
    assert "A-001,2024-02-01,platelets,12.0,10^9/L\n" in labs
    assert "123456789012345.6" in labs and "0.0001" in labs
    # what COPY must not write: tiny, huge, quoted cells; each table falls back to Python
    records.create(
        Lab,
        {
            "patient": pa,
            "date": dt.date(2024, 3, 1),
            "test": "platelets",
            "value": 1e-05,
            "unit": "10^9/L",
        },
    )
    records.create(
        AdverseEvent,
        {"patient": pa, "onset_date": dt.date(2024, 3, 1), "term": 'rash, "mild"', "grade": 1},
    )
    assert exchange._copied(Lab, exchange.Patient.objects.all(), ["value"]) is None
    exchange.export_cohort(tmp_path / "mixed")
    assert "1e-05" in (tmp_path / "mixed" / "labs.csv").read_text()
    assert '"rash, ""mild"""' in (tmp_path / "mixed" / "adverse_events.csv").read_text()


def _fake_compute(base: Path) -> Any:
    """Stands for the export and the pipeline: slow, and says who computed."""
    import datetime as dt
    import json
    import os
    import time

    import pandas as pd

    from itpcohort.study import monitoring

    with (base / "computed-by").open("a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(1.0)
    folder = base / "7"
    folder.mkdir(parents=True)
    for name in monitoring.FRAMES:
        pd.DataFrame({"patient_id": []}).to_pickle(folder / f"{name}.pkl")
    meta = {
        "version": 7,
        "computed_at": dt.datetime.now(dt.UTC).isoformat(),
        "flow": {},
        "criteria": "iwg2009",
        "study_drug": "x",
        "link": "h7",
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return monitoring._load(folder)


def _worker(base: str, out: Any) -> None:
    from itpcohort.study import monitoring

    monitoring._memory.clear()
    out.put(monitoring.snapshot().version)


def test_two_workers_compute_a_version_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (gunicorn's workers) ask for the same new version at once: one computes
    under the file lock, the other waits and loads what it wrote."""
    import multiprocessing

    from itpcohort.study import monitoring

    monkeypatch.setattr(monitoring, "root", lambda: tmp_path)
    monkeypatch.setattr(monitoring, "data_head", lambda: (7, "h7"))
    monkeypatch.setattr(monitoring, "_compute", _fake_compute)
    monkeypatch.setattr(monitoring, "_after_evaluation", lambda s: None)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [context.Process(target=_worker, args=(str(tmp_path), out)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert sorted(out.get(timeout=5) for _ in workers) == [7, 7]
    assert len((tmp_path / "computed-by").read_text().split()) == 1


def test_an_empty_study_says_there_is_nothing_to_evaluate(
    tmp_path: Path, settings: Any, login: Any
) -> None:
    from itpcohort.study import monitoring, people

    settings.DATA_DIR = tmp_path
    monitoring._memory.clear()
    with pytest.raises(monitoring.MonitoringError, match="no patients yet: nothing to evaluate"):
        monitoring.snapshot()
    assert monitoring.latest() is None
    people.add_user("admin", "administrator", [], "correct-horse-battery-9", by="test")
    page = login("admin").get("/dashboard/").content.decode()
    assert "No current results." in page and "the study has no patients yet" in page


def test_the_same_version_number_in_another_history_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restored from a backup (or another database on the same data folder)
    numbers its audit links from the same 1, 2, 3...: the snapshot is stamped with the
    link's hash too, so version 7 of one history never serves version 7 of another."""
    import datetime as dt

    import pandas as pd

    from itpcohort.study import monitoring

    head = [(7, "h7")]
    computed: list[tuple[int, str]] = []

    def fake_compute(base: Path) -> monitoring.Snapshot:
        computed.append(head[0])
        empty = pd.DataFrame({"patient_id": []})
        frames = {name: empty for name in monitoring.FRAMES}
        return monitoring.Snapshot(
            version=head[0][0], computed_at=dt.datetime.now(dt.UTC), folder=base,
            flow={}, criteria="iwg2009", study_drug="x", link=head[0][1], **frames,
        )  # fmt: skip

    monkeypatch.setattr(monitoring, "root", lambda: tmp_path)
    monkeypatch.setattr(monitoring, "data_head", lambda: head[0])
    monkeypatch.setattr(monitoring, "_compute", fake_compute)
    monkeypatch.setattr(monitoring, "_after_evaluation", lambda s: None)
    monitoring._memory.clear()
    first = monitoring.snapshot()
    assert monitoring.snapshot() is first and computed == [(7, "h7")]  # cached
    head[0] = (7, "restored")
    assert not monitoring.is_current(first) and monitoring.staleness(first)
    again = monitoring.snapshot()
    assert computed == [(7, "h7"), (7, "restored")] and again.link == "restored"
    monitoring._memory.clear()
