"""``itpcohort grade``: every laboratory value graded by CTCAE v5.0, with its threshold row."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from itpcohort.cli.common import CohortDir, MemoryOpt, StudyDrugOpt, err, handled, out


def grade(
    cohort_dir: CohortDir,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: .csv or .parquet.")
    ],
    study_drug: StudyDrugOpt = None,
    reference_ranges: Annotated[
        Path | None,
        typer.Option(
            "--reference-ranges",
            help="CSV of lower/upper limits of normal per test, sex and site "
            "(default: the shipped adult ranges).",
        ),
    ] = None,
    grading: Annotated[
        Path | None,
        typer.Option("--grading", help="CSV of grading thresholds (default: CTCAE v5.0)."),
    ] = None,
    memory_limit: MemoryOpt = None,
) -> None:
    """Grade every safety lab (CTCAE v5.0) and write each value with the row that graded it.

    Baselines are the last value within 30 days up to the study drug's start;
    values that cannot be graded (no reference range) say why in the note column.
    """
    from itpcohort.cohort import read_cohort
    from itpcohort.outputs import check_output
    from itpcohort.pipeline import run
    from itpcohort.safety import grade_evaluation, load_grading_criteria, load_reference_ranges
    from itpcohort.safety.output import check_graded_path, grading_summary, write_graded_labs

    with handled():
        check_output(check_graded_path(output), [cohort_dir])
        criteria = load_grading_criteria(grading)
        ranges = load_reference_ranges(reference_ranges)
        with err.status("reading the cohort"):
            cohort = read_cohort(cohort_dir, memory_limit=memory_limit)
        with err.status("grading"):
            evaluation = run(cohort, study_drug=study_drug)
            graded = grade_evaluation(evaluation, criteria=criteria, ranges=ranges)
        write_graded_labs(graded, output)
        counts, notes = grading_summary(graded)
        for note in notes:
            err.print(f"warning: {note}")
        out.print(counts)
        out.print(f"{len(graded)} graded values -> {output}")
