"""The response engine inside the study app: the one pipeline on the database, cached.

The app never judges response with rules of its own. :func:`snapshot` writes the
study's live tables as a cohort folder exactly as ``itpcohort study export``
does (:func:`itpcohort.study.exchange.export_cohort`), reads it with the cohort
reader and evaluates it with :func:`itpcohort.pipeline.run` under the study's
criteria and study drug (``StudySettings``): the numbers on the dashboard are
those of ``itpcohort evaluate`` on the export.

**Data version.** Every audited change appends a link to the hash chain
(:class:`~itpcohort.study.models.AuditLink`); the data version is the highest
link ``seq`` among the tables the evaluation reads (patients and their records,
sites, the study's settings), 0 for an empty study. Links of other tables
(logins, queries, alerts, signatures) do not change any result, so they do not
make the results stale.

**Cache.** A :class:`Snapshot` is stamped with the version it was computed
from. It is kept in the process and on disk under the data folder
(``$ITPCOHORT_STUDY_DATA/monitoring/<version>/``: the cohort folder read, the
frames as pandas pickles, exact to the dtype, ``meta.json``; the data folder is the
app's own, like its signing key), so gunicorn's workers share it. When the
version has moved, the next :func:`snapshot` recomputes, under a file lock so
two workers never compute the same version twice; older folders are removed
(the last :data:`KEEP` stay, for pages still reading them). A page shows
:func:`staleness` whenever the snapshot it shows is not current: it never
shows stale status without saying so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from itpcohort.errors import ItpCohortError

#: the frames of a snapshot, written as pickles (``tables/`` holds the cohort's own)
FRAMES = ("endpoints", "events", "days", "periods", "baseline")
#: the cohort's tables the dashboard's figures read (platelet counts only of ``labs``)
COHORT_TABLES = ("patients", "treatments", "platelets", "bleeding", "adverse_events")
#: snapshot folders kept on disk (the newest ones)
KEEP = 2
#: the tracked tables whose changes move the data version (models' names)
INPUT_MODELS = ("patient", "treatment", "lab", "bleeding", "adverseevent", "site", "studysettings")

log = logging.getLogger(__name__)
_lock = threading.Lock()
_memory: dict[str, Snapshot] = {}


class MonitoringError(ItpCohortError):
    """The study's data could not be evaluated (the message says why and what to do)."""


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The study evaluated by the one pipeline at one data version.

    ``endpoints`` is exactly ``itpcohort.pipeline.run(...).endpoints`` on the
    export; ``events``, ``days``, ``periods`` and ``baseline`` are the
    Evaluation's frames; ``flow`` counts screened, excluded (by reason),
    enrolled, started, evaluable and responders (the report's flow).
    """

    version: int
    computed_at: dt.datetime
    folder: Path
    endpoints: pd.DataFrame
    events: pd.DataFrame
    days: pd.DataFrame
    periods: pd.DataFrame
    baseline: pd.DataFrame
    flow: dict[str, int]
    criteria: str
    study_drug: str
    #: how long the export and the evaluation took (seconds)
    seconds: dict[str, float] = field(default_factory=dict)
    #: the hash of the audit link at ``version``: the same number in another history
    #: (a database restored from a backup, another database) is another version
    link: str = ""
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _rows: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def cohort_folder(self) -> Path:
        """The cohort folder the evaluation read (as ``itpcohort study export`` writes it)."""
        return self.folder / "cohort"

    def table(self, name: str) -> pd.DataFrame:
        """One of the cohort's clean tables as the reader typed them (:data:`COHORT_TABLES`)."""
        if name not in COHORT_TABLES:
            raise KeyError(f"no table '{name}' in a snapshot: one of {', '.join(COHORT_TABLES)}")
        if name not in self._tables:
            self._tables[name] = pd.read_pickle(self.folder / "tables" / f"{name}.pkl")
        return self._tables[name]

    def status(self, patient_id: str) -> dict[str, Any] | None:
        """The patient's endpoints row as plain values, plus ``status`` now: ``lost`` for a
        responder whose response was lost (``loss_date``), else the best response.
        None for a patient not enrolled (or not in the study at this version)."""
        if not self._rows:  # where each patient's row is (rows are converted when asked)
            self._rows.update(
                {str(p): {"at": i} for i, p in enumerate(self.endpoints["patient_id"])}
            )
        found = self._rows.get(patient_id)
        if found is None:
            return None
        if "row" not in found:
            values = self.endpoints.iloc[found["at"]].to_dict()
            found["row"] = {k: _plain(v) for k, v in values.items()}
        return {**found["row"], "status": status_of(found["row"])}


def status_of(row: dict[str, Any]) -> str:
    """``lost`` when a loss date is set, else the best response (CR, R, NR, NE)."""
    return "lost" if row.get("loss_date") is not None else str(row["best_response"])


def _plain(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if hasattr(value, "item") else value


# -- the data version ---------------------------------------------------------------------
def _input_tables() -> list[str]:
    """The event tables (pghistory) of the tracked models the evaluation reads."""
    import pghistory.models
    from django.apps import apps

    return sorted(
        m._meta.db_table
        for m in apps.get_app_config("study").get_models()
        if issubclass(m, pghistory.models.Event)
        and m.pgh_tracked_model._meta.model_name in INPUT_MODELS
    )


def data_head() -> tuple[int, str]:
    """The highest audit link of the tables the evaluation reads, and its hash ((0, "")
    when none): what a snapshot is stamped with."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, hash FROM study_auditlink WHERE table_name = ANY(%s) "
            "ORDER BY seq DESC LIMIT 1",
            [_input_tables()],
        )
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def data_version() -> int:
    """The highest audit link of the tables the evaluation reads (0 when none)."""
    return data_head()[0]


def _stamp(s: Snapshot) -> tuple[int, str]:
    return s.version, s.link


def is_current(s: Snapshot) -> bool:
    """Whether nothing the evaluation reads has changed since ``s`` was computed."""
    return _stamp(s) == data_head()


def staleness(s: Snapshot) -> str | None:
    """What a page must say when ``s`` is not current (None when it is)."""
    head = data_head()
    if _stamp(s) == head:
        return None
    now = head[0]
    return (
        f"computed from data version {s.version}; the data changed since "
        f"(now version {now}): the results shown may be out of date"
    )


# -- the cache ----------------------------------------------------------------------------
def root() -> Path:
    """Where snapshots are kept: ``monitoring/`` in the study's data folder."""
    from django.conf import settings

    folder = Path(getattr(settings, "DATA_DIR", os.environ.get("ITPCOHORT_STUDY_DATA", ".")))
    return folder / "monitoring"


def snapshot(*, refresh: bool = False) -> Snapshot:
    """The study evaluated at the current data version: from memory, from disk, or computed.

    ``refresh`` computes again even when nothing changed. Raises
    :class:`MonitoringError` when the study cannot be evaluated; :func:`latest`
    then gives the last snapshot to show, with :func:`staleness`.
    """
    asked = dt.datetime.now(dt.UTC)
    head = data_head()
    key = str(root())
    held = _memory.get(key)
    if held is not None and _stamp(held) == head and not refresh:
        return held
    computed = False
    with _lock, _file_lock(root() / ".lock"):
        head = data_head()
        found = _load(root() / str(head[0]))
        if found is not None and _stamp(found) != head:
            found = None  # the same number in another history: never its results
        if found is not None and refresh and found.computed_at < asked:
            found = None  # computed again, unless another worker just did while we waited
        if found is None:
            found, computed = _compute(root()), True
        _memory[key] = found
        _clean_up(root())
    if computed:
        _after_evaluation(found)
    return found


def _after_evaluation(s: Snapshot) -> None:
    """Once per new snapshot: the loss alerts of its event stream (``alerts.py``)."""
    try:
        from itpcohort.study import alerts
    except ImportError:  # pragma: no cover - the alerts' module is part of the app
        return
    hook = getattr(alerts, "after_evaluation", None)
    if hook is not None:
        hook(s)


def latest() -> Snapshot | None:
    """The newest snapshot there is (in memory or on disk), current or not; never computes."""
    held = _memory.get(str(root()))
    folders = _versions(root())
    if held is not None and (not folders or folders[-1][0] <= held.version):
        return held
    for _, folder in reversed(folders):
        found = _load(folder)
        if found is not None:
            return found
    return held


def at_version(version: int) -> Snapshot | None:
    """The snapshot of that data version if it is still kept (in memory or on disk)."""
    held = _memory.get(str(root()))
    if held is not None and held.version == version:
        return held
    return _load(root() / str(version))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions(base: Path) -> list[tuple[int, Path]]:
    if not base.is_dir():
        return []
    found = [(int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(found)


def _clean_up(base: Path) -> None:
    for _, folder in _versions(base)[:-KEEP]:
        shutil.rmtree(folder, ignore_errors=True)
    for folder in base.glob(".computing-*"):
        if folder.is_dir() and not _alive(folder.name.rsplit("-", 1)[-1]):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()


def _load(folder: Path) -> Snapshot | None:
    """The snapshot kept in ``folder``; None when there is none (or it went meanwhile)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        frames = {name: pd.read_pickle(folder / f"{name}.pkl") for name in FRAMES}
    except (OSError, ValueError, EOFError):  # not there, or removed by a newer version
        return None
    return Snapshot(
        version=int(meta["version"]),
        computed_at=dt.datetime.fromisoformat(meta["computed_at"]),
        folder=folder,
        flow={str(k): int(v) for k, v in meta["flow"].items()},
        criteria=str(meta["criteria"]),
        study_drug=str(meta["study_drug"]),
        seconds=dict(meta.get("seconds", {})),
        link=str(meta.get("link", "")),
        **frames,
    )


# -- computing ----------------------------------------------------------------------------
def _compute(base: Path) -> Snapshot:
    """Export, read, evaluate; write the snapshot's folder atomically; load it."""
    work = base / f".computing-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        started = time.perf_counter()
        (version, link), criteria, drug = _export(work / "cohort")
        exported = time.perf_counter()
        meta = _evaluate(work, criteria, drug)
        meta.update(version=version, link=link, computed_at=dt.datetime.now(dt.UTC).isoformat())
        meta["seconds"] = {
            "export": round(exported - started, 3),
            "evaluate": round(time.perf_counter() - exported, 3),
        }
        (work / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        target = base / str(version)
        if target.exists():  # a refresh of the same version: the new one replaces it
            old = base / f".computing-old-{os.getpid()}"
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        work.rename(target)
    except ItpCohortError as error:
        raise MonitoringError(f"the study could not be evaluated: {error}") from error
    except Exception as error:  # an engine's or a file system's own exception
        log.exception("evaluating the study failed")
        raise MonitoringError(
            f"the study could not be evaluated ({type(error).__name__}: {error}); "
            "the server's log has the details"
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = _load(target)
    assert found is not None
    return found


def _export(folder: Path) -> tuple[tuple[int, str], str, str | None]:
    """The version (and its link's hash), the study's criteria and study drug, and its
    tables as a cohort folder, read in one consistent view of the database (a
    repeatable-read transaction)."""
    from django.db import connection, transaction

    from itpcohort.study.exchange import export_cohort
    from itpcohort.study.models import StudySettings

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # the transaction's first statement (inside a test's: its view)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        settings = StudySettings.current()  # made on first use: a change of its own
        head = data_head()
        export_cohort(folder)
    return head, settings.criteria or "iwg2009", (settings.study_drug or "").strip() or None


def _evaluate(work: Path, criteria: str, drug: str | None) -> dict[str, Any]:
    """The one pipeline on the exported folder; the frames written as pickles."""
    from itpcohort.cohort import read_cohort
    from itpcohort.pipeline import run
    from itpcohort.statistics.analysis import patient_flow

    if not (work / "cohort" / "patients.csv").read_text(encoding="utf-8").strip().count("\n"):
        raise ItpCohortError("the study has no patients yet: nothing to evaluate")
    with read_cohort(work / "cohort") as cohort:
        evaluation = run(cohort, criteria, study_drug=drug)
        frames = {name: getattr(evaluation, name) for name in FRAMES}
        labs = cohort.labs
        tables = {
            "patients": cohort.patients,
            "treatments": cohort.treatments,
            "platelets": labs[labs["test"] == "platelets"].reset_index(drop=True),
            "bleeding": cohort.bleeding,
            "adverse_events": cohort.adverse_events,
        }
        name, study_drug = evaluation.criteria.name, evaluation.study_drug
    for key, frame in frames.items():
        frame.to_pickle(work / f"{key}.pkl")
    (work / "tables").mkdir()
    for key, frame in tables.items():
        frame.to_pickle(work / "tables" / f"{key}.pkl")
    flow = patient_flow(tables["patients"], frames["endpoints"])
    return {
        "flow": {row.step: int(row.n) for row in flow.itertuples()},
        "criteria": name,
        "study_drug": study_drug,
    }
