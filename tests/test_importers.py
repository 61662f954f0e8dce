"""Importers on the real public files of ../shared/data (read there, never copied):
exact reconciliation counts, and cohorts that validate and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import itpcohort
from itpcohort.cli import app
from itpcohort.importers import MappingError
from itpcohort.importers.common import complete_date, merge_periods
from itpcohort.importers.fhir import import_fhir
from itpcohort.importers.mimic import import_mimic
from itpcohort.importers.omop import import_omop
from itpcohort.importers.redcap import import_redcap, template_paths
from itpcohort.importers.sdtm import import_sdtm
from tests.conftest import ROOT, SPARK_SKIP, shared_data

FIXTURES = ROOT / "tests" / "fixtures" / "redcap"


def _counts(rec, source: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    s = rec.sources[source]
    return {"read": s.read, **dict(s.imported), **dict(s.set_aside)}


def _valid(folder: Path) -> itpcohort.Cohort:
    report, cohort = itpcohort.validate_cohort(folder)
    assert report.ok, [str(p) for p in report.errors[:5]]
    assert cohort is not None
    return cohort


# -- partial dates and periods (hand-worked) -------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("2014-03-07T10:00", "start", ("2014-03-07", False)),
        ("2014-03", "start", ("2014-03-01", True)),
        ("2014-03", "end", ("2014-03-31", True)),
        ("2016-02", "end", ("2016-02-29", True)),  # leap year
        ("2015-02", "end", ("2015-02-28", True)),
        ("2003", "start", ("2003-01-01", True)),
        ("2003", "end", ("2003-12-31", True)),
        ("", "start", (None, False)),
        ("03/07/2014", "start", (None, False)),
    ],
)
def test_partial_dates_rule(value: str, kind: str, expected: tuple) -> None:
    assert complete_date(value, kind) == expected  # type: ignore[arg-type]


def test_merge_periods_folds_overlaps_and_touching_periods() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "A"],
            "drug": ["x", "x", "x", "x"],
            "role": ["study"] * 4,
            "start_date": ["2024-01-01", "2024-01-11", "2024-02-01", "2024-03-01"],
            "end_date": ["2024-01-10", "2024-01-20", "2024-02-05", None],
        }
    )
    merged, folded = merge_periods(frame)
    assert folded == 1  # 01-11 touches 01-10
    assert merged[["start_date", "end_date"]].values.tolist() == [
        ["2024-01-01", "2024-01-20"],
        ["2024-02-01", "2024-02-05"],
        ["2024-03-01", None],
    ]


# -- CDISC SDTM --------------------------------------------------------------------------


def test_sdtm_pilot(tmp_path: Path) -> None:
    folder = shared_data("cdisc_pilot01_sdtm_update2")
    rec = import_sdtm(folder, tmp_path / "c")
    assert _counts(rec, "DM") == {"read": 306, "patients": 306}
    assert _counts(rec, "LBHE")["read"] == 21927
    cohort = _valid(tmp_path / "c")
    labs = cohort.labs
    platelets = labs[labs.test == "platelets"]
    assert len(platelets) == 1788 and platelets.patient_id.nunique() == 253
    patients = cohort.patients
    assert patients.excluded.fillna("").str.startswith("screen failure").sum() == 52
    assert _counts(rec, "AE") == {"read": 961, "adverse_events": 961}
    # the 13 bleeding/bruising rows the data README counts, and one haemoptysis
    assert len(cohort.bleeding) == 14
    assert "haemoptysis" in set(cohort.bleeding.site)
    imputed = pd.read_csv(tmp_path / "c" / "imputed_dates.csv")
    assert len(imputed) == len(rec.imputed) > 0
    assert set(imputed["rule"]) == {"start", "end"}
    ae_starts = imputed[(imputed.source == "AE") & (imputed.column == "AESTDTC")]
    assert len(ae_starts) == 24  # 13 YYYY-MM and 11 YYYY values
    endpoints = itpcohort.evaluate(cohort, study_drug="xanomeline")
    assert len(endpoints) == 254
    assert endpoints.start_date.notna().sum() == 168  # the xanomeline arms


# -- OMOP CDM ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_omop_eunomia(tmp_path: Path, kind: str) -> None:
    folder = shared_data("omop_synthea27nj_eunomia", kind)
    rec = import_omop(folder, tmp_path / "c", study_drug="clopidogrel")
    m = _counts(rec, "MEASUREMENT")
    assert m["labs (platelets)"] == 107
    assert m["read"] == m["labs (platelets)"] + m["not a platelet concept"]
    assert _counts(rec, "PERSON") == {"read": 28, "patients": 28}
    assert _counts(rec, "DRUG_EXPOSURE")["read"] == 883
    cohort = _valid(tmp_path / "c")
    assert len(cohort.patients) == 28
    assert (cohort.patients.excluded.fillna("") == "").sum() == 2  # exposed to clopidogrel
    itpcohort.evaluate(cohort)


@pytest.mark.spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_omop_on_spark_equals_duckdb(tmp_path: Path) -> None:
    folder = shared_data("omop_synthea27nj_eunomia", "parquet")
    on_duckdb = import_omop(folder, tmp_path / "d", study_drug="clopidogrel")
    on_spark = import_omop(folder, tmp_path / "s", study_drug="clopidogrel", engine="spark")
    pd.testing.assert_frame_equal(on_duckdb.frame(), on_spark.frame())
    for table in ("patients", "treatments", "labs"):
        assert (tmp_path / "d" / f"{table}.csv").read_bytes() == (
            tmp_path / "s" / f"{table}.csv"
        ).read_bytes()


def test_omop_duckdb_file_and_errors(tmp_path: Path) -> None:
    import duckdb

    folder = shared_data("omop_synthea27nj_eunomia", "parquet")
    db = tmp_path / "cdm.duckdb"
    con = duckdb.connect(str(db))
    for p in folder.glob("*.parquet"):
        con.sql(f"CREATE TABLE {p.stem} AS SELECT * FROM read_parquet('{p}')")
    con.close()
    rec = import_omop(f"duckdb:{db}", tmp_path / "c", study_drug="clopidogrel")
    assert rec.sources["MEASUREMENT"].imported["labs (platelets)"] == 107
    with pytest.raises(MappingError, match="no DRUG_EXPOSURE row matches"):
        import_omop(folder, tmp_path / "d", study_drug="tacrolimus")
    with pytest.raises(MappingError, match="PostgreSQL CDM"):
        import_omop("postgresql://nobody@127.0.0.1:9/none?connect_timeout=2", tmp_path / "e")


def test_omop_from_postgresql(tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    from tests.postgres_server import postgres_bin, running_postgres

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    folder = shared_data("omop_synthea27nj_eunomia", "csv")
    with running_postgres() as url:
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            for path in sorted(folder.glob("*.csv")):
                header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
                columns = ", ".join(f'"{c}" text' for c in header)
                cur.execute(f"CREATE TABLE {path.stem.lower()} ({columns})")
                with cur.copy(
                    f"COPY {path.stem.lower()} FROM STDIN WITH (FORMAT csv, HEADER)"
                ) as copy:
                    copy.write(path.read_bytes())
        rec = import_omop(url, tmp_path / "pg", study_drug="clopidogrel")
    assert rec.sources["MEASUREMENT"].imported["labs (platelets)"] == 107
    import_omop(folder, tmp_path / "csv", study_drug="clopidogrel")
    for table in ("patients", "treatments", "labs"):
        assert (tmp_path / "pg" / f"{table}.csv").read_bytes() == (
            tmp_path / "csv" / f"{table}.csv"
        ).read_bytes()


# -- FHIR --------------------------------------------------------------------------------


def test_fhir_bundles(tmp_path: Path) -> None:
    folder = shared_data("fhir_r4_synthea_smart")
    rec = import_fhir(folder, tmp_path / "c", study_drug="leucovorin")
    assert _counts(rec, "Observation")["labs (platelets)"] == 12
    assert _counts(rec, "Patient") == {"read": 2, "patients": 2}
    cohort = _valid(tmp_path / "c")
    labs = cohort.report.summaries[2]
    # Oralia Stark never had leucovorin: excluded, her 3 counts set aside with the reason
    assert (labs.read, labs.used) == (12, 9)
    assert dict(labs.set_aside) == {"patient excluded (screened, not enrolled)": 3}
    assert set(cohort.labs.unit) == {"10^9/L"}
    endpoints = itpcohort.evaluate(cohort)
    assert endpoints.best_response.tolist() == ["CR"]


def test_fhir_ndjson(tmp_path: Path) -> None:
    bundle = json.loads(next(shared_data("fhir_r4_synthea_smart").glob("Micah*.json")).read_text())
    ndjson = tmp_path / "export.ndjson"
    ndjson.write_text("\n".join(json.dumps(e["resource"]) for e in bundle["entry"]))
    rec = import_fhir(ndjson, tmp_path / "c")
    assert rec.sources["Observation"].imported["labs (platelets)"] == 9  # Micah: 9 of the 12


# -- MIMIC-IV ----------------------------------------------------------------------------


def test_mimic_demo_recipe(tmp_path: Path) -> None:
    folder = shared_data("mimic_iv_demo_2.2")
    rec = import_mimic(folder, tmp_path / "c")
    lab = _counts(rec, "labevents")
    assert (
        lab["labs (platelets, itemid 51265)"] + lab["platelet row without valuenum, time or unit"]
        == 2827
    )
    assert lab["labs (platelets, itemid 51265)"] == 2820
    assert _counts(rec, "patients") == {"read": 100, "patients": 100}
    assert _counts(rec, "prescriptions")["read"] == 18087
    cohort = _valid(tmp_path / "c")
    assert len(cohort.labs) + (cohort.report.summaries[2].read - len(cohort.labs)) == 2820
    itpcohort.evaluate(cohort)


# -- REDCap ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("project", "read", "imported"),
    [
        ("longitudinal", 18, {"patients": 3, "labs": 4}),
        ("repeating-instruments", 6, {"patients": 2, "labs": 4}),
        ("vignette-repeating", 17, {"patients": 2, "labs": 6}),
    ],
)
def test_redcap_test_projects(
    tmp_path: Path, project: str, read: int, imported: dict[str, int]
) -> None:
    folder = shared_data("redcap_redcapr_testprojects", project)
    rec = import_redcap(
        folder / "data.csv", folder / "dictionary.csv", FIXTURES / f"{project}.toml", tmp_path / "c"
    )
    counts = _counts(rec, "records")
    assert counts["read"] == read
    assert {k: v for k, v in counts.items() if k in imported} == imported
    assert counts.get("no mapped field filled", 0) == read - sum(imported.values())
    _valid(tmp_path / "c")


def test_redcap_decodes_choices_and_checkboxes(tmp_path: Path) -> None:
    folder = shared_data("redcap_redcapr_testprojects", "longitudinal")
    import_redcap(
        folder / "data.csv",
        folder / "dictionary.csv",
        FIXTURES / "longitudinal.toml",
        tmp_path / "c",
    )
    patients = pd.read_csv(tmp_path / "c" / "patients.csv", dtype=str)
    assert patients.set_index("patient_id").loc["100", "sex"] == "M"


def test_redcap_bad_mapping_names_the_field(tmp_path: Path) -> None:
    folder = shared_data("redcap_redcapr_testprojects", "longitudinal")
    bad = tmp_path / "bad.toml"
    bad.write_text('[patients]\nform = "demographics"\nenrollment_date = "date_enroled"\n')
    with pytest.raises(MappingError, match="field 'date_enroled' is not in the data dictionary"):
        import_redcap(folder / "data.csv", folder / "dictionary.csv", bad, tmp_path / "c")
    bad.write_text(
        '[patients]\nform = "demographics"\nenrollment_date = "date_enrolled"\n'
        '[[labs]]\nform = "visit_lab_data"\nvalu = "vld2"\n'
    )
    with pytest.raises(MappingError, match="valu is not a column of labs"):
        import_redcap(folder / "data.csv", folder / "dictionary.csv", bad, tmp_path / "c")


def test_redcap_api_on_loopback(tmp_path: Path) -> None:
    pytest.importorskip("redcap")
    from tests.redcap_server import FakeRedcap

    folder = shared_data("redcap_redcapr_testprojects", "longitudinal")
    token = "0123456789ABCDEF0123456789ABCDEF"
    with FakeRedcap(folder, token) as fake:
        from itpcohort.importers.redcap_api import export_project

        records, dictionary = export_project(fake.url, token, batch_size=2, workdir=tmp_path)
        batches = [c for c in fake.calls if c.get("content") == ["record"]]
        assert len(batches) == 1 + 2  # the record ids, then 3 records in batches of 2
        rec = import_redcap(records, dictionary, FIXTURES / "longitudinal.toml", tmp_path / "c")
        assert _counts(rec, "records")["read"] == 18
        with pytest.raises(MappingError, match="REDCap API"):
            export_project(fake.url, "F" * 32, workdir=tmp_path)


def test_redcap_cli_reads_token_from_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("REDCAP_API_TOKEN", raising=False)
    result = CliRunner().invoke(
        app, ["import", "redcap", "--url", "http://127.0.0.1:9/api/", "-o", str(tmp_path / "c")]
    )
    assert result.exit_code == 2 and "REDCAP_API_TOKEN" in result.output


def test_shipped_itp_project_round_trip(tmp_path: Path) -> None:
    from itpcohort.importers.redcap import read_dictionary

    dictionary, mapping = template_paths()
    fields = read_dictionary(dictionary)
    forms = {f.form for f in fields.values()}
    assert forms == {
        "enrolment",
        "apl_profile",
        "treatment_log",
        "visit_labs",
        "bleeding",
        "adverse_events",
    }
    header = [
        "record_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        *[n for n, f in fields.items() if n != "record_id" and f.kind != "checkbox"],
        *[f"bleed_site___{c}" for c in fields["bleed_site"].choices],
    ]
    rows = [
        {"record_id": "P1", "enrol_date": "2024-01-05", "eligible": "1", "sex": "F"},
        {
            "record_id": "P1",
            "redcap_repeat_instrument": "treatment_log",
            "redcap_repeat_instance": "1",
            "tx_drug": "tacrolimus",
            "tx_role": "study",
            "tx_start": "2024-01-10",
            "tx_phase": "full",
        },
        {
            "record_id": "P1",
            "redcap_repeat_instrument": "visit_labs",
            "redcap_repeat_instance": "1",
            "lab_date": "2024-01-09",
            "plt": "20",
            "hgb": "120",
        },
        {
            "record_id": "P1",
            "redcap_repeat_instrument": "visit_labs",
            "redcap_repeat_instance": "2",
            "lab_date": "2024-01-24",
            "plt": "60",
        },
        {
            "record_id": "P1",
            "redcap_repeat_instrument": "visit_labs",
            "redcap_repeat_instance": "3",
            "lab_date": "2024-02-07",
            "plt": "120",
        },
        {
            "record_id": "P1",
            "redcap_repeat_instrument": "bleeding",
            "redcap_repeat_instance": "1",
            "bleed_date": "2024-03-01",
            "who_grade": "1",
            "bleed_site___gum": "1",
            "bleed_site___skin": "1",
        },
        {
            "record_id": "P2",
            "enrol_date": "2024-01-06",
            "eligible": "0",
            "exclusion_reason": "SLE nephritis",
        },
    ]
    rows.append(dict(rows[2]))  # exported twice by overlapping batches
    frame = pd.DataFrame(rows).reindex(columns=header).fillna("")
    rec = import_redcap(frame, dictionary, mapping, tmp_path / "c")
    counts = _counts(rec, "records")
    assert counts["duplicate row (exported twice)"] == 1
    assert counts["labs"] == 3 and counts["patients"] == 2 and counts["bleeding"] == 1
    cohort = _valid(tmp_path / "c")
    assert cohort.bleeding.site.tolist() == ["Gum; Skin"]
    e = itpcohort.evaluate(cohort)
    # baseline 20 on 01-09; 60 on 01-24 (R), 120 on 02-07 (CR) -> R from 01-24 (14 days)
    assert e.best_response.tolist() == ["R"] and e.days_to_response.tolist() == [14]


def test_import_and_export_commands(tmp_path: Path) -> None:
    folder = shared_data("cdisc_pilot01_sdtm_update2")
    runner = CliRunner()
    result = runner.invoke(app, ["import", "sdtm", str(folder), "-o", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "valid: 0 error(s)" in result.output
    result = runner.invoke(
        app,
        [
            "export",
            "adam",
            str(tmp_path / "c"),
            "-o",
            str(tmp_path / "adam"),
            "--study-drug",
            "xanomeline",
        ],
    )
    assert result.exit_code == 0, result.output
    import pyreadstat

    adsl, meta = pyreadstat.read_xport(str(tmp_path / "adam" / "adsl.xpt"))
    assert len(adsl) == 306 and meta.table_name == "ADSL"
    assert meta.column_names_to_labels["USUBJID"] == "Unique Subject Identifier"
    assert (adsl.ENRLFL == "N").sum() == 52
    adtte, _ = pyreadstat.read_xport(str(tmp_path / "adam" / "adtte.xpt"))
    assert set(adtte.PARAMCD) <= {"TTR", "TTCR", "DOR"} and set(adtte.CNSR) <= {0.0, 1.0}
    assert len(adtte[adtte.PARAMCD == "TTR"]) == 168
    adrs = pd.read_parquet(tmp_path / "adam" / "adrs.parquet")
    assert {"BOR", "CONFRSP", "CR", "LOSS", "SUSTOFF", "OVR"} <= set(adrs.PARAMCD)
    assert len(adrs[adrs.PARAMCD == "BOR"]) == 254
