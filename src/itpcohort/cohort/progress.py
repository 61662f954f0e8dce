"""What long work tells whoever watches it: the stage, the rows done, the engine's own count.

Reading a registry and evaluating it take a while. The reader, the pipeline's
caller and the command line report to a :class:`Progress`: the stage
(``reading``, ``validating``, ``evaluating``, ``writing``) with what it works
on, how many rows or patients it expects and has done, and a way to ask the
engine how far its running query is (DuckDB and Spark can tell: a fraction
between 0 and 1, or None). The library never draws anything itself; the
command line draws a :class:`Progress` with rich (``report/console.py``), and
the default, :data:`SILENT`, ignores it all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: how far the engine's running query is, from 0 to 1 (None: it cannot tell now)
Fraction = Callable[[], float | None]


class Progress(Protocol):
    """Receives the stages of long work (see the module's docstring)."""

    def stage(
        self, name: str, detail: str = "", total: int | None = None, unit: str = "rows"
    ) -> None:
        """A new stage: ``name``, what it works on, how many ``unit`` it expects."""

    def done(self, count: int) -> None:
        """Rows (or patients) of the current stage done so far."""

    def watch(self, fraction: Fraction | None) -> None:
        """Ask ``fraction`` from now on how far the engine's running query is."""


class _Silent:
    def stage(
        self, name: str, detail: str = "", total: int | None = None, unit: str = "rows"
    ) -> None:
        pass

    def done(self, count: int) -> None:
        pass

    def watch(self, fraction: Fraction | None) -> None:
        pass


#: a Progress that ignores everything (what the library uses unless given one)
SILENT: Progress = _Silent()
