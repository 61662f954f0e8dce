"""Per-patient plans: what each simulated patient is meant to show.

A plan fixes the days that decide the endpoints (response, loss, end of
treatment, last visit); the trajectory generator then draws counts that keep
each visit on the intended side of every threshold. The reference design
(`reference_plans`) pins the order statistics the abstract reports; the
random design (`random_plans`) varies around the same proportions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: days after the start of the visits up to month 6 (weeks 2 and 4, then monthly)
EARLY_VISITS = (14, 30, 61, 91, 122, 152, 183)

Category = str  # loss_full | loss_taper | sustained | ongoing | ended | nr


@dataclass
class Plan:
    """One enrolled patient's intended course, in days from the start of tacrolimus."""

    sle: bool
    outcome: str  # CR, R or NR
    category: Category
    ttr: int | None = None  # days to response
    duration: int | None = None  # response duration under treatment (rule 9)
    end: int | None = None  # last day of tacrolimus; None = ongoing
    taper_start: int | None = None
    stop_reason: str | None = None
    last_visit: int = 0
    cr_delay: bool = False  # CR patients: first responding visit at R level only
    rescue_day: int | None = None
    adverse_events: list[tuple[int, str, int, str]] = field(default_factory=list)

    @property
    def loss_day(self) -> int | None:
        if self.category in ("loss_full", "loss_taper"):
            return self.ttr + self.duration  # type: ignore[operator]
        return None

    @property
    def treatment_days(self) -> int:
        return self.end if self.end is not None else self.last_visit


def finish(plan: Plan, rng: np.random.Generator, loss_extra: int | None = None) -> Plan:
    """Derive end, taper, stop reason and last visit from category, ttr and duration."""
    c = plan.category
    if c == "nr":
        plan.end = plan.end or int(rng.integers(90, 420))
        plan.stop_reason = plan.stop_reason or "no_response"
        plan.last_visit = plan.end + int(rng.integers(20, 60))
        if rng.random() < 0.4:
            plan.rescue_day = int(rng.integers(20, max(21, plan.end - 60)))
        return plan
    assert plan.ttr is not None and plan.duration is not None
    if c in ("loss_full", "loss_taper"):
        loss = plan.ttr + plan.duration
        plan.end = loss + (loss_extra if loss_extra is not None else int(rng.integers(20, 200)))
        if c == "loss_taper":
            plan.taper_start = max(plan.ttr + 1, loss - int(rng.integers(30, 90)))
            plan.end = loss + int(rng.integers(14, 60)) if loss_extra is None else plan.end
        plan.stop_reason = "no_response"
        plan.last_visit = plan.end + int(rng.integers(30, 120))
        if rng.random() < 0.5:
            plan.rescue_day = loss + 21
    elif c == "sustained":
        plan.end = plan.ttr + plan.duration
        plan.taper_start = max(plan.ttr + 1, plan.end - int(rng.integers(60, 180)))
        plan.stop_reason = "completed"
        plan.last_visit = plan.end + 28 + int(rng.integers(7, 400))
    elif c == "ongoing":
        plan.end = None
        plan.last_visit = plan.ttr + plan.duration
    elif c == "ended":
        plan.end = plan.ttr + plan.duration
        plan.stop_reason = plan.stop_reason or str(
            rng.choice(["patient_choice", "lost_to_follow_up", "other"])
        )
        plan.last_visit = plan.end + int(rng.integers(3, 25))
    return plan


# -- the reference study's design (Shi, Zhao, Zeng; Lupus Sci Med 2023) ------------

#: days to response of the 49 responders: quartiles 1.0, 3.0, 3.0 months
REFERENCE_TTR = [14] * 5 + [30] * 8 + [61] * 11 + [91] * 13 + [122] * 5 + [152] * 4 + [183] * 3
#: response durations (days) of the 49 responders: quartiles 9.8, 24.5, 40.3 months
REFERENCE_DURATIONS = [
    *(61, 92, 120, 150, 170, 190, 210, 230, 250, 265, 280, 290),
    298,  # index 12: first quartile, 298 / 30.4375 = 9.8 months
    *(330, 365, 400, 440, 480, 520, 560, 600, 640, 680, 720),
    746,  # index 24: median, 24.5 months
    *(780, 820, 860, 900, 950, 1000, 1040, 1080, 1120, 1160, 1200),
    1227,  # index 36: third quartile, 40.3 months
    *(1260, 1300, 1340, 1380, 1420, 1460, 1500, 1540, 1580, 1620, 1660, 1700),
]
#: category of the responder with the i-th shortest duration
_LOSS_FULL = {0, 1, 2, 4, 6, 8}
_LOSS_TAPER = {15, 20}
_SUSTAINED = {17, 19, 22, 25, 27, 29, 31, 33, 37, 40, 43}
_ENDED = {3, 5, 9, 11, 13, 24, 35, 45}  # 3: stopped for an adverse event
REFERENCE_MEDIAN_TREATMENT_DAYS = 670  # 22.0 months


def reference_plans(rng: np.random.Generator) -> list[Plan]:
    """61 plans whose endpoints give every figure of the abstract exactly."""
    ttr = list(REFERENCE_TTR)
    rng.shuffle(ttr)
    cr_flags = [True] * 30 + [False] * 19
    rng.shuffle(cr_flags)
    sle_flags = [True] * 21 + [False] * 28
    rng.shuffle(sle_flags)
    plans = []
    for i, duration in enumerate(REFERENCE_DURATIONS):
        category = (
            "loss_full"
            if i in _LOSS_FULL
            else "loss_taper"
            if i in _LOSS_TAPER
            else "sustained"
            if i in _SUSTAINED
            else "ended"
            if i in _ENDED
            else "ongoing"
        )
        plan = Plan(
            sle=sle_flags[i],
            outcome="CR" if cr_flags[i] else "R",
            category=category,
            ttr=ttr[i],
            duration=duration,
            cr_delay=cr_flags[i] and rng.random() < 0.3,
        )
        if i == 3:
            plan.stop_reason = "adverse_event"
        plans.append(plan)
    nr_sle = [True] * 2 + [False] * 10
    for j in range(12):
        plan = Plan(sle=nr_sle[j], outcome="NR", category="nr", end=int(rng.integers(90, 400)))
        if j == 5:
            plan.stop_reason = "adverse_event"
        plans.append(plan)
    _pin_median_treatment(plans, rng)
    for plan in plans:
        if plan.category in ("loss_full", "loss_taper"):
            continue
        finish(plan, rng)
    _reference_adverse_events(plans, rng)
    order = rng.permutation(len(plans))
    return [plans[k] for k in order]


def _pin_median_treatment(plans: list[Plan], rng: np.random.Generator) -> None:
    """Give the loss patients end dates so that the median treatment is 670 days."""
    target = REFERENCE_MEDIAN_TREATMENT_DAYS
    fixed = [p.ttr + p.duration for p in plans if p.category in ("sustained", "ongoing", "ended")]
    below = sum(t < target for t in fixed) + sum(1 for p in plans if p.category == "nr")
    losses = [p for p in plans if p.category in ("loss_full", "loss_taper")]
    losses.sort(key=lambda p: p.ttr + p.duration)
    need_below = len(plans) // 2 - below  # patients still to place below the median
    if not 0 <= need_below < len(losses) or any(t == target for t in fixed):
        raise AssertionError(f"reference design cannot pin the median ({below} below)")
    for k, plan in enumerate(losses):
        loss = plan.ttr + plan.duration
        if k < need_below:
            extra = min(int(rng.integers(14, 120)), target - 1 - loss)
        elif k == need_below:
            extra = target - loss
        else:
            extra = target + int(rng.integers(20, 300)) - loss
        if extra < 14:
            raise AssertionError("reference design: a loss too close to the median")
        finish(plan, rng, loss_extra=extra)
        if plan.category == "loss_taper":
            plan.taper_start = max(plan.ttr + 1, loss - int(rng.integers(30, 90)))


_AE_TERMS = [
    ("Tremor", 1),
    ("Hyperglycemia", 2),
    ("Hypertension", 2),
    ("Creatinine increased", 1),
    ("Hypomagnesemia", 1),
    ("Diarrhea", 2),
]


def _reference_adverse_events(plans: list[Plan], rng: np.random.Generator) -> None:
    """Six patients with side effects; two of them stopped tacrolimus for them."""
    stopped = [p for p in plans if p.stop_reason == "adverse_event"]
    others = [p for p in plans if p.stop_reason != "adverse_event"]
    picks = [others[int(k)] for k in rng.choice(len(others), 4, replace=False)]
    for plan, (term, grade) in zip(stopped + picks, _AE_TERMS, strict=True):
        if plan in stopped:
            plan.adverse_events.append((max(1, plan.end - 10), term, grade, "discontinued"))
        else:
            horizon = plan.treatment_days
            day = int(rng.integers(14, max(15, horizon)))
            plan.adverse_events.append(
                (day, term, grade, str(rng.choice(["none", "dose_reduced"])))
            )


# -- random designs around the same proportions ------------------------------------


def random_plans(n: int, rng: np.random.Generator) -> list[Plan]:
    """``n`` plans drawn around the reference proportions (other seeds, larger cohorts)."""
    plans = []
    categories = ["loss_full", "loss_taper", "sustained", "ongoing", "ended"]
    weights = np.array([6, 2, 11, 20, 10], float)
    durations = {
        "loss_full": (40, 420),
        "loss_taper": (280, 700),
        "sustained": (300, 1700),
        "ongoing": (150, 1700),
        "ended": (90, 1200),
    }
    ttr_values, ttr_weights = np.unique(REFERENCE_TTR, return_counts=True)
    for _ in range(n):
        sle = bool(rng.random() < 23 / 61)
        responds = rng.random() < (21 / 23 if sle else 28 / 38)
        if not responds:
            plan = Plan(sle=sle, outcome="NR", category="nr")
            if rng.random() < 0.05:
                plan.stop_reason = "adverse_event"
            plans.append(finish(plan, rng))
            continue
        category = str(rng.choice(categories, p=weights / weights.sum()))
        low, high = durations[category]
        plan = Plan(
            sle=sle,
            outcome="CR" if rng.random() < 30 / 49 else "R",
            category=category,
            ttr=int(rng.choice(ttr_values, p=ttr_weights / ttr_weights.sum())),
            duration=int(rng.integers(low, high)),
        )
        plan.cr_delay = plan.outcome == "CR" and rng.random() < 0.3
        if category == "ended" and rng.random() < 0.1:
            plan.stop_reason = "adverse_event"
        plans.append(finish(plan, rng))
    for plan in plans:
        if plan.stop_reason == "adverse_event":
            plan.adverse_events.append(
                (max(1, plan.treatment_days - 10), "Hyperglycemia", 2, "discontinued")
            )
        elif rng.random() < 0.07:
            term, grade = _AE_TERMS[int(rng.integers(len(_AE_TERMS)))]
            day = int(rng.integers(14, max(15, plan.treatment_days)))
            plan.adverse_events.append((day, term, grade, "none"))
    return plans
