"""Exporters: CDISC ADaM datasets (ADSL, ADRS, ADTTE)."""

from itpcohort.exporters.adam import adam_datasets, write_adam

__all__ = ["adam_datasets", "write_adam"]
