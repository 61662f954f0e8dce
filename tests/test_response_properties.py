"""Property-based tests: the engine equals an independent reading of the rules
(tests/oracle.py) on random cohorts, and DuckDB equals Spark.

Each example draws settings first (a built-in profile, or one of one's own with
other thresholds, fold and fold rule, confirmation gaps, baseline window, washout,
bleeding grade, ``rescue_is_loss``, days off for rule 10), then patients whose
dates often fall on those settings' boundaries: 1-3 study-drug periods of either
phase with or without gaps between them (the last sometimes ongoing), up to 3
rescues (some without an end, some whose washout ends on a visit or the day
before), bleeding of every grade (on visit days, the end date, any day), visits
0-30 days apart (same-day counts included) and on the end date and the days off
rule 10 asks for, and counts on every threshold (some with a short dip below R).
With the oracle, the test was seen failing for each of 20 one-line breaks of the
engine's rules (start day evaluable, washout boundary, bleeding in a washout,
loss gap ignored, rescue_is_loss ignored, phase in a gap, rule 10 boundary, ...).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import itpcohort
from itpcohort.criteria import Criteria, load_criteria
from tests.conftest import SPARK_SKIP, write_cohort
from tests.oracle import PatientData, oracle_endpoints

D0 = dt.date(2024, 1, 1)
# counts on and around every threshold the settings below can take
VALUES = [0, 5, 10, 14, 15, 19, 20, 25, 29, 30, 31, 40, 49, 50, 51, 60, 79, 80, 99, 100, 101, 150]
LOW = [v for v in VALUES if v <= 30]
NONE = [v for v in VALUES if v < 20]  # below every R threshold tried
HIGH = [v for v in VALUES if v >= 29]
TOP = [v for v in VALUES if v >= 79]
# gaps between visits: same day (two counts, the lowest wins), 1 day (loss confirmation),
# 6-8 days (response confirmation), and longer
STEPS = [0, 1, 1, 2, 3, 5, 6, 7, 7, 8, 14, 21, 30]
RESCUE_DRUGS = ["ivig", "methylprednisolone", "platelet_transfusion"]
BUILTIN = ["iwg2009", "iwg2009-or", "platelet50"]
# settings a profile of one's own may change, and other values to try (every CR value
# is above every R value, as profiles must be)
SETTINGS: dict[str, list[object]] = {
    "cr_threshold": [80.0, 150.0],
    "r_threshold": [50.0, 20.0],
    "fold": [1.5, 3.0],
    "fold_rule": ["or", "none", "and"],
    "response_confirm_days": [1, 14, 28],
    "loss_confirm_days": [2, 7, 14],
    "baseline_window_days": [1, 7, 60],
    "rescue_washout_days": [0, 14],
    "bleeding_min_grade": [0, 1, 3, 4],
    "rescue_is_loss": [False],
    "sustained_min_days_off": [0, 14, 56],
}


def _d(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


@st.composite
def criteria(draw: st.DrawFn) -> Criteria:
    """A built-in profile, or one that extends it and changes some settings."""
    base = load_criteria(draw(st.sampled_from(BUILTIN)))
    if draw(st.integers(0, 3)) == 0:
        return base
    # each setting changed at about half the draws
    changes = {
        name: draw(st.sampled_from(values))
        for name, values in SETTINGS.items()
        if draw(st.integers(0, 1)) == 1
    }
    return Criteria.model_validate({**base.model_dump(), **changes, "name": "random"})


@st.composite
def patients(draw: st.DrawFn, c: Criteria) -> PatientData:
    """A random patient whose dates often fall on the boundaries of the settings ``c``."""
    # the study drug: 1-3 periods of either phase, back to back or with a gap between
    # them (a loss in the gap takes the phase before it); the last may be ongoing
    periods: list[tuple[dt.date, dt.date | None, str]] = []
    start, n_periods = 0, draw(st.integers(1, 3))
    for k in range(n_periods):
        end = start + draw(st.integers(3, 60))
        ongoing = k == n_periods - 1 and draw(st.integers(0, 4)) == 0
        phase = draw(st.sampled_from(["full", "taper"]))
        periods.append((_d(start), None if ongoing else _d(end), phase))
        start = end + 1 + draw(st.sampled_from([0, 1, 5, 10, 20, 30]))
    # visits: a walk from before the start (on either side of the baseline window's
    # first day) onwards, with steps on either side of both confirmation gaps
    first = [st.integers(-35, 0), st.integers(-7, 0), st.just(0)]
    first.append(st.sampled_from([1 - c.baseline_window_days, -c.baseline_window_days]))
    gaps = {c.response_confirm_days, c.loss_confirm_days}
    steps = st.sampled_from(STEPS + sorted({g + k for g in gaps for k in (-1, 0)}))
    visit, days = draw(st.one_of(*first)), []
    for _ in range(draw(st.one_of(st.integers(0, 18), st.integers(5, 18)))):
        days.append(visit)
        visit += draw(steps)
    # and visits on the boundaries of rules 8-10: the end date, the day after it, the
    # days off treatment rule 10 asks for (and one fewer); sometimes the last visit
    last_end = periods[-1][1]
    off = c.sustained_min_days_off
    edges = [(last_end - D0).days + k for k in (0, 1, off - 1, off)] if last_end else []
    if edges:
        days = sorted(days + draw(st.lists(st.sampled_from(edges), max_size=3)))
        if draw(st.booleans()):
            cut = draw(st.sampled_from(edges))
            days = [x for x in days if x < cut] + [cut]
    # counts before the start are low (a baseline to double); later ones follow the
    # patient's course: any value, mostly responding, mostly CR, runs of responding and
    # not responding days (a run switches at a quarter of the visits), or responding
    # with one dip of two days below every R threshold, on either side of the loss gap
    course = draw(st.sampled_from(["any", "high", "top", "runs", "dip"]))
    dip: set[int] = set()
    if course == "dip" and any(x > 0 for x in days):
        k = draw(st.sampled_from([x for x in days if x > 0]))
        gap = draw(
            st.sampled_from(sorted({1, max(1, c.loss_confirm_days - 1), c.loss_confirm_days}))
        )
        dip = {k, k + gap}
        days = sorted([*days, k + gap])
    counts, band = [], HIGH
    for x in days:
        if course == "runs" and draw(st.integers(0, 3)) == 0:
            band = LOW if band is HIGH else HIGH
        later = {"any": VALUES, "high": HIGH, "top": TOP, "runs": band, "dip": HIGH}[course]
        values = LOW if x <= 0 else NONE if x in dip else later
        counts.append((_d(x), float(draw(st.sampled_from(values)))))
    # rescues: up to 3 (different drugs, so they may overlap), some without an end, some
    # whose washout ends on a visit or the day before it, some starting on the end date
    rescue: list[tuple[dt.date, dt.date | None]] = []
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        length = draw(st.one_of(st.none(), st.integers(0, 10), st.integers(0, 10)))
        if days and length is not None and draw(st.booleans()):
            washout = c.rescue_washout_days + draw(st.sampled_from([0, 1]))
            stop = draw(st.sampled_from(days)) - washout
            rescue.append((_d(stop - length), _d(stop)))
        else:
            s = draw(st.one_of(st.integers(-20, 180), *(st.just(e) for e in edges[:1])))
            rescue.append((_d(s), _d(s + length) if length is not None else None))
    # bleeding of every grade (the profile's and one below): on visit days (a count and
    # a bleeding the same day), on the end date, on any day
    where = [st.integers(-5, 220), *(st.sampled_from(x) for x in (days, edges[:1]) if x)]
    at_min = sorted({c.bleeding_min_grade, max(0, c.bleeding_min_grade - 1)})
    grades = st.one_of(st.integers(0, 4), st.sampled_from(at_min))
    bleeding = [
        (_d(draw(st.one_of(*where))), draw(grades))
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 4])))
    ]
    follow = draw(st.one_of(st.none(), st.integers(0, 250)))
    return PatientData(
        periods, counts, rescue, bleeding, _d(follow) if follow is not None else None
    )


@st.composite
def cohorts(
    draw: st.DrawFn, min_size: int = 5, max_size: int = 40
) -> tuple[Criteria, list[PatientData]]:
    """Settings, then patients drawn around them."""
    c = draw(criteria())
    return c, draw(st.lists(patients(c), min_size=min_size, max_size=max_size))


def _write(folder: Path, cohort: list[PatientData]) -> Path:
    rows: dict[str, list[tuple[object, ...]]] = {
        "patients": [],
        "treatments": [],
        "labs": [],
        "bleeding": [],
    }
    for i, p in enumerate(cohort):
        pid = f"P{i:03d}"
        rows["patients"].append((pid, _d(-40), None, p.followup_end))
        for s, e, ph in p.periods:
            rows["treatments"].append((pid, "tacrolimus", "study", s, e, ph))
        for k, (s, e) in enumerate(p.rescue):
            rows["treatments"].append((pid, RESCUE_DRUGS[k], "rescue", s, e, None))
        rows["labs"] += [(pid, d, "platelets", v, "10^9/L") for d, v in p.counts]
        rows["bleeding"] += [(pid, d, g) for d, g in p.bleeding]
    return write_cohort(folder, **rows)


def _same(got: object, want: object) -> bool:
    if want is None:
        return bool(pd.isna(got))
    if isinstance(want, dt.date):
        return not pd.isna(got) and pd.Timestamp(got).date() == want  # type: ignore[arg-type]
    return got == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cohorts())
def test_engine_matches_the_oracle(case: tuple[Criteria, list[PatientData]]) -> None:
    criteria, cohort = case
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = itpcohort.evaluate(_write(Path(tmp), cohort), criteria=criteria)
    assert len(endpoints) == len(cohort)
    for (_, row), patient in zip(endpoints.iterrows(), cohort, strict=True):
        want = oracle_endpoints(patient, criteria)
        for column, value in want.items():
            assert _same(row[column], value), (
                f"{row['patient_id']} {column}: engine {row[column]!r}, oracle {value!r}\n"
                f"{patient}\n{criteria}"
            )
    _assert_invariants(endpoints)


def _assert_invariants(e: pd.DataFrame) -> None:
    """What holds whatever the rules' details (checked on the engine's output alone)."""
    responders = e[e.best_response.isin(["CR", "R"])]
    assert responders.response_date.notna().all()
    assert (responders.days_to_response >= 1).all()
    assert (responders.response_duration_days >= 0).all()
    cr = e[e.best_response == "CR"]
    assert (cr.cr_date >= cr.response_date).all()
    others = e[~e.best_response.isin(["CR", "R"])]
    assert others.response_date.isna().all() and others.loss_date.isna().all()
    assert not others.sustained_off_treatment.any()
    lost = e[e.loss_date.notna()]
    assert (lost.loss_date > lost.response_date).all()
    assert lost.loss_phase.isin(["full", "taper", "off"]).all()
    assert e[e.end_date.isna()].loss_phase.ne("off").all()
    assert not e[e.end_date.isna()].sustained_off_treatment.any()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cohorts(max_size=20))
def test_episodes_summarise_the_event_stream(case: tuple[Criteria, list[PatientData]]) -> None:
    """The endpoints' aggregation (derive_episodes) says what explain's event stream says:
    first achievement, first loss after it, and whether the stream ends in response."""
    criteria, cohort = case
    from itpcohort.engines import open_engine
    from itpcohort.response import derive as d

    with tempfile.TemporaryDirectory() as tmp:
        data = itpcohort.read_cohort(_write(Path(tmp), cohort))
        tables = open_engine(data)
        keyed = {n: tables.keyed(n) for n in ("patients", "treatments", "labs", "bleeding")}
        tl = d.derive_timeline(
            keyed["patients"],
            keyed["treatments"],
            keyed["labs"],
            keyed["bleeding"],
            criteria,
            "tacrolimus",
        )
        stream = tl.events.to_pandas().sort_values(["patient_id", "date", "kind"])
        episodes = tl.episodes.to_pandas().set_index("patient_id")
    for pid, ep in episodes.iterrows():
        events = stream[stream.patient_id == pid]
        achieved = events[events.kind == d.ACHIEVEMENT].date
        lost = events[events.kind == d.LOSS].date
        assert _same(ep.response_date, achieved.min().date() if len(achieved) else None)
        assert _same(ep.loss_date, lost.min().date() if len(lost) else None)
        ends_in_response = len(events) > 0 and events.kind.iloc[-1] == d.ACHIEVEMENT
        assert bool(ep.in_response_at_last) == ends_in_response


@pytest.mark.spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cohorts(min_size=20, max_size=40))
def test_duckdb_equals_spark(case: tuple[Criteria, list[PatientData]]) -> None:
    criteria, cohort = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write(Path(tmp), cohort)
        on_duckdb = itpcohort.evaluate(folder, criteria=criteria, engine="duckdb")
        on_spark = itpcohort.evaluate(folder, criteria=criteria, engine="spark")
    pd.testing.assert_frame_equal(on_duckdb, on_spark)
