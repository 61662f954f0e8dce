"""Hostile inputs to the importers: each gives a clear message (exit 2 from the CLI),
never an internal error; rows with a problem of their own are set aside and listed.
Every input is written here, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from itpcohort.cli import app
from itpcohort.importers import MappingError
from itpcohort.importers.fhir import import_fhir
from itpcohort.importers.sdtm import import_sdtm

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}


def _observation(value: object) -> dict:
    return {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": "2020-01-02",
        "valueQuantity": {"value": value, "unit": "10*3/uL", "code": "10*3/uL"},
    }


def _bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# -- FHIR --------------------------------------------------------------------------------


def test_fhir_list_instead_of_bundle(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps([PATIENT]))
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "list.json: holds an array, not a FHIR resource or Bundle" in output


def test_fhir_patient_without_id(tmp_path: Path) -> None:
    path = tmp_path / "noid.json"
    path.write_text(json.dumps(_bundle(PATIENT, {"resourceType": "Patient", "gender": "male"})))
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "noid.json entry 2: Patient without an id" in output


def test_fhir_same_patient_twice(tmp_path: Path) -> None:
    path = tmp_path / "twice.ndjson"
    path.write_text(json.dumps(PATIENT) + "\n\n" + json.dumps(PATIENT) + "\n")
    with pytest.raises(
        MappingError,
        match=r"twice.ndjson line 3: a second Patient with id 'p1' "
        r"\(the first is twice.ndjson line 1\)",
    ):
        import_fhir(path, tmp_path / "c")


def test_fhir_value_not_a_number_is_set_aside_and_listed(tmp_path: Path) -> None:
    path = tmp_path / "abc.json"
    path.write_text(json.dumps(_bundle(PATIENT, _observation(50), _observation("abc"))))
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 0, output
    assert "abc.json entry 3: valueQuantity.value 'abc' is not a number" in output
    rec = import_fhir(path, tmp_path / "d")
    obs = rec.sources["Observation"]
    assert (obs.read, dict(obs.imported), dict(obs.set_aside)) == (
        2,
        {"labs (platelets)": 1},
        {"platelet count value not a number": 1},
    )
    warnings = pd.read_csv(tmp_path / "d" / "import_warnings.csv")
    assert warnings.to_dict("records") == [
        {
            "source": "Observation",
            "where": "abc.json entry 3",
            "message": "valueQuantity.value 'abc' is not a number",
        }
    ]
    labs = pd.read_csv(tmp_path / "d" / "labs.csv")
    assert labs["value"].tolist() == [50.0]


def test_fhir_latin1_file_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    named = {**PATIENT, "name": [{"family": "Müller"}]}
    path.write_bytes(json.dumps(_bundle(named), ensure_ascii=False).encode("latin-1"))
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "latin1.json: not UTF-8 text (byte 0xfc" in output
    assert "FHIR JSON is UTF-8" in output


def test_fhir_ndjson_error_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text(json.dumps(PATIENT) + "\n" + json.dumps(_observation(50)) + "\n{not json\n")
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "bad.ndjson line 3: not valid JSON (column 2:" in output


def test_fhir_resource_of_the_wrong_shape_names_the_entry(tmp_path: Path) -> None:
    odd = {**_observation(50), "code": ["777-3"]}  # code must be a CodeableConcept
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(_bundle(PATIENT, odd)))
    code, output = _cli("import", "fhir", str(path), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "odd.json entry 2: Observation does not have the FHIR R4 shape" in output


# -- SDTM --------------------------------------------------------------------------------


def test_sdtm_csv_renamed_to_xpt_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    (folder / "dm.xpt").write_text("STUDYID,USUBJID,RFSTDTC\nS1,S1-001,2020-01-01\n")
    code, output = _cli("import", "sdtm", str(folder), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "dm.xpt: not a SAS XPORT file" in output


def test_sdtm_damaged_xpt_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    header = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30
    (folder / "dm.xpt").write_bytes(header + b"not the rest of a library\n")
    with pytest.raises(MappingError, match=r"dm.xpt: a damaged SAS XPORT file"):
        import_sdtm(folder, tmp_path / "c")


def test_sdtm_csv_not_utf8_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    folder.mkdir()
    (folder / "dm.csv").write_bytes(
        "USUBJID,RFSTDTC,SITEID\nS1-001,2020-01-01,Zürich\n".encode("latin-1")
    )
    with pytest.raises(MappingError, match=r"dm.csv: not UTF-8 text \(byte 0xfc"):
        import_sdtm(folder, tmp_path / "c")


# -- OMOP and MIMIC-IV ---------------------------------------------------------------------


def _omop(folder: Path, *, measurement_header: str, measured: str) -> Path:
    folder.mkdir()
    (folder / "person.csv").write_text("person_id,gender_concept_id,year_of_birth\n1,8532,1980\n")
    (folder / "measurement.csv").write_text(
        f"{measurement_header}\n1,3024929,{measured},50,10^9/L\n"
    )
    (folder / "drug_exposure.csv").write_text(
        "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date\n"
        "1,19075601,2020-01-01,2020-02-01\n"
    )
    return folder


MEASUREMENT = "person_id,measurement_concept_id,measurement_date,value_as_number,unit_source_value"


def test_omop_table_without_a_needed_column_names_it(tmp_path: Path) -> None:
    header = MEASUREMENT.replace("measurement_concept_id", "measurement_concept")
    folder = _omop(tmp_path / "cdm", measurement_header=header, measured="2020-01-02")
    code, output = _cli("import", "omop", "--source", str(folder), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "CDM table measurement has no column(s) measurement_concept_id" in output


def test_omop_value_of_the_wrong_type_is_a_clear_error(tmp_path: Path) -> None:
    folder = _omop(tmp_path / "cdm", measurement_header=MEASUREMENT, measured="2020-13-45")
    code, output = _cli("import", "omop", "--source", str(folder), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "the CDM tables cannot be imported (Conversion Error" in output
    ok = _omop(tmp_path / "ok", measurement_header=MEASUREMENT, measured="2020-01-02")
    code, output = _cli("import", "omop", "--source", str(ok), "-o", str(tmp_path / "d"))
    assert code == 0, output  # the same tables with a real date import


def test_mimic_table_without_needed_columns_names_them(tmp_path: Path) -> None:
    hosp = tmp_path / "mimic" / "hosp"
    hosp.mkdir(parents=True)
    (hosp / "patients.csv").write_text("subject_id,gender,anchor_age,dod\n1,F,40,\n")
    (hosp / "prescriptions.csv").write_text(
        "subject_id,drug,starttime,stoptime\n1,prednisone,2150-01-01 08:00,2150-01-10 08:00\n"
    )
    (hosp / "labevents.csv").write_text("subject_id,itemid\n1,51265\n")
    code, output = _cli("import", "mimic", str(tmp_path / "mimic"), "-o", str(tmp_path / "c"))
    assert code == 2
    assert "labevents.csv: no column(s) charttime, valuenum, valueuom" in " ".join(output.split())
