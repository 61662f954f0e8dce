"""itpcohort: treatment-response cohort studies in immune thrombocytopenia.

Read a cohort folder, judge response by the IWG 2009 criteria (or another
profile) on DuckDB or Spark, and get one row of endpoints per patient::

    import itpcohort
    cohort = itpcohort.read_cohort("examples/tacrolimus-mini")
    endpoints = itpcohort.evaluate(cohort, criteria="iwg2009", engine="duckdb")
    evaluation = itpcohort.run(cohort)   # endpoints, days, events, baseline: one derivation
"""

from itpcohort.cohort import Cohort, Problem, ValidationReport, read_cohort, validate_cohort
from itpcohort.criteria import Criteria, builtin_profiles, load_criteria
from itpcohort.errors import CohortDataError, CriteriaError, EngineError, ItpCohortError
from itpcohort.pipeline import Evaluation, evaluate, run
from itpcohort.response import ENDPOINT_COLUMNS, write_endpoints

__version__ = "0.1.0"

__all__ = [
    "ENDPOINT_COLUMNS",
    "Cohort",
    "CohortDataError",
    "Criteria",
    "CriteriaError",
    "EngineError",
    "Evaluation",
    "ItpCohortError",
    "Problem",
    "ValidationReport",
    "builtin_profiles",
    "evaluate",
    "load_criteria",
    "read_cohort",
    "run",
    "validate_cohort",
    "write_endpoints",
]
