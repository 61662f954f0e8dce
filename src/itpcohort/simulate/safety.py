"""Safety labs of the simulated patients: a plausible mix of CTCAE grades.

Tacrolimus's laboratory toxicities are renal (creatinine rises), hyperkalaemia
and hypomagnesaemia. Each enrolled patient gets a baseline panel on the day of
the baseline platelet count (creatinine, potassium, magnesium, glucose, ALT,
AST, haemoglobin, neutrophils), the same panel with the trough at every visit
on treatment, and an unscheduled panel on the day of each planned safety event.

Randomness: the visit values reuse the generator's six draws per visit (so the
response tables, platelet counts and troughs stay byte for byte what they
were); everything else (each patient's own levels, the added tests, the
events) comes from a second generator seeded from the same seed, so a seed
still gives the same cohort.

The reference design (default seed) plans, under the shipped reference ranges
(``safety/reference_ranges.csv``: creatinine ULN F 90 / M 110 umol/L,
potassium ULN 5.2, magnesium LLN 0.7 mmol/L, ALT ULN F 41 / M 59 U/L):

- creatinine: the patient with the "Creatinine increased" adverse event and
  two others a grade 1 rise (above the ULN, below 1.5 x baseline), two more a
  grade 2 rise (1.6-1.9 x baseline), each over about six weeks;
- hyperkalaemia: one grade 3 value (6.2-6.6 mmol/L) in the patient who
  stopped tacrolimus for an adverse event first, on that event's day (its
  stop is one of the abstract's two), and a grade 1 value in three others;
- hypomagnesaemia: the patient with the "Hypomagnesemia" event and five others
  grade 1, one other grade 2;
- ALT: three patients a grade 1 rise; glucose high on a "Hyperglycemia" day.

Other seeds draw the same kinds of event with similar frequencies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from itpcohort.simulate.design import Plan

#: the shipped reference ranges' limits (safety/reference_ranges.csv)
CREATININE_ULN = {"F": 90.0, "M": 110.0}
ALT_ULN = {"F": 41.0, "M": 59.0}
POTASSIUM_ULN = 5.2
MAGNESIUM_LLN = 0.7

#: (kind, patients in the reference design, probability per patient otherwise)
EVENT_KINDS = (
    ("creatinine_1", 2, 0.06),
    ("creatinine_2", 2, 0.03),
    ("potassium_1", 3, 0.05),
    ("magnesium_1", 5, 0.08),
    ("magnesium_2", 1, 0.015),
    ("alt_1", 3, 0.05),
)
#: how long an event lasts (days from its first day): visits inside share it
DURATION = {"creatinine": 42, "magnesium": 60, "potassium": 0, "alt": 0, "glucose": 0}
#: an adverse-event term and the laboratory event that goes with it
AE_EVENTS = {
    "Creatinine increased": "creatinine_1",
    "Hypomagnesemia": "magnesium_1",
    "Hyperglycemia": "glucose_high",
}


@dataclass(frozen=True)
class Event:
    kind: str  # <test>_<grade or word>
    day: int  # first day, from the start of tacrolimus

    @property
    def test(self) -> str:
        return self.kind.split("_")[0]


def plan_events(plans: list[Plan], reference: bool, rng: np.random.Generator) -> list[list[Event]]:
    """The safety events of each plan (same order as ``plans``)."""
    events: list[list[Event]] = [[] for _ in plans]
    for i, plan in enumerate(plans):
        for day, term, _grade, _action in plan.adverse_events:
            if term in AE_EVENTS and day <= plan.treatment_days:
                events[i].append(Event(AE_EVENTS[term], day))
    if reference:
        stopped = [i for i, p in enumerate(plans) if p.stop_reason == "adverse_event"]
        first = min(stopped, key=lambda i: plans[i].adverse_events[0][0])
        events[first].append(Event("potassium_3", plans[first].adverse_events[0][0]))
        taken = {i for i, e in enumerate(events) if e}
        for kind, count, _p in EVENT_KINDS:
            free = [i for i in range(len(plans)) if i not in taken]
            for i in rng.choice(free, size=count, replace=False):
                events[int(i)].append(Event(kind, _event_day(plans[int(i)], rng)))
                taken.add(int(i))
        return events
    for i, plan in enumerate(plans):
        for kind, _count, p in (*EVENT_KINDS, ("potassium_3", 0, 0.015)):
            if rng.random() < p:
                events[i].append(Event(kind, _event_day(plan, rng)))
    return events


def _event_day(plan: Plan, rng: np.random.Generator) -> int:
    last = max(2, plan.treatment_days)
    return int(rng.integers(min(30, last - 1), last))


@dataclass
class SafetyLabs:
    """One patient's safety labs: own levels, planned events, rows to write."""

    pid: str
    sex: str
    events: list[Event]
    rng: np.random.Generator
    creatinine: float = 0.0
    alt: float = 0.0
    ast: float = 0.0
    hemoglobin: float = 0.0
    neutrophils: float = 0.0
    magnesium: float = 0.0
    baseline_creatinine: float = 0.0
    written: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        r, male = self.rng, self.sex == "M"
        high = any(e.kind == "creatinine_1" for e in self.events)  # room below 1.5 x baseline
        if high:
            self.creatinine = float(r.uniform(85, 95) if male else r.uniform(70, 78))
        else:
            self.creatinine = float(r.normal(80, 9) if male else r.normal(62, 8))
            self.creatinine = float(np.clip(self.creatinine, 45, 100 if male else 82))
        self.alt = float(r.lognormal(np.log(24 if male else 18), 0.25))
        self.ast = float(r.lognormal(np.log(22 if male else 19), 0.2))
        self.hemoglobin = float(r.normal(142, 10) if male else r.normal(128, 10))
        self.neutrophils = float(r.lognormal(np.log(3.6), 0.25))
        self.magnesium = float(r.normal(0.86, 0.04))

    # -- panels ----------------------------------------------------------------------

    def baseline(self, day: int, date: dt.date) -> list[dict[str, object]]:
        """The baseline panel (before or on the start day)."""
        values = self._panel(day, self._noise())
        self.baseline_creatinine = values["creatinine"]
        return self._rows(date, values)

    def visit(self, day: int, date: dt.date, draws: dict[str, float]) -> list[dict[str, object]]:
        """A visit's panel: the generator's draws (trough as drawn) plus the added tests."""
        noise = self._noise()
        noise.update({k: v for k, v in draws.items() if k != "tacrolimus_trough"})
        values = self._panel(day, noise)
        values["tacrolimus_trough"] = draws["tacrolimus_trough"]
        self.written.add(day)
        return self._rows(date, values)

    def unscheduled(self, last_day: int, date: Callable[[int], dt.date]) -> list[dict[str, object]]:
        """A panel on each event's first day that no visit covered, while on treatment."""
        rows = []
        for day in sorted({e.day for e in self.events}):
            if day in self.written or not 0 < day <= last_day:
                continue
            rows += self._rows(date(day), self._panel(day, self._noise()))
        return rows

    # -- values ----------------------------------------------------------------------

    def _noise(self) -> dict[str, float]:
        z = self.rng.standard_normal(7)
        keys = ("creatinine", "potassium", "glucose", "magnesium", "alt", "ast", "cbc")
        return dict(zip(keys, z, strict=True))

    def _panel(self, day: int, z: dict[str, float]) -> dict[str, float]:
        male = self.sex == "M"
        values = {
            "creatinine": round(self.creatinine * float(np.exp(0.05 * z["creatinine"])), 0),
            "potassium": round(4.1 + 0.3 * z["potassium"], 1),
            "glucose": round(5.3 + 0.7 * z["glucose"], 1),
            "magnesium": round(self.magnesium + 0.04 * z["magnesium"], 2),
            "alt": round(self.alt * float(np.exp(0.2 * z["alt"])), 0),
            "ast": round(self.ast * float(np.exp(0.15 * z["ast"])), 0),
            "hemoglobin": round(self.hemoglobin + 4 * z["cbc"], 0),
            "neutrophils": round(self.neutrophils * float(np.exp(0.15 * z["cbc"])), 2),
        }
        values["potassium"] = float(np.clip(values["potassium"], 3.4, POTASSIUM_ULN))
        values["magnesium"] = float(max(values["magnesium"], MAGNESIUM_LLN + 0.02))
        for event in self.events:
            if event.day <= day <= event.day + DURATION.get(event.test, 0):
                values[event.test] = self._event_value(event, male)
        return values

    def _event_value(self, event: Event, male: bool) -> float:
        r = self.rng
        uln = CREATININE_ULN["M" if male else "F"]
        base = self.baseline_creatinine or self.creatinine
        if event.kind == "creatinine_1":
            return round(max(uln * 1.02, min(uln * float(r.uniform(1.04, 1.15)), 1.45 * base)), 0)
        if event.kind == "creatinine_2":
            return round(base * float(r.uniform(1.6, 1.9)), 0)
        if event.kind == "potassium_1":
            return round(float(r.uniform(5.3, 5.5)), 1)
        if event.kind == "potassium_3":
            return round(float(r.uniform(6.2, 6.6)), 1)
        if event.kind == "magnesium_1":
            return round(float(r.uniform(0.60, 0.68)), 2)
        if event.kind == "magnesium_2":
            return round(float(r.uniform(0.45, 0.48)), 2)
        if event.kind == "alt_1":
            return round(ALT_ULN["M" if male else "F"] * float(r.uniform(1.3, 2.5)), 0)
        return round(float(r.uniform(12.0, 16.0)), 1)  # glucose_high (mmol/L)

    def _rows(self, date: dt.date, values: dict[str, float]) -> list[dict[str, object]]:
        units = {
            "creatinine": "umol/L",
            "potassium": "mmol/L",
            "glucose": "mmol/L",
            "magnesium": "mmol/L",
            "alt": "U/L",
            "ast": "U/L",
            "hemoglobin": "g/L",
            "neutrophils": "10^9/L",
            "tacrolimus_trough": "ng/mL",
        }
        return [
            {
                "patient_id": self.pid,
                "date": date.strftime("%Y-%m-%d"),
                "test": test,
                "value": value,
                "unit": units[test],
            }
            for test, value in values.items()
        ]
