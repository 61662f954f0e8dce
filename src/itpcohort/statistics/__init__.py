"""Statistics: rates and intervals, Kaplan-Meier and Aalen-Johansen, subgroups, safety,
comparators; numbers checked against R (``tests/test_statistics_r.py``)."""

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
