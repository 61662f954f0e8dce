"""Safety: CTCAE v5.0 laboratory grading as data, tacrolimus exposure, safety tables.

The grading thresholds are numbers and operators in ``ctcae_v5.csv`` (one
row per threshold, each citing its CTCAE v5.0 term), reference ranges are in
``reference_ranges.csv`` (documented defaults; a study passes its own), and
:func:`grade_labs` grades every value, naming the row that graded it.
"""

from itpcohort.safety.ctcae import (
    GradingCriteria,
    GradingDataError,
    GradingRow,
    load_grading_criteria,
)
from itpcohort.safety.grading import (
    GRADED_COLUMNS,
    derive_lab_baseline,
    grade_evaluation,
    grade_labs,
    to_canonical,
)
from itpcohort.safety.ranges import ReferenceRanges, load_reference_ranges, reference_ranges
from itpcohort.safety.settings import SafetySettings

__all__ = [
    "GRADED_COLUMNS",
    "GradingCriteria",
    "GradingDataError",
    "GradingRow",
    "ReferenceRanges",
    "SafetySettings",
    "derive_lab_baseline",
    "grade_evaluation",
    "grade_labs",
    "load_grading_criteria",
    "load_reference_ranges",
    "reference_ranges",
    "to_canonical",
]
