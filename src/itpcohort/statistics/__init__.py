"""Statistics: rates and intervals, Kaplan-Meier, subgroups, safety, comparisons."""

from itpcohort.statistics.analysis import Analysis, analyse, load_comparators
from itpcohort.statistics.descriptive import months, percent, quartiles_months, rate

__all__ = [
    "Analysis",
    "analyse",
    "load_comparators",
    "months",
    "percent",
    "quartiles_months",
    "rate",
]
