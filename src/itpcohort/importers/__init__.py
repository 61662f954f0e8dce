"""Importers: REDCap, CDISC SDTM, OMOP CDM, FHIR R4, MIMIC-IV -> cohort folder.

Each returns a :class:`Reconciliation` that accounts for every source row.
"""

from itpcohort.importers.common import MappingError, Reconciliation

__all__ = ["MappingError", "Reconciliation"]
