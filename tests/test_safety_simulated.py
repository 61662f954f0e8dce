"""The simulator's safety labs: a plausible mix of grades, consistent with the reference
study's two stops for side effects, and not a byte of the response tables changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import itpcohort
from itpcohort.safety.section import SafetySection, safety_section
from itpcohort.simulate import simulate

#: sha256 (first 16 hex digits) of the reference seed's response tables, as they were
#: before the safety labs were added (commit 9d37f73): they must never change
REFERENCE_TABLES = {
    "patients": "f693e07bc72e1387",
    "treatments": "197f7683cb00ceb2",
    "bleeding": "a76ea3942c74e7ba",
    "adverse_events": "ce4222dd3c3e751c",
    "truth": "cb7d062e97afd129",
    "platelet_labs": "526ac6ad0e275228",
    "trough_labs": "5b6d98f5cb69b9bd",  # the troughs are the generator's own draws too
}


def _digests(folder: Path, truth: Path) -> dict[str, str]:
    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    lines = (folder / "labs.csv").read_text(encoding="utf-8").splitlines()
    out = {t: sha((folder / f"{t}.csv").read_bytes()) for t in list(REFERENCE_TABLES)[:4]}
    out["truth"] = sha(truth.read_bytes())
    out["platelet_labs"] = sha("\n".join(x for x in lines if ",platelets," in x).encode())
    out["trough_labs"] = sha("\n".join(x for x in lines if ",tacrolimus_trough," in x).encode())
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SafetySection]:
    folder = tmp_path_factory.mktemp("reference") / "cohort"
    written = simulate(folder)
    with itpcohort.read_cohort(folder) as cohort:
        section = safety_section(itpcohort.run(cohort), draw=False)
        treatments, ae = cohort.treatments, cohort.adverse_events
    section.tables["_treatments"], section.tables["_ae"] = treatments, ae
    return folder, written["truth"], section


def test_response_tables_unchanged_byte_for_byte(
    reference: tuple[Path, Path, SafetySection],
) -> None:
    folder, truth, _ = reference
    got = _digests(folder, truth)
    for name, digest in REFERENCE_TABLES.items():
        assert got[name] == digest, f"{name} changed: the safety labs must not move it"


def test_reference_grade_mix(reference: tuple[Path, Path, SafetySection]) -> None:
    _, _, section = reference
    worst = section.tables["lab_worst_grade"].set_index("test")
    creat = worst.loc["creatinine"]
    assert creat["grade_1"] >= 2 and creat["grade_2"] >= 1  # a few grade 1-2 rises
    assert creat["grade_3"] == creat["grade_4"] == 0
    assert worst.loc["potassium", "grade_3"] == 1  # one grade 3 hyperkalaemia
    assert worst.loc["potassium", "grade_4"] == 0
    assert worst.loc["magnesium", ["grade_1", "grade_2"]].sum() >= 3  # some hypomagnesaemia
    # the only grade >= 3 toxicity is that hyperkalaemia
    assert section.summary["lab_grade_3_or_more"]["n"] == 1
    assert section.summary["lab_grade_3_or_more"]["by_test"] == {"potassium": 1}


def test_grade_3_hyperkalaemia_is_in_a_patient_who_stopped_for_an_adverse_event(
    reference: tuple[Path, Path, SafetySection],
) -> None:
    _, _, section = reference
    g = section.graded
    severe = g[(g["test"] == "potassium") & (g["grade"] >= 3)]
    assert len(severe) == 1
    pid, date = severe.iloc[0]["patient_id"], severe.iloc[0]["date"]
    tr = section.tables["_treatments"]
    stopped = set(tr.loc[tr["stop_reason"] == "adverse_event", "patient_id"])
    assert len(stopped) == 2 and pid in stopped
    ae = section.tables["_ae"]
    onset = ae.loc[(ae["patient_id"] == pid) & (ae["action"] == "discontinued"), "onset_date"]
    assert pd.Timestamp(date) == pd.Timestamp(onset.iloc[0])  # on the day of the stopping event


@pytest.mark.parametrize(
    ("term", "test"), [("Creatinine increased", "creatinine"), ("Hypomagnesemia", "magnesium")]
)
def test_reported_events_have_matching_lab_values(
    reference: tuple[Path, Path, SafetySection], term: str, test: str
) -> None:
    _, _, section = reference
    ae, g = section.tables["_ae"], section.graded
    event = ae[ae["term"] == term].iloc[0]
    on_day = g[
        (g["patient_id"] == event["patient_id"])
        & (g["test"] == test)
        & (g["date"] == event["onset_date"])
    ]
    assert on_day["grade"].tolist() == [1]


def test_every_patient_has_a_baseline_panel(reference: tuple[Path, Path, SafetySection]) -> None:
    _, _, section = reference
    shift = section.tables["lab_shift"]
    assert "missing" not in set(shift["baseline_grade"])
    assert set(shift["test"]) >= {"creatinine", "potassium", "magnesium", "alt", "ast"}


def test_other_seeds_give_safety_labs_too(tmp_path: Path) -> None:
    simulate(tmp_path / "c", seed=5, patients=40)
    report, cohort = itpcohort.validate_cohort(tmp_path / "c")
    assert report.ok and not report.warnings
    assert cohort is not None
    tests = set(cohort.labs["test"])
    cohort.close()
    assert tests >= {
        "creatinine",
        "potassium",
        "magnesium",
        "alt",
        "ast",
        "hemoglobin",
        "neutrophils",
    }
