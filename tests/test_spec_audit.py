"""An independent audit of the engine against shared/spec/response-criteria.md and
cohort-format.md: boundaries and combinations the rule tests do not hold.

Day 0 is 2024-01-01 (the study drug's start unless a case says otherwise) and
``day(n)`` is day n's date; the study drug runs days 0..200 in full dose unless a
case gives other periods. Every expected value is worked out by hand from the
spec's text, with the arithmetic in the comment. All rule cases form one cohort,
evaluated once (DuckDB); the profile cases form another, evaluated once per
profile; the cohort-format cases build their own small folders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

import itpcohort
from itpcohort.cohort import validate_cohort
from tests.conftest import day, write_cohort, write_csv

Period = tuple[int, int | None, str]  # start day, end day (None = ongoing), phase ("" = blank)
Rescue = tuple[int, int | None, str]  # start, end (None = ongoing), "drug" or "drug:role"


@dataclass
class Case:
    id: str
    counts: list[tuple[int, float]]  # (day, platelets x10^9/L)
    expected: dict[str, object]
    periods: list[Period] = field(default_factory=lambda: [(0, 200, "full")])
    rescue: list[Rescue] = field(default_factory=list)
    bleeding: list[tuple[int, int]] = field(default_factory=list)  # (day, WHO grade)
    followup_end: int | None = None
    other_labs: list[tuple[int, str, float, str]] = field(default_factory=list)
    adverse_events: list[int] = field(default_factory=list)  # onset days
    unit: str = "10^9/L"


CASES = [
    # ---- rule 1: baseline --------------------------------------------------------
    Case(
        "B1_several_counts_on_the_start_day_lowest_is_baseline",
        [(-3, 10), (0, 40), (0, 25), (10, 50), (17, 50)],
        # the last day in the window is day 0, its lowest count 25 (not 40, not day -3's
        # 10); 50 >= 30 and 50 >= 2 x 25: R from day 10 (17 - 10 = 7)
        {"baseline_platelets": 25.0, "best_response": "R", "response_date": 10},
    ),
    Case(
        "B2_baseline_inside_a_rescue_washout_before_the_start",
        [(-5, 10), (48, 50), (49, 50), (56, 50)],
        # rescue days -10..-8: washout to -8 + 56 = day 48. Rule 1 does not exclude
        # washed-out counts: baseline day -5, 10. Day 48 is not evaluable, day 49 is:
        # R from 49 (56 - 49 = 7), not from 48 (56 - 48 = 8 would confirm it)
        {
            "baseline_platelets": 10.0,
            "best_response": "R",
            "response_date": 49,
            "days_to_response": 49,
            "loss_date": None,
        },
        rescue=[(-10, -8, "ivig")],
    ),
    Case(
        "B3_baseline_from_the_earliest_period_not_a_later_one",
        [(0, 10), (40, 50), (47, 50), (58, 15)],
        # periods 0..30 and 60..100 (a gap 31..59): the start is day 0, baseline 10 (day
        # 58 is no baseline of the second period). R from day 40, in the gap, on or before
        # the end (100): attributed. Day 58's 15 is one low count with no next: no loss;
        # censored at min(end 100, last evaluable 58) = 58: 58 - 40 = 18
        {
            "start_date": 0,
            "end_date": 100,
            "baseline_platelets": 10.0,
            "response_date": 40,
            "days_to_response": 40,
            "loss_date": None,
            "response_duration_days": 18,
            "response_duration_censored": True,
            "treatment_days": 100,
        },
        # listed later period first: the start is still the earliest start_date
        periods=[(60, 100, "full"), (0, 30, "full")],
    ),
    Case(
        "B4_baseline_exactly_half_in_per_microlitre",
        [(0, 15300), (10, 30600), (17, 30600)],
        # /uL divided by 1000: baseline 15.3, counts 30.6 = 2 x 15.3 and >= 30: R
        {"baseline_platelets": 15.3, "best_response": "R", "response_date": 10},
        unit="/uL",
    ),
    # ---- rule 2: evaluable days ------------------------------------------------------
    Case(
        "E1_a_high_count_on_the_start_day_is_no_achievement",
        [(0, 120), (7, 120), (8, 120)],
        # baseline 120 (day 0). Day 0 is not evaluable (strictly after the start): the
        # evaluable days 7 and 8 are 1 day apart, nothing confirmed: NR (day 0 + 7 would
        # have confirmed a CR on day 0)
        {"baseline_platelets": 120.0, "best_response": "NR", "cr_date": None},
    ),
    Case(
        "E2_start_plus_one_is_evaluable",
        [(0, 10), (1, 120), (8, 120)],
        # CR on day 1 confirmed by day 8 (8 - 1 = 7)
        {"best_response": "CR", "cr_date": 1, "days_to_cr": 1, "days_to_response": 1},
    ),
    Case(
        "E3_two_overlapping_rescues_wash_out_to_the_later_end",
        [(0, 10), (96, 50), (97, 50), (104, 50)],
        # ivig 20..25 (washout to 81) and methylprednisolone 22..40 (washout to 96): day
        # 96 is not evaluable; R from day 97 (104 - 97 = 7). With the first rescue only,
        # day 96 would start it (104 - 96 = 8)
        {"best_response": "R", "response_date": 97, "loss_date": None},
        rescue=[(20, 25, "ivig"), (22, 40, "methylprednisolone")],
    ),
    Case(
        "E4_second_rescue_of_one_drug_in_response_is_a_loss",
        [(0, 10), (67, 50), (74, 50), (99, 50)],
        # ivig day 10 (washout 10..66): R from 67 (74 - 67 = 7); the second ivig on day
        # 100, in response, is a loss on day 100: 100 - 67 = 33, an event (100 <= 200)
        {
            "response_date": 67,
            "loss_date": 100,
            "loss_phase": "full",
            "response_duration_days": 33,
            "response_duration_censored": False,
        },
        rescue=[(10, 10, "ivig"), (100, 100, "ivig")],
    ),
    Case(
        "E5_rescue_on_the_start_day_is_no_loss",
        [(0, 10), (56, 50), (57, 50), (64, 50)],
        # rescue day 0: washout 0..56, not in response yet; R from day 57 (64 - 57 = 7)
        {"best_response": "R", "response_date": 57, "loss_date": None},
        rescue=[(0, 0, "ivig")],
    ),
    Case(
        "E6_confirmation_across_a_washout_then_rescue_loss",
        [(0, 10), (10, 50), (70, 50)],
        # rescue day 12 (washout 12..68). Evaluable days: 10 (R) and 70 (R); every
        # evaluable day from 10 to 70 (>= 10 + 7) is >= R: R achieved on day 10. The
        # rescue start (12) is after the achievement date: a loss on day 12 (rule 5):
        # 12 - 10 = 2, an event
        {
            "best_response": "R",
            "response_date": 10,
            "loss_date": 12,
            "response_duration_days": 2,
            "response_duration_censored": False,
        },
        rescue=[(12, 12, "ivig")],
    ),
    # ---- rules 3 and 4: levels and confirmation ---------------------------------------
    Case(
        "C1_grade_1_bleeding_inside_a_run_does_not_break_it",
        [(0, 10), (10, 50), (17, 50)],
        # grade 1 < bleeding_min_grade 2: day 14 is no NR day; R from day 10
        {"best_response": "R", "response_date": 10},
        bleeding=[(14, 1)],
    ),
    Case(
        "C2_achievement_the_day_after_the_end_is_not_counted",
        [(0, 10), (31, 50), (38, 50)],
        # end day 30: an achievement on day 31 is after it (rule 4): NR
        {"best_response": "NR", "response_date": None, "sustained_off_treatment": False},
        periods=[(0, 30, "full")],
    ),
    Case(
        "C3_cr_starting_after_the_end_is_not_counted_r_before_it_is",
        [(0, 10), (20, 50), (27, 50), (31, 150), (38, 150)],
        # R from day 20 (run 20..38, all >= R); CR first on day 31 > end 30: not counted.
        # Best R; censored at min(end 30, last evaluable 38) = 30: 30 - 20 = 10;
        # in response on the end date, 38 - 30 = 8 < 28 days off: not sustained
        {
            "best_response": "R",
            "response_date": 20,
            "cr_date": None,
            "days_to_cr": None,
            "response_duration_days": 10,
            "response_duration_censored": True,
            "sustained_off_treatment": False,
        },
        periods=[(0, 30, "full")],
    ),
    Case(
        "C4_cr_on_or_before_the_end_confirmed_after_it_counts",
        [(0, 10), (25, 150), (32, 150)],
        # CR on day 25 <= end 30, confirmed on 32 (32 - 25 = 7): counts
        {"best_response": "CR", "cr_date": 25, "response_date": 25, "days_to_cr": 25},
        periods=[(0, 30, "full")],
    ),
    Case(
        "C5_below_cr_threshold_and_below_twice_baseline_is_nr",
        [(0, 60), (10, 99.9), (17, 99.9)],
        # 99.9 < 100 and 99.9 < 2 x 60 = 120: NR
        {"best_response": "NR"},
    ),
    # ---- rule 5: loss ----------------------------------------------------------------
    Case(
        "L1_bleeding_and_rescue_on_one_day_are_one_loss",
        [(0, 10), (10, 50), (17, 50)],
        # R from day 10; grade 2 bleeding and a rescue start both on day 30: loss 30,
        # 30 - 10 = 20, an event
        {
            "loss_date": 30,
            "loss_phase": "full",
            "response_duration_days": 20,
            "response_duration_censored": False,
        },
        rescue=[(30, 31, "ivig")],
        bleeding=[(30, 2)],
    ),
    Case(
        "L2_two_low_counts_on_one_day_are_one_occasion",
        [(0, 10), (10, 50), (17, 50), (24, 20), (24, 22), (31, 50)],
        # day 24 has one value (20); the next evaluable day 31 is R: no loss. Censored at
        # the last evaluable day 31: 31 - 10 = 21
        {"loss_date": None, "response_duration_days": 21, "response_duration_censored": True},
    ),
    Case(
        "L3_low_count_then_a_bleeding_day_is_a_loss_on_the_count",
        [(0, 10), (10, 50), (17, 50), (24, 20), (30, 50)],
        # day 24 < R and its next evaluable day, 26 (grade 2 bleeding), is NR: loss on
        # 24 (before the bleeding's own loss on 26): 24 - 10 = 14
        {"loss_date": 24, "response_duration_days": 14, "response_duration_censored": False},
        bleeding=[(26, 2)],
    ),
    Case(
        "L4_a_single_low_then_two_lows_loses_on_the_pair",
        [(0, 10), (10, 50), (17, 50), (24, 20), (25, 50), (30, 20), (31, 20)],
        # 24 is followed by 25 (R): no loss; 30 and 31 both < R: loss on 30, 30 - 10 = 20
        {"loss_date": 30, "response_duration_days": 20},
    ),
    Case(
        "L5_cr_falling_below_twice_baseline_is_a_loss",
        [(0, 40), (10, 120), (17, 120), (24, 60), (25, 60)],
        # CR from day 10. 60 >= 30 but 60 < 2 x 40 = 80: level NR on 24 and 25: loss
        # on 24 (loss of R: less than 2-fold of baseline): 24 - 10 = 14
        {
            "best_response": "CR",
            "cr_date": 10,
            "loss_date": 24,
            "loss_phase": "full",
            "response_duration_days": 14,
            "response_duration_censored": False,
        },
    ),
    Case(
        "L6_cr_falling_to_r_level_is_no_loss",
        [(0, 20), (10, 120), (17, 120), (24, 50), (25, 50)],
        # 50 >= 30 and >= 2 x 20: R level, still in response: no loss; censored at 25
        {"best_response": "CR", "loss_date": None, "response_duration_days": 15},
    ),
    Case(
        "L7_reachievement_after_loss_gives_a_later_cr",
        [(0, 10), (10, 50), (17, 50), (24, 20), (25, 20), (30, 150), (37, 150)],
        # R from 10, lost on 24 (25 also < R); a new episode: CR from 30 (37 - 30 = 7).
        # response_date is the first achievement (10); cr_date 30; loss the first (24)
        {
            "best_response": "CR",
            "response_date": 10,
            "days_to_response": 10,
            "cr_date": 30,
            "days_to_cr": 30,
            "loss_date": 24,
            "response_duration_days": 14,
            "response_duration_censored": False,
        },
    ),
    Case(
        "L8_bleeding_on_a_day_with_count_over_100_in_response_is_a_loss",
        [(0, 10), (10, 150), (17, 150), (24, 150)],
        # CR from day 10; grade 2 bleeding on day 24 (count 150): loss on 24, 14 days
        {"best_response": "CR", "loss_date": 24, "response_duration_days": 14},
        bleeding=[(24, 2)],
    ),
    Case(
        "L9_bleeding_on_the_start_day_is_not_evaluable",
        [(0, 10)],
        # only days strictly after the start are evaluable: the day 0 bleeding is not;
        # baseline 10 and no evaluable day: NE
        {"baseline_platelets": 10.0, "best_response": "NE"},
        bleeding=[(0, 3), (-3, 2)],
    ),
    Case(
        "L10_bleeding_after_the_end_is_a_loss_off_treatment",
        [(0, 10), (10, 50), (17, 50), (60, 50)],
        # R from 10; grade 2 bleeding on day 40 > end 30: loss 40, phase off; censored at
        # min(end 30, last evaluable 60) = 30: 20; a loss after the end: not sustained
        {
            "loss_date": 40,
            "loss_phase": "off",
            "response_duration_days": 20,
            "response_duration_censored": True,
            "sustained_off_treatment": False,
        },
        periods=[(0, 30, "full")],
        bleeding=[(40, 2)],
    ),
    Case(
        "L11_a_confirmed_day_before_a_loss_starts_no_new_episode",
        [(0, 10), (10, 50), (17, 50), (78, 50)],
        # R from 10; rescue 20..21 (washout 20..77) in response: loss on day 20. Day 17 is
        # R and confirmed by day 78 (nothing evaluable between), but it is before the
        # loss: no new episode from it. Day 78 > end 40: not attributed. Not in response
        # on the end date: not sustained (78 - 40 = 38 days off would have made it so)
        {
            "response_date": 10,
            "loss_date": 20,
            "loss_phase": "full",
            "response_duration_days": 10,
            "response_duration_censored": False,
            "sustained_off_treatment": False,
        },
        periods=[(0, 40, "full")],
        rescue=[(20, 21, "ivig")],
    ),
    Case(
        "L12_concomitant_drug_is_no_rescue",
        [(0, 10), (10, 50), (17, 50), (24, 50)],
        # prednisone as a concomitant drug from day 5: no washout, no loss; R from 10,
        # censored at 24: 14
        {"response_date": 10, "loss_date": None, "response_duration_days": 14},
        rescue=[(5, 100, "prednisone:concomitant")],
    ),
    Case(
        "L13_rescue_on_the_end_date_is_a_loss_under_treatment",
        [(0, 10), (10, 50), (17, 50), (90, 50)],
        # rescue day 30 = end: loss on 30, inside the full period (not after the end):
        # an event, 30 - 10 = 20; not in response on the end date: not sustained
        {
            "loss_date": 30,
            "loss_phase": "full",
            "response_duration_days": 20,
            "response_duration_censored": False,
            "sustained_off_treatment": False,
        },
        periods=[(0, 30, "full")],
        rescue=[(30, 30, "ivig")],
    ),
    # ---- rule 8: loss phase at period boundaries ------------------------------------
    Case(
        "P1_loss_on_the_first_day_of_taper",
        [(0, 10), (10, 50), (17, 50), (21, 20), (22, 20)],
        # full 0..20, taper 21..40: loss day 21 is inside taper; 21 - 10 = 11
        {"loss_date": 21, "loss_phase": "taper", "response_duration_days": 11},
        periods=[(0, 20, "full"), (21, 40, "taper")],
    ),
    Case(
        "P2_loss_on_the_last_day_of_full",
        [(0, 10), (10, 50), (17, 50), (20, 20), (21, 20)],
        {"loss_date": 20, "loss_phase": "full", "response_duration_days": 10},
        periods=[(0, 20, "full"), (21, 40, "taper")],
    ),
    Case(
        "P3_loss_on_the_last_taper_day_then_the_day_after",
        [(0, 10), (10, 50), (17, 50), (40, 20), (41, 20), (50, 20), (51, 20)],
        # loss on 40 (= end, inside taper), 30 days, an event
        {
            "loss_date": 40,
            "loss_phase": "taper",
            "response_duration_days": 30,
            "response_duration_censored": False,
        },
        periods=[(0, 20, "full"), (21, 40, "taper")],
    ),
    Case(
        "P4_loss_the_day_after_a_taper_end_is_off",
        [(0, 10), (10, 50), (17, 50), (41, 20), (42, 20)],
        # loss 41 > end 40: off; censored at min(40, 42) = 40: 30
        {
            "loss_date": 41,
            "loss_phase": "off",
            "response_duration_days": 30,
            "response_duration_censored": True,
            "sustained_off_treatment": False,
        },
        periods=[(0, 20, "full"), (21, 40, "taper")],
    ),
    Case(
        "P5_blank_phase_is_full",
        [(0, 10), (10, 50), (17, 50), (24, 20), (25, 20)],
        # phase empty = full (cohort-format default)
        {"loss_date": 24, "loss_phase": "full"},
        periods=[(0, 200, "")],
    ),
    # ---- rules 9 and 10 --------------------------------------------------------------
    Case(
        "D1_response_on_the_end_date_sustained_28_days_later",
        [(0, 10), (30, 50), (37, 50), (58, 50)],
        # R from day 30 = end; in response on the end date, no loss, day 58 = 30 + 28
        # evaluable: sustained. Duration censored at min(30, 58) = 30: 0
        {
            "response_date": 30,
            "response_duration_days": 0,
            "response_duration_censored": True,
            "sustained_off_treatment": True,
        },
        periods=[(0, 30, "full")],
    ),
    Case(
        "D2_single_low_count_28_days_off_is_still_sustained",
        [(0, 10), (10, 50), (17, 50), (60, 20)],
        # day 60 (< R) has no next evaluable day: no loss (rule 5); it is an evaluable day
        # 60 - 30 = 30 >= 28 days after the end: sustained (rule 10, read literally)
        {"loss_date": None, "sustained_off_treatment": True, "response_duration_days": 20},
        periods=[(0, 30, "full")],
    ),
    Case(
        "D3_count_28_days_off_inside_a_washout_does_not_count",
        [(0, 10), (10, 50), (17, 50), (58, 50)],
        # rescue_is_loss: the rescue on day 35 (after the end 30, in response) is a loss,
        # phase off; the day-58 count is in its washout. Not sustained
        {"loss_date": 35, "loss_phase": "off", "sustained_off_treatment": False},
        periods=[(0, 30, "full")],
        rescue=[(35, 35, "ivig")],
    ),
    Case(
        "D4_grade_1_bleeding_28_days_off_is_not_an_evaluable_day",
        [(0, 10), (10, 50), (17, 50)],
        # a grade 1 bleeding (below bleeding_min_grade) on day 58 = end 30 + 28 is no
        # evaluable day (rule 3 makes only grade >= 2 days NR days); the last evaluable
        # day is 17: not sustained. Duration censored at min(30, 17) = 17: 7
        {
            "loss_date": None,
            "sustained_off_treatment": False,
            "response_duration_days": 7,
            "response_duration_censored": True,
        },
        periods=[(0, 30, "full")],
        bleeding=[(58, 1)],
    ),
    Case(
        "D5_loss_on_the_end_date_is_not_sustained",
        [(0, 10), (10, 50), (17, 50), (60, 50), (67, 50)],
        # grade 2 bleeding on day 30 = end: loss on 30, not in response on the end date;
        # 60 and 67 start after the end (not attributed): not sustained. 30 - 10 = 20
        {
            "loss_date": 30,
            "loss_phase": "full",
            "response_duration_days": 20,
            "response_duration_censored": False,
            "sustained_off_treatment": False,
        },
        periods=[(0, 30, "full")],
        bleeding=[(30, 2)],
    ),
    # ---- treatment_days ---------------------------------------------------------------
    Case(
        "T1_ongoing_latest_count_in_a_washout_counts",
        [(0, 10), (10, 20), (90, 20)],
        # ongoing; rescue 50..50 (washout to 106): day 90 is not evaluable but it is the
        # latest platelet count ("evaluable or not"): 90 - 0 = 90
        {"end_date": None, "best_response": "NR", "treatment_days": 90},
        periods=[(0, None, "full")],
        rescue=[(50, 50, "ivig")],
    ),
    Case(
        "T2_ongoing_other_labs_and_adverse_events_are_not_observations",
        [(0, 10), (10, 20), (90, 20)],
        # the last observation is the latest platelet count, bleeding or follow-up end:
        # a hemoglobin on day 150 and an adverse event on day 160 are none of those: 90
        {"treatment_days": 90},
        periods=[(0, None, "full")],
        other_labs=[(150, "hemoglobin", 120, "g/L")],
        adverse_events=[160],
    ),
    Case(
        "T3_ongoing_followup_end_before_the_latest_count",
        [(0, 10), (10, 20), (90, 20)],
        # follow-up end 50, latest count 90: the last observation is the latest, 90
        {"treatment_days": 90},
        periods=[(0, None, "full")],
        followup_end=50,
    ),
    Case(
        "T4_ongoing_after_a_taper_gap",
        [(0, 10), (10, 20)],
        # periods 0..30 and an ongoing one from 60: ongoing (the last period has no end);
        # last observation = follow-up end 120: 120
        {"end_date": None, "treatment_days": 120},
        periods=[(0, 30, "full"), (60, None, "taper")],
        followup_end=120,
    ),
]


def _rows(cases: list[Case]) -> dict[str, list[tuple[object, ...]]]:
    rows: dict[str, list[tuple[object, ...]]] = {
        "patients": [],
        "treatments": [],
        "labs": [],
        "bleeding": [],
        "adverse_events": [],
    }
    for case in cases:
        pid = case.id
        follow = day(case.followup_end) if case.followup_end is not None else None
        rows["patients"].append((pid, day(-30), None, follow))
        for start, end, phase in case.periods:
            end_day = day(end) if end is not None else None
            rows["treatments"].append((pid, "tacrolimus", "study", day(start), end_day, phase))
        for start, end, drug in case.rescue:
            end_day = day(end) if end is not None else None
            name, _, role = drug.partition(":")
            rows["treatments"].append((pid, name, role or "rescue", day(start), end_day, None))
        for d, value in case.counts:
            rows["labs"].append((pid, day(d), "platelets", value, case.unit))
        for d, test, value, unit in case.other_labs:
            rows["labs"].append((pid, day(d), test, value, unit))
        for d, grade in case.bleeding:
            rows["bleeding"].append((pid, day(d), grade))
        for d in case.adverse_events:
            rows["adverse_events"].append((pid, day(d), "headache", 1))
    return rows


def _extra_patients(rows: dict[str, list[tuple[object, ...]]]) -> None:
    """Patients for the table-level rules: excluded, and enrolled without study drug."""
    rows["patients"].append(("X1_excluded_with_data", day(-30), "SLE nephritis", None))
    rows["treatments"].append(("X1_excluded_with_data", "tacrolimus", "study", day(0), None, ""))
    rows["labs"].append(("X1_excluded_with_data", day(0), "platelets", 10, "10^9/L"))
    rows["patients"].append(("X2_no_study_drug", day(-30), None, day(100)))
    rows["treatments"].append(("X2_no_study_drug", "ivig", "rescue", day(5), day(6), None))
    rows["labs"].append(("X2_no_study_drug", day(0), "platelets", 10, "10^9/L"))
    rows["labs"].append(("X2_no_study_drug", day(20), "platelets", 150, "10^9/L"))


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    rows = _rows(CASES)
    _extra_patients(rows)
    folder = write_cohort(tmp_path_factory.mktemp("audit"), **rows)
    return itpcohort.evaluate(folder, engine="duckdb")


def _want(column: str, value: object) -> object:
    if column.endswith("_date") and value is not None:
        return pd.Timestamp(day(value))  # type: ignore[arg-type]
    return value


def _check(case_id: str, row: pd.Series, expected: dict[str, object]) -> None:
    wrong = []
    for column, value in expected.items():
        want, got = _want(column, value), row[column]
        if (want is None and not pd.isna(got)) or (want is not None and got != want):
            wrong.append(f"{column} = {got!r}, expected {want!r}")
    assert not wrong, f"{case_id}: " + "; ".join(wrong)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case, endpoints: pd.DataFrame) -> None:
    _check(case.id, endpoints.set_index("patient_id").loc[case.id], case.expected)


def test_excluded_patient_gets_no_row_and_one_without_study_drug_gets_an_ne_row(
    endpoints: pd.DataFrame,
) -> None:
    # "One row per enrolled patient (not excluded)": X1 (excluded) none; X2 (enrolled,
    # no study drug: a warning, kept) one row with no start, NE, no treatment days
    ids = endpoints.patient_id.tolist()
    assert "X1_excluded_with_data" not in ids
    assert len(ids) == len(CASES) + 1
    _check(
        "X2_no_study_drug",
        endpoints.set_index("patient_id").loc["X2_no_study_drug"],
        {
            "start_date": None,
            "end_date": None,
            "baseline_platelets": None,
            "best_response": "NE",
            "response_date": None,
            "loss_date": None,
            "sustained_off_treatment": False,
            "treatment_days": None,
        },
    )


def test_rows_are_in_patient_id_order(endpoints: pd.DataFrame) -> None:
    ids = endpoints.patient_id.tolist()
    assert ids == sorted(ids)


def test_the_calendar_does_not_matter(
    endpoints: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # every date of the audit cohort moved back to start on 1969-12-01 (days -30..200
    # cross 1970-01-01, where epoch day numbers turn negative): the same day counts and
    # responses, every date moved by the same number of days
    delta = dt.date(1969, 12, 1) - dt.date(2024, 1, 1)

    def moved(cell: object) -> object:
        if isinstance(cell, str) and len(cell) == 10 and cell[4] == "-" and cell[:4].isdigit():
            return (dt.date.fromisoformat(cell) + delta).isoformat()
        return cell

    rows = _rows(CASES)
    _extra_patients(rows)
    shifted = {name: [tuple(map(moved, r)) for r in table] for name, table in rows.items()}
    got = itpcohort.evaluate(write_cohort(tmp_path_factory.mktemp("epoch"), **shifted))
    dates = [c for c in endpoints.columns if c.endswith("_date")]
    others = [c for c in endpoints.columns if c not in dates]
    pd.testing.assert_frame_equal(got[others], endpoints[others])
    for c in dates:
        assert (got[c].isna() == endpoints[c].isna()).all(), c
        assert ((got[c] - endpoints[c]).dropna() == pd.Timedelta(delta)).all(), c


def test_typed_parquet_and_excel_tables_evaluate_like_csv(
    endpoints: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # cohort-format: each table may be CSV, Parquet or Excel. The audit cohort with typed
    # cells: Parquet dates (date32, timestamps), integer grades, float counts; Excel date
    # cells and numbers. The endpoints are the CSV cohort's
    rows = _rows(CASES)
    _extra_patients(rows)
    folder = tmp_path_factory.mktemp("typed")
    columns = {
        "patients": ["patient_id", "enrollment_date", "excluded", "followup_end_date"],
        "treatments": ["patient_id", "drug", "role", "start_date", "end_date", "phase"],
        "labs": ["patient_id", "date", "test", "value", "unit"],
        "bleeding": ["patient_id", "date", "who_grade"],
        "adverse_events": ["patient_id", "onset_date", "term", "grade"],
    }
    frames = {
        name: pd.DataFrame(table, columns=columns[name], dtype=object)
        for name, table in rows.items()
    }
    for frame in frames.values():
        for c in frame.columns:
            if c.endswith("date"):
                frame[c] = pd.to_datetime(frame[c])
    frames["patients"]["excluded"] = frames["patients"]["excluded"].astype("string")
    frames["treatments"]["start_date"] = frames["treatments"]["start_date"].dt.date
    frames["treatments"]["end_date"] = frames["treatments"]["end_date"].dt.date
    frames["labs"]["value"] = frames["labs"]["value"].astype(float)
    frames["bleeding"]["who_grade"] = frames["bleeding"]["who_grade"].astype("int8")
    frames["adverse_events"]["grade"] = frames["adverse_events"]["grade"].astype(int)
    frames["patients"].to_parquet(folder / "patients.parquet")
    frames["treatments"].to_parquet(folder / "treatments.parquet")
    frames["labs"].to_excel(folder / "labs.xlsx", index=False)
    frames["bleeding"].to_parquet(folder / "bleeding.parquet")
    frames["adverse_events"].to_excel(folder / "adverse_events.xlsx", index=False)
    pd.testing.assert_frame_equal(itpcohort.evaluate(folder), endpoints)


def test_the_endpoints_file_spells_the_spec_columns(
    endpoints: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # "Dates ISO, missing values empty"; sustained_off_treatment `true` / `false`. Case L5
    # (day 0 = 2024-01-01): end 200 = 2024-07-19, baseline 40, CR on day 10 = 2024-01-11,
    # loss on day 24 = 2024-01-25 in full dose, 14 days, an event; 200 treatment days
    from itpcohort.response import write_endpoints

    path = tmp_path_factory.mktemp("csv") / "endpoints.csv"
    write_endpoints(endpoints, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(itpcohort.ENDPOINT_COLUMNS)
    row = next(line for line in lines if line.startswith("L5_"))
    assert row.split(",")[1:] == [
        "2024-01-01",
        "2024-07-19",
        "40.0",
        "CR",
        "2024-01-11",
        "10",
        "2024-01-11",
        "10",
        "2024-01-25",
        "full",
        "14",
        "false",
        "false",
        "200",
    ]
    row = next(line for line in lines if line.startswith("X2_no_study_drug"))
    assert row == "X2_no_study_drug,,,,NE,,,,,,,,,false,"


# ---- profiles: the same patients under the three shipped profiles -------------------
# (id, baseline, counts (day, value), expected {profile: {column: value}}); start 0,
# end 200. iwg2009: R = >= 30 and >= 2 x baseline; iwg2009-or: >= 30 or >= 2 x baseline;
# platelet50: >= 50, no fold rule; CR >= 100 in all three.
ProfileCase = tuple[str, float, list[tuple[int, float]], dict[str, dict[str, object]]]


def _all(**values: object) -> dict[str, dict[str, object]]:
    return {p: dict(values) for p in ("iwg2009", "iwg2009-or", "platelet50")}


PROFILE_CASES: list[ProfileCase] = [
    (
        "Q1_exactly_30_and_exactly_twice",
        15,
        [(10, 30), (17, 30)],
        # 30 >= 30 and 30 >= 2 x 15: R (and), R (or); 30 < 50: NR (platelet50)
        {
            "iwg2009": {"best_response": "R"},
            "iwg2009-or": {"best_response": "R"},
            "platelet50": {"best_response": "NR"},
        },
    ),
    (
        "Q2_30_but_just_under_twice",
        15.5,
        [(10, 30), (17, 30)],
        # 30 < 2 x 15.5 = 31: NR (and); 30 >= 30: R (or)
        {
            "iwg2009": {"best_response": "NR"},
            "iwg2009-or": {"best_response": "R"},
            "platelet50": {"best_response": "NR"},
        },
    ),
    (
        "Q3_twice_but_under_30",
        14.5,
        [(10, 29), (17, 29)],
        # 29 = 2 x 14.5 but 29 < 30: NR (and); R (or, the fold alone)
        {
            "iwg2009": {"best_response": "NR"},
            "iwg2009-or": {"best_response": "R"},
            "platelet50": {"best_response": "NR"},
        },
    ),
    (
        "Q4_under_30_and_under_twice",
        15,
        [(10, 29.9), (17, 29.9)],
        # 29.9 < 30 and 29.9 < 30 (= 2 x 15): NR under all three
        _all(best_response="NR"),
    ),
    (
        "Q5_exactly_50_above_a_high_baseline",
        60,
        [(10, 50), (17, 50)],
        # 50 < 120: NR (and); 50 >= 30: R (or); 50 >= 50: R (platelet50, no fold)
        {
            "iwg2009": {"best_response": "NR"},
            "iwg2009-or": {"best_response": "R"},
            "platelet50": {"best_response": "R"},
        },
    ),
    (
        "Q6_just_under_50",
        60,
        [(10, 49.9), (17, 49.9)],
        {
            "iwg2009": {"best_response": "NR"},
            "iwg2009-or": {"best_response": "R"},
            "platelet50": {"best_response": "NR"},
        },
    ),
    (
        "Q7_exactly_100_is_cr_everywhere",
        80,
        [(10, 100), (17, 100)],
        # 100 >= 100: CR under all three (100 < 2 x 80 does not matter)
        _all(best_response="CR", cr_date=10),
    ),
    (
        "Q8_loss_only_under_platelet50",
        20,
        [(10, 60), (17, 60), (24, 45), (25, 45), (30, 60)],
        # 45 >= 30 and >= 40: R under iwg2009 and -or, no loss (censored at 30: 20 days);
        # 45 < 50 on 24 and 25: loss on 24 under platelet50 (14 days, an event)
        {
            "iwg2009": {"loss_date": None, "response_duration_days": 20},
            "iwg2009-or": {"loss_date": None, "response_duration_days": 20},
            "platelet50": {
                "loss_date": 24,
                "response_duration_days": 14,
                "response_duration_censored": False,
            },
        },
    ),
    (
        "Q9_loss_under_the_fold_not_under_or",
        20,
        [(10, 60), (17, 60), (24, 35), (25, 35), (30, 60)],
        # 35 < 2 x 20 = 40: NR under iwg2009 (loss on 24); 35 >= 30: R under -or (no
        # loss); 35 < 50: loss on 24 under platelet50
        {
            "iwg2009": {"loss_date": 24, "response_duration_days": 14},
            "iwg2009-or": {"loss_date": None, "response_duration_days": 20},
            "platelet50": {"loss_date": 24, "response_duration_days": 14},
        },
    ),
]


@pytest.fixture(scope="module")
def profile_endpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    patients, treatments, labs = [], [], []
    for pid, baseline, counts, _ in PROFILE_CASES:
        patients.append((pid, day(-30), None, None))
        treatments.append((pid, "tacrolimus", "study", day(0), day(200), "full"))
        labs.append((pid, day(0), "platelets", baseline, "10^9/L"))
        labs.extend((pid, day(d), "platelets", v, "10^9/L") for d, v in counts)
    folder = write_cohort(
        tmp_path_factory.mktemp("profiles"), patients=patients, treatments=treatments, labs=labs
    )
    cohort = itpcohort.read_cohort(folder)
    return {
        p: itpcohort.evaluate(cohort, criteria=p).set_index("patient_id")
        for p in ("iwg2009", "iwg2009-or", "platelet50")
    }


@pytest.mark.parametrize("case", PROFILE_CASES, ids=lambda c: c[0])
def test_profile_thresholds(case: ProfileCase, profile_endpoints: dict[str, pd.DataFrame]) -> None:
    pid, _, _, expected = case
    for profile, values in expected.items():
        _check(f"{pid} under {profile}", profile_endpoints[profile].loc[pid], values)


# ---- rule 6: rates use every enrolled patient, NE included ----------------------------


def test_rates_use_every_enrolled_patient_as_denominator(tmp_path: Path) -> None:
    from itpcohort.statistics import analyse

    folder = write_cohort(
        tmp_path,
        patients=[
            ("A_cr", day(-30), None, None),
            ("B_r", day(-30), None, None),
            ("C_nr", day(-30), None, None),
            ("D_ne", day(-30), None, None),
            ("E_excluded", day(-30), "screen failure", None),
        ],
        treatments=[
            (pid, "tacrolimus", "study", day(0), day(100), "full")
            for pid in ("A_cr", "B_r", "C_nr", "D_ne")
        ],
        labs=[
            ("A_cr", day(0), "platelets", 10, "10^9/L"),
            ("A_cr", day(10), "platelets", 150, "10^9/L"),  # CR from day 10
            ("A_cr", day(17), "platelets", 150, "10^9/L"),
            ("B_r", day(0), "platelets", 10, "10^9/L"),
            ("B_r", day(20), "platelets", 50, "10^9/L"),  # R from day 20
            ("B_r", day(27), "platelets", 50, "10^9/L"),
            ("C_nr", day(0), "platelets", 10, "10^9/L"),
            ("C_nr", day(20), "platelets", 15, "10^9/L"),
            ("D_ne", day(-31), "platelets", 10, "10^9/L"),  # outside the window: NE
            ("D_ne", day(20), "platelets", 150, "10^9/L"),
        ],
    )
    with itpcohort.read_cohort(folder) as cohort:
        endpoints = itpcohort.evaluate(cohort)
        assert endpoints.best_response.tolist() == ["CR", "R", "NR", "NE"]
        s = analyse(cohort, endpoints).summary
    # 4 enrolled (E excluded); CR + R = 2 of 4 = 50.0 %, CR 1 of 4 = 25.0 %. Time to
    # response 10 and 20 days: median 15 / 30.4375 = 0.49 -> 0.5 months, quartiles
    # (type 7) 12.5 / 30.4375 = 0.41 -> 0.4 and 17.5 / 30.4375 = 0.57 -> 0.6
    assert s["patients_enrolled"] == 4
    assert (s["overall_response"]["n"], s["overall_response"]["percent"]) == (2, 50.0)
    assert (s["complete_response"]["n"], s["complete_response"]["percent"]) == (1, 25.0)
    assert s["time_to_response_months"] == {"median": 0.5, "q1": 0.4, "q3": 0.6}


# ---- cohort-format.md --------------------------------------------------------------

PATIENTS = ["patient_id", "enrollment_date", "excluded"]
TREATMENTS = ["patient_id", "drug", "role", "start_date", "end_date", "phase"]
LABS = ["patient_id", "date", "test", "value", "unit"]


def _folder(tmp_path: Path, labs: list[list[object]], **tables: tuple[list[str], list]) -> Path:
    """P1 enrolled 2024-01-01 on tacrolimus from that day; ``labs`` and other tables given."""
    write_csv(tmp_path / "patients.csv", PATIENTS, [["P1", "2024-01-01", ""]])
    write_csv(
        tmp_path / "treatments.csv",
        TREATMENTS,
        [["P1", "tacrolimus", "study", "2024-01-01", "", ""]],
    )
    write_csv(tmp_path / "labs.csv", LABS, labs)
    for name, (header, rows) in tables.items():
        write_csv(tmp_path / f"{name}.csv", header, rows)
    return tmp_path


def _where(folder: Path, severity: str) -> list[tuple[str, int | None, str | None]]:
    report, _ = validate_cohort(folder)
    return [(p.file, p.line, p.column) for p in report.problems if p.severity == severity]


def test_every_platelet_unit_alias_and_per_microlitre(tmp_path: Path) -> None:
    aliases = ["10^9/L", "x10^9/L", "10*9/L", "G/L", "10^3/uL", "10*3/uL", "K/uL"]
    labs = [["P1", day(i), "platelets", "42.5", unit] for i, unit in enumerate(aliases)]
    labs.append(["P1", day(7), "platelets", "42500", "/uL"])  # 42500 / 1000 = 42.5
    with itpcohort.read_cohort(_folder(tmp_path, labs)) as cohort:
        assert cohort.labs.value.tolist() == [42.5] * 8
        assert set(cohort.labs.unit) == {"10^9/L"}


def test_the_2000_warning_is_on_the_converted_count(tmp_path: Path) -> None:
    labs = [
        ["P1", day(0), "platelets", "2500000", "/uL"],  # 2500 > 2000: warning
        ["P1", day(1), "platelets", "1500000", "/uL"],  # 1500: none
        ["P1", day(2), "platelets", "2000", "G/L"],  # exactly 2000 is not above: none
        ["P1", day(3), "platelets", "2000.5", "10^9/L"],  # warning
    ]
    assert _where(_folder(tmp_path, labs), "warning") == [
        ("labs.csv", 2, "value"),
        ("labs.csv", 5, "value"),
    ]


def test_patient_ids_are_text(tmp_path: Path) -> None:
    # '007' and '7' are two patients; rows come in text order ('10' before '9')
    ids = ["9", "007", "10", "7"]
    write_csv(tmp_path / "patients.csv", PATIENTS, [[i, "2024-01-01", ""] for i in ids])
    write_csv(
        tmp_path / "treatments.csv",
        TREATMENTS,
        [[i, "tacrolimus", "study", "2024-01-01", "", ""] for i in ids],
    )
    write_csv(tmp_path / "labs.csv", LABS, [[i, day(0), "platelets", 20, "10^9/L"] for i in ids])
    assert itpcohort.evaluate(tmp_path).patient_id.tolist() == ["007", "10", "7", "9"]


def test_booleans_in_any_case_and_optional_role_and_phase(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "patients.csv",
        [" Patient_ID", "ENROLLMENT_DATE ", "SLE"],
        [["P1", "2024-01-01", "TRUE"], ["P2", "2024-01-01", "n"], ["P3", "2024-01-01", "No"]],
    )
    # no role column (study by default) and no phase column (full by default)
    write_csv(
        tmp_path / "treatments.csv",
        ["patient_id", "drug", "start_date", "end_date"],
        [[p, "tacrolimus", "2024-01-01", "2024-04-10"] for p in ("P1", "P2", "P3")],
    )
    write_csv(
        tmp_path / "labs.csv",
        LABS,
        [
            ["P1", day(0), "platelets", 10, "10^9/L"],
            ["P1", day(10), "platelets", 50, "10^9/L"],
            ["P1", day(17), "platelets", 50, "10^9/L"],
            ["P1", day(24), "platelets", 20, "10^9/L"],
            ["P1", day(25), "platelets", 20, "10^9/L"],
        ],
    )
    with itpcohort.read_cohort(tmp_path) as cohort:
        assert cohort.patients.sle.tolist() == [True, False, False]
        row = itpcohort.evaluate(cohort).iloc[0]
    # R from day 10, lost on 24 (25 also < R) in the only period, full by default
    _check("P1", row, {"response_date": 10, "loss_date": 24, "loss_phase": "full"})


def test_bad_bleeding_and_adverse_event_cells(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        [["P1", day(0), "platelets", 20, "10^9/L"]],
        bleeding=(
            ["patient_id", "date", "who_grade"],
            [
                ["P1", day(2), ""],
                ["P9", day(2), "2"],
                ["P1", "2024-02-30", "2"],
                ["P1", day(3), "1"],
            ],
        ),
        adverse_events=(
            ["patient_id", "onset_date", "term", "grade", "related"],
            [["P1", day(2), "rash", "6", "maybe"], ["P1", day(3), "rash", "0", "Y"]],
        ),
    )
    assert _where(folder, "error") == [
        ("bleeding.csv", 2, "who_grade"),  # required, missing
        ("bleeding.csv", 3, "patient_id"),  # not in patients
        ("bleeding.csv", 4, "date"),  # not a date
        ("adverse_events.csv", 2, "grade"),  # outside 1-5
        ("adverse_events.csv", 2, "related"),  # not a boolean
        ("adverse_events.csv", 3, "grade"),  # outside 1-5
    ]


def test_a_missing_required_column_of_an_optional_table(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        [["P1", day(0), "platelets", 20, "10^9/L"]],
        bleeding=(["patient_id", "date"], [["P1", day(2)]]),
    )
    assert _where(folder, "error") == [("bleeding.csv", 1, "who_grade")]


def test_a_number_too_large_for_a_float_is_an_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [["P1", day(0), "platelets", "1e400", "10^9/L"]])
    assert _where(folder, "error") == [("labs.csv", 2, "value")]


def test_bom_and_crlf_read_like_plain_csv(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [])
    (folder / "labs.csv").write_bytes(
        "\ufeffpatient_id,date,test,value,unit\r\nP1,2024-01-01,platelets,20,10^9/L\r\n"
        "P1,2024-01-11,platelets,50,10^9/L\r\nP1,2024-01-18,platelets,50,10^9/L\r\n".encode()
    )
    report, _ = validate_cohort(folder)
    assert report.ok and not report.warnings, report.problems
    # baseline 20 on the start day; R from day 10 (2024-01-11), 17 - 10 = 7
    row = itpcohort.evaluate(folder).iloc[0]
    _check("P1", row, {"baseline_platelets": 20.0, "best_response": "R", "response_date": 10})


def test_no_row_disappears_silently(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "patients.csv",
        PATIENTS,
        [["P1", "2024-01-01", ""], ["P2", "2024-01-01", "declined"]],
    )
    write_csv(
        tmp_path / "treatments.csv",
        TREATMENTS,
        [
            ["P1", "tacrolimus", "study", "2024-01-01", "", ""],
            ["P2", "tacrolimus", "study", "2024-01-01", "", ""],
        ],
    )
    write_csv(
        tmp_path / "labs.csv",
        LABS,
        [
            ["P1", day(0), "platelets", 20, "10^9/L"],
            ["P1", day(1), "ferritin", 80, "ng/mL"],  # unknown test: kept, not used
            ["P2", day(0), "platelets", 20, "10^9/L"],  # excluded patient: set aside
        ],
    )
    report, _ = validate_cohort(tmp_path)
    for s in report.summaries:
        if s.table in ("patients", "treatments", "labs"):
            assert s.read == s.used + sum(s.set_aside.values()), s
    labs = next(s for s in report.summaries if s.table == "labs")
    assert (labs.read, labs.used, sum(labs.set_aside.values())) == (3, 1, 2)


def test_a_grade_below_its_range_is_outside_the_range(tmp_path: Path) -> None:
    # cohort-format: who_grade is an "integer 0-4" (a who_grade outside 0-4 is an error),
    # AE grade an "integer 1-5": below the range reads like above it, not as a count
    folder = _folder(
        tmp_path,
        [["P1", day(0), "platelets", 20, "10^9/L"]],
        bleeding=(["patient_id", "date", "who_grade"], [["P1", day(2), "-1"], ["P1", day(3), "5"]]),
        adverse_events=(
            ["patient_id", "onset_date", "term", "grade"],
            [["P1", day(2), "rash", "0"]],
        ),
    )
    report, _ = validate_cohort(folder)
    assert [p.message for p in report.problems] == [
        "who_grade -1 is outside 0-4",
        "who_grade 5 is outside 0-4",
        "grade 0 is outside 1-5",
    ]
    # the study app's edit checks are the reader's rules, with the same words
    from itpcohort.cohort import schema
    from itpcohort.study import checks

    found = checks.cell_findings(schema.BLEEDING, {"who_grade": -1})
    assert [f.message for f in found] == ["who_grade -1 is outside 0-4"]


def test_itp_phase_boundaries_in_months_of_30_4375_days() -> None:
    # cohort-format: newly diagnosed < 3 months, persistent 3-12, chronic > 12; months =
    # days / 30.4375 (response-criteria rule 7). Start 2024-01-01, diagnosed 91, 92, 365
    # and 366 days before: 2.99, 3.02, 11.99 and 12.02 months
    from itpcohort.statistics.baseline import PHASES, derived_columns

    start = dt.date(2024, 1, 1)
    data = pd.DataFrame(
        {
            "start_date": [pd.Timestamp(start)] * 4,
            "diagnosis_date": [
                pd.Timestamp(start - dt.timedelta(days=n)) for n in (91, 92, 365, 366)
            ],
        }
    )
    assert derived_columns(data)["itp_phase"].tolist() == [
        PHASES[0],
        PHASES[1],
        PHASES[1],
        PHASES[2],
    ]


def test_a_year_before_enrolment_is_a_calendar_year(tmp_path: Path) -> None:
    # warning: "a measurement dated before enrolment minus one year". Enrolled 2024-06-01:
    # one year before is 2023-06-01 (365 days before would be 2023-06-02, 2024 being a
    # leap year), so 2023-05-31 warns and 2023-06-01 does not. Enrolled 2024-02-29: one
    # year before is 2023-02-28, so only 2023-02-27 warns
    write_csv(
        tmp_path / "patients.csv",
        PATIENTS,
        [["P1", "2024-06-01", ""], ["P2", "2024-02-29", ""]],
    )
    write_csv(
        tmp_path / "treatments.csv",
        TREATMENTS,
        [[p, "tacrolimus", "study", "2024-06-01", "", ""] for p in ("P1", "P2")],
    )
    write_csv(
        tmp_path / "labs.csv",
        LABS,
        [
            ["P1", "2023-06-01", "platelets", 20, "10^9/L"],
            ["P1", "2023-05-31", "platelets", 20, "10^9/L"],  # line 3: warning
            ["P2", "2023-02-28", "platelets", 20, "10^9/L"],
            ["P2", "2023-02-27", "platelets", 20, "10^9/L"],  # line 5: warning
        ],
    )
    assert _where(tmp_path, "warning") == [("labs.csv", 3, "date"), ("labs.csv", 5, "date")]


# ---- importers: "Anything the importers produce must be valid here" ------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [("2014-13", "end"), ("2014-13", "start"), ("2014-00", "start"), ("2014-02-30", "end")],
)
def test_an_impossible_partial_or_full_date_is_no_date(value: str, kind: str) -> None:
    from itpcohort.importers.common import complete_date

    # month 13 raised IllegalMonthError (an internal error); 2014-00-01 and 2014-02-30
    # went into the cohort folder, which the reader then refused
    assert complete_date(value, kind) == (None, False)  # type: ignore[arg-type]


def test_an_sdtm_period_whose_end_is_not_a_date_is_set_aside(tmp_path: Path) -> None:
    from itpcohort.importers.sdtm import import_sdtm

    src = tmp_path / "sdtm"
    src.mkdir()
    (src / "dm.csv").write_text("USUBJID,RFSTDTC\nS1,2014-01-05\nS2,2014-01-06\n")
    # S1: a period ending in month 13, then a good one; S2: a period ending on 30 Feb.
    # An end that is given but is not a date must not make the period ongoing
    (src / "ex.csv").write_text(
        "USUBJID,EXTRT,EXSTDTC,EXENDTC\n"
        "S1,DRUGX,2014-01-05,2014-13\n"
        "S1,DRUGX,2015-02-01,2015-03-01\n"
        "S2,DRUGX,2014-01-06,2014-02-30\n"
        "S2,DRUGX,2014-03-01,\n"
    )
    (src / "lb.csv").write_text(
        "USUBJID,LBTESTCD,LBDTC,LBSTRESN,LBSTRESU\nS1,PLAT,2014-01-05,20,10^9/L\n"
    )
    rec = import_sdtm(src, tmp_path / "cohort")
    ex = rec.sources["EX"]
    assert ex.read == 4
    assert ex.set_aside == {"end date given but not a date": 2}
    assert ex.imported == {"treatments (study)": 2}
    report, _ = validate_cohort(tmp_path / "cohort")
    assert report.ok, report.problems
    treatments = pd.read_csv(tmp_path / "cohort" / "treatments.csv", dtype=str)
    assert treatments[["patient_id", "start_date"]].values.tolist() == [
        ["S1", "2015-02-01"],
        ["S2", "2014-03-01"],
    ]


def test_fhir_observations_on_impossible_dates_are_set_aside(tmp_path: Path) -> None:
    import json

    from itpcohort.importers.fhir import import_fhir

    def observation(value: float, when: str) -> dict[str, object]:
        return {
            "resourceType": "Observation",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "10*3/uL", "code": "10*3/uL"},
        }

    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}
    resources = [patient, *(observation(40, w) for w in ("2020-01-02", "2020-02-30", "2020-13"))]
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]})
    )
    rec = import_fhir(path, tmp_path / "cohort")
    assert dict(rec.sources["Observation"].imported) == {"labs (platelets)": 1}
    assert sum(rec.sources["Observation"].set_aside.values()) == 2
    report, _ = validate_cohort(tmp_path / "cohort")
    assert report.ok, report.problems  # 2020-02-30 used to reach labs.csv


@pytest.mark.parametrize(
    ("validation", "value", "expected"),
    [
        ("date_mdy", "01-31-2024", "2024-01-31"),
        ("datetime_mdy", "01-31-2024 10:30", "2024-01-31"),
        ("date_dmy", "31-01-2024", "2024-01-31"),
        # REDCap's raw exports (and its API) give every date as Y-M-D, whatever the field's
        # validation: kept (was turned into '31-2024-01')
        ("date_mdy", "2024-01-31", "2024-01-31"),
        ("date_dmy", "2024-01-31", "2024-01-31"),
        # slashes, as spreadsheets write them
        ("date_mdy", "01/31/2024", "2024-01-31"),
        ("date_dmy", "31/01/2024", "2024-01-31"),
        # not a date of that shape: left as it is, for the reader to report with its line
        # (was ValueError: an internal error)
        ("date_mdy", "12-2024", "12-2024"),
        ("date_dmy", "yesterday", "yesterday"),
    ],
)
def test_redcap_dates_by_validation(validation: str, value: str, expected: str) -> None:
    from itpcohort.importers.redcap import Field, _decode

    assert _decode(value, Field("d", "form", "text", {}, validation)) == expected
