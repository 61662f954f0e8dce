"""One pipeline (``itpcohort.pipeline``): every caller reads the same derivation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import itpcohort
from itpcohort import EngineError
from itpcohort.pipeline import run
from itpcohort.response.explain import explain_patient
from tests.conftest import ROOT, SPARK_SKIP, day, write_cohort

EXAMPLE = ROOT / "examples" / "tacrolimus-mini"


@pytest.fixture(scope="module")
def evaluation() -> itpcohort.Evaluation:
    return run(EXAMPLE)


def test_endpoints_are_evaluate(evaluation: itpcohort.Evaluation) -> None:
    pd.testing.assert_frame_equal(evaluation.endpoints, itpcohort.evaluate(EXAMPLE))
    assert evaluation.endpoints is evaluation.endpoints  # derived once, then kept


def test_every_table_leaves_with_text_patient_ids(evaluation: itpcohort.Evaluation) -> None:
    for frame in (evaluation.days, evaluation.events, evaluation.baseline, evaluation.periods):
        assert set(frame["patient_id"]) <= {"P01", "P02", "P03", "P05", "P06"}


def test_no_baseline_means_no_evaluable_day(evaluation: itpcohort.Evaluation) -> None:
    # P05: the only count before the start (2024-02-05) is 2023-12-01, 66 days earlier,
    # outside the 30-day window (rule 1), so none of its days is evaluable (rule 2)
    days = evaluation.days[evaluation.days["patient_id"] == "P05"]
    assert list(days["date"].dt.strftime("%Y-%m-%d")) == ["2024-02-20", "2024-03-05"]
    assert not days["evaluable"].any() and days["level"].isna().all()
    assert "P05" not in set(evaluation.baseline["patient_id"])


def test_washout_days_are_not_evaluable(evaluation: itpcohort.Evaluation) -> None:
    # P02: IVIg 2024-03-01..03-02; counts to 56 days after 03-02 (2024-04-27) are washed
    days = evaluation.days[evaluation.days["patient_id"] == "P02"].set_index("date")
    washed = days[days["washed"]]
    assert len(washed) > 0
    assert (washed.index >= pd.Timestamp("2024-03-01")).all()
    assert (washed.index <= pd.Timestamp("2024-04-27")).all()
    assert not washed["evaluable"].any()


@pytest.mark.parametrize("patient", ["P01", "P02", "P03", "P05", "P06"])
def test_explain_reads_the_same_derivation(evaluation: itpcohort.Evaluation, patient: str) -> None:
    x = explain_patient(EXAMPLE, patient)
    mine = evaluation.days[evaluation.days["patient_id"] == patient]
    assert len(x.days) == len(mine)
    assert list(x.days["level"].fillna("-")) == list(mine["level"].fillna("-"))
    row = evaluation.endpoints.set_index("patient_id").loc[patient]
    assert x.endpoints["best_response"] == row["best_response"]
    assert str(x.endpoints["loss_date"]) == str(row["loss_date"])


def test_explain_words_follow_the_profile(tmp_path: Path) -> None:
    # baseline 10 on day 0; R-level (>= 30 and >= 20) on days 10 and 17: achieved on day 10;
    # below R on days 30, 32 and 40: with loss_confirm_days = 7 the loss on day 30 is
    # confirmed by day 40 (>= 30 + 7), every evaluable day between (32) being below R too
    folder = write_cohort(
        tmp_path / "c",
        patients=[("P1", day(0), None, None)],
        treatments=[("P1", "tacrolimus", "study", day(0), day(200), "full")],
        labs=[
            ("P1", day(n), "platelets", v, "10^9/L")
            for n, v in [(0, 10), (10, 50), (17, 50), (30, 10), (32, 10), (40, 10)]
        ],
    )
    profile = tmp_path / "slow-loss.toml"
    profile.write_text('extends = "iwg2009"\nname = "slow-loss"\nloss_confirm_days = 7\n')
    x = explain_patient(folder, "P1", profile)
    assert list(x.events["event"]) == ["response achieved", "loss"]
    assert x.events["why"].iloc[1] == (
        f"level < R on this day and on every evaluable day to {day(40)} (at least 7 days later)"
    )
    x1 = explain_patient(folder, "P1")  # iwg2009: the next evaluable day confirms
    assert (
        x1.events["why"].iloc[1]
        == f"level < R on this day and on the next evaluable day ({day(32)})"
    )


def test_study_drug_error_names_no_command_line_flag(tmp_path: Path) -> None:
    folder = write_cohort(
        tmp_path / "c",
        patients=[("P1", day(0), None, None)],
        treatments=[
            ("P1", "tacrolimus", "study", day(0), day(10), "full"),
            ("P1", "sirolimus", "study", day(20), day(30), "full"),
        ],
        labs=[("P1", day(0), "platelets", 10, "10^9/L")],
    )
    with pytest.raises(itpcohort.CohortDataError) as info:
        run(folder)
    assert "several study drugs (sirolimus, tacrolimus)" in str(info.value)
    assert "--" not in str(info.value)
    assert run(folder, study_drug="Sirolimus").study_drug == "sirolimus"


@pytest.mark.spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_a_second_spark_master_is_refused_not_ignored() -> None:
    from itpcohort.engines import spark_session

    spark_session()  # the test session's local[*]
    with pytest.raises(EngineError, match="already running on local"):
        spark_session("spark://127.0.0.1:7077")
