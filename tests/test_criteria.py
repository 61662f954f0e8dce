"""Response profiles are validated data (shared/spec/response-criteria.md, 'Other profiles')."""

from __future__ import annotations

from pathlib import Path

import pytest

from itpcohort import CriteriaError, builtin_profiles, load_criteria


def test_shipped_profiles() -> None:
    assert builtin_profiles() == ["iwg2009", "iwg2009-or", "platelet50"]
    iwg = load_criteria("iwg2009")
    assert (iwg.cr_threshold, iwg.r_threshold, iwg.fold, iwg.fold_rule) == (100, 30, 2, "and")
    assert (iwg.response_confirm_days, iwg.loss_confirm_days) == (7, 1)
    assert (iwg.baseline_window_days, iwg.rescue_washout_days) == (30, 56)
    assert (iwg.bleeding_min_grade, iwg.rescue_is_loss, iwg.sustained_min_days_off) == (2, True, 28)
    assert load_criteria("iwg2009-or").fold_rule == "or"
    p50 = load_criteria("platelet50")
    assert (p50.r_threshold, p50.fold_rule, p50.cr_threshold) == (50, "none", 100)


def test_user_profile_extends_a_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('extends = "iwg2009"\nname = "mine"\nrescue_washout_days = 28\n')
    mine = load_criteria(path)
    assert mine.rescue_washout_days == 28 and mine.r_threshold == 30


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('extends = "iwg2009"\nname = "x"\nr_treshold = 20\n', "unknown setting 'r_treshold'"),
        ('extends = "iwg2009"\nname = "x"\nfold = -1\n', "setting 'fold' = -1"),
        ('extends = "iwg2009"\nname = "x"\nfold_rule = "xor"\n', "setting 'fold_rule'"),
        ('extends = "iwg2009"\nname = "x"\ncr_threshold = 20\n', "must not be below r_threshold"),
        ('name = "x"\n', "setting 'cr_threshold' is missing"),
        ("name = \n", "not valid TOML"),
        ('extends = "nope"\n', "unknown criteria profile 'nope'"),
    ],
)
def test_bad_profile_names_the_setting(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CriteriaError) as info:
        load_criteria(path)
    assert words in str(info.value)


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(CriteriaError, match="use one of iwg2009, iwg2009-or, platelet50"):
        load_criteria("iwg2020")
