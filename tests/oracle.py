"""A second, independent reading of shared/spec/response-criteria.md, for property tests.

Plain Python, one patient at a time, walking the days in order as the rules
read: no windows, no runs, no SQL. The engine (ibis, gaps and islands) must
agree with it on random cohorts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from itpcohort.criteria import Criteria

INF = dt.date.max


@dataclass
class PatientData:
    periods: list[tuple[dt.date, dt.date | None, str]]  # study drug (start, end, phase)
    counts: list[tuple[dt.date, float]]
    rescue: list[tuple[dt.date, dt.date | None]] = field(default_factory=list)
    bleeding: list[tuple[dt.date, int]] = field(default_factory=list)
    followup_end: dt.date | None = None


def _level(value: float | None, bleed: bool, base: float, c: Criteria) -> int:
    if bleed or value is None:
        return 0
    if value >= c.cr_threshold:
        return 2
    count_ok, fold_ok = value >= c.r_threshold, value >= c.fold * base
    ok = {"and": count_ok and fold_ok, "or": count_ok or fold_ok, "none": count_ok}[c.fold_rule]
    return 1 if ok else 0


def oracle_endpoints(p: PatientData, c: Criteria) -> dict[str, object]:
    start = min(s for s, _, _ in p.periods)
    last = max(p.periods, key=lambda x: x[0])
    end = None if last[1] is None else max(e for _, e, _ in p.periods if e is not None)
    out: dict[str, object] = {"start_date": start, "end_date": end}
    if end is not None:
        out["treatment_days"] = (end - start).days
    else:
        obs = [d for d, _ in p.counts] + [d for d, _ in p.bleeding]
        if p.followup_end:
            obs.append(p.followup_end)
        out["treatment_days"] = (max(obs) - start).days if obs else None
    window = [(d, v) for d, v in p.counts if 0 <= (start - d).days < c.baseline_window_days]
    empty = {
        "baseline_platelets": None,
        "best_response": "NE",
        "response_date": None,
        "days_to_response": None,
        "cr_date": None,
        "days_to_cr": None,
        "loss_date": None,
        "loss_phase": None,
        "response_duration_days": None,
        "response_duration_censored": None,
        "sustained_off_treatment": False,
    }
    if not window:
        return out | empty
    base_day = max(d for d, _ in window)
    base = min(v for d, v in window if d == base_day)
    out["baseline_platelets"] = base

    def washed(d: dt.date) -> bool:
        return any(
            s <= d and (e is None or d <= e + dt.timedelta(days=c.rescue_washout_days))
            for s, e in p.rescue
        )

    per_day: dict[dt.date, float] = {}
    for d, v in p.counts:
        if d > start and not washed(d):
            per_day[d] = min(v, per_day.get(d, v))
    bleed_days = {d for d, g in p.bleeding if g >= c.bleeding_min_grade and d > start}
    dates = sorted(set(per_day) | bleed_days)
    levels = [_level(per_day.get(d), d in bleed_days, base, c) for d in dates]
    if not dates:
        return out | empty | {"baseline_platelets": base}

    def confirmed(i: int, ok, gap: int) -> bool:  # type: ignore[no-untyped-def]
        """Rule 4 (and rule 5 read as rule 4, README): day i and every evaluable day
        up to a later one at least ``gap`` days on satisfy ``ok`` (gaps are >= 1)."""
        if not ok(levels[i]):
            return False
        for j in range(i + 1, len(dates)):
            if not ok(levels[j]):
                return False
            if (dates[j] - dates[i]).days >= gap:
                return True
        return False

    def attributable(d: dt.date) -> bool:
        return end is None or d <= end

    index = {d: i for i, d in enumerate(dates)}
    loss_dates = {d for d, g in p.bleeding if g >= c.bleeding_min_grade}
    if c.rescue_is_loss:
        loss_dates |= {s for s, _ in p.rescue}
    timeline = sorted(set(dates) | loss_dates)
    state, episodes = "out", []  # episodes: (kind, date)
    for d in timeline:
        i = index.get(d)
        if state == "out":
            if (
                i is not None
                and attributable(d)
                and confirmed(i, lambda lv: lv >= 1, c.response_confirm_days)
            ):
                state = "in"
                episodes.append(("A", d))
        elif d in loss_dates or (
            i is not None and confirmed(i, lambda lv: lv < 1, c.loss_confirm_days)
        ):
            state = "out"
            episodes.append(("L", d))
    cr = [
        d
        for i, d in enumerate(dates)
        if attributable(d) and confirmed(i, lambda lv: lv >= 2, c.response_confirm_days)
    ]
    response = next((d for k, d in episodes if k == "A"), None)
    loss = next((d for k, d in episodes if k == "L"), None)
    out["cr_date"] = cr[0] if cr else None
    out["days_to_cr"] = (cr[0] - start).days if cr else None
    out["response_date"] = response
    out["days_to_response"] = (response - start).days if response else None
    out["loss_date"] = loss
    out["best_response"] = "CR" if cr else "R" if response else "NR"
    last_eval = dates[-1]
    if response is None:
        return out | {
            "loss_phase": None,
            "response_duration_days": None,
            "response_duration_censored": None,
            "sustained_off_treatment": False,
        }
    if loss is None:
        out["loss_phase"] = None
    elif end is not None and loss > end:
        out["loss_phase"] = "off"
    else:
        out["loss_phase"] = max((s, ph) for s, _, ph in p.periods if s <= loss)[1]
    if loss is not None and (end is None or loss <= end):
        out["response_duration_days"] = (loss - response).days
        out["response_duration_censored"] = False
    else:
        censor = last_eval if end is None else min(end, last_eval)
        out["response_duration_days"] = (censor - response).days
        out["response_duration_censored"] = True
    out["sustained_off_treatment"] = bool(
        end is not None
        and episodes[-1][0] == "A"
        and (last_eval - end).days >= c.sustained_min_days_off
    )
    return out
