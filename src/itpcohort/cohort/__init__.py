"""The cohort folder: schema, units, reading and problems (file, line, column)."""

from itpcohort.cohort.problems import Problem, TableSummary, ValidationReport
from itpcohort.cohort.reader import Cohort, read_cohort, validate_cohort

__all__ = [
    "Cohort",
    "Problem",
    "TableSummary",
    "ValidationReport",
    "read_cohort",
    "validate_cohort",
]
