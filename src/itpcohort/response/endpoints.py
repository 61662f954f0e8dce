"""The per-patient endpoints (rules 6-10 and treatment days), one small function per rule.

Each rule is a pure function of the per-patient facts table that
:func:`patient_facts` assembles from a :class:`~itpcohort.response.derive.Timeline`
(one row per enrolled patient):

``patient_id``, ``start_date``, ``end_date`` (null: ongoing),
``baseline_platelets``, ``last_evaluable`` (the last evaluable day),
``response_date`` (first achievement of R or better, rule 4), ``cr_date``,
``loss_date`` (first loss from the first achievement on, rule 5),
``in_response_at_last`` (the episode stream ends in response),
``period_phase`` (phase of the study-drug period in effect on ``loss_date``),
``last_observation`` (latest count, bleeding or follow-up end).

The rules are numbered as in ``shared/spec/response-criteria.md`` (IWG 2009:
Rodeghiero F et al., Blood 2009;113(11):2386-2393).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from itpcohort.criteria import Criteria
from itpcohort.response.derive import Timeline, days_between

#: the per-patient facts each rule reads (see the module docstring)
FACTS: tuple[str, ...] = (
    "patient_id",
    "start_date",
    "end_date",
    "baseline_platelets",
    "last_evaluable",
    "response_date",
    "cr_date",
    "loss_date",
    "in_response_at_last",
    "period_phase",
    "last_observation",
)


def phase_on(study_periods: ir.Table, dates: ir.Table, column: str) -> ir.Table:
    """Phase of the study-drug period in effect on each patient's ``column`` date.

    The period that started last on or before the date; a date in a gap between
    two periods takes the phase of the period before the gap (README reading).
    """
    j = dates.join(study_periods.select("patient_id", "start_date", "phase"), "patient_id")
    j = j.filter(j.start_date <= j[column])
    return j.group_by("patient_id").aggregate(period_phase=j.phase.argmax(j.start_date))


def patient_facts(timeline: Timeline) -> ir.Table:
    """One row per enrolled patient with the columns of :data:`FACTS`."""
    tl = timeline
    losses = tl.episodes.filter(_.loss_date.notnull()).select("patient_id", "loss_date")
    t = (
        tl.enrolled.left_join(tl.treatment, "patient_id")
        .left_join(tl.baseline, "patient_id")
        .left_join(tl.episodes, "patient_id")
        .left_join(phase_on(tl.study_periods, losses, "loss_date"), "patient_id")
        .left_join(tl.last_observation, "patient_id")
    )
    return t.select(*FACTS)


def best_response(t: ir.Table) -> ir.StringValue:
    """Rule 6: ``CR`` if CR was achieved, else ``R``, else ``NR`` with a baseline and
    an evaluable day, else ``NE``."""
    return ibis.cases(
        (t.cr_date.notnull(), "CR"),
        (t.response_date.notnull(), "R"),
        (t.baseline_platelets.notnull() & t.last_evaluable.notnull(), "NR"),
        else_="NE",
    )


def loss_phase(t: ir.Table) -> ir.StringValue:
    """Rule 8: where the first loss falls: ``off`` after the end date, else the phase
    (``full``, ``taper``) of the study-drug period in effect; null without a loss."""
    off = t.end_date.notnull() & (t.loss_date > t.end_date)
    phase = ibis.ifelse(off, "off", t.period_phase)
    return ibis.ifelse(t.loss_date.notnull(), phase, ibis.null("string"))


def _loss_under_treatment(t: ir.Table) -> ir.BooleanValue:
    """The first loss is on or before the end date, or treatment is ongoing (rule 9)."""
    return t.loss_date.notnull() & (t.end_date.isnull() | (t.loss_date <= t.end_date))


def response_duration_days(t: ir.Table) -> ir.IntegerValue:
    """Rule 9: first achievement to the first loss under treatment (an event); else to
    the earlier of the end date and the last evaluable day (censored). Null for NR/NE."""
    censor_date = ibis.ifelse(
        t.end_date.isnull(), t.last_evaluable, ibis.least(t.end_date, t.last_evaluable)
    )
    until = ibis.ifelse(_loss_under_treatment(t), t.loss_date, censor_date)
    return ibis.ifelse(
        t.response_date.notnull(), days_between(until, t.response_date), ibis.null("int64")
    )


def response_duration_censored(t: ir.Table) -> ir.BooleanValue:
    """Rule 9: True unless response was lost under treatment; null for NR/NE."""
    return ibis.ifelse(
        t.response_date.notnull(), ~_loss_under_treatment(t), ibis.null("boolean")
    )


def sustained_off_treatment(t: ir.Table, criteria: Criteria) -> ir.BooleanValue:
    """Rule 10: the drug has an end date, the patient was in response on it with no
    loss after it (the episode stream ends in response: achievements after the end
    date do not count, rule 4), and has an evaluable day at least
    ``sustained_min_days_off`` days after it."""
    followed = days_between(t.last_evaluable, t.end_date) >= criteria.sustained_min_days_off
    return (t.end_date.notnull() & t.in_response_at_last & followed).fill_null(False)


def treatment_days(t: ir.Table) -> ir.IntegerValue:
    """End date minus start date; while ongoing, the last observation minus the start
    (spec, endpoints table). Null without a study-drug start."""
    until = ibis.ifelse(t.end_date.isnull(), t.last_observation, t.end_date)
    return ibis.ifelse(
        t.start_date.notnull(), days_between(until, t.start_date), ibis.null("int64")
    )


def derive_endpoints(timeline: Timeline, criteria: Criteria) -> ir.Table:
    """The per-patient endpoints table (rules 1-10), one row per enrolled patient."""
    t = patient_facts(timeline)
    return t.select(
        "patient_id",
        "start_date",
        "end_date",
        "baseline_platelets",
        best_response=best_response(t),
        response_date=t.response_date,
        days_to_response=days_between(t.response_date, t.start_date),  # rule 7
        cr_date=t.cr_date,
        days_to_cr=days_between(t.cr_date, t.start_date),  # rule 7
        loss_date=t.loss_date,
        loss_phase=loss_phase(t),
        response_duration_days=response_duration_days(t),
        response_duration_censored=response_duration_censored(t),
        sustained_off_treatment=sustained_off_treatment(t, criteria),
        treatment_days=treatment_days(t),
    )
