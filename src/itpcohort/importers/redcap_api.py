"""Exporting a live REDCap project through its API (PyCap), in batches of records.

The token comes from the environment (``$REDCAP_API_TOKEN``, see
:func:`token_from_environment`), never from the command line. The data
dictionary and the records are exported raw (coded) and flat, ``batch_size``
records per call; rows exported twice across batches are dropped by the
importer and counted in the reconciliation.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from itpcohort.importers.common import MappingError, Reconciliation

#: the environment variable that holds the project's API token
TOKEN_VARIABLE = "REDCAP_API_TOKEN"


def token_from_environment() -> str:
    """The API token from ``$REDCAP_API_TOKEN`` (a token on a command line leaks into logs)."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise MappingError(
            f"set {TOKEN_VARIABLE} to the project's API token (never put it on the command line)"
        )
    return token


def export_project(
    url: str, token: str, *, batch_size: int = 100, workdir: Path | None = None
) -> tuple[pd.DataFrame, Path]:
    """(records as a DataFrame of strings, path of the exported data dictionary CSV)."""
    try:
        from redcap import Project
        from redcap.request import RedcapError
    except ImportError:
        raise MappingError("the REDCap API needs PyCap: pip install 'itpcohort[redcap]'") from None
    try:
        project = Project(url, token)
        dictionary_csv = project.export_metadata(format_type="csv")
        ids_frame = pd.read_csv(
            io.StringIO(project.export_records(format_type="csv", fields=[project.def_field])),
            dtype=str,
            keep_default_na=False,
        )
        ids = list(dict.fromkeys(ids_frame[project.def_field]))
        parts = []
        for start in range(0, len(ids), max(1, batch_size)):
            batch = ids[start : start + batch_size]
            text = project.export_records(format_type="csv", records=batch, raw_or_label="raw")
            parts.append(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False))
    except (RedcapError, OSError, ValueError, AssertionError) as exc:
        raise MappingError(f"REDCap API at {url}: {exc}") from None
    folder = workdir or Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    dictionary = folder / "redcap-dictionary.csv"
    dictionary.write_text(dictionary_csv, encoding="utf-8")
    records = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return records, dictionary


def import_redcap_api(
    url: str, mapping: str | Path | None, output: str | Path, *, batch_size: int = 100
) -> Reconciliation:
    """A live project (token from :func:`token_from_environment`) into a cohort folder."""
    from itpcohort.importers.redcap import import_redcap

    target = Path(output)
    records, dictionary = export_project(
        url, token_from_environment(), batch_size=batch_size, workdir=target.parent
    )
    return import_redcap(records, dictionary, mapping, target)
