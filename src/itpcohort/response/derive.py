"""The response engine: days -> levels -> achievements and losses -> endpoints.

Written once as ibis expressions, so the same derivations run on DuckDB and on
Spark. Each ``derive_*`` function is pure: ibis tables and settings in, an
ibis table out. The rules are numbered as in ``shared/spec/response-criteria.md``
(IWG 2009: Rodeghiero F et al., Blood 2009;113(11):2386-2393).

Input tables (the clean cohort tables): ``patients`` (patient_id, excluded,
followup_end_date), ``treatments`` (patient_id, drug, role, start_date,
end_date, phase), ``labs`` (patient_id, date, test, value in canonical units),
``bleeding`` (patient_id, date, who_grade).

The confirmations start from the *observations* (every evaluable count and
bleeding, one row each, :func:`derive_observations`): the windows that confirm
responses and losses also take each day's lowest level, so the endpoints never
aggregate a million patients' counts into days first. The table of days with
their counts, washouts and bleeding (:func:`derive_days`) is built only for
``explain`` and :attr:`~itpcohort.pipeline.Evaluation.days`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
from ibis import _

from itpcohort.criteria import Criteria

#: day levels, ordered (rule 3)
NR, R, CR = 0, 1, 2
#: kinds of event in the episode stream (rules 4 and 5)
LOSS, ACHIEVEMENT = 0, 1


def days_between(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole days from ``earlier`` to ``later``."""
    return later.delta(earlier, unit="day")


def day_number(date: ir.DateValue) -> ir.IntegerValue:
    """The date as a whole number of days (since 1970-01-01): the windows' order key.

    ``RANGE`` frames of a number of days need a numeric key on every engine.
    """
    return date.epoch_days().cast("int32")


def enrolled_patients(patients: ir.Table) -> ir.Table:
    """Enrolled patients (the reader's ``_enrolled``: ``excluded`` holds no reason)."""
    return patients.filter(patients._enrolled).select("patient_id", "followup_end_date")


def derive_study_periods(treatments: ir.Table, study_drug: str) -> ir.Table:
    """The study drug's periods: role ``study`` and drug ``study_drug`` (cohort format)."""
    return treatments.filter((_.role == "study") & (_.drug == study_drug))


def derive_treatment(study_periods: ir.Table) -> ir.Table:
    """Study-drug treatment per patient: earliest start, latest end, null end if ongoing.

    The treatment runs from the earliest ``start_date`` to the latest
    ``end_date``; it is ongoing when a period has no end (cohort format).
    """
    per = study_periods.group_by("patient_id").aggregate(
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
    before = days_between(t.start_date, t.date)
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


def derive_starts(treatment: ir.Table, baseline: ir.Table) -> ir.Table:
    """Per treated patient: ``start_date``, ``end_date`` and ``baseline_platelets``.

    A left join: a patient without a baseline (rule 1) has a null
    ``baseline_platelets``, hence no level.
    """
    return treatment.left_join(baseline, "patient_id").select(
        treatment.patient_id, "start_date", "end_date", "baseline_platelets"
    )


def _rows_after_start(
    platelets: ir.Table,
    bleeding: ir.Table,
    starts: ir.Table,
    rescue_windows: ir.Table,
) -> tuple[ir.Table, ir.Table]:
    """Rule 2's rows: the counts and the bleedings dated after the study drug's start.

    Each carries the patient's ``start_date``, ``end_date`` and ``baseline_platelets``
    (``starts``, :func:`derive_starts`; engines estimate the counts as many and
    build their hash tables from the rescues); each count also ``washed``: whether
    it falls from the first day of a rescue through ``rescue_washout_days`` after
    its last (then not evaluable). A count in several windows matches each of them.
    """
    counts = platelets.join(starts, "patient_id").filter(lambda t: t.date > t.start_date)
    w = rescue_windows
    counts = counts.left_join(
        w,
        [
            counts.patient_id == w.patient_id,
            counts.date >= w.rescue_start,
            w.rescue_end.isnull() | (days_between(counts.date, w.rescue_end) <= w.washout_days),
        ],
    )
    counts = counts.mutate(washed=w.rescue_start.notnull())
    bleeds = bleeding.join(starts, "patient_id")
    return counts, bleeds.filter(bleeds.date > bleeds.start_date)


def derive_days(
    platelets: ir.Table,
    bleeding: ir.Table,
    starts: ir.Table,
    rescue_windows: ir.Table,
    criteria: Criteria,
) -> ir.Table:
    """Rules 2 and 3: every day after the start with a count or a bleeding, and its level.

    One row per patient and day: ``value`` the lowest count (``None`` if none),
    ``washed`` whether the counts fall in a rescue washout (then not evaluable),
    ``bleeding`` the highest WHO grade >= ``bleeding_min_grade`` (``None`` if
    none), and ``level`` (NR < R < CR) of an evaluable day of a patient with a
    baseline, else ``None``. A bleeding day is NR, with or without a count, even
    inside a washout. Each day carries the treatment's ``end_date`` (rule 4).

    The level is worked out per row (a count or a bleeding) and the day takes
    the lowest: the level of its lowest count, or NR with a bleeding. One
    aggregation of the rows does it all; no second pass over the days.
    """
    counts, bleeds = _rows_after_start(platelets, bleeding, starts, rescue_windows)
    counts = counts.select(
        counts.patient_id,
        counts.date,
        counts.value,
        counts.end_date,
        washed=counts.washed,
        bleeding=ibis.null("int64"),
        level=_count_level(counts.value, counts.baseline_platelets, criteria),
    )
    bleeds = bleeds.filter(bleeds.who_grade >= criteria.bleeding_min_grade).select(
        bleeds.patient_id,
        bleeds.date,
        value=ibis.null("float64"),
        end_date=bleeds.end_date,
        washed=ibis.literal(False),
        bleeding=bleeds.who_grade.cast("int64"),
        # rule 3: a bleeding day is NR (for a patient with a baseline)
        level=ibis.ifelse(
            bleeds.baseline_platelets.notnull(), ibis.literal(NR, "int8"), ibis.null("int8")
        ),
    )
    rows = counts.union(bleeds, distinct=False)
    evaluable_row = ~rows.washed
    return rows.group_by(["patient_id", "date"]).aggregate(
        value=rows.value.min(),
        washed=rows.washed.any(),
        bleeding=rows.bleeding.max(),
        level=rows.level.min(where=evaluable_row),
        end_date=rows.end_date.max(),
    )


def _count_level(
    count: ir.FloatingValue, base: ir.FloatingValue, criteria: Criteria
) -> ir.IntegerValue:
    """Rule 3: the level of one count: CR if >= ``cr_threshold``, else R by the R rule, else NR.

    ``None`` when the patient has no baseline (rule 1: not evaluable).
    """
    at_threshold = count >= criteria.r_threshold
    at_fold = count >= criteria.fold * base
    r_rule = {
        "and": at_threshold & at_fold,
        "or": at_threshold | at_fold,
        "none": at_threshold,
    }[criteria.fold_rule]
    level = ibis.cases((count >= criteria.cr_threshold, CR), (r_rule, R), else_=NR)
    return ibis.ifelse(base.notnull(), level.cast("int8"), ibis.null("int8"))


def derive_observations(
    platelets: ir.Table,
    bleeding: ir.Table,
    starts: ir.Table,
    rescue_windows: ir.Table,
    criteria: Criteria,
) -> ir.Table:
    """Rules 2 and 3 per observation: every evaluable count and bleeding after the start.

    One row per count not in a rescue washout and per bleeding of WHO grade >=
    ``bleeding_min_grade``, of patients with a baseline, dated after the start:
    ``patient_id``, ``date``, ``day`` (:func:`day_number`), ``level`` of the row
    (a bleeding is NR) and the treatment's ``end_date``. A day's level is the
    lowest of its rows' (rule 3); :func:`derive_confirmations` reads whole days,
    so the rows need no aggregation into days. The same rows as the evaluable
    days of :func:`derive_days`, before the lowest is taken.
    """
    counts, bleeds = _rows_after_start(platelets, bleeding, starts, rescue_windows)
    level = _count_level(counts.value, counts.baseline_platelets, criteria)
    counts = counts.select(
        counts.patient_id,
        "date",
        "end_date",
        # a count in a rescue washout is not evaluable (rule 2); each match is dropped
        level=ibis.ifelse(counts.washed, ibis.null("int8"), level),
    )
    bleeds = bleeds.filter(bleeds.who_grade >= criteria.bleeding_min_grade).select(
        "patient_id",
        "date",
        "end_date",
        # rule 3: a bleeding day is NR (for a patient with a baseline)
        level=ibis.ifelse(
            bleeds.baseline_platelets.notnull(), ibis.literal(NR, "int8"), ibis.null("int8")
        ),
    )
    rows = counts.union(bleeds, distinct=False).filter(_.level.notnull())
    return rows.mutate(day=day_number(rows.date))


def derive_confirmations(levels: ir.Table, criteria: Criteria) -> ir.Table:
    """Rules 4 and 5 per day: confirmed R-or-better, confirmed CR, confirmed below-R.

    ``levels`` holds evaluable observations (:func:`derive_observations`; the
    rows of one day make one day, whose level is the lowest). One row per
    patient and day comes out (``patient_id``, ``date``, ``end_date``), with
    ``r_confirmed`` (rule 4): level >= R now and on every evaluable day up to one
    at least ``response_confirm_days`` later; ``cr_confirmed`` likewise for CR;
    ``loss_confirmed`` (rule 5): level < R now and on the next evaluable day(s)
    to one at least ``loss_confirm_days`` later.

    Gaps and islands: a run is a stretch of consecutive evaluable days on one
    side of a threshold; a day is confirmed when its run reaches far enough
    beyond it. Runs at or above R and runs below R end at the same days (where
    the level crosses R), so two run ends serve the three flags. Two windows,
    one sort: the first orders the rows by ``8 x day + level`` (a day's rows
    together, its lowest level last when read backwards), so one row per day
    keeps the day's level and ``RANGE`` frames on that key reach the next day's
    lowest level; the second, on the same key over one row per day (the order of
    the days), finds the run ends. Frames grow from the
    latest day back, so every engine updates them row by row.
    """
    key = levels.day.cast("int64") * 8 + levels.level.cast("int64")
    t = levels.mutate(_key=key)
    backwards = {"group_by": t.patient_id, "order_by": ibis.desc(t._key)}
    # keys of later days are >= key + 6 (levels are 0-2): the last of those rows, read
    # backwards, is the next day's lowest level
    next_day = ibis.window(**backwards, range=(None, -6))
    following = t.day.lead().over(ibis.window(**backwards))  # read backwards: the row before
    t = t.mutate(
        _next=t.level.last().over(next_day),
        _day_row=following.isnull() | (following != t.day),
    )
    d = t.filter(t._day_row).drop("_day_row")
    d = d.mutate(
        _last_r=d._next.isnull() | ((d._next >= R) != (d.level >= R)),
        _last_cr=d._next.isnull() | ((d._next >= CR) != (d.level >= CR)),
    )
    # one row per day: ``_key`` orders the days as ``day`` does, and the rows are already
    # sorted on it (Spark sorts once for both windows)
    from_here = ibis.window(group_by=d.patient_id, order_by=ibis.desc(d._key), rows=(None, 0))
    d = d.mutate(
        _end_r=ibis.ifelse(d._last_r, d.day, ibis.null("int32")).min().over(from_here),
        _end_cr=ibis.ifelse(d._last_cr, d.day, ibis.null("int32")).min().over(from_here),
    )
    reach_r, reach_cr = d._end_r - d.day, d._end_cr - d.day
    return d.select(
        "patient_id",
        "date",
        "end_date",
        r_confirmed=(d.level >= R) & (reach_r >= criteria.response_confirm_days),
        cr_confirmed=(d.level >= CR) & (reach_cr >= criteria.response_confirm_days),
        loss_confirmed=(d.level < R) & (reach_r >= criteria.loss_confirm_days),
    )


def derive_loss_candidates(
    confirmations: ir.Table,
    bleeding: ir.Table,
    rescue_windows: ir.Table,
    criteria: Criteria,
) -> ir.Table:
    """Rule 5: the dates response would be lost on, if the patient were in response then.

    A confirmed below-R day; a bleeding of WHO grade >= ``bleeding_min_grade``;
    the start of a rescue therapy if ``rescue_is_loss``.
    """
    losses = [
        confirmations.filter(_.loss_confirmed).select("patient_id", "date"),
        bleeding.filter(_.who_grade >= criteria.bleeding_min_grade).select("patient_id", "date"),
    ]
    if criteria.rescue_is_loss:
        losses.append(rescue_windows.select("patient_id", date="rescue_start"))
    return losses[0].union(*losses[1:], distinct=False)


def _achieved(c: ir.Table, *, cr: bool = False) -> ir.BooleanValue:
    """Rule 4: a confirmed R-or-better (``cr``: CR) day that counts, on or before the end date.

    A response that starts after the drug was stopped is not attributed to it.
    """
    confirmed = c.cr_confirmed if cr else c.r_confirmed
    return confirmed & (c.end_date.isnull() | (c.date <= c.end_date))


def derive_events(confirmations: ir.Table, loss_candidates: ir.Table) -> ir.Table:
    """Rules 4 and 5: the alternating stream of achievements and losses per patient.

    Candidates: achievements (a confirmed R-or-better day on or before the end
    date, or any while ongoing) and losses (:func:`derive_loss_candidates`).
    After the first achievement, the first loss ends the episode, the first
    achievement after it starts the next: the first candidate of each run of
    one kind, in date order. (``explain`` shows this stream; the endpoints need
    only its first and last events, see :func:`derive_episodes`.)
    """
    c = confirmations
    achievements = c.filter(_achieved(c)).select(
        "patient_id", "date", kind=ibis.literal(ACHIEVEMENT, "int8")
    )
    losses = loss_candidates.select("patient_id", "date", kind=ibis.literal(LOSS, "int8"))
    # duplicates (a loss by bleeding and by rescue on one day) collapse below
    stream = achievements.union(losses, distinct=False)
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


def derive_episodes(confirmations: ir.Table, loss_candidates: ir.Table) -> ir.Table:
    """Rules 4-7 per patient: first achievement, first loss after it, and how it ends.

    The same answers as the event stream of :func:`derive_events`, by aggregation:
    ``response_date`` is the first achievement (a confirmed R-or-better day on
    or before the end date); ``loss_date`` the first loss candidate from it on;
    ``cr_date`` the first confirmed CR day on or before the end date. The stream
    ends with an achievement (``in_response_at_last``) when the last achievement
    is later than every loss candidate. A loss candidate never falls on an
    achievement day (a bleeding day is NR; counts on a rescue's first day are
    in its washout).
    """
    c = confirmations
    per = c.group_by("patient_id").aggregate(
        last_evaluable=c.date.max(),
        response_date=c.date.min(where=_achieved(c)),
        last_achievement=c.date.max(where=_achieved(c)),
        cr_date=c.date.min(where=_achieved(c, cr=True)),
    )
    lc = loss_candidates.join(
        per.filter(per.response_date.notnull()).select("patient_id", "response_date"),
        "patient_id",
    )
    lc = lc.filter(lc.date >= lc.response_date)
    losses = lc.group_by("patient_id").aggregate(loss_date=_.date.min(), last_loss=_.date.max())
    t = per.left_join(losses, "patient_id")
    return t.select(
        per.patient_id,
        "last_evaluable",
        "response_date",
        "cr_date",
        "loss_date",
        in_response_at_last=t.last_achievement.notnull()
        & (t.last_loss.isnull() | (t.last_loss < t.last_achievement)),
    )


def derive_last_observation(
    enrolled: ir.Table, platelets: ir.Table, bleeding: ir.Table
) -> ir.Table:
    """The latest platelet count (evaluable or not), bleeding event or ``followup_end_date``.

    Ends an ongoing patient's ``treatment_days`` (spec, endpoints table).
    """
    dates = platelets.select("patient_id", "date").union(
        bleeding.select("patient_id", "date"),
        enrolled.filter(_.followup_end_date.notnull()).select(
            "patient_id", date="followup_end_date"
        ),
    )
    return dates.group_by("patient_id").aggregate(last_observation=_.date.max())


@dataclass(frozen=True)
class Timeline:
    """Every intermediate table of the derivation (rules 1-7), keyed as its inputs are."""

    enrolled: ir.Table
    study_periods: ir.Table
    treatment: ir.Table
    baseline: ir.Table
    days: ir.Table
    confirmations: ir.Table
    loss_candidates: ir.Table
    events: ir.Table
    episodes: ir.Table
    last_observation: ir.Table


def derive_timeline(
    patients: ir.Table,
    treatments: ir.Table,
    labs: ir.Table,
    bleeding: ir.Table,
    criteria: Criteria,
    study_drug: str,
    reuse: Callable[[ir.Table], ir.Table] | None = None,
) -> Timeline:
    """Rules 1-7 step by step: treatment, baseline, days and levels, confirmations, episodes.

    ``reuse`` is applied to the tables that later steps read more than once (the
    treatment, the baseline, the starts, the confirmations, the episodes): an engine that
    would otherwise derive them again for every reader keeps them instead
    (Spark caches them; DuckDB keeps them itself and needs nothing).
    """
    keep = reuse or (lambda table: table)
    enrolled = enrolled_patients(patients)
    study_periods = derive_study_periods(treatments, study_drug)
    treatment = keep(derive_treatment(study_periods))
    platelets = labs.filter(_.test == "platelets").select("patient_id", "date", "value")
    baseline = keep(derive_baseline(platelets, treatment, criteria))
    rescue = derive_rescue_windows(treatments, criteria)
    # read by the counts and the bleedings of both: kept (a small table, which Spark then
    # broadcasts to the counts instead of shuffling them to it)
    starts = keep(derive_starts(treatment, baseline))
    days = derive_days(platelets, bleeding, starts, rescue, criteria)
    observations = derive_observations(platelets, bleeding, starts, rescue, criteria)
    confirmations = keep(derive_confirmations(observations, criteria))
    loss_candidates = derive_loss_candidates(confirmations, bleeding, rescue, criteria)
    return Timeline(
        enrolled=enrolled,
        study_periods=study_periods,
        treatment=treatment,
        baseline=baseline,
        days=days,
        confirmations=confirmations,
        loss_candidates=loss_candidates,
        events=derive_events(confirmations, loss_candidates),
        episodes=keep(derive_episodes(confirmations, loss_candidates)),
        last_observation=derive_last_observation(enrolled, platelets, bleeding),
    )
