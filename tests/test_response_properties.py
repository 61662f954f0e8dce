"""Property-based tests: the engine equals an independent reading of the rules
(tests/oracle.py) on random cohorts, and DuckDB equals Spark."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import itpcohort
from itpcohort.criteria import load_criteria
from tests.conftest import SPARK_SKIP, write_cohort
from tests.oracle import PatientData, oracle_endpoints

D0 = dt.date(2024, 1, 1)
VALUES = [0, 5, 10, 14, 15, 20, 25, 29, 30, 31, 40, 49, 50, 60, 99, 100, 101, 150]


def _d(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


@st.composite
def patients(draw: st.DrawFn) -> PatientData:
    end = draw(st.one_of(st.none(), st.integers(5, 160)))
    if end is not None and end > 20 and draw(st.booleans()):
        cut = draw(st.integers(1, end - 1))
        periods = [(_d(0), _d(cut), "full"), (_d(cut + 1), _d(end), "taper")]
    else:
        periods = [(_d(0), _d(end) if end is not None else None, "full")]
    n = draw(st.integers(0, 14))
    # counts on nearby days, so that 7-day confirmations and gaps both happen
    days = sorted(draw(st.lists(st.integers(-35, 220), min_size=n, max_size=n)))
    counts = [(_d(x), float(draw(st.sampled_from(VALUES)))) for x in days]
    rescue = []
    for _ in range(draw(st.integers(0, 1))):
        s = draw(st.integers(-20, 150))
        length = draw(st.one_of(st.none(), st.integers(0, 4)))
        rescue.append((_d(s), _d(s + length) if length is not None else None))
    bleeding = [
        (_d(draw(st.integers(-5, 200))), draw(st.integers(0, 4)))
        for _ in range(draw(st.integers(0, 2)))
    ]
    follow = draw(st.one_of(st.none(), st.integers(0, 250)))
    return PatientData(periods, counts, rescue, bleeding, _d(follow) if follow else None)


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
        for s, e in p.rescue:
            rows["treatments"].append((pid, "ivig", "rescue", s, e, None))
        rows["labs"] += [(pid, d, "platelets", v, "10^9/L") for d, v in p.counts]
        rows["bleeding"] += [(pid, d, g) for d, g in p.bleeding]
    return write_cohort(folder, **rows)


def _same(got: object, want: object) -> bool:
    if want is None:
        return bool(pd.isna(got))
    if isinstance(want, dt.date):
        return not pd.isna(got) and pd.Timestamp(got).date() == want  # type: ignore[arg-type]
    return got == want


@pytest.mark.parametrize("profile", ["iwg2009", "iwg2009-or", "platelet50"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort=st.lists(patients(), min_size=1, max_size=12))
def test_engine_matches_the_oracle(profile: str, cohort: list[PatientData]) -> None:
    criteria = load_criteria(profile)
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = itpcohort.evaluate(_write(Path(tmp), cohort), criteria=criteria)
    assert len(endpoints) == len(cohort)
    for (_, row), patient in zip(endpoints.iterrows(), cohort, strict=True):
        want = oracle_endpoints(patient, criteria)
        for column, value in want.items():
            assert _same(row[column], value), (
                f"{row['patient_id']} {column}: engine {row[column]!r}, oracle {value!r}\n{patient}"
            )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort=st.lists(patients(), min_size=1, max_size=12))
def test_invariants(cohort: list[PatientData]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        e = itpcohort.evaluate(_write(Path(tmp), cohort))
    responders = e[e.best_response.isin(["CR", "R"])]
    assert responders.response_date.notna().all()
    assert (responders.days_to_response >= 1).all()
    assert (responders.response_duration_days >= 0).all()
    cr = e[e.best_response == "CR"]
    assert (cr.cr_date >= cr.response_date).all()
    others = e[~e.best_response.isin(["CR", "R"])]
    assert others.response_date.isna().all() and others.loss_date.isna().all()
    assert not others.sustained_off_treatment.any()
    assert (e[e.loss_date.notna()].loss_date > e[e.loss_date.notna()].response_date).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort=st.lists(patients(), min_size=1, max_size=12))
def test_episodes_summarise_the_event_stream(cohort: list[PatientData]) -> None:
    """The endpoints' aggregation (derive_episodes) says what explain's event stream says:
    first achievement, first loss after it, and whether the stream ends in response."""
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
            load_criteria("iwg2009"),
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
@given(cohort=st.lists(patients(), min_size=20, max_size=40))
def test_duckdb_equals_spark(cohort: list[PatientData]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write(Path(tmp), cohort)
        on_duckdb = itpcohort.evaluate(folder, engine="duckdb")
        on_spark = itpcohort.evaluate(folder, engine="spark")
    pd.testing.assert_frame_equal(on_duckdb, on_spark)
