"""The response engine (IWG 2009 and other profiles), written once with ibis."""

from itpcohort.response.evaluate import ENDPOINT_COLUMNS, evaluate, write_endpoints

__all__ = ["ENDPOINT_COLUMNS", "evaluate", "write_endpoints"]
