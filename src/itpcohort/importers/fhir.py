"""FHIR R4 -> cohort folder: Bundles (JSON) or bulk-export NDJSON files, or a folder of them.

Mapping:

- Patient -> patients: id, gender (female F, male M), birthDate (age at
  enrolment). Enrolment = first study-drug start, else the first platelet
  count; patients never given the study drug (when one is named) are kept as
  excluded ("no STUDY DRUG").
- Observation with a LOINC code 777-3 or 26515-7 -> labs (platelets):
  valueQuantity.value with its UCUM code (``10*3/uL``); effectiveDateTime
  (else effectivePeriod.start, else issued).
- MedicationRequest / MedicationStatement / MedicationAdministration ->
  treatments: the medication's text or first coding display; the study drug
  (``study_drug``, matched as a substring) is role ``study``, rescue names
  ``rescue``, the rest ``concomitant``; start = authoredOn / effective[Period.start|
  DateTime]; end = effectivePeriod.end or dispenseRequest.validityPeriod.end,
  else ongoing while status is active, else the start day. Overlaps are merged.
- Condition -> patients.sle / aps / diagnosis_date (thrombocytopenia) by name.
- AdverseEvent -> adverse_events: event text, date, severity (mild 1,
  moderate 2, severe 3); any suspectEntity = related.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from itpcohort.importers.common import (
    MappingError,
    Reconciliation,
    complete_date,
    merge_periods,
    write_cohort_folder,
)
from itpcohort.importers.omop import RESCUE_NAMES

PLATELET_LOINC = {"777-3", "26515-7"}
MEDICATIONS = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
SEVERITY = {"mild": 1, "moderate": 2, "severe": 3}


def resources(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(file name, resource) for every resource in Bundles or NDJSON under ``path``."""
    root = Path(path)
    files = sorted(root.rglob("*")) if root.is_dir() else [root]
    for file in files:
        if file.suffix.lower() not in (".json", ".ndjson") or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8")
        try:
            items = (
                [json.loads(line) for line in text.splitlines() if line.strip()]
                if file.suffix.lower() == ".ndjson"
                else [json.loads(text)]
            )
        except json.JSONDecodeError as exc:
            raise MappingError(
                f"{file.name}: not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        for item in items:
            if item.get("resourceType") == "Bundle":
                for entry in item.get("entry", []):
                    if "resource" in entry:
                        yield file.name, entry["resource"]
            elif "resourceType" in item:
                yield file.name, item


def _ref(reference: dict | None) -> str | None:
    if not reference or "reference" not in reference:
        return None
    ref = reference["reference"]
    return ref.removeprefix("urn:uuid:").split("/")[-1]


def _day(value: object) -> str | None:
    return complete_date(value, "start")[0] if value else None


def _concept_text(concept: dict | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    return ""


def import_fhir(
    path: str | Path,
    output: str | Path,
    *,
    study_drug: str | None = None,
    rescue_names: tuple[str, ...] = RESCUE_NAMES,
) -> Reconciliation:
    """Turn FHIR R4 resources into a cohort folder; returns the reconciliation."""
    if not Path(path).exists():
        raise MappingError(f"{path}: no such file or folder")
    rec = Reconciliation()
    patients: dict[str, dict] = {}
    labs, meds, conditions, aes = [], [], [], []
    for _, r in resources(path):
        kind = r["resourceType"]
        rec.read(kind, 1)
        if kind == "Patient":
            patients[r["id"]] = r
            rec.imported(kind, "patients", 1)
        elif kind == "Observation":
            codes = {c.get("code") for c in r.get("code", {}).get("coding", [])}
            q = r.get("valueQuantity", {})
            date = _day(
                r.get("effectiveDateTime")
                or r.get("effectivePeriod", {}).get("start")
                or r.get("issued")
            )
            if not codes & PLATELET_LOINC:
                rec.set_aside(kind, "not a platelet count (LOINC 777-3, 26515-7)", 1)
            elif q.get("value") is None or not date or not (q.get("code") or q.get("unit")):
                rec.set_aside(kind, "platelet count without value, unit or date", 1)
            else:
                labs.append(
                    {
                        "patient_id": _ref(r.get("subject")),
                        "date": date,
                        "test": "platelets",
                        "value": float(q["value"]),
                        "unit": q.get("code") or q.get("unit"),
                    }
                )
                rec.imported(kind, "labs (platelets)", 1)
        elif kind in MEDICATIONS:
            name = _concept_text(r.get("medicationCodeableConcept")).lower()
            period = r.get("effectivePeriod", {})
            start = _day(
                r.get("authoredOn")
                or period.get("start")
                or r.get("effectiveDateTime")
                or r.get("dateAsserted")
            )
            end = _day(
                period.get("end")
                or r.get("dispenseRequest", {}).get("validityPeriod", {}).get("end")
            )
            if end is None and r.get("status") not in ("active", "on-hold"):
                end = start
            if not name or not start:
                rec.set_aside(kind, "no medication name or start date", 1)
                continue
            meds.append(
                {
                    "patient_id": _ref(r.get("subject")),
                    "drug": name,
                    "start_date": start,
                    "end_date": end,
                    "source": kind,
                }
            )
        elif kind == "Condition":
            conditions.append(
                (
                    _ref(r.get("subject")),
                    _concept_text(r.get("code")).lower(),
                    _day(r.get("onsetDateTime") or r.get("recordedDate")),
                )
            )
        elif kind == "AdverseEvent":
            date = _day(r.get("date") or r.get("detected"))
            term = _concept_text(r.get("event"))
            if not date or not term:
                rec.set_aside(kind, "no event or date", 1)
                continue
            sev = next((c.get("code") for c in r.get("severity", {}).get("coding", [])), None)
            aes.append(
                {
                    "patient_id": _ref(r.get("subject")),
                    "onset_date": date,
                    "term": term,
                    "grade": SEVERITY.get(str(sev)),
                    "related": "yes" if r.get("suspectEntity") else "",
                    "action": "",
                    "end_date": None,
                }
            )
            rec.imported(kind, "adverse_events", 1)
        else:
            rec.set_aside(kind, "resource type not used", 1)
    if not patients:
        raise MappingError(f"{path}: no Patient resource")
    treatments = _treatments(meds, study_drug, rescue_names, rec)
    frame = _patients(patients, labs, treatments, study_drug, conditions, rec)
    known = set(frame["patient_id"])
    tables = {
        "patients": frame,
        "treatments": treatments,
        "labs": pd.DataFrame(labs, columns=["patient_id", "date", "test", "value", "unit"]),
        "adverse_events": pd.DataFrame(aes),
    }
    for name in ("treatments", "labs"):
        orphan = ~tables[name]["patient_id"].isin(known)
        if orphan.any():
            raise MappingError(f"FHIR: {int(orphan.sum())} {name} rows refer to no Patient")
    write_cohort_folder(tables, output, rec)
    return rec


def _treatments(
    meds: list[dict], study_drug: str | None, rescue: tuple[str, ...], rec: Reconciliation
) -> pd.DataFrame:
    columns = ["patient_id", "drug", "role", "start_date", "end_date", "phase"]
    if not meds:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(meds)
    study = frame["drug"].str.contains(re.escape(study_drug.lower())) if study_drug else False
    is_rescue = frame["drug"].str.contains("|".join(re.escape(r) for r in rescue))
    frame["role"] = "concomitant"
    frame.loc[is_rescue, "role"] = "rescue"
    if study_drug:
        frame.loc[study, "role"] = "study"
        frame.loc[study, "drug"] = study_drug.lower()
    frame["phase"] = frame["role"].map({"study": "full"}).fillna("")
    bad = frame["end_date"].notna() & (frame["end_date"] < frame["start_date"])
    for source, n in frame[bad]["source"].value_counts().items():
        rec.set_aside(source, "end before start", int(n))
    frame = frame[~bad]
    merged_total = 0
    out = []
    for source, part in frame.groupby("source"):
        merged, folded = merge_periods(part.drop(columns="source"))
        rec.set_aside(source, "merged into an overlapping period of the same drug", folded)
        for role, n in merged["role"].value_counts().items():
            rec.imported(source, f"treatments ({role})", int(n))
        merged_total += folded
        out.append(merged)
    merged, folded = merge_periods(pd.concat(out, ignore_index=True))
    if folded:  # one drug from two resource types: fold across them too
        rec.imported("MedicationRequest", "treatments (merged across resource types)", -folded)
        rec.set_aside(
            "MedicationRequest", "merged into an overlapping period of the same drug", folded
        )
    return merged[columns]


def _patients(
    patients: dict[str, dict],
    labs: list[dict],
    treatments: pd.DataFrame,
    study_drug: str | None,
    conditions: list,
    rec: Reconciliation,
) -> pd.DataFrame:
    first_lab: dict[str, str] = {}
    for row in labs:
        pid = row["patient_id"]
        first_lab[pid] = min(first_lab.get(pid, row["date"]), row["date"])
    study = treatments[treatments["role"] == "study"] if len(treatments) else treatments
    first_study = study.groupby("patient_id")["start_date"].min().to_dict() if len(study) else {}
    rows = []
    for pid, r in patients.items():
        enrol = first_study.get(pid) or first_lab.get(pid) or _day(r.get("birthDate"))
        birth = _day(r.get("birthDate"))
        age = (
            (pd.Timestamp(enrol) - pd.Timestamp(birth)).days // 365.25 if enrol and birth else None
        )
        excluded = f"no {study_drug.lower()}" if study_drug and pid not in first_study else ""
        rows.append(
            {
                "patient_id": pid,
                "enrollment_date": enrol,
                "excluded": excluded,
                "sex": {"female": "F", "male": "M"}.get(r.get("gender", ""), ""),
                "age": age,
                "sle": "no",
                "aps": "no",
                "diagnosis_date": None,
                "followup_end_date": _day(r.get("deceasedDateTime")),
            }
        )
    frame = pd.DataFrame(rows)
    for pid, name, onset in conditions:
        mask = frame["patient_id"] == pid
        if "lupus erythematosus" in name:
            frame.loc[mask, "sle"] = "yes"
        elif "antiphospholipid" in name:
            frame.loc[mask, "aps"] = "yes"
        elif "thrombocytopeni" in name and onset:
            current = frame.loc[mask, "diagnosis_date"]
            frame.loc[mask, "diagnosis_date"] = min([onset, *current.dropna()])
        else:
            rec.set_aside("Condition", "other conditions", 1)
            continue
        rec.imported("Condition", "patients (sle, aps, diagnosis_date)", 1)
    return frame
