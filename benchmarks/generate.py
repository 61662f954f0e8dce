"""Generate a large synthetic cohort folder as Parquet, for the benchmarks.

N patients, each with one study-drug treatment (full dose, then a taper for
two thirds of them), a baseline count and about 30 platelet counts every 2-4
weeks that random-walk around a patient-specific level; a few rescue periods
and bleeding events. Vectorised with numpy, a million patients at a time, each
million appended to the Parquet files before the next is drawn: 10,000,000
patients (300 million counts) never need more memory than one million (about
3 GB). The first million are drawn from the seed as before (cohorts of up to a
million patients are what earlier versions wrote); each further million from
(seed, its number).

    python benchmarks/generate.py --patients 1000000 --output benchmarks/data/1m
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EPOCH = np.datetime64("2015-01-01", "D")


#: patients drawn and written at a time
CHUNK = 1_000_000
FILES = ("patients", "treatments", "labs", "bleeding")


def generate(patients: int, counts: int, output: Path, seed: int = 1) -> dict[str, int]:
    """Write the cohort in ``output``; return the rows written per kind."""
    output.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows = {"patients": 0, "labs": 0, "treatments": 0}
    try:
        for number, first in enumerate(range(0, patients, CHUNK)):
            rng = np.random.default_rng(seed if number == 0 else [seed, number])
            n = min(CHUNK, patients - first)
            for name, table in zip(FILES, _chunk(rng, first, n, counts), strict=True):
                if name not in writers:
                    writers[name] = pq.ParquetWriter(output / f"{name}.parquet", table.schema)
                writers[name].write_table(table, row_group_size=1_000_000)
            rows["patients"] += n
            rows["labs"] += n * counts
    finally:
        for writer in writers.values():
            writer.close()
    rows["treatments"] = pq.ParquetFile(output / "treatments.parquet").metadata.num_rows
    return rows


def _chunk(
    rng: np.random.Generator, first: int, n: int, counts: int
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Patients ``first`` to ``first + n - 1``: patients, treatments, labs, bleeding."""
    ids = np.char.add("P", np.char.zfill(np.arange(first, first + n).astype(str), 7))
    enrol = EPOCH + rng.integers(0, 3000, n).astype("timedelta64[D]")
    start = enrol + rng.integers(0, 14, n).astype("timedelta64[D]")
    length = rng.integers(60, 1200, n)
    taper = rng.random(n) < 0.66
    ongoing = rng.random(n) < 0.15
    patients = pa.table(
        {
            "patient_id": ids,
            "enrollment_date": enrol,
            "excluded": pa.array(
                np.where(rng.random(n) < 0.02, "screen failure", None), pa.string()
            ),
            "sex": np.where(rng.random(n) < 0.7, "F", "M"),
            "age": rng.integers(18, 80, n).astype(float),
            "sle": rng.random(n) < 0.4,
        }
    )
    # study drug: full period, then a taper period for some
    full_end = start + np.where(taper, length * 2 // 3, length).astype("timedelta64[D]")
    t_ids = np.concatenate([ids, ids[taper]])
    t_start = np.concatenate([start, full_end[taper] + np.timedelta64(1, "D")])
    t_end = np.concatenate([full_end, (start + length.astype("timedelta64[D]"))[taper]])
    t_phase = np.concatenate([np.full(n, "full"), np.full(taper.sum(), "taper")])
    last = np.concatenate([~taper, np.ones(taper.sum(), bool)])
    end_mask = last & np.concatenate([ongoing, ongoing[taper]])
    rescue = rng.random(n) < 0.05
    r_start = start[rescue] + rng.integers(10, 300, rescue.sum()).astype("timedelta64[D]")
    treatments = pa.table(
        {
            "patient_id": np.concatenate([t_ids, ids[rescue]]),
            "drug": np.concatenate(
                [np.full(len(t_ids), "tacrolimus"), np.full(rescue.sum(), "ivig")]
            ),
            "role": np.concatenate([np.full(len(t_ids), "study"), np.full(rescue.sum(), "rescue")]),
            "start_date": np.concatenate([t_start, r_start]),
            "end_date": pa.array(
                np.concatenate([t_end, r_start + np.timedelta64(2, "D")]),
                mask=np.concatenate([end_mask, np.zeros(rescue.sum(), bool)]),
            ),
            "phase": np.concatenate([t_phase, np.full(rescue.sum(), "full")]),
        }
    )
    # platelets: a baseline, then counts every 7-30 days, random walk on the log scale
    gaps = rng.integers(7, 31, (n, counts))
    gaps[:, 0] = -rng.integers(0, 10, n)  # baseline before or on the start day
    offsets = np.cumsum(gaps, axis=1) - gaps[:, :1] + gaps[:, :1]
    offsets[:, 1:] = np.cumsum(gaps[:, 1:], axis=1)
    dates = start[:, None] + offsets.astype("timedelta64[D]")
    level = rng.normal(3.0, 0.6, n)[:, None]
    rise = rng.normal(1.2, 1.0, n)[:, None] * (np.arange(counts)[None, :] > 0)
    values = np.exp(level + rise + rng.normal(0, 0.35, (n, counts))).round().clip(1, 1500)
    labs = pa.table(
        {
            "patient_id": np.repeat(ids, counts),
            "date": dates.ravel(),
            "test": pa.DictionaryArray.from_arrays(
                np.zeros(n * counts, np.int8), pa.array(["platelets"])
            ),
            "value": values.ravel(),
            "unit": pa.DictionaryArray.from_arrays(
                np.zeros(n * counts, np.int8), pa.array(["10^9/L"])
            ),
        }
    )
    bleed = rng.random(n) < 0.1
    bleeding = pa.table(
        {
            "patient_id": ids[bleed],
            "date": start[bleed] + rng.integers(1, 400, bleed.sum()).astype("timedelta64[D]"),
            "who_grade": rng.integers(1, 4, bleed.sum()),
        }
    )
    return patients, treatments, labs, bleeding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--counts", type=int, default=30, help="platelet counts per patient")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/data/1m"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = generate(args.patients, args.counts, args.output, args.seed)
    print(f"generated {rows} in {time.perf_counter() - t0:.1f} s -> {args.output}")


if __name__ == "__main__":
    main()
