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

SAS XPORT v5 also holds character values of at most 200 bytes, and has no
encoding: only ASCII is portable. Text that breaks either limit (a 300-character
exclusion reason, a site named "Zürich") is **refused, not transliterated or
truncated**: :func:`write_adam` checks all three datasets first and writes
nothing, naming the dataset, variable and subject of each value, so that the
value is corrected once, in the cohort, and the CSV, Parquet and XPT files
agree. (Truncating or transliterating could also make two subject IDs equal.)

Dates are written as dates at any year (datetime64[s] internally, so not bound
by pandas' nanosecond range, which ends on 2262-04-11); where a dataset still
cannot be derived with such a date, the export is refused naming the file,
line, column and patient.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from itpcohort import outputs
from itpcohort.cohort import Cohort, read_cohort
from itpcohort.engines import TABLES, open_engine
from itpcohort.errors import ItpCohortError
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
            "ADT": _seconds(days["date"]),
            "ADY": (_seconds(days["date"]) - _seconds(days["start_date"])).dt.days.astype(float),
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
    derived["ADT"] = _seconds(derived["ADT"])
    start = _seconds(derived["USUBJID"].map({usubjid[k]: v for k, v in e["start_date"].items()}))
    derived["ADY"] = (derived["ADT"] - start).dt.days.astype(float)
    out = pd.concat([ovr, derived], ignore_index=True)
    out.insert(0, "STUDYID", study)
    out["PARAM"] = out["PARAMCD"].map(PARAMS)
    out["PARCAT1"] = evaluation.criteria.name.upper()
    return out.sort_values(["USUBJID", "PARAMCD", "ADT"], kind="stable").reset_index(drop=True)[
        ["STUDYID", "USUBJID", "PARAMCD", "PARAM", "PARCAT1", "AVALC", "AVAL", "ADT", "ADY"]
    ]


TTE_EVENTS = (
    ("TTR", "response_date", "RESPONSE (CR OR R)"),
    ("TTCR", "cr_date", "COMPLETE RESPONSE"),
)
TTE_ROW = [
    "SUBJID",
    "PARAMCD",
    "STARTDT",
    "ADT",
    "CNSR",
    "EVNTDESC",
    "CNSDTDSC",
    "SRCDOM",
    "SRCVAR",
]
ADTTE_COLUMNS = [
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


def _days_after(date: pd.Timestamp, days: object) -> pd.Timestamp:
    """``date`` plus whole days, in the date's own unit (seconds reach past 2262)."""
    return date + np.timedelta64(int(days), "D")  # type: ignore[call-overload]


def _tte_rows(pid: str, r: pd.Series) -> list[tuple[object, ...]]:
    """One treated subject's TTR and TTCR rows: the event, or censored at the end of the drug."""
    start = r["start_date"]
    stop = _days_after(start, r["treatment_days"]) if pd.notna(r["treatment_days"]) else start
    rows: list[tuple[object, ...]] = []
    for code, column, desc in TTE_EVENTS:
        date = r[column]
        if pd.notna(date):
            rows.append((pid, code, start, date, 0, desc, "", "ADRS", "ADT"))
        else:
            censored = (pid, code, start, stop, 1, "NO " + desc, "END OF STUDY DRUG")
            rows.append((*censored, "ADSL", "TRTEDT"))
    return rows


def _dor_row(pid: str, r: pd.Series) -> tuple[object, ...] | None:
    """A responder's duration of response under treatment (rule 9), or None."""
    if pd.isna(r["response_date"]) or pd.isna(r["response_duration_days"]):
        return None
    start = r["response_date"]
    adt = _days_after(start, r["response_duration_days"])
    if r["response_duration_censored"]:
        desc, censor_desc = "IN RESPONSE", "END OF STUDY DRUG OR LAST EVALUABLE DAY"
        return (pid, "DOR", start, adt, 1, desc, censor_desc, "ADRS", "ADT")
    return (pid, "DOR", start, adt, 0, "LOSS OF RESPONSE", "", "ADRS", "ADT")


def _seconds(values: pd.Series) -> pd.Series:
    """Dates (Timestamps, dates, ISO text or missing) as datetime64[s]: no 2262 limit."""
    return pd.Series(values.tolist(), index=values.index, dtype="datetime64[s]")


def _adtte(e: pd.DataFrame, study: str, usubjid: dict[str, str]) -> pd.DataFrame:
    """ADTTE: TTR, TTCR and DOR per treated subject; AVAL in days from STARTDT to ADT."""
    rows: list[tuple[object, ...]] = []
    for pid, r in e.iterrows():
        if pd.notna(r["start_date"]):
            rows += _tte_rows(str(pid), r)
            dor = _dor_row(str(pid), r)
            rows += [dor] if dor is not None else []
    out = pd.DataFrame(rows, columns=TTE_ROW)
    out.insert(0, "USUBJID", out.pop("SUBJID").map(usubjid))
    out.insert(0, "STUDYID", study)
    out["PARAM"] = out["PARAMCD"].map(PARAMS)
    out["STARTDT"], out["ADT"] = _seconds(out["STARTDT"]), _seconds(out["ADT"])
    out["AVAL"] = (out["ADT"] - out["STARTDT"]).dt.days.astype(float)
    out["AVALU"] = "DAYS"
    out["CNSR"] = out["CNSR"].astype(float)
    return out[ADTTE_COLUMNS]


class AdamExportError(ItpCohortError):
    """A cohort that cannot be written as ADaM datasets; names the rows to fix."""


def write_adam(
    cohort: Cohort | str | Path,
    output: str | Path,
    *,
    criteria: str = "iwg2009",
    study_drug: str | None = None,
    studyid: str | None = None,
) -> dict[str, list[Path]]:
    """Write ADSL, ADRS and ADTTE as .csv, .parquet and .xpt (SAS XPORT v5).

    Everything is checked before anything is written: a value SAS XPORT v5
    cannot hold is refused (see the module docstring), naming dataset,
    variable and subject.
    """
    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    datasets = _datasets_or_refuse(cohort, criteria, study_drug, studyid)
    problems = [p for name, frame in datasets.items() for p in xpt_problems(name, frame)]
    if problems:
        shown = "; ".join(problems[:10])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise AdamExportError(
            f"SAS XPORT v5 cannot hold {len(problems)} value(s): {shown}{more}. "
            "Correct them in the cohort (ASCII text, at most 200 characters); nothing was written"
        )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, frame in datasets.items():
        dates = [c for c in frame.columns if c.endswith("DT")]
        frame = frame.assign(**{c: _seconds(frame[c]) for c in dates})
        written[name] = [
            _write_csv(frame, dates, out / f"{name}.csv"),
            _write_parquet(frame, dates, out / f"{name}.parquet"),
            _write_xpt(frame, dates, name, out / f"{name}.xpt"),
        ]
    return written


def _datasets_or_refuse(
    cohort: Cohort, criteria: str, study_drug: str | None, studyid: str | None
) -> dict[str, pd.DataFrame]:
    """:func:`adam_datasets`, or a clear refusal naming the dates pandas cannot hold."""
    try:
        return adam_datasets(cohort, criteria, study_drug, studyid)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        late = dates_beyond_pandas(cohort)
        if not late:
            raise
        raise AdamExportError(
            "dates after 2262-04-11 cannot be exported as ADaM: "
            + "; ".join(late[:10])
            + (f"; and {len(late) - 10} more" if len(late) > 10 else "")
            + ". Correct them in the cohort"
        ) from None


def dates_beyond_pandas(cohort: Cohort) -> list[str]:
    """'file line N: column DATE (patient ID)' for each cohort date after 2262-04-11."""
    files = {s.table: s.file for s in cohort.report.summaries}
    engine = open_engine(cohort)
    found = []
    for table in TABLES:
        t = engine[table]
        for column in [c for c, kind in t.schema().items() if kind.is_date()]:
            late = t.filter(t[column] > dt.date(2262, 4, 11))
            rows = engine.backend.to_pyarrow(late.select("_line", "patient_id", column))
            found += [
                f"{files.get(table) or table} line {r['_line']}: {column} {r[column]} "
                f"(patient {r['patient_id']})"
                for r in sorted(rows.to_pylist(), key=lambda r: r["_line"])
            ]
    return found


XPT_MAX_CHARS = 200
_NOT_ASCII = r"[^\x00-\x7f]"


def xpt_problems(name: str, frame: pd.DataFrame) -> list[str]:
    """What SAS XPORT v5 cannot hold in one dataset: text over 200 characters, non-ASCII.

    Each names the dataset, the variable and the subject (USUBJID).
    """
    problems = []
    subjects = frame["USUBJID"] if "USUBJID" in frame else pd.Series("?", index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.where(values.map(lambda v: isinstance(v, str)))
        too_long = text.str.len().gt(XPT_MAX_CHARS)
        not_ascii = text.str.contains(_NOT_ASCII, regex=True, na=False)
        for i in frame.index[too_long | not_ascii]:
            value = str(text[i])
            why = []
            if not value.isascii():
                char = next(ch for ch in value if not ch.isascii())
                why.append(f"non-ASCII character {char!r}")
            if len(value) > XPT_MAX_CHARS:
                why.append(f"{len(value)} characters (at most {XPT_MAX_CHARS})")
            problems.append(
                f"{name.upper()} {column} of subject {subjects[i]}: {' and '.join(why)}"
            )
    return problems


def _write_csv(frame: pd.DataFrame, dates: list[str], path: Path) -> Path:
    csv = frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in dates})
    return outputs.write_csv(csv, path)  # spreadsheet-safe, atomic


def _write_parquet(frame: pd.DataFrame, dates: list[str], path: Path) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for c in dates:
        i = table.schema.get_field_index(c)
        table = table.set_column(i, c, table.column(c).cast(pa.timestamp("s")).cast(pa.date32()))
    pq.write_table(table, path)
    return path


def _write_xpt(frame: pd.DataFrame, dates: list[str], name: str, path: Path) -> Path:
    import pyreadstat

    xpt = frame.assign(**{c: frame[c].dt.date for c in dates})
    for c in xpt.columns:
        if xpt[c].dtype == object and c not in dates:
            xpt[c] = xpt[c].fillna("").astype(str)
    pyreadstat.write_xport(
        xpt,
        str(path),
        file_format_version=5,
        table_name=name.upper(),
        file_label=f"{name.upper()} itpcohort",
        column_labels=[LABELS.get(c, c)[:40] for c in xpt.columns],
        variable_format={c: "DATE9." for c in dates},
    )
    return path
