"""Library errors and warnings say what to fix in words, not in one front end's flags
(issue 8: the study app and the Python API show them too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "itpcohort"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def test_no_command_line_flag_in_library_messages() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name.startswith("cli/") or name.startswith("study/management"):
            continue  # the command lines themselves
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and FLAG.search(node.value)
            ):
                found.append(f"{name}:{node.lineno}: {node.value.strip()[:70]}")
    assert not found, (
        "say it in words (the message reaches the app and the API too):\n" + "\n".join(found)
    )
