"""Reference ranges (lower and upper limits of normal) per test, sex and site.

A reference-range file is a CSV with the columns ``test``, ``sex``, ``site``,
``lln``, ``uln``, ``unit`` and ``source``. ``sex`` is ``F``, ``M`` or ``*``
(any); ``site`` is a site name as in ``patients.site`` or ``*`` (any). Limits
are in the test's canonical unit (``cohort/units.py``); either may be empty
when a laboratory gives only one. For a value, the most specific row wins:
site and sex, then site, then sex, then neither.

The shipped defaults (``reference_ranges.csv``) are adult intervals with their
sources: platelets 150-400 and haemoglobin (F 115-155, M 135-175 g/L) from
Essential Haematology; neutrophils 2.0-7.5 x10^9/L; creatinine (F 45-90,
M 60-110 umol/L), potassium 3.5-5.2 and magnesium 0.7-1.1 mmol/L from the
AACB harmonised (Australasian) intervals; ALT (F 8-41, M 9-59 U/L) and AST
(11-34 U/L) from the IFCC multicentre study (Ceriotti 2010). They are a
starting point: a study should use its own laboratories' ranges
(``itpcohort grade --reference-ranges FILE.csv``). Creatinine, haemoglobin
and ALT have no ``*`` (any sex) default on purpose: a patient whose sex is
not ``F`` or ``M`` gets no grade that needs the limit, with a message, rather
than a guess.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from itpcohort.cohort import units
from itpcohort.safety.ctcae import GradingDataError

COLUMNS = ("test", "sex", "site", "lln", "uln", "unit", "source")
DEFAULT_FILE = "reference_ranges.csv"
ANY = "*"


@dataclass(frozen=True)
class ReferenceRanges:
    """Checked reference ranges: ``table`` has one row per (test, sex, site)."""

    table: pd.DataFrame
    source: str

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (``test``, ``sex``, ``site``) with ``lln``, ``uln`` and ``range_key``.

        ``range_key`` names the row used (``creatinine F *``); empty when no row fits.
        """
        out = frame.copy()
        sex_text = out["sex"].fillna("").astype(str)
        sex = sex_text.map({s: s.strip().upper()[:1] for s in sex_text.unique()}).to_numpy(object)
        site = out["site"].fillna("").astype(str).str.strip().to_numpy(object)
        tests = out["test"].to_numpy(object)
        of_test = {t: tests == t for t in self.table["test"].unique()}
        lln, uln = np.full(len(out), np.nan), np.full(len(out), np.nan)
        key = np.full(len(out), "", dtype=object)
        ranges = self.table
        # least specific first: a more specific row overwrites
        for want_sex, want_site in ((False, False), (True, False), (False, True), (True, True)):
            rows = ranges[
                ((ranges["sex"] != ANY) == want_sex) & ((ranges["site"] != ANY) == want_site)
            ]
            for r in rows.itertuples(index=False):
                hit = of_test[r.test].copy()
                if want_sex:
                    hit &= sex == r.sex
                if want_site:
                    hit &= site == r.site
                lln[hit], uln[hit], key[hit] = r.lln, r.uln, f"{r.test} {r.sex} {r.site}"
        out["lln"], out["uln"], out["range_key"] = lln, uln, key
        return out


def load_reference_ranges(path: str | Path | None = None) -> ReferenceRanges:
    """Read and check a reference-range file; the shipped defaults when ``path`` is None.

    Raises :class:`GradingDataError` listing every problem (line and column).
    """
    if path is None:
        resource = resources.files("itpcohort.safety") / DEFAULT_FILE
        text, source = resource.read_text(encoding="utf-8"), DEFAULT_FILE
    else:
        file = Path(path)
        if not file.is_file():
            raise GradingDataError(f"reference range file {file} does not exist")
        text, source = file.read_text(encoding="utf-8-sig"), str(file)
    records = list(csv.DictReader(text.splitlines()))
    missing = [c for c in COLUMNS[:6] if not records or c not in records[0]]
    if missing:
        raise GradingDataError(
            f"{source}: a reference-range file needs the columns {', '.join(COLUMNS)}"
            + (f"; missing: {', '.join(missing)}" if records else "; it has no rows")
        )
    return _checked(records, source)


def reference_ranges(rows: list[dict[str, object]], source: str = "given") -> ReferenceRanges:
    """Reference ranges from Python rows: ``test``, ``lln``, ``uln``, ``unit`` and
    optionally ``sex``, ``site`` (default ``*``) and ``source``; checked like a file."""
    records = [{k: "" if row.get(k) is None else str(row.get(k)) for k in COLUMNS} for row in rows]
    return _checked(records, source)


def _checked(records: list[dict[str, str]], source: str) -> ReferenceRanges:
    problems: list[str] = []
    rows = [_row(rec, f"{source}:{line}", problems) for line, rec in enumerate(records, start=2)]
    keys = [(r["test"], r["sex"], r["site"]) for r in rows]
    problems += [
        f"{source}: more than one row for test {k[0]}, sex {k[1]}, site {k[2]}"
        for k in dict.fromkeys(k for k in keys if keys.count(k) > 1)
    ]
    if problems:
        raise GradingDataError(
            f"{len(problems)} problem(s) in the reference ranges:\n  " + "\n  ".join(problems)
        )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table[["lln", "uln"]] = table[["lln", "uln"]].astype(float)
    return ReferenceRanges(table, source)


def _row(record: dict[str, str], where: str, problems: list[str]) -> dict[str, object]:
    cell = {k: (record.get(k) or "").strip() for k in COLUMNS}
    cell["sex"] = (cell["sex"] or ANY).upper()
    cell["site"] = cell["site"] or ANY
    found = []
    if cell["test"] not in units.TESTS:
        found.append(f"test '{cell['test']}' is not a known test")
    elif cell["unit"] != units.TESTS[cell["test"]][0]:
        found.append(
            f"limits must be in the canonical unit '{units.TESTS[cell['test']][0]}' "
            f"of {cell['test']}, not '{cell['unit']}'"
        )
    if cell["sex"] not in ("F", "M", ANY):
        found.append(f"sex '{cell['sex']}' is not F, M or * (any)")
    limits: dict[str, float | None] = {}
    for name in ("lln", "uln"):
        try:
            limits[name] = float(cell[name]) if cell[name] else None
        except ValueError:
            found.append(f"{name} '{cell[name]}' is not a number")
            limits[name] = None
    lln, uln = limits["lln"], limits["uln"]
    if lln is None and uln is None and not found:
        found.append("lln and uln are both empty")
    if lln is not None and uln is not None and not 0 <= lln < uln:
        found.append(f"lln {lln:g} must be at least 0 and below uln {uln:g}")
    problems += [f"{where}: {m}" for m in found]
    return {**cell, "lln": lln, "uln": uln}
