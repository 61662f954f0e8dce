"""The cohort folder's tables and columns, as data (``shared/spec/cohort-format.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "date", "number", "integer", "boolean"]

#: dates before this, or more than a year after today, are warnings (a likely typo)
EARLIEST_PLAUSIBLE_DATE = "1900-01-01"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    #: an unknown choice is an error (True) or a warning (False)
    choices_strict: bool = True
    #: a warning for an empty cell (in a column that is there) read as a default
    blank_warning: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table of the format. Columns not listed are kept (in every table;
    in ``patients`` they are the covariates the analysis can group by)."""

    name: str
    required: bool
    columns: tuple[ColumnSpec, ...]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


C = ColumnSpec

PATIENTS = TableSpec(
    "patients",
    required=True,
    columns=(
        C("patient_id", "text", required=True),
        C("enrollment_date", "date", required=True),
        C("excluded", "text"),
        C("site", "text"),
        C("sex", "text"),
        C("age", "number", minimum=0),
        C("diagnosis_date", "date"),
        C("sle", "boolean"),
        C("aps", "boolean"),
        C("lupus_anticoagulant", "boolean"),
        C("acl_igg", "number", minimum=0),
        C("acl_igm", "number", minimum=0),
        C("ab2gpi_igg", "number", minimum=0),
        C("ab2gpi_igm", "number", minimum=0),
        C("followup_end_date", "date"),
    ),
)

ROLES = ("study", "concomitant", "rescue")
PHASES = ("full", "taper")
STOP_REASONS = (
    "completed",
    "adverse_event",
    "no_response",
    "patient_choice",
    "lost_to_follow_up",
    "other",
)

TREATMENTS = TableSpec(
    "treatments",
    required=True,
    columns=(
        C("patient_id", "text", required=True),
        C("drug", "text", required=True),
        C(
            "role",
            "text",
            choices=ROLES,
            blank_warning="role is empty: read as 'study' (the default); write study, "
            "concomitant or rescue",
        ),
        C("start_date", "date", required=True),
        C("end_date", "date"),
        C("phase", "text", choices=PHASES),
        C("daily_dose_mg", "number", minimum=0),
        C("stop_reason", "text", choices=STOP_REASONS, choices_strict=False),
    ),
)

LABS = TableSpec(
    "labs",
    required=True,
    columns=(
        C("patient_id", "text", required=True),
        C("date", "date", required=True),
        C("test", "text", required=True),
        C("value", "number", required=True, minimum=0),
        C("unit", "text", required=True),
    ),
)

BLEEDING = TableSpec(
    "bleeding",
    required=False,
    columns=(
        C("patient_id", "text", required=True),
        C("date", "date", required=True),
        C("who_grade", "integer", required=True, minimum=0, maximum=4),
        C("site", "text"),
    ),
)

AE_ACTIONS = ("none", "dose_reduced", "interrupted", "discontinued")

ADVERSE_EVENTS = TableSpec(
    "adverse_events",
    required=False,
    columns=(
        C("patient_id", "text", required=True),
        C("onset_date", "date", required=True),
        C("term", "text", required=True),
        C("grade", "integer", minimum=1, maximum=5),
        C("related", "boolean"),
        C("action", "text", choices=AE_ACTIONS, choices_strict=False),
        C("end_date", "date"),
    ),
)

TABLES: tuple[TableSpec, ...] = (PATIENTS, TREATMENTS, LABS, BLEEDING, ADVERSE_EVENTS)
