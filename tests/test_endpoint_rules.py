"""Rules 6-10 and treatment days, one pure function each (``response/endpoints.py``).

Each case is one patient's per-patient facts (the table the rules read), worked
out by hand from ``shared/spec/response-criteria.md``. Day 0 is 2024-01-01 and
``d(n)`` is day n's date. The whole derivation is tested from raw tables in
``test_response_rules.py``; here each rule is tested alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pytest

from itpcohort import load_criteria
from itpcohort.response import endpoints as rules

IWG = load_criteria("iwg2009")  # sustained_min_days_off = 28
SCHEMA = ibis.schema(
    {
        "patient_id": "int64",
        "start_date": "date",
        "end_date": "date",
        "baseline_platelets": "float64",
        "last_evaluable": "date",
        "response_date": "date",
        "cr_date": "date",
        "loss_date": "date",
        "in_response_at_last": "boolean",
        "period_phase": "string",
        "last_observation": "date",
    }
)


def d(n: int | None) -> dt.date | None:
    return None if n is None else dt.date(2024, 1, 1) + dt.timedelta(days=n)


def facts(**given: Any) -> dict[str, Any]:
    """A responder in full dose from day 0 to day 100 unless a case says otherwise."""
    row: dict[str, Any] = {
        "patient_id": 1,
        "start_date": 0,
        "end_date": 100,
        "baseline_platelets": 20.0,
        "last_evaluable": 90,
        "response_date": 10,
        "cr_date": None,
        "loss_date": None,
        "in_response_at_last": True,
        "period_phase": None,
        "last_observation": 95,
    }
    row.update(given)
    for column, kind in SCHEMA.items():
        if kind.is_date():
            row[column] = d(row[column])
    return row


def value_of(rule: Any, row: dict[str, Any], *args: Any) -> Any:
    t = ibis.memtable([row], schema=SCHEMA)
    result = ibis.duckdb.connect().to_pyarrow(t.select(out=rule(t, *args)))
    return result.column("out")[0].as_py()


@pytest.mark.parametrize(
    ("case", "row", "expected"),
    [
        ("6.1 CR achieved", facts(cr_date=20), "CR"),
        ("6.2 R achieved, never CR", facts(), "R"),
        ("6.3 baseline and an evaluable day, no response", facts(response_date=None), "NR"),
        (
            "6.4 baseline but no evaluable day",
            facts(response_date=None, last_evaluable=None, in_response_at_last=None),
            "NE",
        ),
        (
            "6.5 no baseline",
            facts(baseline_platelets=None, response_date=None, last_evaluable=None),
            "NE",
        ),
    ],
)
def test_rule_6_best_response(case: str, row: dict[str, Any], expected: str) -> None:
    assert value_of(rules.best_response, row) == expected, case


@pytest.mark.parametrize(
    ("case", "row", "expected"),
    [
        ("8.1 loss the day after the end date", facts(loss_date=101, period_phase="taper"), "off"),
        (
            "8.2 loss on the end date is not 'after' it",
            facts(loss_date=100, period_phase="taper"),
            "taper",
        ),
        ("8.3 loss while ongoing", facts(end_date=None, loss_date=50, period_phase="full"), "full"),
        ("8.4 no loss", facts(period_phase=None), None),
    ],
)
def test_rule_8_loss_phase(case: str, row: dict[str, Any], expected: str | None) -> None:
    assert value_of(rules.loss_phase, row) == expected, case


@pytest.mark.parametrize(
    ("case", "row", "days", "censored"),
    [
        # an event: response day 10 to loss day 50 = 40 days
        ("9.1 loss under treatment", facts(loss_date=50), 40, False),
        # on or before the end date counts as under treatment: 100 - 10 = 90
        ("9.2 loss on the end date", facts(loss_date=100), 90, False),
        # loss after stopping: censored at min(end 100, last evaluable 150) = 100 -> 90
        ("9.3 loss after the end date", facts(loss_date=120, last_evaluable=150), 90, True),
        # ongoing: censored at the last evaluable day 200 -> 190
        ("9.4 ongoing, no loss", facts(end_date=None, last_evaluable=200), 190, True),
        # stopped, last evaluable day 80 before the end 100: censored at 80 -> 70
        ("9.5 no count after day 80", facts(last_evaluable=80), 70, True),
        # ongoing with a loss: an event, 30 - 10 = 20
        ("9.6 loss while ongoing", facts(end_date=None, loss_date=30), 20, False),
        ("9.7 no response", facts(response_date=None), None, None),
    ],
)
def test_rule_9_duration_of_response(
    case: str, row: dict[str, Any], days: int | None, censored: bool | None
) -> None:
    assert value_of(rules.response_duration_days, row) == days, case
    assert value_of(rules.response_duration_censored, row) == censored, case


@pytest.mark.parametrize(
    ("case", "row", "expected"),
    [
        # end day 100, evaluable day 128 = 28 days after it (>= 28)
        ("10.1 in response at the end, followed 28 days", facts(last_evaluable=128), True),
        ("10.2 followed only 27 days", facts(last_evaluable=127), False),
        ("10.3 still on treatment", facts(end_date=None, last_evaluable=300), False),
        (
            "10.4 not in response on the end date (lost before it)",
            facts(loss_date=60, in_response_at_last=False, last_evaluable=200),
            False,
        ),
        (
            "10.5 never responded",
            facts(response_date=None, in_response_at_last=None, last_evaluable=200),
            False,
        ),
    ],
)
def test_rule_10_sustained_response_off_treatment(
    case: str, row: dict[str, Any], expected: bool
) -> None:
    assert value_of(rules.sustained_off_treatment, row, IWG) is expected, case


@pytest.mark.parametrize(
    ("case", "row", "expected"),
    [
        ("T.1 stopped: end minus start", facts(start_date=3, end_date=100), 97),
        (
            "T.2 ongoing: last observation minus start",
            facts(end_date=None, last_observation=150),
            150,
        ),
        ("T.3 no study-drug period", facts(start_date=None, end_date=None), None),
        ("T.4 ongoing, nothing observed", facts(end_date=None, last_observation=None), None),
    ],
)
def test_treatment_days(case: str, row: dict[str, Any], expected: int | None) -> None:
    assert value_of(rules.treatment_days, row) == expected, case
