"""The response engine (IWG 2009 and other profiles), written once with ibis.

``derive`` (rules 1-5: baseline, days and levels, confirmations, episodes),
``endpoints`` (rules 6-10, one function per rule), ``table`` (the endpoints
table's columns and files), ``explain`` (one patient's timeline in words).
:func:`itpcohort.pipeline.run` assembles them.
"""

from itpcohort.response.table import ENDPOINT_COLUMNS, check_endpoints_path, write_endpoints

__all__ = ["ENDPOINT_COLUMNS", "check_endpoints_path", "write_endpoints"]
