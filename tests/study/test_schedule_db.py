"""The visit grid from the study's tables (study/schedule.py patient_visit_states).

Patient A-001 of the ``study`` fixture, enrolled 2024-01-10; tacrolimus from
2024-01-15 (day 0). Week 2 = 2024-01-29 +/- 3 (01-26..02-01), week 4 =
2024-02-12 +/- 3 (02-09..02-15), month 2 = day 61 = 2024-03-16 +/- 7.
"""

from __future__ import annotations

import datetime as dt

from itpcohort.study import records
from itpcohort.study.models import Lab, Patient, Treatment
from itpcohort.study.schedule import patient_visit_states


def test_states_from_the_tables(study: dict[str, object]) -> None:
    pa = study["patient_a"]
    records.create(
        Treatment,
        {"patient": pa, "drug": "tacrolimus", "role": "study", "start_date": dt.date(2024, 1, 15)},
    )
    records.create(
        Treatment,
        {"patient": pa, "drug": "prednisone", "role": "rescue", "start_date": dt.date(2024, 1, 11)},
    )  # not day 0
    records.create(
        Lab,
        {
            "patient": pa,
            "date": dt.date(2024, 2, 1),
            "test": "platelets",
            "value": 40,
            "unit": "10^9/L",
        },
    )  # week 2, last day of its window
    records.create(
        Lab,
        {
            "patient": pa,
            "date": dt.date(2024, 2, 12),
            "test": "platelets",
            "value": 50,
            "unit": "10^9/L",
        },
    )
    records.create(
        Patient,
        {
            "patient_id": "A-002",
            "site": study["site_a"],
            "enrollment_date": dt.date(2024, 1, 10),
            "excluded": "no consent",
        },
    )
    states = patient_visit_states(Patient.objects.all(), today=dt.date(2024, 2, 20))
    assert set(states) == {"A-001", "B-001"}  # the excluded patient has no visits
    a = {s.label: s for s in states["A-001"]}
    assert (a["week 2"].status, a["week 2"].done_on) == ("done", dt.date(2024, 2, 1))
    assert a["week 4"].status == "done"
    assert a["month 2"].status == "upcoming"
    # B-001: enrolled 2024-02-01, untreated: day 0 is enrolment; week 2 = 02-15 +/- 3,
    # closed on 02-18 with no visit -> overdue on 02-20; week 4 (02-26..03-03) upcoming
    b = {s.label: s for s in states["B-001"]}
    assert (b["week 2"].due, b["week 2"].status) == (dt.date(2024, 2, 15), "overdue")
    assert b["week 4"].status == "upcoming"
