"""The shape the code keeps (issue 8): short functions, and SQL on the cohort's own
database only where the cohort and the engines are opened."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "itpcohort"
MAX_FUNCTION_LINES = 80
#: the modules that may query the cohort's DuckDB connection directly
OWN_THE_CONNECTION = ("cohort/", "engines.py")


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    ]


def _names_a_cohort(node: ast.expr) -> bool:
    """``cohort``, ``x.cohort`` or ``evaluation.cohort``: a :class:`Cohort` by its name."""
    if isinstance(node, ast.Name):
        return node.id == "cohort"
    return isinstance(node, ast.Attribute) and node.attr == "cohort"


def test_no_function_longer_than_80_lines() -> None:
    long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "split these into smaller functions:\n" + "\n".join(long)


def test_only_the_cohort_and_the_engines_query_the_cohort_connection() -> None:
    found = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if not name.startswith(OWN_THE_CONNECTION)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "con" and _names_a_cohort(node.value)
    ]
    assert not found, "use the Cohort's methods or the pipeline instead:\n" + "\n".join(found)
