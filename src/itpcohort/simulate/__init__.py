"""Simulated cohorts: presets (the reference study) and the generator."""

from itpcohort.simulate.generator import PRESETS, simulate

__all__ = ["PRESETS", "simulate"]
