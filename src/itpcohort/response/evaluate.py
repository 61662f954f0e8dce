"""Evaluating a cohort: the endpoints table as a pandas DataFrame, and writing it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.criteria import Criteria, load_criteria
from itpcohort.engines import open_engine
from itpcohort.errors import CohortDataError, EngineError, ItpCohortError
from itpcohort.response.derive import derive_endpoints

#: the per-patient endpoints table, in the spec's column order
ENDPOINT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "start_date",
    "end_date",
    "baseline_platelets",
    "best_response",
    "response_date",
    "days_to_response",
    "cr_date",
    "days_to_cr",
    "loss_date",
    "loss_phase",
    "response_duration_days",
    "response_duration_censored",
    "sustained_off_treatment",
    "treatment_days",
)
DATE_COLUMNS = ("start_date", "end_date", "response_date", "cr_date", "loss_date")
DAY_COLUMNS = ("days_to_response", "days_to_cr", "response_duration_days", "treatment_days")


def study_drug_of(cohort: Cohort, study_drug: str | None = None) -> str:
    """The study drug: the one drug with role ``study``, or the one named."""
    drugs = cohort.study_drugs
    if study_drug is not None:
        name = study_drug.strip().lower()
        if name not in drugs:
            raise CohortDataError(
                f"study drug '{study_drug}' has no periods with role 'study' in treatments; "
                f"study drugs found: {', '.join(drugs) or 'none'}"
            )
        return name
    if len(drugs) > 1:
        raise CohortDataError(
            f"several study drugs ({', '.join(drugs)}): name one with --study-drug "
            "(Python: study_drug=...)"
        )
    if not drugs:
        raise CohortDataError("no treatment period has role 'study': the cohort has no study drug")
    return drugs[0]


def evaluate(
    cohort: Cohort | str | Path,
    criteria: str | Path | Criteria = "iwg2009",
    engine: str = "duckdb",
    *,
    study_drug: str | None = None,
    master: str | None = None,
) -> pd.DataFrame:
    """Per-patient response endpoints (``shared/spec/response-criteria.md``).

    Parameters
    ----------
    cohort
        A :class:`Cohort` from :func:`read_cohort`, or a cohort folder's path.
    criteria
        A profile name (``iwg2009``, ``iwg2009-or``, ``platelet50``), a TOML
        profile path, or a :class:`Criteria`.
    engine
        ``duckdb`` (embedded, default) or ``spark``.
    study_drug
        Needed only when the cohort has several drugs with role ``study``.
    master
        Spark master URL (default: local mode).

    Returns
    -------
    pandas.DataFrame
        One row per enrolled patient in ``patient_id`` order, with the columns
        of :data:`ENDPOINT_COLUMNS`.

    Examples
    --------
    >>> import itpcohort
    >>> cohort = itpcohort.read_cohort("examples/tacrolimus-mini")
    >>> itpcohort.evaluate(cohort)["best_response"].tolist()  # doctest: +SKIP
    ['CR', 'R', 'NR', ...]
    """
    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    settings = load_criteria(criteria)
    drug = study_drug_of(cohort, study_drug)
    tables = open_engine(cohort, engine, master)
    # the derivations run on the integer key _pid (faster joins and sorts than text IDs)
    keyed = {name: tables.keyed(name) for name in ("patients", "treatments", "labs", "bleeding")}
    endpoints = derive_endpoints(
        keyed["patients"], keyed["treatments"], keyed["labs"], keyed["bleeding"], settings, drug
    )
    ids = tables["patients"].select(key="_pid", text_id="patient_id")
    expr = (
        endpoints.join(ids, endpoints.patient_id == ids.key)
        .mutate(patient_id=ids.text_id)
        .drop("key", "text_id")
        .order_by("patient_id")
    )
    try:
        # through Arrow: ibis's own pandas conversion costs seconds on a million rows
        frame = tables.backend.to_pyarrow(expr).to_pandas(
            date_as_object=False, types_mapper=_NULLABLE.get
        )
    except ItpCohortError:
        raise
    except Exception as exc:  # engines raise their own exception types
        raise EngineError(f"the {engine} engine failed while evaluating: {exc}") from exc
    return normalise_endpoints(frame)


#: Arrow types to pandas' nullable dtypes, straight (no conversion pass per column)
_NULLABLE = {
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
}


def normalise_endpoints(frame: pd.DataFrame) -> pd.DataFrame:
    """One set of dtypes whatever the engine: dates, nullable ints and booleans."""
    out = pd.DataFrame({"patient_id": frame["patient_id"].astype("string")})
    for col in ENDPOINT_COLUMNS[1:]:
        values = frame[col]
        if col in DATE_COLUMNS:
            out[col] = pd.to_datetime(values).astype("datetime64[s]")
        elif col in DAY_COLUMNS:
            out[col] = values.astype("Int64")
        elif col == "baseline_platelets":
            out[col] = values.astype("float64")
        elif col == "response_duration_censored":
            out[col] = values.astype("boolean")
        elif col == "sustained_off_treatment":
            out[col] = values.astype("bool")
        else:
            out[col] = values.astype("string")
    if not out["patient_id"].is_monotonic_increasing:
        out = out.sort_values("patient_id", kind="stable")
    return out.reset_index(drop=True)


def _csv_frame(endpoints: pd.DataFrame) -> pd.DataFrame:
    out = endpoints.copy()
    for col in DATE_COLUMNS:
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    for col in ("response_duration_censored", "sustained_off_treatment"):
        out[col] = out[col].map({True: "true", False: "false"}).astype("string")
    return out


def write_endpoints(endpoints: pd.DataFrame, path: str | Path) -> Path:
    """Write the endpoints table as CSV (ISO dates, true/false, empty = missing) or Parquet."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        _csv_frame(endpoints).to_csv(target, index=False, na_rep="")
    elif suffix == ".parquet":
        table = pa.Table.from_pandas(endpoints, preserve_index=False)
        table = table.set_column(0, "patient_id", table.column("patient_id").cast(pa.string()))
        for col in DATE_COLUMNS:
            i = table.schema.get_field_index(col)
            table = table.set_column(i, col, table.column(col).cast(pa.date32()))
        pq.write_table(table, target)
    else:
        raise EngineError(f"cannot write '{target.name}': the output must end in .csv or .parquet")
    return target
