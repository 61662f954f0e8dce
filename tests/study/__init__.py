"""Tests of the study database (issue 10)."""
