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


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        # IWG 2009: response and loss are each seen on two separate occasions, >= 1 day apart
        ("response_confirm_days = 0", "setting 'response_confirm_days' = 0"),
        ("loss_confirm_days = 0", "setting 'loss_confirm_days' = 0"),
        # the WHO bleeding scale runs from 0 to 4
        ("bleeding_min_grade = 5", "setting 'bleeding_min_grade' = 5"),
        ("bleeding_min_grade = -1", "setting 'bleeding_min_grade' = -1"),
    ],
)
def test_settings_outside_the_clinical_scales_are_refused(
    tmp_path: Path, setting: str, words: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "iwg2009"\nname = "x"\n{setting}\n')
    with pytest.raises(CriteriaError, match=words):
        load_criteria(path)


def test_boundary_settings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        'extends = "iwg2009"\nname = "edge"\nresponse_confirm_days = 1\nloss_confirm_days = 1\n'
        "bleeding_min_grade = 4\n"
    )
    edge = load_criteria(path)
    settings = (edge.response_confirm_days, edge.loss_confirm_days, edge.bleeding_min_grade)
    assert settings == (1, 1, 4)


def test_extends_a_file_beside_the_profile_whatever_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "base.toml").write_text('extends = "iwg2009"\nname = "base"\nr_threshold = 40\n')
    (folder / "site.toml").write_text('extends = "base.toml"\nname = "site"\nfold = 3\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # base.toml is not in the working folder
    site = load_criteria(folder / "site.toml")
    assert (site.name, site.r_threshold, site.fold, site.cr_threshold) == ("site", 40, 3, 100)


def test_extends_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(CriteriaError, match="loops back"):
        load_criteria(tmp_path / "a.toml")
