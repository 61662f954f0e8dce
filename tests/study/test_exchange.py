"""Import then export is lossless: every table, every value, up to row order.

Compared two ways: every row as the reader types it (``tables.read_rows``, which
keeps the rows the analysis sets aside and the units as entered), and the
reader's own clean tables (``itpcohort.read_cohort``), which the engine reads.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.django_db

TABLES = ("patients", "treatments", "labs", "bleeding", "adverse_events")


def _multiset(rows: list[dict[str, object]]) -> Counter[tuple[tuple[str, object], ...]]:
    return Counter(tuple(sorted(r.items())) for r in rows)


def assert_lossless(source: Path, exported: Path) -> None:
    import itpcohort
    from itpcohort.study.tables import read_rows

    before, after = read_rows(source), read_rows(exported)
    for table in TABLES:
        assert len(after[table]) == len(before[table]), table
        assert _multiset(after[table]) == _multiset(before[table]), table
    with itpcohort.read_cohort(source) as a, itpcohort.read_cohort(exported) as b:
        for table in TABLES:
            left = _clean(a.table(table))
            right = _clean(b.table(table))[left.columns]
            assert left.equals(right.sort_values(list(left.columns)).reset_index(drop=True)), table


def _clean(frame):  # type: ignore[no-untyped-def]
    """A clean table, rows sorted; an empty text cell is a missing value (the format's rule)."""
    frame = frame.drop(columns=["_line"])
    frame = frame.astype(object).where(frame.notna(), None).replace({"": None})
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_demo_cohort_round_trip(demo_cohort: Path, tmp_path: Path) -> None:
    from itpcohort.study.exchange import export_cohort, import_cohort
    from itpcohort.study.tables import read_rows

    result = import_cohort(demo_cohort)
    assert result.counts["patients"] == 68 and result.sites == ["PUMCH"]
    counts = export_cohort(tmp_path / "out")
    rows = read_rows(demo_cohort)
    excluded = {r["patient_id"] for r in rows["patients"] if r["excluded"]}
    assert any(r["patient_id"] in excluded for r in rows["labs"])  # screening counts ...
    assert counts["labs"] == len(rows["labs"])  # ... of excluded patients are kept
    assert_lossless(demo_cohort, tmp_path / "out")


def test_sdtm_import_round_trip(tmp_path: Path) -> None:
    """An importer's output: covariates (arm), many sites, hemoglobin in mmol/L."""
    from itpcohort.importers.sdtm import import_sdtm
    from itpcohort.study.exchange import export_cohort, import_cohort

    source = shared_data("cdisc_pilot01_sdtm_update2")
    import_sdtm(source, tmp_path / "sdtm")
    import_cohort(tmp_path / "sdtm")
    export_cohort(tmp_path / "out")
    header = (tmp_path / "out" / "patients.csv").read_text().splitlines()[0]
    assert header.endswith(",arm")  # the covariate comes back, after the format's columns
    assert_lossless(tmp_path / "sdtm", tmp_path / "out")


def test_values_as_entered_round_trip(tmp_path: Path) -> None:
    """Units other than the canonical one, /uL counts, yes/no words, Parquet, extra columns."""
    import pandas as pd

    from itpcohort.study.exchange import export_cohort, import_cohort
    from tests.conftest import write_cohort

    folder = write_cohort(
        tmp_path / "in",
        patients=[("P1", "2024-01-01", "", ""), ("P2", "2024-01-02", "no consent", "")],
        treatments=[("P1", "Tacrolimus", "study", "2024-01-01", "", "full")],
        labs=[
            ("P1", "2024-01-01", "platelets", "15000", "/uL"),
            ("P1", "2024-01-20", "hemoglobin", "9.5", "g/dL"),
            ("P2", "2024-01-02", "platelets", "12", "K/uL"),
            ("P1", "2024-01-21", "ferritin", "88", "ug/L"),
        ],
        bleeding=[("P1", "2024-01-05", "2")],
        adverse_events=[("P1", "2024-01-07", "Tremor <script>", "1")],
    )
    frame = pd.read_csv(folder / "patients.csv", dtype=str)
    frame["sle"] = ["Yes", "n"]
    frame["centre_note"] = ["=1+2", ""]
    frame.to_parquet(folder / "patients.parquet")
    (folder / "patients.csv").unlink()
    import_cohort(folder)
    export_cohort(tmp_path / "out")
    assert_lossless(folder, tmp_path / "out")
    labs = (tmp_path / "out" / "labs.csv").read_text()
    assert "15000.0,/uL" in labs and "9.5,g/dL" in labs  # as entered, not converted


def test_import_refuses_an_invalid_folder_with_every_problem(tmp_path: Path) -> None:
    from itpcohort.errors import CohortDataError
    from itpcohort.study.exchange import import_cohort
    from itpcohort.study.models import Patient
    from tests.conftest import write_cohort

    folder = write_cohort(
        tmp_path / "bad",
        patients=[("P1", "2024-13-01", "", "")],
        treatments=[("P1", "tacrolimus", "study", "2024-01-01", "", "full")],
        labs=[("P1", "2024-01-01", "platelets", "-4", "10^9/L")],
    )
    with pytest.raises(CohortDataError) as caught:
        import_cohort(folder)
    where = {(p.file, p.line, p.column) for p in caught.value.problems}
    assert ("patients.csv", 2, "enrollment_date") in where and ("labs.csv", 2, "value") in where
    assert not Patient.objects.exists()


def test_import_adds_new_patients_only(demo_cohort: Path) -> None:
    from itpcohort.errors import ItpCohortError
    from itpcohort.study.exchange import import_cohort
    from itpcohort.study.models import Lab

    import_cohort(demo_cohort)
    labs = Lab.objects.count()
    with pytest.raises(ItpCohortError, match="already in the study"):
        import_cohort(demo_cohort)
    assert Lab.objects.count() == labs


def test_export_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    from itpcohort.errors import OutputError
    from itpcohort.study.exchange import export_cohort

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "patients.csv").write_text("keep me")
    with pytest.raises(OutputError, match="not empty"):
        export_cohort(tmp_path / "x")
    assert (tmp_path / "x" / "patients.csv").read_text() == "keep me"


def test_soft_deleted_records_are_not_exported(study: dict, tmp_path: Path) -> None:
    import datetime as dt

    from itpcohort.study import records
    from itpcohort.study.exchange import export_cohort
    from itpcohort.study.models import Lab

    lab = records.create(
        Lab,
        {
            "patient": study["patient_a"],
            "date": dt.date(2024, 1, 10),
            "test": "platelets",
            "value": 20.0,
            "unit": "10^9/L",
        },
    )
    records.soft_delete(lab, version=1, reason="entered for the wrong patient")
    assert export_cohort(tmp_path / "out")["labs"] == 0
    assert Lab.objects.filter(pk=lab.pk, deleted=True).exists()


def test_cli_import_export_verify_on_the_embedded_server(
    own_tmp: Path, demo_cohort: Path, tmp_path: Path
) -> None:
    """The commands as a user runs them: a fresh data folder, its own embedded PostgreSQL."""
    data = own_tmp / "data"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in __import__("os").environ.items()
            if not k.startswith(("ITPCOHORT_STUDY", "DJANGO_"))
        }
        return subprocess.run(
            [sys.executable, "-m", "itpcohort", *args, "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            input=stdin,
        )

    imported = run("study", "import", str(demo_cohort))
    assert imported.returncode == 0, imported.stderr
    assert " 68 patients" in imported.stdout
    exported = run("study", "export", "--output", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    valid = subprocess.run(
        [sys.executable, "-m", "itpcohort", "validate", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert valid.returncode == 0, valid.stdout
    added = run(
        "user",
        "add",
        "alice",
        "--role",
        "administrator",
        "--password-stdin",
        stdin="a-long-enough-passphrase\n",
    )
    assert added.returncode == 0 and "alice: administrator, all sites" in added.stdout
    verified = run("study", "verify-audit")
    assert verified.returncode == 0 and "verifies" in verified.stdout, verified.stdout
    assert (data / "postgres" / "PG_VERSION").read_text().strip() == "18"
    assert_lossless(demo_cohort, tmp_path / "out")
