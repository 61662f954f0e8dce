"""The Django app of the study database (label ``study``)."""

from __future__ import annotations

from django.apps import AppConfig


class StudyConfig(AppConfig):
    name = "itpcohort.study"
    label = "study"
    verbose_name = "ITP cohort study"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itpcohort.study import access, signals  # noqa: F401  (rules and signal handlers)
