"""Response profiles: TOML data files and their validated settings."""

from itpcohort.criteria.profile import Criteria, builtin_profiles, load_criteria

__all__ = ["Criteria", "builtin_profiles", "load_criteria"]
