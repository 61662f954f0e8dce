"""The visit schedule's states (study/schedule.py), worked out by hand.

Schedule used: week 2 = day 14 +/- 3; day 0 = 2024-01-01, so week 2 is due on
2024-01-15, its window opens on 2024-01-12 and closes on 2024-01-18 (both in).
"""

from __future__ import annotations

import datetime as dt

import pytest

from itpcohort.study.schedule import (
    DEFAULT_VISIT_SCHEDULE,
    PlannedVisit,
    ScheduleError,
    parse_schedule,
    visit_states,
)

DAY0 = dt.date(2024, 1, 1)
WEEK2 = [PlannedVisit("week 2", 14, 3)]


def d(day: int) -> dt.date:
    return dt.date(2024, 1, day)


def state(dates: list[dt.date], today: dt.date, end: dt.date | None = None):
    states = visit_states(DAY0, dates, WEEK2, today, end)
    return states[0] if states else None


def test_window_dates() -> None:
    s = state([], d(1))
    assert (s.opens, s.due, s.closes) == (d(12), d(15), d(18))


@pytest.mark.parametrize(
    ("dates", "today", "status", "done_on"),
    [
        ([d(12)], d(20), "done", d(12)),  # 1. first day of the window counts
        ([d(18)], d(20), "done", d(18)),  # 2. last day of the window counts
        ([d(12), d(13)], d(20), "done", d(12)),  # 3. the first visit in the window
        ([d(11)], d(11), "upcoming", None),  # 4. window not open yet
        ([], d(12), "due", None),  # 5. window opens today
        ([], d(18), "due", None),  # 6. window closes today
        ([d(11)], d(19), "overdue", None),  # 7. closed yesterday, nothing since
        ([d(19)], d(20), "missing", None),  # 8. a later visit: this one was skipped
        ([d(18) + dt.timedelta(days=40)], d(31) + dt.timedelta(days=40), "missing", None),
    ],
)
def test_states(dates: list[dt.date], today: dt.date, status: str, done_on: dt.date | None) -> None:
    s = state(dates, today)
    assert (s.status, s.done_on) == (status, done_on)


def test_followup_end() -> None:
    # 10. window opens after the end of follow-up: not planned for this patient
    assert state([], d(20), end=d(11)) is None
    # 11. follow-up ended inside the window, before today: will never be done
    assert state([], d(16), end=d(13)).status == "missing"
    # 12. follow-up ends later than today: still due
    assert state([], d(16), end=d(30)).status == "due"
    # 13. done before the end stays done
    assert state([d(13)], d(16), end=d(13)).status == "done"


def test_default_schedule() -> None:
    visits = parse_schedule(DEFAULT_VISIT_SCHEDULE)
    assert [v.label for v in visits][:3] == ["week 2", "week 4", "month 2"]
    # month 2 = round(2 x 30.4375) = 61 days, +/- 7; month 12 = 365 days, +/- 14
    assert (visits[2].day, visits[2].window) == (61, 7)
    assert (visits[-1].label, visits[-1].day, visits[-1].window) == ("month 12", 365, 14)


@pytest.mark.parametrize(
    "entry",
    [{"day": 14}, {"label": "x", "day": "two weeks"}, {"label": "x", "day": -1}, {"label": ""}],
)
def test_bad_schedule(entry: dict[str, object]) -> None:
    with pytest.raises(ScheduleError, match="visit 1 of the schedule"):
        parse_schedule([entry])
