"""CDISC SDTM -> cohort folder: DM, EX, LB (or LBHE/LBCH/LBUR), AE, CM, MH, DS.

Mapping (SDTMIG 3.2 variable names):

- DM -> patients: USUBJID, RFSTDTC (enrolment; screen failures: RFICDTC, then
  DMDTC), SITEID, SEX, AGE, RFPENDTC (follow-up end); DS ``SCREEN FAILURE``
  (or ARMCD ``Scrnfail``) -> ``excluded`` with DSTERM as the reason.
- EX -> study treatment periods: EXTRT (drug), EXSTDTC-EXENDTC, EXDOSE in mg;
  overlapping or touching periods of one drug are merged.
- LB -> labs: LBTESTCD PLAT (platelets), HGB, NEUT, CREAT, K, GLUC, MG, ALT, AST
  with LBSTRESN and LBSTRESU; date from LBDTC. Other tests are set aside.
- AE -> adverse_events: AEDECOD (else AETERM); grade AETOXGR, else AESEV
  (MILD 1, MODERATE 2, SEVERE 3); AEREL (NONE, NOT RELATED, REMOTE, UNLIKELY
  related = false); AEACN (DRUG WITHDRAWN = discontinued, DOSE REDUCED,
  DRUG INTERRUPTED, DOSE NOT CHANGED = none). Bleeding terms also go to
  ``bleeding`` with WHO grade = severity grade.
- CM -> rescue or concomitant treatments through a mapping (``--cm-mapping``;
  default: immunoglobulin, platelet transfusion, pulse corticosteroids and
  anti-D are rescue, everything else concomitant); periods merged per drug.
- MH -> patients.sle / aps / diagnosis_date (thrombocytopenia) from MHDECOD.

Partial dates follow :mod:`itpcohort.importers.common`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pandas as pd

from itpcohort.importers.common import (
    COHORT_COLUMNS,
    MappingError,
    Reconciliation,
    complete_dates,
    merge_periods,
    write_cohort_folder,
)

LAB_TESTS = {
    "PLAT": "platelets",
    "HGB": "hemoglobin",
    "NEUT": "neutrophils",
    "CREAT": "creatinine",
    "K": "potassium",
    "GLUC": "glucose",
    "MG": "magnesium",
    "ALT": "alt",
    "AST": "ast",
}
SEVERITY = {"MILD": 1, "MODERATE": 2, "SEVERE": 3, "LIFE THREATENING": 4, "FATAL": 5}
UNRELATED = {"NONE", "NOT RELATED", "REMOTE", "UNLIKELY", "UNLIKELY RELATED", "N"}
ACTIONS = {
    "DRUG WITHDRAWN": "discontinued",
    "DOSE REDUCED": "dose_reduced",
    "DRUG INTERRUPTED": "interrupted",
    "DOSE NOT CHANGED": "none",
    "NOT APPLICABLE": "none",
}
BLEEDING = re.compile(
    r"HAEMORRHAG|HEMORRHAG|BLEED|EPISTAXIS|HAEMATOMA|HEMATOMA|CONTUSION|PURPURA|PETECHI"
    r"|ECCHYMOS|BRUIS|HAEMATURIA|HEMATURIA|MELAENA|MELENA|HAEMOPTYSIS|HEMOPTYSIS|MENORRHAGIA"
)
DEFAULT_CM_MAPPING = {
    "rescue": [
        "IMMUNOGLOBULIN",
        "IMMUNOGLOBULINS",
        "IMMUNOGLOBULIN HUMAN NORMAL",
        "IVIG",
        "PLATELETS",
        "PLATELET TRANSFUSION",
        "METHYLPREDNISOLONE",
        "DEXAMETHASONE",
        "ANTI-D IMMUNOGLOBULIN",
        "ROMIPLOSTIM",
    ],
}
SLE = re.compile(r"LUPUS ERYTHEMATOSUS|\bSLE\b")
APS = re.compile(r"ANTIPHOSPHOLIPID")
ITP = re.compile(r"THROMBOCYTOPEN")


XPORT_MAGIC = b"HEADER RECORD*******LIB"  # LIBRARY (version 5) or LIBV8 (version 8)


def read_domain(folder: Path, name: str) -> pd.DataFrame | None:
    """A domain from NAME.xpt (pyreadstat) or NAME.csv; None when absent.

    A file that cannot be read as what its name says is refused with its name.
    """
    for path in (
        folder / f"{name}.xpt",
        folder / f"{name.upper()}.xpt",
        folder / f"{name}.csv",
        folder / f"{name.upper()}.csv",
    ):
        if path.exists():
            frame = _read_xpt(path) if path.suffix == ".xpt" else _read_csv(path)
            frame.columns = [str(c).upper() for c in frame.columns]
            return frame
    return None


def _read_xpt(path: Path) -> pd.DataFrame:
    import pyreadstat

    with path.open("rb") as handle:
        head = handle.read(len(XPORT_MAGIC))
    if head != XPORT_MAGIC:
        raise MappingError(
            f"{path}: not a SAS XPORT file (it does not start with an XPORT library header); "
            f"a CSV export goes in {path.stem}.csv"
        )
    try:
        frame, _ = pyreadstat.read_xport(str(path), encoding="latin1")
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise MappingError(f"{path}: a damaged SAS XPORT file ({exc})") from None
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save the CSV as UTF-8"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MappingError(f"{path}: not a readable CSV file ({exc})") from None


def _need(frame: pd.DataFrame, domain: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MappingError(f"SDTM {domain}: variable(s) {', '.join(missing)} missing")


def _text(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.strip()


def load_cm_mapping(path: str | Path | None) -> dict[str, set[str]]:
    if path is None:
        data = DEFAULT_CM_MAPPING
    else:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"CM mapping {path}: {exc}") from None
        unknown = set(data) - {"rescue", "concomitant"}
        if unknown:
            raise MappingError(
                f"CM mapping {path}: unknown key(s) {', '.join(sorted(unknown))}; "
                "use 'rescue' and 'concomitant' (lists of CMDECOD/CMTRT names)"
            )
    return {k: {str(v).upper() for v in data.get(k, [])} for k in ("rescue", "concomitant")}


def import_sdtm(
    folder: str | Path,
    output: str | Path,
    *,
    study_drug: str | None = None,
    cm_mapping: str | Path | None = None,
) -> Reconciliation:
    """Turn an SDTM folder into a cohort folder; returns the reconciliation."""
    src = Path(folder)
    if not src.is_dir():
        raise MappingError(f"{src}: no such folder")
    rec = Reconciliation()
    dm = read_domain(src, "dm")
    if dm is None:
        raise MappingError(f"{src}: no DM domain (dm.xpt or dm.csv): it lists the subjects")
    _need(dm, "DM", ["USUBJID", "RFSTDTC"])
    tables = {"patients": _patients(src, dm, rec)}
    tables["treatments"] = _treatments(src, rec, study_drug, load_cm_mapping(cm_mapping))
    tables["labs"] = _labs(src, rec)
    tables["adverse_events"], tables["bleeding"] = _adverse_events(src, rec)
    _medical_history(src, tables["patients"], rec)
    known = set(tables["patients"]["patient_id"])
    for name in ("treatments", "labs", "adverse_events", "bleeding"):
        frame = tables[name]
        orphan = ~frame["patient_id"].isin(known)
        if orphan.any():
            raise MappingError(f"SDTM: {int(orphan.sum())} {name} rows name subjects not in DM")
    write_cohort_folder(tables, output, rec)
    return rec


def _patients(src: Path, dm: pd.DataFrame, rec: Reconciliation) -> pd.DataFrame:
    rec.read("DM", len(dm))
    ds = read_domain(src, "ds")
    failures: dict[str, str] = {}
    if ds is not None:
        rec.read("DS", len(ds))
        _need(ds, "DS", ["USUBJID", "DSDECOD"])
        sf = ds[_text(ds["DSDECOD"]).str.upper() == "SCREEN FAILURE"]
        term = sf["DSTERM"] if "DSTERM" in sf.columns else sf["DSDECOD"]
        failures = dict(
            zip(sf["USUBJID"], "screen failure: " + _text(term).str.lower(), strict=True)
        )
        rec.imported("DS", "patients (excluded reason)", len(sf))
        rec.set_aside("DS", "other disposition events (not needed)", len(ds) - len(sf))
    arm = _text(dm["ARMCD"]) if "ARMCD" in dm.columns else pd.Series("", index=dm.index)
    ids = _text(dm["USUBJID"])
    excluded = [
        failures.get(pid) or ("screen failure" if a.upper() == "SCRNFAIL" else "")
        for pid, a in zip(ids, arm, strict=True)
    ]
    enrol = complete_dates(_text(dm["RFSTDTC"]), "start", rec, "DM", "RFSTDTC", ids)
    for fallback in ("RFICDTC", "DMDTC"):
        if fallback in dm.columns:
            enrol = enrol.fillna(
                complete_dates(_text(dm[fallback]), "start", rec, "DM", fallback, ids)
            )
    no_date = enrol.isna()
    rec.set_aside("DM", "no RFSTDTC, RFICDTC or DMDTC date", int(no_date.sum()))
    rec.imported("DM", "patients", int((~no_date).sum()))
    out = pd.DataFrame(
        {
            "patient_id": ids,
            "enrollment_date": enrol,
            "excluded": excluded,
            "site": _text(dm["SITEID"]) if "SITEID" in dm.columns else "",
            "sex": _text(dm["SEX"]) if "SEX" in dm.columns else "",
            "age": dm["AGE"] if "AGE" in dm.columns else None,
            "arm": _text(dm["ARM"]) if "ARM" in dm.columns else "",
            "followup_end_date": complete_dates(
                _text(dm["RFPENDTC"]), "end", rec, "DM", "RFPENDTC", ids
            )
            if "RFPENDTC" in dm.columns
            else None,
        }
    )
    return out[~no_date].reset_index(drop=True)


def _treatments(
    src: Path, rec: Reconciliation, study_drug: str | None, cm_map: dict[str, set[str]]
) -> pd.DataFrame:
    frames = []
    ex = read_domain(src, "ex")
    if ex is not None:
        _need(ex, "EX", ["USUBJID", "EXTRT", "EXSTDTC"])
        rec.read("EX", len(ex))
        ids = _text(ex["USUBJID"])
        drug = _text(ex["EXTRT"]).str.lower()
        if study_drug is not None and study_drug.lower() not in set(drug):
            raise MappingError(
                f"study drug '{study_drug}': not an EXTRT value; EX has "
                + ", ".join(sorted(set(drug)))
            )
        unit = _text(ex["EXDOSU"]).str.lower() if "EXDOSU" in ex.columns else ""
        periods = pd.DataFrame(
            {
                "patient_id": ids,
                "drug": drug,
                "role": "study",
                **_period_dates(ex, "EX", ids, rec),
                "phase": "full",
                "daily_dose_mg": pd.to_numeric(ex["EXDOSE"], errors="coerce").where(unit == "mg")
                if "EXDOSE" in ex.columns
                else None,
            }
        )
        frames.append(_periods(periods, rec, "EX"))
    cm = read_domain(src, "cm")
    if cm is not None:
        _need(cm, "CM", ["USUBJID", "CMTRT", "CMSTDTC"])
        rec.read("CM", len(cm))
        ids = _text(cm["USUBJID"])
        decod = _text(cm["CMDECOD"]) if "CMDECOD" in cm.columns else _text(cm["CMTRT"])
        name = decod.where(~decod.isin(["", "UNCODED"]), _text(cm["CMTRT"]))
        upper = name.str.upper()
        role = pd.Series("concomitant", index=cm.index)
        role[
            upper.isin(cm_map["rescue"]) | _text(cm["CMTRT"]).str.upper().isin(cm_map["rescue"])
        ] = "rescue"
        if cm_map["concomitant"]:
            listed = upper.isin(cm_map["concomitant"]) | (role == "rescue")
            rec.set_aside("CM", "not in the CM mapping", int((~listed).sum()))
            cm, ids, name, role = cm[listed], ids[listed], name[listed], role[listed]
        periods = pd.DataFrame(
            {
                "patient_id": ids,
                "drug": name.str.lower(),
                "role": role,
                **_period_dates(cm, "CM", ids, rec),
                "phase": "",
            }
        )
        frames.append(_periods(periods, rec, "CM"))
    if not frames:
        raise MappingError(f"{src}: no EX domain: it holds the study treatment")
    return pd.concat(frames, ignore_index=True)


def _period_dates(
    frame: pd.DataFrame, domain: str, ids: pd.Series, rec: Reconciliation
) -> dict[str, pd.Series]:
    """start_date and end_date from --STDTC / --ENDTC, partial dates completed and listed."""
    end = frame.get(f"{domain}ENDTC", pd.Series("", index=frame.index))
    return {
        "start_date": complete_dates(
            _text(frame[f"{domain}STDTC"]), "start", rec, domain, f"{domain}STDTC", ids
        ),
        "end_date": complete_dates(_text(end), "end", rec, domain, f"{domain}ENDTC", ids),
        "_end_text": _text(end),
    }


def _periods(periods: pd.DataFrame, rec: Reconciliation, source: str) -> pd.DataFrame:
    no_start = periods["start_date"].isna()
    rec.set_aside(source, "no start date", int(no_start.sum()))
    periods = periods[~no_start]
    # an end given but not a date (2014-13, 2014-02-30) does not make the period ongoing
    no_end = periods["end_date"].isna() & (periods.pop("_end_text") != "")
    rec.set_aside(source, "end date given but not a date", int(no_end.sum()))
    periods = periods[~no_end]
    bad = periods["end_date"].notna() & (periods["end_date"] < periods["start_date"])
    rec.set_aside(source, "end before start", int(bad.sum()))
    periods = periods[~bad]
    merged, folded = merge_periods(periods)
    rec.set_aside(source, "merged into an overlapping period of the same drug", folded)
    for role, n in merged["role"].value_counts().items():
        rec.imported(source, f"treatments ({role})", int(n))
    return merged


def _labs(src: Path, rec: Reconciliation) -> pd.DataFrame:
    frames = []
    for name in ("lb", "lbhe", "lbch", "lbur"):
        lb = read_domain(src, name)
        if lb is None:
            continue
        source = name.upper()
        _need(lb, source, ["USUBJID", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDTC"])
        rec.read(source, len(lb))
        code = _text(lb["LBTESTCD"]).str.upper()
        known = code.isin(LAB_TESTS)
        rec.set_aside(source, "test not used by itpcohort", int((~known).sum()))
        lb = lb[known]
        ids = _text(lb["USUBJID"])
        value = pd.to_numeric(lb["LBSTRESN"], errors="coerce")
        date = complete_dates(_text(lb["LBDTC"]), "start", rec, source, "LBDTC", ids)
        ok = value.notna() & date.notna() & (_text(lb["LBSTRESU"]) != "")
        rec.set_aside(source, "no numeric result, unit or date", int((~ok).sum()))
        out = pd.DataFrame(
            {
                "patient_id": ids,
                "date": date,
                "test": code.map(LAB_TESTS)[known],
                "value": value,
                "unit": _text(lb["LBSTRESU"]),
            }
        )[ok]
        rec.imported(source, "labs", len(out))
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=["patient_id", "date", "test", "value", "unit"])
    return pd.concat(frames, ignore_index=True)


def _adverse_events(src: Path, rec: Reconciliation) -> tuple[pd.DataFrame, pd.DataFrame]:
    ae = read_domain(src, "ae")
    if ae is None:  # no AE domain: no adverse events and no bleeding (tables without rows)
        return (
            pd.DataFrame(columns=COHORT_COLUMNS["adverse_events"]),
            pd.DataFrame(columns=COHORT_COLUMNS["bleeding"]),
        )
    _need(ae, "AE", ["USUBJID", "AESTDTC"])
    rec.read("AE", len(ae))
    ids = _text(ae["USUBJID"])
    term = _text(ae["AEDECOD"]) if "AEDECOD" in ae.columns else _text(ae["AETERM"])
    if "AETERM" in ae.columns:
        term = term.where(term != "", _text(ae["AETERM"]))
    if "AETOXGR" in ae.columns:
        grade = pd.to_numeric(ae["AETOXGR"], errors="coerce")
    else:
        grade = _text(ae.get("AESEV", pd.Series("", index=ae.index))).str.upper().map(SEVERITY)
    rel = _text(ae.get("AEREL", pd.Series("", index=ae.index))).str.upper()
    related = rel.map(lambda r: "" if not r else ("no" if r in UNRELATED else "yes"))
    action = (
        _text(ae.get("AEACN", pd.Series("", index=ae.index)))
        .str.upper()
        .map(lambda a: ACTIONS.get(a, "") if a else "")
    )
    onset = complete_dates(_text(ae["AESTDTC"]), "start", rec, "AE", "AESTDTC", ids)
    end = complete_dates(
        _text(ae.get("AEENDTC", pd.Series("", index=ae.index))), "end", rec, "AE", "AEENDTC", ids
    )
    end = end.where(end.isna() | onset.isna() | (end >= onset.fillna("")), None)
    events = pd.DataFrame(
        {
            "patient_id": ids,
            "onset_date": onset,
            "term": term,
            "grade": grade.astype("Int64"),
            "related": related,
            "action": action,
            "end_date": end,
        }
    )
    ok = events["onset_date"].notna() & (events["term"] != "")
    rec.set_aside("AE", "no onset date or term", int((~ok).sum()))
    events = events[ok]
    rec.imported("AE", "adverse_events", len(events))
    is_bleed = events["term"].str.upper().str.contains(BLEEDING)
    bleeding = pd.DataFrame(
        {
            "patient_id": events["patient_id"],
            "date": events["onset_date"],
            "who_grade": events["grade"].fillna(1).clip(upper=4),
            "site": events["term"].str.lower(),
        }
    )[is_bleed]
    return events.reset_index(drop=True), bleeding.reset_index(drop=True)


def _medical_history(src: Path, patients: pd.DataFrame, rec: Reconciliation) -> None:
    mh = read_domain(src, "mh")
    if mh is None:
        return
    rec.read("MH", len(mh))
    decod = _text(mh["MHDECOD"]) if "MHDECOD" in mh.columns else _text(mh["MHTERM"])
    term = decod.where(decod != "", _text(mh.get("MHTERM", decod))).str.upper()
    ids = _text(mh["USUBJID"])
    sle, aps, itp = term.str.contains(SLE), term.str.contains(APS), term.str.contains(ITP)
    patients["sle"] = patients["patient_id"].isin(set(ids[sle])).map({True: "yes", False: "no"})
    patients["aps"] = patients["patient_id"].isin(set(ids[aps])).map({True: "yes", False: "no"})
    if itp.any() and "MHSTDTC" in mh.columns:
        dates = complete_dates(_text(mh["MHSTDTC"])[itp], "start", rec, "MH", "MHSTDTC", ids[itp])
        first = pd.Series(dates.values, index=ids[itp].values).dropna().groupby(level=0).min()
        patients["diagnosis_date"] = patients["patient_id"].map(first)
    used = sle | aps | itp
    rec.imported("MH", "patients (sle, aps, diagnosis_date)", int(used.sum()))
    rec.set_aside("MH", "other medical history", int((~used).sum()))
