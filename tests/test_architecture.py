"""Dependencies point one way: the domain imports no HTTP, YAML or network code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
FORBIDDEN = {
    "abtasty": {
        "litestar",
        "yaml",
        "requests",
        "uvicorn",
        "httpx",
        "harness.http",
        "harness.cli",
        "harness.runtime",
    },
    "abtasty/store": {"litestar", "yaml", "requests", "harness.abtasty.service", "harness.http"},
    "core": {"litestar", "harness.abtasty", "harness.segment", "harness.http", "harness.runtime"},
    "abtasty/records.py": {"harness"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_architecture_part_imports_nothing_above_it(part: str) -> None:
    target = PACKAGE / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    for path in files:
        for name in _imports(path):
            for banned in FORBIDDEN[part]:
                assert not (name == banned or name.startswith(banned + ".")), (
                    f"{path.name} imports {name}"
                )
