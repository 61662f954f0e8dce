"""Exporting a live REDCap project through its API (PyCap), in batches of records.

The token comes from the caller (the CLI reads ``$REDCAP_API_TOKEN``; it is
never taken from the command line). The data dictionary and the records are
exported raw (coded) and flat, ``batch_size`` records per call; rows exported
twice across batches are dropped by the importer and counted in the
reconciliation.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from itpcohort.importers.common import MappingError


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
