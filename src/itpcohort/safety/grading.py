"""Grading laboratory values by CTCAE v5.0, from the grading data (``ctcae.py``).

``grade_labs`` takes labs in long format (``patient_id``, ``date``, ``test``,
``value``, ``unit``; units are converted to the canonical SI unit of
``cohort/units.py`` first), the patients (``sex``, ``site`` choose the
reference range) and each patient's study-drug ``start_date`` / ``end_date``,
and returns one row per value of a graded test:

``study_day``
    days since the study drug's start date (0 = the start date)
``period``
    ``baseline`` (the baseline value itself), ``before`` (other values on or
    before the start), ``treatment`` (after the start, up to
    ``followup_days`` after the end; any time while ongoing), ``after`` (later),
    ``no start`` (the patient has no study-drug start)
``lln``, ``uln``, ``range_key``
    the reference range used and the row it came from
``baseline``, ``baseline_date``, ``baseline_status``
    the test's baseline (``SafetySettings.baseline_window_days``) and how it
    compares with the limits: ``above ULN``, ``below LLN``, ``within limits``,
    ``none`` (no baseline) or ``unknown`` (no limit)
``grade``
    0-4, or empty when the value cannot be graded (``note`` says why)
``threshold_row``, ``threshold``, ``ctcae_criterion``
    the row of the grading file that gave the grade (the first in file order
    when two rows give it, e.g. creatinine above both 1.5 x ULN and 1.5 x
    baseline), the threshold it compared with (in the canonical unit) and the
    CTCAE v5.0 wording; empty for grade 0

Conventions:

- **Boundaries.** A value and a threshold equal to 9 significant digits are
  equal (a value converted from mg/dL, or a threshold of 1.5 x ULN, carries
  floating-point noise; admiral rounds with ``signif`` for the same reason).
  So 50.0 x10^9/L platelets are grade 2 (``<75.0 - 50.0``), 49.9 grade 3.
- **Conventional units** are converted to SI before grading, and the SI
  thresholds govern. Where CTCAE's two columns are exact conversions of each
  other (platelets /uL, haemoglobin g/dL, every multiple of ULN or baseline)
  a value falls on the same side in either unit. Where CTCAE rounded them
  differently, the SI figure decides: magnesium 1.2 mg/dL is 0.494 mmol/L,
  below 0.5, so grade 2 (the mg/dL column would say grade 1).
- **Baseline-relative criteria** apply to values after the start only; a value
  on or before the start (the baseline included) is graded against the limits
  of normal alone, as if its baseline were normal. Creatinine: the grade
  against the ULN and the grade against the baseline are both found and the
  higher wins; without a baseline, the ULN alone. ALT/AST: a baseline above
  the ULN switches to the "baseline was abnormal" rows; no baseline, the
  "normal" rows.
- **A missing reference range** never reads as grade 0: when a row that needs
  the LLN or ULN could give a higher grade than the rows that can be checked,
  the value is not graded and ``note`` names the missing limit, test, sex and
  site. Absolute rows still grade (platelets 20 without an LLN: grade 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from itpcohort.cohort import units
from itpcohort.safety.ctcae import GradingCriteria, GradingDataError, load_grading_criteria
from itpcohort.safety.ranges import ReferenceRanges, load_reference_ranges
from itpcohort.safety.settings import SafetySettings

if TYPE_CHECKING:
    from itpcohort.pipeline import Evaluation

#: the columns of a graded-labs table, in order
GRADED_COLUMNS = [
    "patient_id",
    "date",
    "study_day",
    "test",
    "value",
    "unit",
    "term",
    "period",
    "sex",
    "site",
    "lln",
    "uln",
    "range_key",
    "baseline",
    "baseline_date",
    "baseline_status",
    "grade",
    "threshold_row",
    "threshold",
    "ctcae_criterion",
    "note",
]
#: relative tolerance under which a value sits exactly on a threshold (9 significant digits)
BOUNDARY_RTOL = 1e-9


def to_canonical(labs: pd.DataFrame) -> pd.DataFrame:
    """``labs`` with each known test's value and unit converted to its canonical unit.

    A cohort's labs are canonical already (the reader converts them); labs from
    elsewhere (the study app, a hand-made frame) may carry any unit that
    ``cohort/units.py`` knows. An unknown unit of a known test is refused.
    """
    out = labs.copy()
    out["test"] = out["test"].astype(str).str.strip().str.lower()
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    known = out["test"].isin(list(units.TESTS))
    unit_text = out["unit"].fillna("").astype(str)
    keys = unit_text.map({u: units.normalise_unit(u) for u in unit_text.unique()})
    table = {f"{t}|{k}": f for t, (_, us) in units.TESTS.items() for k, f in us.items()}
    factors = (out["test"] + "|" + keys).map(table).astype(float)
    factors[~known] = 1.0
    bad = known & factors.isna()
    if bad.any():
        pairs = sorted(set(out.loc[bad, "test"] + " in '" + out.loc[bad, "unit"].astype(str) + "'"))
        raise GradingDataError(
            f"{int(bad.sum())} lab value(s) in a unit itpcohort does not know: {', '.join(pairs)}; "
            "see cohort/units.py for the units of each test"
        )
    out["value"] = out["value"] * factors
    out.loc[known, "unit"] = out.loc[known, "test"].map(lambda t: units.TESTS[t][0])
    return out


def derive_lab_baseline(
    labs: pd.DataFrame, starts: pd.DataFrame, window_days: int = 30
) -> pd.DataFrame:
    """Each (patient, test)'s baseline: the last value within ``window_days`` up to and
    including the start date (of several on that day, the last in ``labs``' order).

    Returns ``patient_id``, ``test``, ``baseline``, ``baseline_date`` and ``_row``
    (the position of the baseline value in ``labs``).
    """
    frame = labs.assign(_row=np.arange(len(labs))).merge(
        starts[["patient_id", "start_date"]], on="patient_id", how="inner"
    )
    start = pd.to_datetime(frame["start_date"])
    date = pd.to_datetime(frame["date"])
    inside = (date <= start) & (date > start - pd.Timedelta(days=window_days))
    last = frame[inside].sort_values(["patient_id", "test", "date", "_row"])
    last = last.drop_duplicates(["patient_id", "test"], keep="last")
    return last.rename(columns={"value": "baseline", "date": "baseline_date"})[
        ["patient_id", "test", "baseline", "baseline_date", "_row"]
    ].reset_index(drop=True)


def grade_labs(
    labs: pd.DataFrame,
    patients: pd.DataFrame,
    starts: pd.DataFrame | None = None,
    *,
    criteria: GradingCriteria | None = None,
    ranges: ReferenceRanges | None = None,
    settings: SafetySettings | None = None,
) -> pd.DataFrame:
    """Grade every value of a graded test; see the module docstring for the columns.

    Parameters
    ----------
    labs
        ``patient_id``, ``date``, ``test``, ``value``, ``unit``.
    patients
        ``patient_id`` and, when present, ``sex`` and ``site``.
    starts
        ``patient_id``, ``start_date`` and ``end_date`` (empty: ongoing) of the
        study drug; None: no patient has a start (no baselines).
    criteria, ranges, settings
        The grading file, reference ranges and settings (default: the shipped
        CTCAE v5.0 file, the shipped ranges, :class:`SafetySettings`).

    Examples
    --------
    >>> import pandas as pd
    >>> labs = pd.DataFrame({"patient_id": ["P1"] * 2, "date": ["2024-01-02"] * 2,
    ...     "test": ["platelets"] * 2, "value": [50.0, 49.9], "unit": ["10^9/L"] * 2})
    >>> grade_labs(labs, pd.DataFrame({"patient_id": ["P1"]}))["grade"].tolist()
    [2, 3]
    """
    criteria = criteria or load_grading_criteria()
    ranges = ranges or load_reference_ranges()
    settings = settings or SafetySettings()
    starts = _dated_starts(starts)
    frame = to_canonical(labs.reset_index(drop=True))
    frame["patient_id"] = frame["patient_id"].astype(str)
    frame = frame[frame["test"].isin(list(criteria.tests))].reset_index(drop=True)
    frame["date"] = pd.to_datetime(frame["date"])
    frame = _with_patient(frame, patients, starts)
    frame = ranges.attach(frame)
    frame = _with_baseline(frame, starts, settings)
    frame = derive_grades(frame, criteria, ranges.source)
    frame["term"] = frame["test"].map({t: criteria.term(t) for t in criteria.tests})
    frame["study_day"] = (frame["date"] - frame["start_date"]).dt.days.astype("Int64")
    order = frame.sort_values(["patient_id", "test", "date", "_row"]).index
    return frame.loc[order, GRADED_COLUMNS].reset_index(drop=True)


def _dated_starts(starts: pd.DataFrame | None) -> pd.DataFrame:
    """``patient_id`` (text), ``start_date`` and ``end_date`` (datetimes)."""
    if starts is None:
        starts = pd.DataFrame(columns=["patient_id", "start_date", "end_date"])
    out = starts[["patient_id", "start_date", "end_date"]].drop_duplicates("patient_id").copy()
    out["patient_id"] = out["patient_id"].astype(str).astype(object)
    out["start_date"] = pd.to_datetime(out["start_date"])
    out["end_date"] = pd.to_datetime(out["end_date"])
    return out


def _with_patient(
    frame: pd.DataFrame, patients: pd.DataFrame, starts: pd.DataFrame
) -> pd.DataFrame:
    people = patients[["patient_id"]].astype(str)
    for column in ("sex", "site"):
        people[column] = patients.get(column, "")
    people = people.drop_duplicates("patient_id")
    out = frame.assign(_row=np.arange(len(frame)))
    out = out.merge(people, on="patient_id", how="left").merge(starts, on="patient_id", how="left")
    out[["sex", "site"]] = out[["sex", "site"]].fillna("")
    return out.sort_values("_row").reset_index(drop=True)


def _with_baseline(
    frame: pd.DataFrame, starts: pd.DataFrame, settings: SafetySettings
) -> pd.DataFrame:
    base = derive_lab_baseline(
        frame[["patient_id", "date", "test", "value"]], starts, settings.baseline_window_days
    )
    out = frame.merge(base.drop(columns="_row"), on=["patient_id", "test"], how="left")
    out = out.sort_values("_row").reset_index(drop=True)
    is_baseline = out["_row"].isin(set(base["_row"]))
    started = out["start_date"].notna()
    after = started & (out["date"] > out["start_date"])
    limit = out["end_date"] + pd.Timedelta(days=settings.followup_days)
    on_treatment = after & (out["end_date"].isna() | (out["date"] <= limit))
    out["period"] = np.select(
        [~started, is_baseline, ~after, on_treatment],
        ["no start", "baseline", "before", "treatment"],
        default="after",
    )
    out["baseline_status"] = baseline_status(out["baseline"], out["lln"], out["uln"])
    return out


def baseline_status(baseline: pd.Series, lln: pd.Series, uln: pd.Series) -> np.ndarray:
    """``above ULN``, ``below LLN``, ``within limits``, ``none`` (no baseline) or
    ``unknown`` (no limit to compare with). CTCAE's "baseline was abnormal" of an
    increase (ALT, AST) is a baseline above the ULN."""
    b, low, high = (x.to_numpy(float) for x in (baseline, lln, uln))
    above = _holds(b, ">", high)
    below = _holds(b, "<", low)
    return np.select(
        [np.isnan(b), above, np.isnan(high), below, np.isnan(low)],
        ["none", "above ULN", "unknown", "below LLN", "unknown"],
        default="within limits",
    )


def derive_grades(
    frame: pd.DataFrame, criteria: GradingCriteria, ranges_source: str = ""
) -> pd.DataFrame:
    """``frame`` with ``grade``, ``threshold_row``, ``threshold``, ``ctcae_criterion``, ``note``.

    ``frame`` has ``test``, ``value``, ``lln``, ``uln``, ``baseline``,
    ``baseline_status`` and ``period``; every row of ``criteria`` for the test is
    checked and the highest grade that holds wins (the first such row in file
    order names it). A row that needs a missing LLN or ULN and could give a
    higher grade leaves the value ungraded, with a note.
    """
    out = frame.copy()
    n = len(out)
    grade = np.zeros(n, dtype=int)
    row_id = np.full(n, "", dtype=object)
    threshold = np.full(n, np.nan)
    missing_grade = np.zeros(n, dtype=int)
    missing_limit = np.full(n, "", dtype=object)
    value = out["value"].to_numpy(float)
    post = out["period"].isin(["treatment", "after"]).to_numpy()
    status = out["baseline_status"].to_numpy(object)
    tests = out["test"].to_numpy(object)
    of_test = {t: tests == t for t in criteria.tests}
    abnormal = post & (status == "above ULN")  # the baseline was above the ULN
    for r in criteria.rows:
        mine = of_test[r.test]
        ref = _reference(out, r.basis, post)
        applies = mine & _applies(r.baseline, abnormal)
        known = ~np.isnan(ref)
        limit = r.factor * ref
        hit = applies & known & _holds(value, r.operator, limit)
        better = hit & (r.grade > grade)
        grade[better], row_id[better], threshold[better] = r.grade, r.row_id, limit[better]
        if r.basis in ("lln", "uln"):
            lacking = applies & ~known & (r.grade > missing_grade)
            missing_grade[lacking], missing_limit[lacking] = r.grade, r.basis.upper()
    undecided = (missing_grade > grade) | np.isnan(value)
    out["grade"] = pd.array(np.where(undecided, 0, grade), dtype="Int64")
    out.loc[undecided, "grade"] = pd.NA
    out["threshold_row"] = np.where(undecided, "", row_id)
    out["threshold"] = np.where(undecided, np.nan, threshold)
    wording = {r.row_id: r.ctcae_criterion for r in criteria.rows}
    out["ctcae_criterion"] = out["threshold_row"].map(wording).fillna("")
    out["note"] = ""
    where = np.flatnonzero(undecided)
    out.iloc[where, out.columns.get_loc("note")] = [
        _missing_note(t, lim, sex, site, ranges_source) if lim else "no value"
        for t, lim, sex, site in zip(
            out["test"].to_numpy()[where],
            missing_limit[where],
            out["sex"].to_numpy()[where],
            out["site"].to_numpy()[where],
            strict=True,
        )
    ]
    return out


def _reference(frame: pd.DataFrame, basis: str, post: np.ndarray) -> np.ndarray:
    ref: np.ndarray
    if basis == "value":
        ref = np.ones(len(frame))
    elif basis == "baseline":  # only values after the start are graded against the baseline
        ref = np.where(post, frame["baseline"].to_numpy(float), np.nan)
    else:
        ref = frame[basis].to_numpy(float)
    return ref


def _applies(baseline: str, abnormal: np.ndarray) -> np.ndarray:
    """Where a row for a ``baseline`` status applies, given where the baseline was abnormal."""
    if baseline == "normal":
        return ~abnormal  # "unknown" (no ULN) too: its missing ULN then leaves it ungraded
    if baseline == "abnormal":
        return abnormal
    return np.ones(len(abnormal), dtype=bool)


def _holds(value: np.ndarray, operator: str, limit: np.ndarray) -> np.ndarray:
    """``value <operator> limit``, equal when they agree to 9 significant digits."""
    with np.errstate(invalid="ignore"):
        equal = np.isclose(value, limit, rtol=BOUNDARY_RTOL, atol=0.0)
        below, above = (value < limit) & ~equal, (value > limit) & ~equal
    results: dict[str, np.ndarray] = {
        "<": below,
        "<=": below | equal,
        ">": above,
        ">=": above | equal,
    }
    return results[operator]


def _missing_note(test: str, limit: str, sex: str, site: str, source: str) -> str:
    where = f" in {source}" if source else ""
    return (
        f"not graded: no {limit} for {test} (sex '{sex}', site '{site}'){where}; "
        f"add a reference range for {test} that fits this patient"
    )


def grade_evaluation(
    evaluation: Evaluation,
    *,
    criteria: GradingCriteria | None = None,
    ranges: ReferenceRanges | None = None,
    settings: SafetySettings | None = None,
) -> pd.DataFrame:
    """:func:`grade_labs` on an evaluated cohort: its labs, patients and study-drug dates."""
    cohort = evaluation.cohort
    starts = evaluation.endpoints[["patient_id", "start_date", "end_date"]]
    return grade_labs(
        cohort.labs, cohort.patients, starts, criteria=criteria, ranges=ranges, settings=settings
    )
