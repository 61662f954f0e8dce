"""Safety: CTCAE v5.0 laboratory grading as data, tacrolimus exposure, safety tables.

The grading thresholds are numbers and operators in ``ctcae_v5.csv`` (one
row per threshold, each citing its CTCAE v5.0 term), reference ranges are in
``reference_ranges.csv`` (documented defaults; a study passes its own), and
:func:`grade_labs` grades every value, naming the row that graded it.
:func:`exposure` measures tacrolimus troughs against their target range (time
in range by linear interpolation, Rosendaal) and dose per kilogram, and
:func:`safety_section` builds the report's safety tables, summary and figures;
:func:`new_grade3_labs` and :func:`trough_out_of_range` are the study app's alerts.
"""

from itpcohort.safety.alerts import lab_alerts, new_grade3_labs, trough_out_of_range
from itpcohort.safety.ctcae import (
    GradingCriteria,
    GradingDataError,
    GradingRow,
    load_grading_criteria,
)
from itpcohort.safety.exposure import (
    EXPOSURE_COLUMNS,
    dose_exposure,
    exposure,
    time_in_range,
    trough_exposure,
)
from itpcohort.safety.grading import (
    GRADED_COLUMNS,
    derive_lab_baseline,
    grade_evaluation,
    grade_labs,
    to_canonical,
)
from itpcohort.safety.ranges import ReferenceRanges, load_reference_ranges, reference_ranges
from itpcohort.safety.section import SafetySection, safety_section
from itpcohort.safety.settings import SafetySettings

__all__ = [
    "EXPOSURE_COLUMNS",
    "GRADED_COLUMNS",
    "GradingCriteria",
    "GradingDataError",
    "GradingRow",
    "ReferenceRanges",
    "SafetySection",
    "SafetySettings",
    "derive_lab_baseline",
    "dose_exposure",
    "exposure",
    "grade_evaluation",
    "grade_labs",
    "lab_alerts",
    "load_grading_criteria",
    "load_reference_ranges",
    "new_grade3_labs",
    "reference_ranges",
    "safety_section",
    "time_in_range",
    "to_canonical",
    "trough_exposure",
    "trough_out_of_range",
]
