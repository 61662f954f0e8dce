"""Errors raised by itpcohort.

The hierarchy, so that callers can catch at any level::

    ItpCohortError            anything itpcohort refuses to do
    ├── CohortDataError       a cohort folder breaks the format (carries every Problem)
    ├── CriteriaError         a response profile is unknown or has a bad setting
    ├── EngineError           a compute engine (DuckDB, Spark) cannot be opened or fails
    └── OutputError           an output cannot go where it was asked (over an input, ...)

Every message says what is wrong and how to fix it; the CLI prints it in one
line (or one line per problem) and exits non-zero, never with a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itpcohort.cohort.problems import Problem


class ItpCohortError(Exception):
    """Base class of every error itpcohort raises on purpose."""


class CohortDataError(ItpCohortError):
    """A cohort folder that cannot be used as it is.

    ``problems`` lists every problem found (file, line, column, message), errors
    and warnings alike; at least one of them is an error.
    """

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems or [])


class CriteriaError(ItpCohortError):
    """A response-criteria profile that is unknown or invalid; names the setting."""


class EngineError(ItpCohortError):
    """A compute engine that cannot be opened or that failed while evaluating."""


class OutputError(ItpCohortError):
    """An output that cannot be written where it was asked to go (it would replace an
    input, a file is named where a folder is needed, or the reverse)."""
