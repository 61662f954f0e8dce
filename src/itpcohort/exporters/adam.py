"""CDISC ADaM datasets from a cohort: ADSL, ADRS and ADTTE as CSV, Parquet and SAS XPORT v5.

- ADSL (one row per subject, screened included): STUDYID, USUBJID, SUBJID,
  SITEID, AGE, AGEU, SEX, ENRLFL (enrolled), EXCLREAS, ITTFL, TRTSDT, TRTEDT,
  TRTDURD, SLEFL, APSFL, BASEPLT.
- ADRS: per evaluable day the overall response (PARAMCD ``OVR``, AVALC CR, R
  or NR, from rule 3), and per subject the derived parameters ``BOR`` (best
  overall response, rule 6), ``CONFRSP`` (confirmed response Y/N, rule 4),
  ``CR`` (complete response Y/N), ``LOSS`` (loss of response Y/N, rule 5; ADT
  is the loss date) and ``SUSTOFF`` (sustained response off treatment, rule 10).
- ADTTE: ``TTR`` (time to response), ``TTCR`` (time to CR) and ``DOR``
  (duration of response under treatment, rule 9): AVAL in days, CNSR (0 event,
  1 censored), STARTDT, ADT, EVNTDESC, CNSDTDSC, SRCDOM, SRCVAR. Subjects
  without response are censored at the end of the study drug (TRTSDT +
  TRTDURD).

Variable names follow ADaMIG 1.1 (ADSL, BDS, ADTTE) and are at most 8
characters with labels of at most 40, as SAS XPORT version 5 requires.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.pipeline import Evaluation, run
from itpcohort.statistics.analysis import as_flag

LABELS = {
    "STUDYID": "Study Identifier",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "ENRLFL": "Enrolled Population Flag",
    "EXCLREAS": "Reason Not Enrolled",
    "ITTFL": "Intent-To-Treat Population Flag",
    "TRTSDT": "Date of First Exposure to Treatment",
    "TRTEDT": "Date of Last Exposure to Treatment",
    "TRTDURD": "Total Treatment Duration (Days)",
    "SLEFL": "Systemic Lupus Erythematosus Flag",
    "APSFL": "Antiphospholipid Syndrome Flag",
    "BASEPLT": "Baseline Platelets (10^9/L)",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "AVALC": "Analysis Value (C)",
    "AVAL": "Analysis Value",
    "ADT": "Analysis Date",
    "ADY": "Analysis Relative Day",
    "CNSR": "Censor",
    "STARTDT": "Time-to-Event Origin Date for Subject",
    "EVNTDESC": "Event or Censoring Description",
    "CNSDTDSC": "Censor Date Description",
    "SRCDOM": "Source Data",
    "SRCVAR": "Source Variable",
    "TRTP": "Planned Treatment",
    "PARCAT1": "Parameter Category 1",
    "AVALU": "Analysis Value Unit",
}
PARAMS = {
    "OVR": "Overall Response by Visit (IWG 2009)",
    "BOR": "Best Overall Response (IWG 2009)",
    "CONFRSP": "Confirmed Response (CR or R)",
    "CR": "Complete Response",
    "LOSS": "Loss of Response",
    "SUSTOFF": "Sustained Response Off Treatment",
    "TTR": "Time to Response (days)",
    "TTCR": "Time to Complete Response (days)",
    "DOR": "Duration of Response under Treatment (d)",
}
BOR_N = {"CR": 1, "R": 2, "NR": 3, "NE": 4}


def adam_datasets(
    cohort: Cohort,
    criteria: str = "iwg2009",
    study_drug: str | None = None,
    studyid: str | None = None,
) -> dict[str, pd.DataFrame]:
    """ADSL, ADRS and ADTTE as DataFrames (dates as datetime64)."""
    evaluation = run(cohort, criteria, study_drug=study_drug)
    drug = evaluation.study_drug
    study = (studyid or cohort.folder.name).upper()[:200]
    e = evaluation.endpoints.set_index("patient_id")
    patients = cohort.patients
    enrolled = patients["_enrolled"].astype(bool)
    adsl = pd.DataFrame(
        {
            "STUDYID": study,
            "USUBJID": study + "-" + patients["patient_id"].astype(str),
            "SUBJID": patients["patient_id"].astype(str),
            "SITEID": patients["site"].fillna("").astype(str) if "site" in patients else "",
            "AGE": pd.to_numeric(patients.get("age"), errors="coerce"),
            "AGEU": "YEARS",
            "SEX": patients["sex"].fillna("").astype(str).str.upper().str[:1]
            if "sex" in patients
            else "",
            "ENRLFL": enrolled.map({True: "Y", False: "N"}),
            "EXCLREAS": patients["excluded"].fillna("").astype(str),
            "ITTFL": enrolled.map({True: "Y", False: "N"}),
        }
    )
    by_id = e.reindex(patients["patient_id"].astype(str))
    adsl["TRTSDT"] = by_id["start_date"].to_numpy()
    adsl["TRTEDT"] = by_id["end_date"].to_numpy()
    adsl["TRTDURD"] = by_id["treatment_days"].astype("Float64").to_numpy()
    for flag, column in (("SLEFL", "sle"), ("APSFL", "aps")):
        values = as_flag(patients[column]) if column in patients else pd.Series(pd.NA)
        adsl[flag] = values.map({True: "Y", False: "N"}).fillna("").to_numpy()
    adsl["BASEPLT"] = by_id["baseline_platelets"].to_numpy()
    adsl["TRTP"] = drug.upper()
    usubjid = dict(zip(adsl["SUBJID"], adsl["USUBJID"], strict=True))
    return {
        "adsl": adsl,
        "adrs": _adrs(evaluation, study, usubjid),
        "adtte": _adtte(e, study, usubjid),
    }


def _adrs(evaluation: Evaluation, study: str, usubjid: dict[str, str]) -> pd.DataFrame:
    e = evaluation.endpoints.set_index("patient_id")
    days = evaluation.days
    days = days[days["evaluable"]].merge(e[["start_date"]], left_on="patient_id", right_index=True)
    level = days["level"].astype(object)
    ovr = pd.DataFrame(
        {
            "USUBJID": days["patient_id"].map(usubjid),
            "PARAMCD": "OVR",
            "AVALC": level,
            "AVAL": level.map(BOR_N).astype(float),
            "ADT": pd.to_datetime(days["date"]),
            "ADY": (pd.to_datetime(days["date"]) - days["start_date"]).dt.days.astype(float),
        }
    )
    rows = []
    for pid, r in e.iterrows():
        responded = r["best_response"] in ("CR", "R")
        rows += [
            (pid, "BOR", r["best_response"], BOR_N[r["best_response"]], r["response_date"]),
            (pid, "CONFRSP", "Y" if responded else "N", float(responded), r["response_date"]),
            (
                pid,
                "CR",
                "Y" if r["best_response"] == "CR" else "N",
                float(r["best_response"] == "CR"),
                r["cr_date"],
            ),
            (
                pid,
                "LOSS",
                "Y" if pd.notna(r["loss_date"]) else "N",
                float(pd.notna(r["loss_date"])),
                r["loss_date"],
            ),
            (
                pid,
                "SUSTOFF",
                "Y" if r["sustained_off_treatment"] else "N",
                float(bool(r["sustained_off_treatment"])),
                r["end_date"],
            ),
        ]
    derived = pd.DataFrame(rows, columns=["SUBJID", "PARAMCD", "AVALC", "AVAL", "ADT"])
    derived["USUBJID"] = derived.pop("SUBJID").map(usubjid)
    derived["ADT"] = pd.to_datetime(derived["ADT"])
    start = e["start_date"].reindex([k for k in e.index])
    derived["ADY"] = (
        derived["ADT"] - derived["USUBJID"].map({usubjid[k]: v for k, v in start.items()})
    ).dt.days.astype(float)
    out = pd.concat([ovr, derived], ignore_index=True)
    out.insert(0, "STUDYID", study)
    out["PARAM"] = out["PARAMCD"].map(PARAMS)
    out["PARCAT1"] = evaluation.criteria.name.upper()
    return out.sort_values(["USUBJID", "PARAMCD", "ADT"], kind="stable").reset_index(drop=True)[
        ["STUDYID", "USUBJID", "PARAMCD", "PARAM", "PARCAT1", "AVALC", "AVAL", "ADT", "ADY"]
    ]


def _adtte(e: pd.DataFrame, study: str, usubjid: dict[str, str]) -> pd.DataFrame:
    rows = []
    for pid, r in e.iterrows():
        if pd.isna(r["start_date"]):
            continue
        start = r["start_date"]
        stop = (
            start + pd.Timedelta(days=int(r["treatment_days"]))
            if pd.notna(r["treatment_days"])
            else start
        )
        for code, date, desc in (
            ("TTR", r["response_date"], "RESPONSE (CR OR R)"),
            ("TTCR", r["cr_date"], "COMPLETE RESPONSE"),
        ):
            if pd.notna(date):
                rows.append((pid, code, start, date, 0, desc, "", "ADRS", "ADT"))
            else:
                rows.append(
                    (pid, code, start, stop, 1, "NO " + desc, "END OF STUDY DRUG", "ADSL", "TRTEDT")
                )
        if pd.notna(r["response_date"]) and pd.notna(r["response_duration_days"]):
            adt = r["response_date"] + pd.Timedelta(days=int(r["response_duration_days"]))
            if r["response_duration_censored"]:
                rows.append(
                    (
                        pid,
                        "DOR",
                        r["response_date"],
                        adt,
                        1,
                        "IN RESPONSE",
                        "END OF STUDY DRUG OR LAST EVALUABLE DAY",
                        "ADRS",
                        "ADT",
                    )
                )
            else:
                rows.append(
                    (pid, "DOR", r["response_date"], adt, 0, "LOSS OF RESPONSE", "", "ADRS", "ADT")
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "SUBJID",
            "PARAMCD",
            "STARTDT",
            "ADT",
            "CNSR",
            "EVNTDESC",
            "CNSDTDSC",
            "SRCDOM",
            "SRCVAR",
        ],
    )
    out.insert(0, "USUBJID", out.pop("SUBJID").map(usubjid))
    out.insert(0, "STUDYID", study)
    out["PARAM"] = out["PARAMCD"].map(PARAMS)
    out["AVAL"] = (pd.to_datetime(out["ADT"]) - pd.to_datetime(out["STARTDT"])).dt.days.astype(
        float
    )
    out["AVALU"] = "DAYS"
    out["CNSR"] = out["CNSR"].astype(float)
    return out[
        [
            "STUDYID",
            "USUBJID",
            "PARAMCD",
            "PARAM",
            "AVAL",
            "AVALU",
            "CNSR",
            "STARTDT",
            "ADT",
            "EVNTDESC",
            "CNSDTDSC",
            "SRCDOM",
            "SRCVAR",
        ]
    ]


def write_adam(
    cohort: Cohort | str | Path,
    output: str | Path,
    *,
    criteria: str = "iwg2009",
    study_drug: str | None = None,
    studyid: str | None = None,
) -> dict[str, list[Path]]:
    """Write ADSL, ADRS and ADTTE as .csv, .parquet and .xpt (SAS XPORT v5)."""
    import pyreadstat

    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, frame in adam_datasets(cohort, criteria, study_drug, studyid).items():
        dates = [c for c in frame.columns if c.endswith("DT")]
        csv = frame.copy()
        for c in dates:
            csv[c] = pd.to_datetime(csv[c]).dt.strftime("%Y-%m-%d")
        csv.to_csv(out / f"{name}.csv", index=False)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for c in dates:
            i = table.schema.get_field_index(c)
            table = table.set_column(
                i, c, table.column(c).cast(pa.timestamp("s")).cast(pa.date32())
            )
        pq.write_table(table, out / f"{name}.parquet")
        xpt = frame.copy()
        for c in dates:
            xpt[c] = pd.to_datetime(xpt[c]).dt.date
        for c in xpt.columns:
            if xpt[c].dtype == object and c not in dates:
                xpt[c] = xpt[c].fillna("").astype(str)
        pyreadstat.write_xport(
            xpt,
            str(out / f"{name}.xpt"),
            file_format_version=5,
            table_name=name.upper(),
            file_label=f"{name.upper()} itpcohort",
            column_labels=[LABELS.get(c, c)[:40] for c in xpt.columns],
            variable_format={c: "DATE9." for c in dates},
        )
        written[name] = [out / f"{name}.{ext}" for ext in ("csv", "parquet", "xpt")]
    return written
