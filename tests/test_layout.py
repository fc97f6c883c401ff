"""The layout's import rules (../shared/DESIGN.md, CONVENTIONS 19), read from the source: the
sides never import the CLI package, edge and api never import each other, and only train may
import torch."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

RULES = {  # side → top-level packages it must not import
    "vision": {"binwatch", "edge", "api", "train", "torch", "fastapi", "httpx"},
    "edge": {"binwatch", "api", "train", "torch", "fastapi"},
    "api": {"binwatch", "edge", "train", "torch"},
    "train": {"binwatch", "edge", "api"},
}


def imported(path: str) -> set[tuple[str, int]]:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("side", sorted(RULES))
def test_a_side_imports_only_what_the_layout_allows(side: str) -> None:
    broken = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sorted((REPO / side).rglob("*.py"))
        for name, line in imported(str(path.relative_to(REPO)))
        if name in RULES[side]
    ]
    assert not broken, "\n".join(broken)
