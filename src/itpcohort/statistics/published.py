"""The reference study's published figures, as data (``reference_study.toml``).

Shi Y, Zhao J, Zeng X. Lupus Sci Med 2023;10(Suppl 1):A32 (abstract LO-040).
One file serves the demo's side-by-side table, its tests and the docs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class PublishedFigure:
    """One number of the abstract and where the same number sits in ``summary.json``."""

    label: str
    key: str  # dotted path in summary.json
    kind: str  # count, median, rate, quartiles, phases, groups
    published: dict[str, Any]
    text: str  # as the abstract prints it

    def observed(self, summary: dict[str, Any]) -> dict[str, Any] | None:
        """The same fields of ``summary`` (None where the summary lacks the figure)."""
        value: Any = summary
        for part in self.key.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        if self.kind == "count":
            return {"value": value}
        if self.kind == "groups":
            return {
                g: value[g]["percent"] for g in self.published if isinstance(value.get(g), dict)
            }
        return {k: value.get(k) for k in self.published}

    def reproduced(self, summary: dict[str, Any]) -> bool:
        """Whether ``summary`` has exactly the published numbers."""
        return self.observed(summary) == self.published

    def format(self, summary: dict[str, Any]) -> str:
        """The summary's figure printed the way the abstract prints it."""
        v = self.observed(summary)
        if v is None or any(x is None for x in v.values()):
            return "-"
        if self.kind == "count":
            return str(v["value"])
        if self.kind == "median":
            return f"{v['median']:.1f}"
        if self.kind == "rate":
            return f"{v['n']} ({v['percent']:.1f}%)"
        if self.kind == "quartiles":
            return f"{v['median']:.1f} (IQR {v['q1']:.1f}, {v['q3']:.1f})"
        if self.kind == "phases":
            return " / ".join(str(v[k]) for k in self.published)
        return " vs ".join(f"{v[g]:.1f}%" for g in self.published)


def reference_study() -> tuple[str, list[PublishedFigure]]:
    """The citation and every published figure of the reference study."""
    text = (resources.files("itpcohort.statistics") / "reference_study.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return data["citation"], [PublishedFigure(**f) for f in data["figure"]]
