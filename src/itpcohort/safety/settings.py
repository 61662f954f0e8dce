"""The safety analysis's settings, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

from itpcohort.errors import ItpCohortError


@dataclass(frozen=True)
class SafetySettings:
    """Windows and targets of the safety analysis (days, ng/mL).

    ``baseline_window_days``
        A test's baseline is its last value dated within this many days up to
        and including the study drug's start date (30: the start date and the
        29 days before it, as for the platelet baseline of ``iwg2009``). The
        last by date; of several on that day, the one last in the file.
    ``followup_days``
        Values after the start and up to this many days after the study
        drug's end date (or any time while it is ongoing) are on treatment:
        they make the worst post-baseline grade, the shift tables and the
        alerts' "new" values (30 days, the usual treatment-emergent window).
    ``trough_low``, ``trough_high``
        The tacrolimus trough target range, both ends in range (4-8 ng/mL, the
        usual target for tacrolimus outside transplantation).
    ``ttr_max_gap_days``
        Time in range does not interpolate across a gap between two troughs
        longer than this (None: no limit, as in Rosendaal's original method).
    ``disease_tests``
        Tests that measure the disease being treated rather than a toxicity:
        graded and tabulated, but left out of the "any grade >= 3" summary and
        the alerts (in ITP, the platelet count).
    """

    baseline_window_days: int = 30
    followup_days: int = 30
    trough_low: float = 4.0
    trough_high: float = 8.0
    ttr_max_gap_days: int | None = None
    disease_tests: tuple[str, ...] = ("platelets",)

    def __post_init__(self) -> None:
        if self.baseline_window_days < 1:
            raise ItpCohortError("baseline_window_days must be at least 1 (the start date)")
        if self.followup_days < 0:
            raise ItpCohortError("followup_days must not be negative")
        if not 0 <= self.trough_low < self.trough_high:
            raise ItpCohortError(
                f"the trough target range {self.trough_low:g}-{self.trough_high:g} ng/mL needs "
                "0 <= low < high"
            )
        if self.ttr_max_gap_days is not None and self.ttr_max_gap_days < 1:
            raise ItpCohortError("ttr_max_gap_days must be at least 1 day, or None")
