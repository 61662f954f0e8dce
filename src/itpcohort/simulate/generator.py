"""Rendering plans into a cohort folder of raw tables, and the truth beside it.

Every enrolled patient gets a visit schedule (weeks 2 and 4, monthly to month
6, then every 2-3 months), a baseline count, platelet counts with measurement
noise kept inside the band of the intended level, safety labs (a baseline panel,
one at each visit on treatment and on planned safety events: ``simulate/safety.py``)
and tacrolimus troughs; some get rescue IVIg (with the high counts it brings, inside the
washout), bleeding events and adverse events. The analysis never reads the
truth file: tests compare it with what the engine derives from the raw tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from itpcohort.errors import ItpCohortError
from itpcohort.simulate.design import EARLY_VISITS, Plan, random_plans, reference_plans
from itpcohort.simulate.safety import SafetyLabs, plan_events

ISO = "%Y-%m-%d"
EXCLUSION_REASONS = [
    "SLE with major organ involvement (lupus nephritis)",
    "SLE with major organ involvement (neuropsychiatric lupus)",
    "SLE with major organ involvement (lupus nephritis)",
    "SLE with major organ involvement (haemolytic anaemia)",
    "declined consent",
    "declined consent",
    "platelet count >= 100 x10^9/L at screening",
]


@dataclass(frozen=True)
class Preset:
    name: str
    patients: int
    seed: int
    study_start: dt.date
    enrolment_days: int
    citation: str


PRESETS = {
    "tacrolimus-apl-2023": Preset(
        name="tacrolimus-apl-2023",
        patients=61,
        seed=2023,
        study_start=dt.date(2016, 3, 1),
        enrolment_days=900,
        citation="Shi Y, Zhao J, Zeng X. Lupus Sci Med 2023;10(Suppl 1):A32-A34. "
        "doi:10.1136/lupus-2023-KCR.41",
    )
}


def simulate(
    output: str | Path,
    preset: str = "tacrolimus-apl-2023",
    seed: int | None = None,
    patients: int | None = None,
    truth: str | Path | None = None,
) -> dict[str, Path]:
    """Write a cohort folder (raw tables only) and, outside it, the per-patient truth.

    The preset's default seed and size reproduce the reference study's figures;
    any other seed or size draws a cohort around the same proportions.
    """
    if preset not in PRESETS:
        raise ItpCohortError(f"unknown preset '{preset}': use one of {', '.join(PRESETS)}")
    if patients is not None and patients < 1:
        raise ItpCohortError(f"a simulated cohort needs at least 1 patient, not {patients}")
    spec = PRESETS[preset]
    seed = spec.seed if seed is None else seed
    n = spec.patients if patients is None else patients
    rng = np.random.default_rng(seed)
    reference = seed == spec.seed and n == spec.patients
    plans = reference_plans(rng) if reference else random_plans(n, rng)
    # safety labs draw from their own stream: the response tables do not depend on them
    safety_rng = np.random.default_rng([seed, 13])
    events = plan_events(plans, reference, safety_rng)
    tables, truth_rows = _render(plans, spec, rng, (events, safety_rng))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written[name] = path
    truth_path = Path(truth) if truth else out.parent / f"{out.name}-truth.csv"
    pd.DataFrame(truth_rows).to_csv(truth_path, index=False)
    written["truth"] = truth_path
    return written


def _render(
    plans: list[Plan],
    spec: Preset,
    rng: np.random.Generator,
    safety: tuple[list, np.random.Generator],
) -> tuple[dict[str, pd.DataFrame], list[dict[str, object]]]:
    rows: dict[str, list[dict[str, object]]] = {
        "patients": [],
        "treatments": [],
        "labs": [],
        "bleeding": [],
        "adverse_events": [],
    }
    truth: list[dict[str, object]] = []
    n_excluded = len(EXCLUSION_REASONS) if len(plans) == spec.patients else len(plans) // 9
    screen_days = np.sort(rng.integers(0, spec.enrolment_days, len(plans) + n_excluded))
    order = rng.permutation(len(plans) + n_excluded)
    plan_iter = iter(zip(plans, safety[0], strict=True))
    width = len(str(len(plans) + n_excluded))
    for k, slot in enumerate(order):
        pid = f"TAC-{k + 1:0{width}d}"
        day0 = spec.study_start + dt.timedelta(days=int(screen_days[slot]))
        if slot < n_excluded:
            reason = EXCLUSION_REASONS[slot % len(EXCLUSION_REASONS)]
            rows["patients"].append(_patient_row(pid, day0, rng, reason=reason, sle=True))
            rows["labs"].append(_lab(pid, day0, "platelets", float(rng.integers(5, 60))))
            continue
        plan, events = next(plan_iter)
        rows["patients"].append(_patient_row(pid, day0, rng, plan=plan))
        labs = SafetyLabs(pid, str(rows["patients"][-1]["sex"]), events, safety[1])
        truth.append(_patient(pid, day0, plan, rng, rows, labs))
    return {name: pd.DataFrame(r) for name, r in rows.items()}, truth


def _patient_row(
    pid: str,
    day0: dt.date,
    rng: np.random.Generator,
    *,
    plan: Plan | None = None,
    reason: str | None = None,
    sle: bool | None = None,
) -> dict[str, object]:
    sle = plan.sle if plan is not None else bool(sle)
    aps = bool(rng.random() < 0.45)
    follow = day0 + dt.timedelta(days=plan.last_visit) if plan is not None else None
    return {
        "patient_id": pid,
        "enrollment_date": day0.strftime(ISO),
        "excluded": reason or "",
        "site": "PUMCH",
        "sex": "F" if rng.random() < 0.8 else "M",
        "age": int(rng.integers(18, 70)),
        "diagnosis_date": (day0 - dt.timedelta(days=int(rng.integers(20, 2000)))).strftime(ISO),
        "sle": "yes" if sle else "no",
        "aps": "yes" if aps else "no",
        "lupus_anticoagulant": "yes" if rng.random() < 0.55 else "no",
        "acl_igg": round(float(rng.lognormal(3.3, 0.8)), 1),
        "acl_igm": round(float(rng.lognormal(2.6, 0.8)), 1),
        "ab2gpi_igg": round(float(rng.lognormal(3.0, 0.9)), 1),
        "ab2gpi_igm": round(float(rng.lognormal(2.3, 0.8)), 1),
        "followup_end_date": follow.strftime(ISO) if follow else "",
    }


def _lab(pid: str, date: dt.date, test: str, value: float, unit: str = "10^9/L") -> dict:
    return {
        "patient_id": pid,
        "date": date.strftime(ISO),
        "test": test,
        "value": value,
        "unit": unit,
    }


def _visits(plan: Plan, rng: np.random.Generator) -> list[int]:
    """Visit days: weeks 2 and 4, monthly to month 6, then every 2-3 months, plus key days."""
    days = [d for d in EARLY_VISITS if d <= plan.last_visit]
    d = EARLY_VISITS[-1]
    while True:
        d += int(rng.integers(60, 91))
        if d > plan.last_visit:
            break
        days.append(d)
    key = {plan.last_visit}
    if plan.ttr is not None:
        key.add(plan.ttr)
    loss = plan.loss_day
    if loss is not None:
        key |= {loss, loss + 14}
        days = [x for x in days if not loss < x < loss + 14]
    if plan.category == "sustained":
        key.add(plan.end + 28 + int(rng.integers(0, 7)))  # type: ignore[operator]
    # keep key days; drop routine visits too close to them
    days = [x for x in days if all(abs(x - k) >= 5 for k in key)]
    return sorted(set(days) | {k for k in key if k <= plan.last_visit})


def _count(low: float, high: float, centre: float, rng: np.random.Generator) -> float:
    """A noisy count kept inside [low, high] (measurement noise ~12%)."""
    value = centre * float(rng.lognormal(0.0, 0.12))
    return float(round(min(max(value, low), high)))


def _patient(
    pid: str,
    day0: dt.date,
    plan: Plan,
    rng: np.random.Generator,
    rows: dict[str, list[dict[str, object]]],
    safety: SafetyLabs,
) -> dict[str, object]:
    """Render one enrolled patient's plan into ``rows``; returns the patient's truth.

    The random draws happen in a fixed order (treatments, counts, bleeding,
    adverse events), so a seed gives the same cohort byte for byte.
    """

    def date(d: int) -> dt.date:
        return day0 + dt.timedelta(days=int(d))

    rows["treatments"] += _treatment_rows(pid, plan, date, rng)
    baseline, visits, cr_from = _platelet_labs(pid, plan, date, rng, rows, safety)
    rows["bleeding"] += _bleeding_rows(pid, plan, date, rng)
    rows["adverse_events"] += _adverse_event_rows(pid, plan, date, rng)
    return _truth(pid, day0, plan, baseline, visits, cr_from, date)


def _study_periods(plan: Plan) -> list[tuple[int, int | None, str, str | None]]:
    """(first day, last day, phase, stop reason) of each study-drug period."""
    end = plan.end
    if plan.taper_start is not None and end is not None:
        return [
            (0, plan.taper_start - 1, "full", None),
            (plan.taper_start, end, "taper", plan.stop_reason),
        ]
    return [(0, end, "full", plan.stop_reason)]


def _washout(plan: Plan) -> tuple[int, int] | None:
    """The days a rescue course makes counts not evaluable (course plus 56 days)."""
    if plan.rescue_day is None:
        return None
    return (plan.rescue_day, plan.rescue_day + 1 + 56)


def _treatment_rows(
    pid: str, plan: Plan, date: Callable[[int], dt.date], rng: np.random.Generator
) -> list[dict[str, object]]:
    """Tacrolimus periods, background prednisone and any rescue IVIg course."""
    rows: list[dict[str, object]] = []
    for start, stop, phase, reason in _study_periods(plan):
        rows.append(
            {
                "patient_id": pid,
                "drug": "tacrolimus",
                "role": "study",
                "start_date": date(start).strftime(ISO),
                "end_date": date(stop).strftime(ISO) if stop is not None else "",
                "phase": phase,
                "daily_dose_mg": 2.0 if phase == "full" else 1.0,
                "stop_reason": reason or "",
            }
        )
    rows.append(
        {
            "patient_id": pid,
            "drug": "prednisone",
            "role": "concomitant",
            "start_date": date(-int(rng.integers(30, 400))).strftime(ISO),
            "end_date": date(int(rng.integers(30, 200))).strftime(ISO),
            "phase": "",
            "daily_dose_mg": 10.0,
            "stop_reason": "",
        }
    )
    if plan.rescue_day is not None:
        r0 = plan.rescue_day
        rows.append(
            {
                "patient_id": pid,
                "drug": "ivig",
                "role": "rescue",
                "start_date": date(r0).strftime(ISO),
                "end_date": date(r0 + 1).strftime(ISO),
                "phase": "",
                "daily_dose_mg": "",
                "stop_reason": "",
            }
        )
    return rows


@dataclass(frozen=True)
class _Levels:
    """What a patient's counts are drawn around."""

    baseline: float
    r_low: float  # the lowest count that is a response
    cr_from: int | None  # the first day of CR-level counts
    peak: float  # the centre of responding counts
    washout: tuple[int, int] | None


def _platelet_labs(
    pid: str,
    plan: Plan,
    date: Callable[[int], dt.date],
    rng: np.random.Generator,
    rows: dict[str, list[dict[str, object]]],
    safety: SafetyLabs,
) -> tuple[float, list[int], int | None]:
    """Baseline and visit counts (with safety labs); returns baseline, visits, CR day."""
    baseline = float(rng.integers(5, 26))
    base_day = -int(rng.integers(0, 6))
    rows["labs"].append(_lab(pid, date(base_day), "platelets", baseline))
    rows["labs"] += safety.baseline(base_day, date(base_day))
    visits = _visits(plan, rng)
    responding_visits = [v for v in visits if plan.ttr is not None and v >= plan.ttr]
    cr_from = None
    if plan.outcome == "CR":
        cr_from = plan.ttr
        if plan.cr_delay and len(responding_visits) > 3:
            cr_from = responding_visits[1]
    r_low = max(30.0, 2 * baseline) + 3
    peak = float(rng.uniform(130, 260)) if plan.outcome == "CR" else float(rng.uniform(r_low, 90))
    levels = _Levels(baseline, r_low, cr_from, peak, _washout(plan))
    for v in visits:
        value, blip_next_day = _visit_count(v, plan, levels, v == visits[-1], rng)
        if blip_next_day is not None:
            rows["labs"].append(_lab(pid, date(v + 1), "platelets", blip_next_day))
        rows["labs"].append(_lab(pid, date(v), "platelets", value))
        if plan.end is None or v <= plan.end:
            rows["labs"] += safety.visit(v, date(v), _safety_draws(rng))
    last = plan.end if plan.end is not None else plan.last_visit
    rows["labs"] += safety.unscheduled(last, date)
    return baseline, visits, cr_from


def _visit_count(
    v: int, plan: Plan, levels: _Levels, last: bool, rng: np.random.Generator
) -> tuple[float, float | None]:
    """The count on visit day ``v``, and the next day's count after an unconfirmed blip."""
    washout, loss = levels.washout, plan.loss_day
    if washout is not None and washout[0] <= v <= washout[1]:
        return _count(80, 300, 150, rng), None  # IVIg lifts the count; not evaluable
    if plan.ttr is None or v < plan.ttr:
        rise = min(1.0, v / max(plan.ttr or 200, 1))
        value = _count(1, 29, levels.baseline + (27 - levels.baseline) * rise * 0.8, rng)
        if plan.outcome == "NR" and rng.random() < 0.08 and not last:
            value = _count(30 + 2 * levels.baseline, 99, 60, rng)  # an unconfirmed blip...
            return value, _count(1, 29, 15, rng)
        return value, None
    if loss is not None and v >= loss:
        return _count(1, 29, 18, rng), None
    if levels.cr_from is not None and v >= levels.cr_from:
        return _count(101, 600, levels.peak, rng), None
    return _count(levels.r_low, 95, (levels.r_low + 95) / 2, rng), None


def _bleeding_rows(
    pid: str, plan: Plan, date: Callable[[int], dt.date], rng: np.random.Generator
) -> list[dict[str, object]]:
    """Minor (grade 1) bleeding anywhere; grade 2-3 only where it changes nothing."""
    rows: list[dict[str, object]] = []
    if rng.random() < 0.25:
        d = int(rng.integers(1, plan.last_visit))
        rows.append(
            {
                "patient_id": pid,
                "date": date(d).strftime(ISO),
                "who_grade": 1,
                "site": str(rng.choice(["gum", "skin"])),
            }
        )
    if plan.outcome == "NR" and rng.random() < 0.4:
        d = int(rng.integers(1, plan.last_visit))
        rows.append(
            {
                "patient_id": pid,
                "date": date(d).strftime(ISO),
                "who_grade": int(rng.integers(2, 4)),
                "site": str(rng.choice(["epistaxis", "GI", "menorrhagia"])),
            }
        )
    return rows


def _adverse_event_rows(
    pid: str, plan: Plan, date: Callable[[int], dt.date], rng: np.random.Generator
) -> list[dict[str, object]]:
    return [
        {
            "patient_id": pid,
            "onset_date": date(d).strftime(ISO),
            "term": term,
            "grade": grade,
            "related": "yes",
            "action": action,
            "end_date": date(d + int(rng.integers(7, 60))).strftime(ISO),
        }
        for d, term, grade, action in plan.adverse_events
    ]


def _safety_draws(rng: np.random.Generator) -> dict[str, float]:
    """The six draws every visit has always taken from the main generator, in the same
    order (so the counts drawn after them stay the same): as standard scores for the
    safety labs (``simulate/safety.py`` scales them to each patient), the trough as drawn.
    """
    creatinine = float(rng.normal(68, 12))
    potassium = float(rng.normal(4.1, 0.35))
    glucose = float(rng.normal(5.3, 0.7))
    magnesium = float(rng.normal(0.85, 0.08))
    alt = float(rng.lognormal(3.0, 0.35))
    trough = float(rng.lognormal(1.6, 0.3))
    return {
        "creatinine": (creatinine - 68) / 12,
        "potassium": (potassium - 4.1) / 0.35,
        "glucose": (glucose - 5.3) / 0.7,
        "magnesium": (magnesium - 0.85) / 0.08,
        "alt": (float(np.log(alt)) - 3.0) / 0.35,
        "tacrolimus_trough": round(trough, 1),
    }


def _truth(pid, day0, plan: Plan, baseline, visits, cr_from, date) -> dict[str, object]:  # type: ignore[no-untyped-def]
    responded = plan.ttr is not None
    loss = plan.loss_day
    censored = None if not responded else plan.category not in ("loss_full", "loss_taper")
    phase = None
    if loss is not None:
        phase = "taper" if plan.taper_start is not None and loss >= plan.taper_start else "full"
    return {
        "patient_id": pid,
        "start_date": day0.isoformat(),
        "end_date": date(plan.end).isoformat() if plan.end is not None else "",
        "baseline_platelets": baseline,
        "best_response": plan.outcome,
        "response_date": date(plan.ttr).isoformat() if responded else "",
        "days_to_response": plan.ttr if responded else "",
        "cr_date": date(cr_from).isoformat() if cr_from is not None else "",
        "days_to_cr": cr_from if cr_from is not None else "",
        "loss_date": date(loss).isoformat() if loss is not None else "",
        "loss_phase": phase or "",
        "response_duration_days": plan.duration if responded else "",
        "response_duration_censored": "" if censored is None else str(censored).lower(),
        "sustained_off_treatment": str(plan.category == "sustained").lower(),
        "treatment_days": plan.treatment_days,
        "category": plan.category,
        "sle": plan.sle,
    }
