"""The visit schedule: which of a patient's planned visits are done, due, overdue or missing.

A study's schedule (``StudySettings.visit_schedule``) lists its visits as days
after day 0 with a window either side, e.g. the reference study's weeks 2 and
4, monthly to month 6, then every 2 months to month 12
(:data:`DEFAULT_VISIT_SCHEDULE`). Day 0 is the first day of the study drug
(the first period with role ``study``, as the cohort format names it), or the
enrolment date for a patient not yet treated.

For each planned visit, on a given ``today``:

- **done**: a visit (any live lab of the patient) dated within the window
  ``[day - window, day + window]``, both ends included;
- **upcoming**: not done, and the window has not opened (``today < opens``);
- **due**: not done, and the window is open (``opens <= today <= closes``);
- **overdue**: not done, the window has closed (``today > closes``: overdue by
  more than its window, issue 11's alert) and nothing has happened since: the
  visit may still take place late;
- **missing**: not done and it will not be done: follow-up ended before
  ``today``, or the window has closed and the patient has had a later visit.

Visits whose window opens after the end of follow-up (``followup_end_date``) are
not planned for that patient and not listed. This module is pure (no database);
the app hands it the dates (:func:`patient_visit_states` does so from the
study's tables).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: the reference study's visits (days after day 0, +/- window): weeks 2 and 4,
#: monthly to month 6, then every 2 months to month 12
DEFAULT_VISIT_SCHEDULE: list[dict[str, Any]] = [
    {"label": "week 2", "day": 14, "window": 3},
    {"label": "week 4", "day": 28, "window": 3},
    *({"label": f"month {m}", "day": round(m * 30.4375), "window": 7} for m in range(2, 7)),
    *({"label": f"month {m}", "day": round(m * 30.4375), "window": 14} for m in (8, 10, 12)),
]
Status = Literal["done", "upcoming", "due", "overdue", "missing"]
STATUSES: tuple[Status, ...] = ("done", "upcoming", "due", "overdue", "missing")


@dataclass(frozen=True)
class PlannedVisit:
    """One visit of the schedule: ``day`` after day 0, +/- ``window`` days."""

    label: str
    day: int
    window: int


@dataclass(frozen=True)
class VisitState:
    """One planned visit of one patient, and its state on a given day."""

    visit: PlannedVisit
    opens: dt.date
    due: dt.date
    closes: dt.date
    status: Status
    #: the first visit date in the window (done visits only)
    done_on: dt.date | None = None

    @property
    def label(self) -> str:
        return self.visit.label


class ScheduleError(ValueError):
    """The study's visit schedule is not a list of visits with a label, a day and a window."""


def parse_schedule(entries: Iterable[Mapping[str, Any]]) -> list[PlannedVisit]:
    """The schedule as stored in the study's settings (JSON), checked, in day order."""
    visits = []
    for number, entry in enumerate(entries, start=1):
        try:
            label = str(entry["label"]).strip()
            day, window = int(entry["day"]), int(entry.get("window", 0))
        except (KeyError, TypeError, ValueError) as error:
            raise ScheduleError(
                f"visit {number} of the schedule needs a label, a day and a window "
                f"(whole days), e.g. {{'label': 'week 2', 'day': 14, 'window': 3}}: {error}"
            ) from None
        if not label or day < 0 or window < 0:
            raise ScheduleError(
                f"visit {number} of the schedule ('{label}'): a label, a day >= 0 and a "
                "window >= 0 are needed"
            )
        visits.append(PlannedVisit(label, day, window))
    return sorted(visits, key=lambda v: v.day)


def visit_states(
    day0: dt.date,
    visit_dates: Iterable[dt.date],
    schedule: Sequence[PlannedVisit],
    today: dt.date,
    followup_end: dt.date | None = None,
) -> list[VisitState]:
    """Each planned visit of one patient with its state on ``today`` (rules in the module doc)."""
    dates = sorted(set(visit_dates))
    last = dates[-1] if dates else None
    states = []
    for visit in schedule:
        due = day0 + dt.timedelta(days=visit.day)
        opens = due - dt.timedelta(days=visit.window)
        closes = due + dt.timedelta(days=visit.window)
        if followup_end is not None and opens > followup_end:
            continue
        done_on = next((d for d in dates if opens <= d <= closes), None)
        states.append(
            VisitState(
                visit,
                opens,
                due,
                closes,
                _status(done_on, opens, closes, today, last, followup_end),
                done_on,
            )
        )
    return states


def _status(
    done_on: dt.date | None,
    opens: dt.date,
    closes: dt.date,
    today: dt.date,
    last_visit: dt.date | None,
    followup_end: dt.date | None,
) -> Status:
    if done_on is not None:
        return "done"
    if followup_end is not None and followup_end < today:
        return "missing"
    if today < opens:
        return "upcoming"
    if today <= closes:
        return "due"
    if last_visit is not None and last_visit > closes:
        return "missing"
    return "overdue"


def patient_visit_states(
    patients: Any, today: dt.date | None = None, settings: Any = None
) -> dict[str, list[VisitState]]:
    """The states of every planned visit of the given patients (a queryset of the study's
    ``Patient``; pass one already scoped by ``access.patients_for``), keyed by patient ID.

    Excluded patients have no planned visits and are left out. Three queries in all
    (patients, study-drug starts, visit dates), and the study's settings unless given
    (``settings``: a ``StudySettings`` read already).
    """
    from django.db.models import Q

    from itpcohort.study.models import Lab, StudySettings, Treatment

    settings = settings or StudySettings.current()
    schedule = parse_schedule(settings.visit_schedule)
    study = Q(role="") | Q(role__iexact="study")
    if settings.study_drug:
        study &= Q(drug__iexact=settings.study_drug)
    today = today or dt.datetime.now(dt.UTC).date()
    enrolled = {
        p.pk: p
        for p in patients.filter(excluded="").only(
            "pk", "patient_id", "enrollment_date", "followup_end_date"
        )
    }
    starts: dict[int, dt.date] = {}
    for pk, start in (
        Treatment.objects.filter(study, patient_id__in=enrolled, deleted=False)
        .order_by("start_date")
        .values_list("patient_id", "start_date")
    ):
        starts.setdefault(pk, start)
    dates: dict[int, set[dt.date]] = {pk: set() for pk in enrolled}
    for pk, day in (
        Lab.objects.filter(patient_id__in=enrolled, deleted=False)
        .order_by()  # no default ordering: DISTINCT over the two columns, no join
        .values_list("patient_id", "date")
        .distinct()
    ):
        dates[pk].add(day)
    return {
        p.patient_id: visit_states(
            starts.get(pk, p.enrollment_date), dates[pk], schedule, today, p.followup_end_date
        )
        for pk, p in enrolled.items()
    }
