"""Writing outputs safely: never over an input, never half a file, safe to open.

- **Inputs are never overwritten.** :func:`check_output` refuses a path that is,
  or would replace, a file inside the cohort folder being read.
- **Atomic.** :func:`atomic_path` yields a temporary file beside the target and
  moves it into place only when writing succeeded, so an interrupted run never
  leaves half a file.
- **Spreadsheet-safe cells.** A text cell starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is read as a formula by spreadsheet
  programs (CSV injection). :func:`safe_cell` prefixes such a cell with a single
  quote, as OWASP recommends; numbers (``-5``, ``+3.2``, ``1e-3``) and cells of
  numeric columns are left as they are.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from itpcohort.errors import OutputError

#: first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are spreadsheet-safe."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out[column] = values.map(safe_cell, na_action="ignore")
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_output(
    path: str | Path, inputs: Iterable[str | Path] = (), *, folder: bool = False
) -> Path:
    """``path`` if an output may be written there; else :class:`OutputError` saying why.

    ``inputs`` are the folders (or files) being read: a file inside one of them
    is never replaced, and an output folder is never one of them. A file output
    must not be an existing folder; a folder output must not be a file.
    """
    target = Path(path)
    for source in map(Path, inputs):
        if folder and target.resolve() == source.resolve():
            raise OutputError(f"'{target}' is the input folder: write the outputs elsewhere")
        if not folder and target.exists() and _inside(target, source):
            raise OutputError(
                f"'{target}' is inside the input folder {source} and would replace a file there: "
                "write the output elsewhere"
            )
    if folder and target.exists() and not target.is_dir():
        raise OutputError(f"'{target}' is a file, not a folder: name a folder for the outputs")
    if not folder and target.is_dir():
        raise OutputError(f"'{target}' is a folder: name a file to write")
    return target


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved onto it when the block ends without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def line_end(frame: pd.DataFrame) -> str:
    """The line end a CSV of ``frame`` needs: ``\n``, or ``\r\n`` when a text cell holds a
    carriage return (Python 3.11's csv module quotes a cell only for the characters of
    its line end, and a reader breaks a row at a bare ``\r``)."""
    texts = [
        frame.iloc[:, i]
        for i, dtype in enumerate(frame.dtypes)
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)
    ]
    has_cr = any(v.map(lambda c: isinstance(c, str) and "\r" in c).any() for v in texts)
    return "\r\n" if has_cr else "\n"


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a spreadsheet-safe CSV atomically (empty cells for missing values)."""
    safe = safe_frame(frame)
    with atomic_path(path) as temporary:
        safe.to_csv(temporary, index=False, na_rep="", lineterminator=line_end(safe))
    return Path(path)
