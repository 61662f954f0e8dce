"""One pipeline from a cohort to its endpoints, for every caller.

cohort -> criteria -> study drug -> engine -> timeline -> endpoints. The
``evaluate``, ``explain``, ``report`` and ``export adam`` commands, the Python
API and the study app all call :func:`run` and read what they need from the
one :class:`Evaluation` it returns: the day timeline, the episode stream and
the endpoints, each derived once from the same expressions.

Inside the engine patients are keyed by the cohort's integer ``_pid`` (joins
and sorts on integers, not text); every table that leaves an
:class:`Evaluation` carries the text ``patient_id`` again.

Out of core: DuckDB evaluates at most :data:`BATCH_PATIENTS` patients at a time.
A larger cohort (a national registry of ten million) is evaluated in batches
of consecutive keys, each within DuckDB's memory limit, and
:func:`write_endpoints_in_batches` writes the batches one after the other
without holding the whole endpoints table in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from itpcohort.cohort import Cohort, read_cohort
from itpcohort.cohort.progress import SILENT, Progress
from itpcohort.criteria import Criteria, load_criteria
from itpcohort.engines import EngineTables, open_engine
from itpcohort.errors import CohortDataError, EngineError, ItpCohortError
from itpcohort.response import derive as d
from itpcohort.response.endpoints import derive_endpoints
from itpcohort.response.table import (
    NULLABLE_DTYPES,
    normalise_endpoints,
    write_endpoint_batches,
)

#: day levels by name (rule 3)
LEVEL_NAMES = {d.NR: "NR", d.R: "R", d.CR: "CR"}
#: the episode stream's kinds of event by name (rules 4 and 5)
EVENT_NAMES = {d.ACHIEVEMENT: "response achieved", d.LOSS: "loss"}
_INPUTS = ("patients", "treatments", "labs", "bleeding")
#: patients DuckDB evaluates at a time (a million fit its default memory limit; the
#: windows of ten million at once did not, in 1.5 or 3 GB)
BATCH_PATIENTS = 1_000_000


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
        raise CohortDataError(f"several study drugs ({', '.join(drugs)}): name the one to evaluate")
    if not drugs:
        raise CohortDataError("no treatment period has role 'study': the cohort has no study drug")
    return drugs[0]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A cohort evaluated under one profile on one engine.

    The derivation is :attr:`timeline` (ibis expressions, keyed by ``_pid``);
    the DataFrames below are computed from it on first use, once each, with
    text patient IDs.
    """

    cohort: Cohort
    criteria: Criteria
    study_drug: str
    engine: str
    tables: EngineTables
    #: the input tables the timeline was derived from (keyed by ``_pid``)
    inputs: dict[str, ir.Table]
    timeline: d.Timeline

    @cached_property
    def endpoints(self) -> pd.DataFrame:
        """The per-patient endpoints table (``response/table.py``), in ``patient_id`` order."""
        frames = list(self.endpoint_batches())
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def endpoint_batches(self) -> Iterator[pd.DataFrame]:
        """The endpoints table in batches of consecutive patients, in ``patient_id`` order.

        One batch, unless DuckDB evaluates more than :data:`BATCH_PATIENTS` patients
        (see :attr:`batch_count`); concatenated, the batches are :attr:`endpoints`.
        """
        if "endpoints" in self.__dict__:  # derived already
            yield self.endpoints
            return
        for keys in self._key_ranges():
            timeline = self.timeline if keys is None else self._timeline_of(keys)
            expr = derive_endpoints(timeline, self.criteria)
            yield normalise_endpoints(self._frame(expr, ["patient_id"], keys))

    @cached_property
    def batch_count(self) -> int:
        """How many batches :meth:`endpoint_batches` yields."""
        return len(self._key_ranges())

    def _key_ranges(self) -> list[tuple[int, int] | None]:
        """The batches' ranges of keys (``_pid``, in ``patient_id`` order), or [None]: one."""
        if self.engine != "duckdb":
            return [None]
        keys = self.tables["patients"].select("_pid")
        largest = int(self.tables.backend.to_pyarrow(keys._pid.max()).as_py() or 0)
        if largest <= BATCH_PATIENTS:
            return [None]
        return [
            (low, min(low + BATCH_PATIENTS - 1, largest))
            for low in range(1, largest + 1, BATCH_PATIENTS)
        ]

    def _timeline_of(self, keys: tuple[int, int]) -> d.Timeline:
        """The timeline of the patients whose key is in ``keys`` (both ends included)."""
        # the inputs carry the key ``_pid`` as their ``patient_id`` (EngineTables.keyed)
        part = {name: t.filter(t.patient_id.between(*keys)) for name, t in self.inputs.items()}
        return d.derive_timeline(
            part["patients"],
            part["treatments"],
            part["labs"],
            part["bleeding"],
            self.criteria,
            self.study_drug,
            reuse=self.tables.reuse,
        )

    @cached_property
    def days(self) -> pd.DataFrame:
        """Every day after the start with a count or a bleeding (rules 2-5).

        ``value`` (lowest count), ``washed`` (in a rescue washout), ``bleeding``
        (highest WHO grade counted), ``level`` (``NR``/``R``/``CR``; empty when not
        evaluable), ``evaluable``, and the confirmation flags ``r_confirmed``,
        ``cr_confirmed`` and ``loss_confirmed`` of the evaluable days.
        """
        tl = self.timeline
        flags = tl.confirmations.select(
            "patient_id", "date", "r_confirmed", "cr_confirmed", "loss_confirmed"
        )
        days = tl.days.left_join(flags, ["patient_id", "date"]).drop(
            "patient_id_right", "date_right"
        )
        frame = self._frame(days, ["patient_id", "date"])
        frame["evaluable"] = frame["level"].notna()  # rule 2; no baseline: nothing is
        frame["level"] = frame["level"].map(LEVEL_NAMES).astype("string")
        return frame.drop(columns="end_date")

    @cached_property
    def baseline(self) -> pd.DataFrame:
        """Rule 1: ``baseline_date`` and ``baseline_platelets`` of patients that have one."""
        return self._frame(self.timeline.baseline, ["patient_id"])

    @cached_property
    def events(self) -> pd.DataFrame:
        """Rules 4 and 5: the alternating stream of achievements and losses (``event``)."""
        frame = self._frame(self.timeline.events, ["patient_id", "date", "kind"])
        frame["event"] = frame["kind"].map(EVENT_NAMES).astype("string")
        return frame

    @cached_property
    def periods(self) -> pd.DataFrame:
        """The study drug's periods and every rescue period, in start order."""
        t = self.inputs["treatments"]
        t = t.filter((t.role == "rescue") | ((t.role == "study") & (t.drug == self.study_drug)))
        return self._frame(t.drop("_line"), ["patient_id", "start_date"])

    def _frame(
        self, expr: ir.Table, order: list[str], keys: tuple[int, int] | None = None
    ) -> pd.DataFrame:
        """``expr`` as a DataFrame with text patient IDs, ordered by ``order``
        (``keys``: the range of keys ``expr`` holds, when a batch)."""
        ids = self.tables["patients"].select(_key="_pid", _text="patient_id")
        if keys is not None:
            ids = ids.filter(ids._key.between(*keys))
        expr = (
            expr.join(ids, expr.patient_id == ids._key)
            .mutate(patient_id=ids._text)
            .drop("_key", "_text")
            .order_by(order)
        )
        try:
            # through Arrow: ibis's own pandas conversion costs seconds on a million rows
            return self.tables.backend.to_pyarrow(expr).to_pandas(
                date_as_object=False, types_mapper=NULLABLE_DTYPES.get
            )
        except ItpCohortError:
            raise
        except Exception as exc:  # engines raise their own exception types
            raise EngineError(f"the {self.engine} engine failed while evaluating: {exc}") from exc


def run(
    cohort: Cohort | str | Path,
    criteria: str | Path | Criteria = "iwg2009",
    engine: str = "duckdb",
    *,
    study_drug: str | None = None,
    master: str | None = None,
    patient_ids: Iterable[str] | None = None,
) -> Evaluation:
    """Evaluate a cohort: the one entry point from a cohort to its endpoints.

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
    patient_ids
        Evaluate only these patients (``explain`` asks for one).
    """
    if not isinstance(cohort, Cohort):
        cohort = read_cohort(cohort)
    settings = load_criteria(criteria)
    drug = study_drug_of(cohort, study_drug)
    tables = open_engine(cohort, engine, master)
    keyed = {name: tables.keyed(name) for name in _INPUTS}
    if patient_ids is not None:
        keys = _keys_of(tables, list(patient_ids))
        keyed = {name: t.filter(t.patient_id.isin(keys)) for name, t in keyed.items()}
    timeline = d.derive_timeline(
        keyed["patients"],
        keyed["treatments"],
        keyed["labs"],
        keyed["bleeding"],
        settings,
        drug,
        reuse=tables.reuse,
    )
    return Evaluation(cohort, settings, drug, engine, tables, keyed, timeline)


def _keys_of(tables: EngineTables, patient_ids: list[str]) -> list[int]:
    patients = tables["patients"]
    found = patients.filter(patients.patient_id.isin(patient_ids)).select("_pid")
    column: Any = tables.backend.to_pyarrow(found).column("_pid")
    return [int(k) for k in column.to_pylist()]


def evaluate(
    cohort: Cohort | str | Path,
    criteria: str | Path | Criteria = "iwg2009",
    engine: str = "duckdb",
    *,
    study_drug: str | None = None,
    master: str | None = None,
) -> pd.DataFrame:
    """Per-patient response endpoints (``shared/spec/response-criteria.md``).

    The same arguments as :func:`run`; returns ``run(...).endpoints``: one row
    per enrolled patient in ``patient_id`` order, with the columns of
    :data:`itpcohort.ENDPOINT_COLUMNS`.

    Examples
    --------
    >>> import itpcohort
    >>> cohort = itpcohort.read_cohort("examples/tacrolimus-mini")
    >>> itpcohort.evaluate(cohort)["best_response"].tolist()  # doctest: +SKIP
    ['CR', 'R', 'NR', ...]
    """
    return run(cohort, criteria, engine, study_drug=study_drug, master=master).endpoints


def write_endpoints_in_batches(
    evaluation: Evaluation, path: str | Path, progress: Progress = SILENT
) -> Counter[str]:
    """Write ``evaluation``'s endpoints to ``path`` (CSV or Parquet) a batch at a time.

    The same file as ``write_endpoints(evaluation.endpoints, path)`` without holding
    more than one batch of endpoints in memory; ``progress`` is told the patients
    written after each batch, and how far the whole is while a batch is evaluated.
    Returns the count of patients by best response.
    """
    counts: Counter[str] = Counter()
    batches, engine, done = evaluation.batch_count, evaluation.tables.fraction, 0

    def fraction() -> float | None:
        share = engine() if engine is not None else None
        return None if share is None else (done + share) / batches

    def counted(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        nonlocal done
        for frame in frames:
            counts.update(frame["best_response"].astype(str))
            progress.done(sum(counts.values()))
            yield frame
            done += 1

    progress.watch(fraction)
    try:
        write_endpoint_batches(counted(evaluation.endpoint_batches()), path)
    finally:
        progress.watch(None)
    return counts
