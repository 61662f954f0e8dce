"""The SQL peer: the response rules of the ``iwg2009`` profile in plain DuckDB SQL.

What an analyst would write by hand against the benchmark cohort's Parquet
files, without itpcohort: the rules of ``shared/spec/response-criteria.md``
as common table expressions (gaps and islands with ``lag``, a running sum and
a partitioned ``max`` for the confirmations), DuckDB's default settings, no
validation of the input. It writes the endpoints table as CSV in the format
``itpcohort evaluate`` writes, so the two outputs can be compared byte for byte
(``bench_registry.py`` does, on every run).

    python benchmarks/sql_peer.py benchmarks/data/1000000x30 /tmp/peer.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

#: the endpoints table, by the rules of the iwg2009 profile (thresholds 30 and 100, fold 2,
#: confirmations 7 and 1 days, baseline window 30 days, washout 56 days, bleeding grade 2,
#: a rescue start is a loss, sustained after 28 days off)
PEER_SQL = """
WITH
enrolled AS (
    SELECT patient_id, {followup} AS followup_end_date
    FROM read_parquet({patients})
    WHERE coalesce(trim(excluded), '') = ''
),
treatments AS (
    SELECT t.patient_id, lower(t.drug) AS drug, coalesce(lower(t.role), 'study') AS role,
           t.start_date, t.end_date, coalesce(lower(t.phase), 'full') AS phase
    FROM read_parquet({treatments}) t JOIN enrolled e ON e.patient_id = t.patient_id
),
study AS (
    SELECT * FROM treatments WHERE role = 'study' AND drug = {drug}
),
treatment AS (
    SELECT patient_id, min(start_date) AS start_date,
           CASE WHEN bool_or(end_date IS NULL) THEN NULL ELSE max(end_date) END AS end_date
    FROM study GROUP BY patient_id
),
rescue AS (
    SELECT patient_id, start_date, end_date FROM treatments WHERE role = 'rescue'
),
platelets AS (
    SELECT l.patient_id, l.date,
           CASE WHEN lower(replace(l.unit, ' ', '')) IN ('/ul', 'cells/ul') THEN l.value / 1000
                ELSE l.value END AS value
    FROM read_parquet({labs}) l JOIN enrolled e ON e.patient_id = l.patient_id
    WHERE lower(l.test) = 'platelets'
),
bleeds AS (
    SELECT b.patient_id, b.date
    FROM read_parquet({bleeding}) b JOIN enrolled e ON e.patient_id = b.patient_id
    WHERE b.who_grade >= 2
),
-- rule 1: the last count from 29 days before the start through the start (lowest that day)
baseline AS (
    SELECT patient_id, arg_max(lowest, date) AS baseline_platelets
    FROM (
        SELECT p.patient_id, p.date, min(p.value) AS lowest
        FROM platelets p JOIN treatment t ON t.patient_id = p.patient_id
        WHERE p.date BETWEEN t.start_date - 29 AND t.start_date
        GROUP BY p.patient_id, p.date
    )
    GROUP BY patient_id
),
-- rules 2 and 3: each count and bleeding after the start, with its level; a count in a
-- rescue washout (first day to 56 days after the last) is not evaluable
observations AS (
    SELECT p.patient_id, p.date,
           CASE WHEN p.value >= 100 THEN 2
                WHEN p.value >= 30 AND p.value >= 2 * b.baseline_platelets THEN 1
                ELSE 0 END AS level,
           EXISTS (SELECT 1 FROM rescue r
                   WHERE r.patient_id = p.patient_id AND p.date >= r.start_date
                     AND (r.end_date IS NULL OR p.date <= r.end_date + 56)) AS washed
    FROM platelets p
    JOIN treatment t ON t.patient_id = p.patient_id
    JOIN baseline b ON b.patient_id = p.patient_id
    WHERE p.date > t.start_date
    UNION ALL
    SELECT x.patient_id, x.date, 0 AS level, FALSE AS washed
    FROM bleeds x
    JOIN treatment t ON t.patient_id = x.patient_id
    JOIN baseline b ON b.patient_id = x.patient_id
    WHERE x.date > t.start_date
),
days AS (
    SELECT patient_id, date, min(level) AS level
    FROM observations WHERE NOT washed
    GROUP BY patient_id, date
),
-- rules 4 and 5: runs of days at or above R (and CR), gaps and islands
changes AS (
    SELECT *, lag(level) OVER (PARTITION BY patient_id ORDER BY date) AS previous
    FROM days
),
runs AS (
    SELECT *,
           sum(CASE WHEN previous IS NULL OR (previous >= 1) <> (level >= 1) THEN 1 ELSE 0 END)
               OVER (PARTITION BY patient_id ORDER BY date) AS r_run,
           sum(CASE WHEN previous IS NULL OR (previous >= 2) <> (level >= 2) THEN 1 ELSE 0 END)
               OVER (PARTITION BY patient_id ORDER BY date) AS cr_run
    FROM changes
),
flags AS (
    SELECT patient_id, date, level,
           level >= 1 AND max(date) OVER (PARTITION BY patient_id, r_run) - date >= 7
               AS r_confirmed,
           level >= 2 AND max(date) OVER (PARTITION BY patient_id, cr_run) - date >= 7
               AS cr_confirmed,
           level < 1 AND max(date) OVER (PARTITION BY patient_id, r_run) - date >= 1
               AS loss_confirmed
    FROM runs
),
-- rule 4: achievements count on or before the end date (or while ongoing)
responses AS (
    SELECT patient_id, max(date) AS last_evaluable,
           min(date) FILTER (WHERE r_confirmed AND attributable) AS response_date,
           max(date) FILTER (WHERE r_confirmed AND attributable) AS last_achievement,
           min(date) FILTER (WHERE cr_confirmed AND attributable) AS cr_date
    FROM (
        SELECT f.*, t.end_date IS NULL OR f.date <= t.end_date AS attributable
        FROM flags f JOIN treatment t ON t.patient_id = f.patient_id
    )
    GROUP BY patient_id
),
-- rule 5: a confirmed day below R, a bleeding of grade >= 2, the start of a rescue
loss_events AS (
    SELECT patient_id, date FROM flags WHERE loss_confirmed
    UNION ALL SELECT patient_id, date FROM bleeds
    UNION ALL SELECT patient_id, start_date FROM rescue
),
losses AS (
    SELECT l.patient_id, min(l.date) AS loss_date, max(l.date) AS last_loss
    FROM loss_events l JOIN responses r ON r.patient_id = l.patient_id
    WHERE l.date >= r.response_date
    GROUP BY l.patient_id
),
-- rule 8: the phase of the study period in effect on the loss date
loss_phases AS (
    SELECT s.patient_id, arg_max(s.phase, s.start_date) AS period_phase
    FROM study s JOIN losses l ON l.patient_id = s.patient_id
    WHERE s.start_date <= l.loss_date
    GROUP BY s.patient_id
),
last_observation AS (
    SELECT patient_id, max(date) AS last_observation FROM (
        SELECT patient_id, date FROM platelets
        UNION ALL SELECT patient_id, date FROM read_parquet({bleeding})
        UNION ALL SELECT patient_id, followup_end_date FROM enrolled
    ) GROUP BY patient_id
),
facts AS (
    SELECT e.patient_id, t.start_date, t.end_date, b.baseline_platelets, r.last_evaluable,
           r.response_date, r.cr_date, l.loss_date,
           r.last_achievement IS NOT NULL
               AND (l.last_loss IS NULL OR l.last_loss < r.last_achievement) AS in_response_at_last,
           lp.period_phase, o.last_observation
    FROM enrolled e
    LEFT JOIN treatment t ON t.patient_id = e.patient_id
    LEFT JOIN baseline b ON b.patient_id = e.patient_id
    LEFT JOIN responses r ON r.patient_id = e.patient_id
    LEFT JOIN losses l ON l.patient_id = e.patient_id
    LEFT JOIN loss_phases lp ON lp.patient_id = e.patient_id
    LEFT JOIN last_observation o ON o.patient_id = e.patient_id
)
SELECT
    patient_id,
    start_date,
    end_date,
    baseline_platelets,
    CASE WHEN cr_date IS NOT NULL THEN 'CR'
         WHEN response_date IS NOT NULL THEN 'R'
         WHEN baseline_platelets IS NOT NULL AND last_evaluable IS NOT NULL THEN 'NR'
         ELSE 'NE' END AS best_response,
    response_date,
    response_date - start_date AS days_to_response,
    cr_date,
    cr_date - start_date AS days_to_cr,
    loss_date,
    CASE WHEN loss_date IS NULL THEN NULL
         WHEN end_date IS NOT NULL AND loss_date > end_date THEN 'off'
         ELSE period_phase END AS loss_phase,
    CASE WHEN response_date IS NULL THEN NULL
         WHEN loss_date IS NOT NULL AND (end_date IS NULL OR loss_date <= end_date)
             THEN loss_date - response_date
         WHEN end_date IS NULL THEN last_evaluable - response_date
         ELSE least(end_date, last_evaluable) - response_date END AS response_duration_days,
    CASE WHEN response_date IS NULL THEN NULL
         ELSE NOT (loss_date IS NOT NULL AND (end_date IS NULL OR loss_date <= end_date))
         END AS response_duration_censored,
    coalesce(end_date IS NOT NULL AND in_response_at_last
             AND last_evaluable - end_date >= 28, FALSE) AS sustained_off_treatment,
    CASE WHEN end_date IS NULL THEN last_observation - start_date
         ELSE end_date - start_date END AS treatment_days
FROM facts
ORDER BY patient_id
"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def peer_sql(folder: Path, drug: str = "tacrolimus") -> str:
    """The peer's query for the cohort in ``folder`` (Parquet tables)."""
    files = {t: folder / f"{t}.parquet" for t in ("patients", "treatments", "labs", "bleeding")}
    has_followup = "followup_end_date" in pq.read_schema(files["patients"]).names
    return PEER_SQL.format(
        followup="followup_end_date" if has_followup else "CAST(NULL AS DATE)",
        drug=_literal(drug),
        **{t: _literal(str(p)) for t, p in files.items()},
    )


def run_peer(folder: Path, output: Path) -> int:
    """Run the peer on a fresh in-memory DuckDB with its defaults; write CSV; return rows."""
    con = duckdb.connect()
    written = con.execute(
        f"COPY ({peer_sql(folder)}) TO {_literal(str(output))} (HEADER, DELIMITER ',')"
    ).fetchall()
    return int(written[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path, help="cohort folder of Parquet tables")
    parser.add_argument("output", type=Path, help="endpoints CSV to write")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = run_peer(args.cohort, args.output)
    print(f"{rows:,} patients in {time.perf_counter() - t0:.1f} s -> {args.output}")


if __name__ == "__main__":
    main()
