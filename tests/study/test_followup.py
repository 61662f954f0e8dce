"""After a save (study/followup.py): alerts and automatic queries from one reading of the
visit states, only what the saved table can change, the daily run left nothing to do.

The ``study`` fixture: A-001 at SITE-A (enrolled 2024-01-10), B-001 at SITE-B.
A-001 below: tacrolimus (study drug) from 2024-01-10 = day 0. On 2024-05-01 its
schedule (``DEFAULT_VISIT_SCHEDULE``) reads, worked out by hand:

- week 2, day 14 = 2024-01-24, window 01-21..01-27: done (a count on 01-24);
- week 4, day 28 = 2024-02-07, window 02-04..02-10: no visit, and a later one on
  03-15: **missing** (an automatic query);
- month 2, day 61 = 2024-03-11, window 03-04..03-18: done (03-15);
- month 3, day 91 = 2024-04-10, window 04-03..04-17: closed, nothing since 03-15:
  **overdue** (an alert);
- month 4, day 122 = 2024-05-11, window opens 05-04: upcoming (and all later ones).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itpcohort.study import alerts, followup, queries, records, schedule
from itpcohort.study.models import (
    AdverseEvent,
    Alert,
    Bleeding,
    DataQuery,
    Lab,
    Patient,
    StudySettings,
    Treatment,
)

D = dt.date
TODAY = D(2024, 5, 1)
#: SQL statements of followup.after_save after a lab save of A-001 with nothing new to
#: raise, measured: settings 1, visit states 3 (patient, study drug, visit dates); alerts:
#: low counts 2 (units, counts not alerted), overdue 1 (patient), known keys 1; automatic
#: queries: patient 1, lab checks 1, raised before 1. Computing the visit states a
#: second time (as before followup) makes it 14 or more.
AFTER_LAB_SAVE_QUERIES = 11


def _lab(
    patient: Patient, day: dt.date, value: float, test: str = "platelets", unit: str = "10^9/L"
) -> Lab:
    fields = {"patient": patient, "date": day, "test": test, "value": value, "unit": unit}
    return records.create(Lab, fields, alerts_on_commit=False)


def _seed(patient: Patient) -> dict[str, Any]:
    """A-001's study drug, a low count on 01-24, an odd unit on 03-15, a bleeding of WHO
    grade 2, an adverse event of grade 3 (no after-save run for any of them)."""
    quiet = {"alerts_on_commit": False}
    records.create(
        Treatment,
        {
            "patient": patient,
            "drug": "tacrolimus",
            "role": "study",
            "phase": "full",
            "start_date": D(2024, 1, 10),
        },
        **quiet,
    )
    return {
        "low": _lab(patient, D(2024, 1, 24), 25.0),
        "odd": _lab(patient, D(2024, 3, 15), 12.0, test="hemoglobin", unit="furlongs"),
        "bleeding": records.create(
            Bleeding, {"patient": patient, "date": D(2024, 2, 1), "who_grade": 2}, **quiet
        ),
        "ae": records.create(
            AdverseEvent,
            {"patient": patient, "onset_date": D(2024, 2, 2), "term": "Sepsis", "grade": 3},
            **quiet,
        ),
    }


def _alert_keys() -> list[str]:
    return sorted(Alert.objects.values_list("key", flat=True))


def _query_keys() -> list[str]:
    return sorted(DataQuery.objects.values_list("check_key", flat=True))


@pytest.fixture
def state_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the visit states were computed (one entry per call)."""
    calls: list[int] = []
    inner = schedule.patient_visit_states

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return inner(*args, **kwargs)

    monkeypatch.setattr(schedule, "patient_visit_states", counted)
    return calls


# -- what a table's save can change ----------------------------------------------------------
def test_each_table_names_the_alerts_and_checks_its_save_can_change() -> None:
    assert followup.alert_kinds(["lab"]) == ["low_platelets", "overdue_visit"]
    assert followup.alert_kinds(["treatment"]) == ["overdue_visit"]
    assert followup.alert_kinds(["bleeding"]) == ["bleeding"]
    assert followup.alert_kinds(["adverse_event"]) == ["adverse_event"]
    assert followup.alert_kinds(["patient"]) == [
        "low_platelets",
        "bleeding",
        "adverse_event",
        "overdue_visit",
    ]
    assert followup.alert_kinds(["bleeding", "lab"]) == [
        "low_platelets",
        "bleeding",
        "overdue_visit",
    ]
    assert followup.checked_tables(["lab"]) == ["lab"]
    assert followup.checked_tables(["patient"]) == [
        "patient",
        "treatment",
        "lab",
        "bleeding",
        "adverse_event",
    ]
    assert followup.table_of(Lab) == "lab" and followup.table_of(Patient) == "patient"
    with pytest.raises(ValueError, match="unknown table"):
        followup.alert_kinds(["labs"])


# -- one reading, everything the daily run would raise -----------------------------------------
def test_a_patient_save_raises_what_the_daily_runs_would(study: dict, state_calls: list) -> None:
    pa = study["patient_a"]
    rows = _seed(pa)
    done = followup.after_save(pa, ["patient"], today=TODAY)
    assert len(state_calls) == 1  # shared by the overdue alerts and the missing visits
    assert (
        sorted(a.key for a in done.alerts)
        == _alert_keys()
        == sorted(
            [
                f"low_platelets:lab:{rows['low'].pk}",
                f"bleeding:{rows['bleeding'].pk}",
                f"adverse_event:{rows['ae'].pk}",
                "overdue_visit:A-001:month 3",
            ]
        )
    )
    assert done.queries == 2
    assert _query_keys() == sorted(
        [f"check:lab:{rows['odd'].pk}:unit", "missing_visit:A-001:week 4"]
    )
    # the daily runs find nothing more for A-001
    # (losses come from an evaluation, never from a save: an earlier module's snapshot of
    # its own study must not count here)
    daily = alerts.AFTER_SAVE_KINDS
    assert alerts.raise_alerts([pa.pk], kinds=daily, today=TODAY, mail=False) == []
    assert queries.raise_automatic_queries(Patient.objects.filter(pk=pa.pk)) == 0


def test_a_lab_save_reads_the_visit_states_once_within_its_queries(
    study: dict, state_calls: list
) -> None:
    pa = study["patient_a"]
    rows = _seed(pa)
    first = followup.after_save(pa, ["lab"], today=TODAY)
    assert sorted(a.key for a in first.alerts) == [
        f"low_platelets:lab:{rows['low'].pk}",
        "overdue_visit:A-001:month 3",
    ]
    assert first.queries == 2 and len(state_calls) == 1
    with CaptureQueriesContext(connection) as seen:
        again = followup.after_save(pa, ["lab"], today=TODAY)
    assert (again.alerts, again.queries) == ([], 0)
    assert len(state_calls) == 2  # once per after-save
    assert len(seen) <= AFTER_LAB_SAVE_QUERIES, "\n".join(q["sql"][:150] for q in seen)


def test_a_bleeding_save_reads_no_visit_states(study: dict, state_calls: list) -> None:
    pa = study["patient_a"]
    rows = _seed(pa)
    done = followup.after_save(pa, ["bleeding"], today=TODAY)
    assert [a.key for a in done.alerts] == [f"bleeding:{rows['bleeding'].pk}"]
    assert done.queries == 0 and state_calls == []
    # the low count, the adverse event, the overdue visit: the next save of theirs, or the
    # daily run
    daily = alerts.AFTER_SAVE_KINDS  # losses come from an evaluation, not from a save
    assert len(alerts.raise_alerts([pa.pk], kinds=daily, today=TODAY, mail=False)) == 3


def test_a_misconfigured_schedule_stops_only_the_visits(
    study: dict, caplog: pytest.LogCaptureFixture
) -> None:
    pa = study["patient_a"]
    rows = _seed(pa)
    StudySettings.current()  # the row, made with the default schedule
    StudySettings.objects.update(visit_schedule=[{"label": "week 2"}])  # no day
    with caplog.at_level(logging.ERROR, logger="itpcohort.study.followup"):
        done = followup.after_save(pa, ["lab"], today=TODAY)
    assert "visit schedule is misconfigured" in caplog.text
    assert [a.key for a in done.alerts] == [f"low_platelets:lab:{rows['low'].pk}"]
    assert _query_keys() == [f"check:lab:{rows['odd'].pk}:unit"]


# -- the app's saves ------------------------------------------------------------------------
def test_a_visit_saved_in_the_app_raises_both_without_an_on_commit_pass(
    study: dict, login: Any, state_calls: list, django_capture_on_commit_callbacks: Any
) -> None:
    pa = study["patient_a"]
    records.create(
        Treatment,
        {
            "patient": pa,
            "drug": "tacrolimus",
            "role": "study",
            "phase": "full",
            "start_date": D(2024, 1, 10),
        },
        alerts_on_commit=False,
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login("coord_a").post(
            "/patients/A-001/visit/",
            {
                "date": "2024-01-24",
                "platelets_value": "2500",
                "platelets_unit": "10^9/L",
                "confirm": "on",
            },
        )
    assert response.status_code == 302
    assert callbacks == []  # no second alerts pass on commit
    assert len(state_calls) == 1
    lab = Lab.objects.get(patient=pa)
    assert f"check:lab:{lab.pk}:value" in _query_keys()
    # today (2026 and after) every visit after week 2 is overdue: none missing
    assert "overdue_visit:A-001:week 4" in _alert_keys()


def test_other_saves_raise_the_alerts_of_their_kinds_on_commit(
    study: dict, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    pa = study["patient_a"]
    seen: list[tuple[int, list[str]]] = []
    monkeypatch.setattr(alerts, "after_save", lambda pk, kinds: seen.append((pk, kinds)))
    with django_capture_on_commit_callbacks(execute=True):
        lab = records.create(
            Lab,
            {
                "patient": pa,
                "date": D(2024, 1, 24),
                "test": "platelets",
                "value": 25.0,
                "unit": "10^9/L",
            },
        )
        records.soft_delete(lab, version=lab.version, reason="entered in error")
        records.create_many(
            [
                Bleeding(patient=pa, date=D(2024, 2, 1), who_grade=2),
                Lab(patient=pa, date=D(2024, 2, 1), test="platelets", value=50.0, unit="10^9/L"),
            ]
        )
        records.create(
            Lab,
            {
                "patient": pa,
                "date": D(2024, 3, 1),
                "test": "platelets",
                "value": 5.0,
                "unit": "10^9/L",
            },
            alerts_on_commit=False,
        )
    assert seen == [
        (pa.pk, ["low_platelets", "overdue_visit"]),
        (pa.pk, ["low_platelets", "overdue_visit"]),
        (pa.pk, ["low_platelets", "bleeding", "overdue_visit"]),
    ]


# -- in the background ------------------------------------------------------------------------
def test_in_the_background_the_save_answers_first_and_the_work_keeps_its_audit_context(
    transactional_db: None,
    study: dict,
    login: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from itpcohort.study import audit

    settings.STUDY_AFTER_SAVE = "background"
    gate = threading.Event()
    real = followup.after_save

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(followup, "after_save", held)
    response = login("coord_a").post(
        "/patients/A-001/visit/",
        {
            "date": "2024-01-24",
            "platelets_value": "25",
            "platelets_unit": "10^9/L",
            "confirm": "on",
        },
    )
    assert response.status_code == 302
    lab = Lab.objects.get()  # saved and answered, its after-save work still queued
    assert f"low_platelets:lab:{lab.pk}" not in _alert_keys()
    gate.set()
    followup.wait()
    assert f"low_platelets:lab:{lab.pk}" in _alert_keys()
    alert = Alert.objects.get(key=f"low_platelets:lab:{lab.pk}")
    event = audit.event_model(Alert).objects.get(pgh_obj_id=alert.pk)
    assert event.pgh_context["username"] == "coord_a"
    assert event.pgh_context["url"] == "/patients/A-001/visit/"


def test_an_unknown_mode_is_named(settings: Any) -> None:
    settings.STUDY_AFTER_SAVE = "later"
    with pytest.raises(ValueError, match="STUDY_AFTER_SAVE is 'later': use one of inline"):
        followup.mode()
