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

Bad input is refused with the file and, where there is one, the NDJSON line or
the Bundle entry (1 = the first): files must be UTF-8 JSON; a file or line
must hold a resource or a Bundle (an object), not an array; every Patient
needs an id, once. A platelet Observation whose value is not a number is set
aside, counted in the reconciliation and listed in ``import_warnings.csv``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
LAB_COLUMNS = ["patient_id", "date", "test", "value", "unit"]
NOT_A_NUMBER = "platelet count value not a number"
NO_RESOURCE_TYPE = "(no resourceType)"


def resources(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(where, resource) for every resource in Bundles or NDJSON under ``path``.

    ``where`` names the file and, when there is one, the NDJSON line or Bundle
    entry (``export.ndjson line 3``, ``bundle.json entry 2``).
    """
    root = Path(path)
    files = sorted(root.rglob("*")) if root.is_dir() else [root]
    for file in files:
        if file.suffix.lower() not in (".json", ".ndjson") or not file.is_file():
            continue
        text = _read_utf8(file)
        if file.suffix.lower() == ".ndjson":
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    where = f"{file.name} line {number}"
                    yield from _unpack(_parse_json(line, where, single_line=True), where)
        else:
            yield from _unpack(_parse_json(text, file.name, single_line=False), file.name)


def _read_utf8(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{file.name}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); FHIR JSON is UTF-8: convert the file, e.g. "
            f"iconv -f latin1 -t utf-8 {file.name}"
        ) from None


def _parse_json(text: str, where: str, *, single_line: bool) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        place = f"column {exc.colno}" if single_line else f"line {exc.lineno}"
        raise MappingError(f"{where}: not valid JSON ({place}: {exc.msg})") from None


def _unpack(item: object, where: str) -> Iterator[tuple[str, dict]]:
    """The resources of one parsed JSON value: a Bundle's entries, or the resource itself."""
    if not isinstance(item, dict):
        kind = "an array" if isinstance(item, list) else f"a {type(item).__name__}"
        raise MappingError(
            f"{where}: holds {kind}, not a FHIR resource or Bundle "
            '(a JSON object with "resourceType")'
        )
    if item.get("resourceType") != "Bundle":
        yield where, item
        return
    entries = item.get("entry", [])
    if not isinstance(entries, list):
        raise MappingError(f"{where}: Bundle.entry is not a list of entries")
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and resource is None:
            continue  # an entry without a resource (a search outcome, a response) holds no row
        if not isinstance(resource, dict):
            raise MappingError(f"{where} entry {number}: not an entry with a resource object")
        yield f"{where} entry {number}", resource


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


def _number(value: object) -> float | None:
    """A finite number from a JSON number or numeric text; None for anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: object, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class _Found:
    """The rows the resources hold, by cohort table, before the tables are built."""

    patients: dict[str, dict] = field(default_factory=dict)
    patient_where: dict[str, str] = field(default_factory=dict)
    labs: list[dict] = field(default_factory=list)
    meds: list[dict] = field(default_factory=list)
    conditions: list[tuple[str | None, str, str | None]] = field(default_factory=list)
    aes: list[dict] = field(default_factory=list)


def _patient(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    pid = r.get("id")
    if pid is None or str(pid).strip() == "":
        raise MappingError(
            f"{where}: Patient without an id: every Patient needs one "
            "(the other resources refer to it as Patient/<id>)"
        )
    pid = str(pid)
    if pid in found.patients:
        raise MappingError(
            f"{where}: a second Patient with id '{pid}' "
            f"(the first is {found.patient_where[pid]}): keep one"
        )
    found.patients[pid] = r
    found.patient_where[pid] = where
    rec.imported("Patient", "patients", 1)


def _platelet_row(r: dict) -> tuple[dict | None, str | None]:
    """An Observation's labs row, or (None, why it is set aside)."""
    codes = {c.get("code") for c in r.get("code", {}).get("coding", [])}
    q = r.get("valueQuantity", {})
    date = _day(
        r.get("effectiveDateTime") or r.get("effectivePeriod", {}).get("start") or r.get("issued")
    )
    if not codes & PLATELET_LOINC:
        return None, "not a platelet count (LOINC 777-3, 26515-7)"
    if q.get("value") is None or not date or not (q.get("code") or q.get("unit")):
        return None, "platelet count without value, unit or date"
    value = _number(q["value"])
    if value is None:
        return None, NOT_A_NUMBER
    row = {
        "patient_id": _ref(r.get("subject")),
        "date": date,
        "test": "platelets",
        "value": value,
        "unit": q.get("code") or q.get("unit"),
    }
    return row, None


def _observation(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    row, why = _platelet_row(r)
    if row is None:
        rec.set_aside("Observation", str(why), 1)
        if why == NOT_A_NUMBER:
            shown = _shown(r["valueQuantity"]["value"])
            rec.warn("Observation", where, f"valueQuantity.value {shown} is not a number")
        return
    found.labs.append(row)
    rec.imported("Observation", "labs (platelets)", 1)


def _medication_row(r: dict) -> dict | None:
    """A treatments row (before roles and merging) from a Medication* resource, or None."""
    name = _concept_text(r.get("medicationCodeableConcept")).lower()
    period = r.get("effectivePeriod", {})
    start = _day(
        r.get("authoredOn")
        or period.get("start")
        or r.get("effectiveDateTime")
        or r.get("dateAsserted")
    )
    end = _day(
        period.get("end") or r.get("dispenseRequest", {}).get("validityPeriod", {}).get("end")
    )
    if end is None and r.get("status") not in ("active", "on-hold"):
        end = start
    if not name or not start:
        return None
    return {
        "patient_id": _ref(r.get("subject")),
        "drug": name,
        "start_date": start,
        "end_date": end,
        "source": r["resourceType"],
    }


def _medication(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    row = _medication_row(r)
    if row is None:
        rec.set_aside(r["resourceType"], "no medication name or start date", 1)
    else:
        found.meds.append(row)  # counted as imported once periods are merged


def _condition(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    found.conditions.append(
        (
            _ref(r.get("subject")),
            _concept_text(r.get("code")).lower(),
            _day(r.get("onsetDateTime") or r.get("recordedDate")),
        )
    )


def _adverse_event(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    date = _day(r.get("date") or r.get("detected"))
    term = _concept_text(r.get("event"))
    if not date or not term:
        rec.set_aside("AdverseEvent", "no event or date", 1)
        return
    sev = next((c.get("code") for c in r.get("severity", {}).get("coding", [])), None)
    found.aes.append(
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
    rec.imported("AdverseEvent", "adverse_events", 1)


_Handler = Callable[[dict, str, _Found, Reconciliation], None]
HANDLERS: dict[str, _Handler] = {
    "Patient": _patient,
    "Observation": _observation,
    **dict.fromkeys(MEDICATIONS, _medication),
    "Condition": _condition,
    "AdverseEvent": _adverse_event,
}


def _collect(r: dict, where: str, found: _Found, rec: Reconciliation) -> None:
    """Count one resource and add its row to ``found`` (or set it aside, saying why)."""
    kind = r.get("resourceType")
    if not isinstance(kind, str) or not kind:
        rec.read(NO_RESOURCE_TYPE, 1)
        rec.set_aside(NO_RESOURCE_TYPE, "not a FHIR resource", 1)
        rec.warn(NO_RESOURCE_TYPE, where, 'a JSON object without "resourceType", skipped')
        return
    rec.read(kind, 1)
    handler = HANDLERS.get(kind)
    if handler is None:
        rec.set_aside(kind, "resource type not used", 1)
        return
    try:
        handler(r, where, found, rec)
    except (AttributeError, TypeError, KeyError) as exc:
        raise MappingError(
            f"{where}: {kind} does not have the FHIR R4 shape here ({type(exc).__name__}: {exc})"
        ) from None


def _refuse_orphans(tables: dict[str, pd.DataFrame], known: set[str]) -> None:
    for name in ("treatments", "labs"):
        orphan = ~tables[name]["patient_id"].isin(known)
        if orphan.any():
            raise MappingError(f"FHIR: {int(orphan.sum())} {name} rows refer to no Patient")


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
    found = _Found()
    for where, resource in resources(path):
        _collect(resource, where, found, rec)
    if not found.patients:
        raise MappingError(f"{path}: no Patient resource")
    treatments = _treatments(found.meds, study_drug, rescue_names, rec)
    frame = _patients(found.patients, found.labs, treatments, study_drug, found.conditions, rec)
    tables = {
        "patients": frame,
        "treatments": treatments,
        "labs": pd.DataFrame(found.labs, columns=LAB_COLUMNS),
        "adverse_events": pd.DataFrame(found.aes),
    }
    _refuse_orphans(tables, set(frame["patient_id"]))
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
        age = _age(enrol, _day(r.get("birthDate")))
        excluded = f"no {study_drug.lower()}" if study_drug and pid not in first_study else ""
        rows.append(
            {
                "patient_id": pid,
                "enrollment_date": enrol,
                "excluded": excluded,
                "sex": {"female": "F", "male": "M"}.get(str(r.get("gender", "")), ""),
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


def _age(enrol: str | None, birth: str | None) -> float | None:
    """Whole years from birth to enrolment (days // 365.25); None when either is unknown."""
    try:
        days = (dt.date.fromisoformat(str(enrol)) - dt.date.fromisoformat(str(birth))).days
    except ValueError:
        return None
    return days // 365.25
