"""The response engine: days -> levels -> achievements and losses -> endpoints.

Written once as ibis expressions, so the same derivations run on DuckDB and on
Spark. Each ``derive_*`` function is pure: ibis tables and settings in, an
ibis table out. The rules are numbered as in ``shared/spec/response-criteria.md``
(IWG 2009: Rodeghiero F et al., Blood 2009;113(11):2386-2393).

Input tables (the clean cohort tables): ``patients`` (patient_id, excluded,
followup_end_date), ``treatments`` (patient_id, drug, role, start_date,
end_date, phase), ``labs`` (patient_id, date, test, value in canonical units),
``bleeding`` (patient_id, date, who_grade).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from itpcohort.criteria import Criteria

#: day levels, ordered (rule 3)
NR, R, CR = 0, 1, 2
#: kinds of event in the episode stream (rules 4 and 5)
LOSS, ACHIEVEMENT = 0, 1


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole days from ``earlier`` to ``later``."""
    return later.delta(earlier, unit="day")


def enrolled_patients(patients: ir.Table) -> ir.Table:
    """Enrolled patients: ``excluded`` empty (cohort format, patients table)."""
    excluded = patients.excluded.strip().length().fill_null(0) > 0
    return patients.filter(~excluded).select("patient_id", "followup_end_date")


def derive_treatment(treatments: ir.Table, study_drug: str) -> ir.Table:
    """Study-drug treatment per patient: earliest start, latest end, null end if ongoing.

    The treatment runs from the earliest ``start_date`` to the latest
    ``end_date``; it is ongoing when the last period has no end (cohort format).
    """
    study = treatments.filter((_.role == "study") & (_.drug == study_drug))
    per = study.group_by("patient_id").aggregate(
        start_date=_.start_date.min(),
        last_end=_.end_date.max(),
        ongoing=_.end_date.isnull().any(),
    )
    return per.select(
        "patient_id",
        "start_date",
        end_date=ibis.ifelse(per.ongoing, ibis.null("date"), per.last_end),
    )


def derive_baseline(platelets: ir.Table, treatment: ir.Table, criteria: Criteria) -> ir.Table:
    """Rule 1: the last count in the ``baseline_window_days`` days up to and including the start.

    The window holds the start date and the ``baseline_window_days - 1`` days
    before it; of several counts that day, the lowest.
    """
    t = platelets.join(treatment, "patient_id")
    before = _days(t.start_date, t.date)
    t = t.filter((before >= 0) & (before < criteria.baseline_window_days))
    t = t.mutate(last=t.date.max().over(group_by="patient_id"))
    t = t.filter(t.date == t.last)
    return t.group_by("patient_id").aggregate(
        baseline_date=_.date.max(), baseline_platelets=_.value.min()
    )


def derive_rescue_windows(treatments: ir.Table, criteria: Criteria) -> ir.Table:
    """Rule 2: rescue periods; counts from the first day to ``washout`` days after the last."""
    rescue = treatments.filter(_.role == "rescue")
    return rescue.select(
        "patient_id",
        rescue_start=rescue.start_date,
        rescue_end=rescue.end_date,
        washout_days=ibis.literal(criteria.rescue_washout_days, "int64"),
    )


def derive_count_days(
    platelets: ir.Table, treatment: ir.Table, rescue_windows: ir.Table
) -> ir.Table:
    """Rule 2: one value per day after the start (the lowest), and whether it is evaluable."""
    t = platelets.join(treatment, "patient_id").filter(lambda t: t.date > t.start_date)
    per_day = t.group_by(["patient_id", "date"]).aggregate(value=_.value.min())
    w = rescue_windows
    # the few counts inside a washout, found on the raw rows (one pass, small result)
    in_washout = (
        t.semi_join(
            w,
            [
                t.patient_id == w.patient_id,
                t.date >= w.rescue_start,
                w.rescue_end.isnull() | (_days(t.date, w.rescue_end) <= w.washout_days),
            ],
        )
        .select("patient_id", "date")
        .distinct()
        .mutate(washed=ibis.literal(True))
    )
    return per_day.left_join(in_washout, ["patient_id", "date"]).select(
        per_day.patient_id, per_day.date, per_day.value, evaluable=in_washout.washed.isnull()
    )


def derive_bleeding_days(bleeding: ir.Table, treatment: ir.Table, criteria: Criteria) -> ir.Table:
    """Rule 3: days after the start with bleeding of WHO grade >= ``bleeding_min_grade``."""
    t = bleeding.filter(_.who_grade >= criteria.bleeding_min_grade).join(treatment, "patient_id")
    t = t.filter(t.date > t.start_date)
    return t.group_by(["patient_id", "date"]).aggregate(bleeding=_.who_grade.max())


def derive_day_levels(
    count_days: ir.Table,
    bleeding_days: ir.Table,
    baseline: ir.Table,
    treatment: ir.Table,
    criteria: Criteria,
) -> ir.Table:
    """Rule 3: the level (NR < R < CR) of each evaluable day of a patient with a baseline.

    Evaluable days are the evaluable count days and the bleeding days; a
    bleeding day is NR, with or without a count. Each day carries the
    treatment's ``end_date``, which rule 4 needs.
    """
    counts = count_days.filter(_.evaluable)
    bleeds = bleeding_days
    # count days, with their bleeding if any; then the bleeding days without a count
    with_counts = counts.left_join(bleeds, ["patient_id", "date"]).select(
        counts.patient_id, counts.date, counts.value, bleeds.bleeding.cast("int64")
    )
    bleeding_only = bleeds.anti_join(counts, ["patient_id", "date"]).select(
        "patient_id", "date", value=ibis.null("float64"), bleeding=_.bleeding.cast("int64")
    )
    days = with_counts.union(bleeding_only, distinct=False)
    per_patient = baseline.select("patient_id", "baseline_platelets").join(
        treatment.select("patient_id", "end_date"), "patient_id"
    )
    days = days.join(per_patient, "patient_id")
    count, base = days.value, days.baseline_platelets
    at_threshold = count >= criteria.r_threshold
    at_fold = count >= criteria.fold * base
    r_rule = {
        "and": at_threshold & at_fold,
        "or": at_threshold | at_fold,
        "none": at_threshold,
    }[criteria.fold_rule]
    level = ibis.cases(
        (days.bleeding.notnull(), NR),
        (count >= criteria.cr_threshold, CR),
        (r_rule, R),
        else_=NR,
    )
    return days.mutate(level=level.cast("int8")).drop("baseline_platelets")


def derive_confirmations(day_levels: ir.Table, criteria: Criteria) -> ir.Table:
    """Rules 4 and 5 per day: confirmed R-or-better, confirmed CR, confirmed below-R.

    ``r_confirmed`` (rule 4): level >= R now and on every evaluable day up to one
    at least ``response_confirm_days`` later; ``cr_confirmed`` likewise for CR;
    ``loss_confirmed`` (rule 5): level < R now and on the next evaluable day(s)
    to one at least ``loss_confirm_days`` later.

    Gaps and islands: a run is a stretch of consecutive evaluable days on one
    side of a threshold; a day is confirmed when its run reaches far enough
    beyond it. The run's end is the first later day (or this one) that is the
    last of its run. All windows share one ordering, so engines sort twice.
    """
    w = ibis.window(group_by="patient_id", order_by="date")
    following = ibis.window(group_by="patient_id", order_by="date", rows=(0, None))
    d = day_levels.mutate(_next=day_levels.level.lead().over(w))
    flags = {
        "r_confirmed": (lambda lv: lv >= R, criteria.response_confirm_days),
        "cr_confirmed": (lambda lv: lv >= CR, criteria.response_confirm_days),
        "loss_confirmed": (lambda lv: lv < R, criteria.loss_confirm_days),
    }
    last_of_run = {
        f"_last_{name}": d._next.isnull() | (side(d._next) != side(d.level))
        for name, (side, _gap) in flags.items()
    }
    d = d.mutate(**last_of_run)
    run_end = {
        f"_end_{name}": ibis.ifelse(d[f"_last_{name}"], d.date, ibis.null("date"))
        .min()
        .over(following)
        for name in flags
    }
    d = d.mutate(**run_end)
    confirmed = {
        name: side(d.level) & (_days(d[f"_end_{name}"], d.date) >= gap)
        for name, (side, gap) in flags.items()
    }
    helpers = ["_next", *last_of_run, *run_end]
    return d.mutate(**confirmed).drop(*helpers)


def derive_events(
    confirmations: ir.Table,
    bleeding: ir.Table,
    rescue_windows: ir.Table,
    criteria: Criteria,
) -> ir.Table:
    """Rules 4 and 5: the alternating stream of achievements and losses per patient.

    Candidates: achievements (a confirmed R-or-better day on or before the end
    date, or any while ongoing) and losses (a confirmed below-R day; a bleeding
    of grade >= ``bleeding_min_grade``; a rescue start if ``rescue_is_loss``).
    After the first achievement, the first loss ends the episode, the first
    achievement after it starts the next: the first candidate of each run of
    one kind, in date order.
    """
    c = confirmations
    achievements = c.filter(c.r_confirmed & (c.end_date.isnull() | (c.date <= c.end_date))).select(
        "patient_id", "date", kind=ibis.literal(ACHIEVEMENT, "int8")
    )
    losses = [
        c.filter(c.loss_confirmed).select("patient_id", "date", kind=ibis.literal(LOSS, "int8")),
        bleeding.filter(_.who_grade >= criteria.bleeding_min_grade).select(
            "patient_id", "date", kind=ibis.literal(LOSS, "int8")
        ),
    ]
    if criteria.rescue_is_loss:
        losses.append(
            rescue_windows.select(
                "patient_id", date="rescue_start", kind=ibis.literal(LOSS, "int8")
            )
        )
    # duplicates (a loss by bleeding and by rescue on one day) collapse below
    stream = achievements.union(*losses, distinct=False)
    first = (
        stream.filter(_.kind == ACHIEVEMENT)
        .group_by("patient_id")
        .aggregate(first_achievement=_.date.min())
    )
    stream = stream.join(first, "patient_id")
    stream = stream.filter(stream.date >= stream.first_achievement).drop("first_achievement")
    w = ibis.window(group_by="patient_id", order_by=["date", "kind"])
    stream = stream.mutate(_new=(stream.kind != stream.kind.lag().over(w)).fill_null(True))
    return stream.filter(stream._new).drop("_new")


def _phase_on(periods: ir.Table, dates: ir.Table, column: str) -> ir.Table:
    """Phase of the study-drug period in effect on each patient's ``column`` date."""
    j = dates.join(periods, "patient_id")
    j = j.filter(j.start_date <= j[column])
    return j.group_by("patient_id").aggregate(period_phase=j.phase.argmax(j.start_date))


@dataclass(frozen=True)
class Timeline:
    """Every intermediate table of the derivation (rules 1-5), for endpoints and explain."""

    enrolled: ir.Table
    treatment: ir.Table
    platelets: ir.Table
    baseline: ir.Table
    rescue: ir.Table
    count_days: ir.Table
    confirmations: ir.Table
    events: ir.Table


def derive_timeline(
    patients: ir.Table,
    treatments: ir.Table,
    labs: ir.Table,
    bleeding: ir.Table,
    criteria: Criteria,
    study_drug: str,
) -> Timeline:
    """Rules 1-5 step by step: treatment, baseline, days, levels, confirmations, episodes."""
    treatment = derive_treatment(treatments, study_drug)
    platelets = labs.filter(_.test == "platelets").select("patient_id", "date", "value")
    baseline = derive_baseline(platelets, treatment, criteria)
    rescue = derive_rescue_windows(treatments, criteria)
    count_days = derive_count_days(platelets, treatment, rescue)
    bleeding_days = derive_bleeding_days(bleeding, treatment, criteria)
    levels = derive_day_levels(count_days, bleeding_days, baseline, treatment, criteria)
    confirmations = derive_confirmations(levels, criteria)
    events = derive_events(confirmations, bleeding, rescue, criteria)
    return Timeline(
        enrolled_patients(patients),
        treatment,
        platelets,
        baseline,
        rescue,
        count_days,
        confirmations,
        events,
    )


def derive_endpoints(
    patients: ir.Table,
    treatments: ir.Table,
    labs: ir.Table,
    bleeding: ir.Table,
    criteria: Criteria,
    study_drug: str,
) -> ir.Table:
    """The per-patient endpoints table (rules 1-10), one row per enrolled patient."""
    tl = derive_timeline(patients, treatments, labs, bleeding, criteria, study_drug)
    enrolled, treatment, platelets, baseline = tl.enrolled, tl.treatment, tl.platelets, tl.baseline
    confirmations, events = tl.confirmations, tl.events

    evaluable = confirmations.group_by("patient_id").aggregate(
        last_evaluable=_.date.max(), cr_date=_.date.min(where=_.cr_confirmed)
    )
    episodes = events.group_by("patient_id").aggregate(
        response_date=_.date.min(where=_.kind == ACHIEVEMENT),
        loss_date=_.date.min(where=_.kind == LOSS),
        last_kind=_.kind.argmax(_.date),
    )
    study_periods = treatments.filter((_.role == "study") & (_.drug == study_drug))
    loss_phase = _phase_on(
        study_periods.select("patient_id", "start_date", "phase"),
        episodes.filter(_.loss_date.notnull()).select("patient_id", "loss_date"),
        "loss_date",
    )
    last_obs = _last_observation(enrolled, platelets, bleeding)

    t = (
        enrolled.left_join(treatment, "patient_id")
        .left_join(baseline, "patient_id")
        .left_join(evaluable, "patient_id")
        .left_join(episodes, "patient_id")
        .left_join(loss_phase, "patient_id")
        .left_join(last_obs, "patient_id")
    )
    t = t.select(
        "patient_id",
        "start_date",
        "end_date",
        "baseline_platelets",
        "last_evaluable",
        "cr_date",
        "response_date",
        "loss_date",
        "last_kind",
        "period_phase",
        "last_observation",
    )
    # rule 4: a CR counts only when achieved on or before the end date
    cr_date = ibis.ifelse(
        t.end_date.isnull() | (t.cr_date <= t.end_date), t.cr_date, ibis.null("date")
    )
    t = t.mutate(cr_date=cr_date)
    best = ibis.cases(
        (t.cr_date.notnull(), "CR"),
        (t.response_date.notnull(), "R"),
        (t.baseline_platelets.notnull() & t.last_evaluable.notnull(), "NR"),
        else_="NE",
    )
    ongoing = t.end_date.isnull()
    loss_under_treatment = t.loss_date.notnull() & (ongoing | (t.loss_date <= t.end_date))
    censor_date = ibis.ifelse(ongoing, t.last_evaluable, ibis.least(t.end_date, t.last_evaluable))
    duration = ibis.ifelse(
        loss_under_treatment,
        _days(t.loss_date, t.response_date),
        _days(censor_date, t.response_date),
    )
    has_response = t.response_date.notnull()
    phase = ibis.ifelse(t.end_date.notnull() & (t.loss_date > t.end_date), "off", t.period_phase)
    sustained = (
        t.end_date.notnull()
        & (t.last_kind == ACHIEVEMENT)
        & (_days(t.last_evaluable, t.end_date) >= criteria.sustained_min_days_off)
    ).fill_null(False)
    treatment_days = ibis.ifelse(
        ongoing,
        _days(t.last_observation, t.start_date),
        _days(t.end_date, t.start_date),
    )
    return t.select(
        "patient_id",
        "start_date",
        "end_date",
        "baseline_platelets",
        best_response=best,
        response_date=t.response_date,
        days_to_response=_days(t.response_date, t.start_date),
        cr_date=t.cr_date,
        days_to_cr=_days(t.cr_date, t.start_date),
        loss_date=t.loss_date,
        loss_phase=ibis.ifelse(t.loss_date.notnull(), phase, ibis.null("string")),
        response_duration_days=ibis.ifelse(has_response, duration, ibis.null("int64")),
        response_duration_censored=ibis.ifelse(
            has_response, ~loss_under_treatment, ibis.null("boolean")
        ),
        sustained_off_treatment=sustained,
        treatment_days=ibis.ifelse(t.start_date.notnull(), treatment_days, ibis.null("int64")),
    ).order_by("patient_id")


def _last_observation(enrolled: ir.Table, platelets: ir.Table, bleeding: ir.Table) -> ir.Table:
    """Latest platelet count (evaluable or not), bleeding event or ``followup_end_date``."""
    dates = platelets.select("patient_id", "date").union(
        bleeding.select("patient_id", "date"),
        enrolled.filter(_.followup_end_date.notnull()).select(
            "patient_id", date="followup_end_date"
        ),
    )
    return dates.group_by("patient_id").aggregate(last_observation=_.date.max())
