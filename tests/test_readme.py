"""The README's two commands stay true, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && "


def _commands() -> list[str]:
    return re.findall(r"```\n(python3 -m venv[^\n]*)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_two_newcomer_commands() -> None:
    assert len(_commands()) == 2


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _commands()[1]
    assert test_command.startswith(INSTALL)
    ci_lines = [
        line
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert ci_lines[-1] == test_command.removeprefix(INSTALL)
    assert "pip install --quiet -e '.[test]'" in (ROOT / ".ci/run").read_text()


def test_readme_test_command_checks_the_format_of_every_python_file() -> None:
    checks = _commands()[1].removeprefix(INSTALL).split(" && ")
    assert "ruff format --check ." in checks
    exclude = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["format"]
    assert not any(pattern.startswith("bench") for pattern in exclude["exclude"])


def test_mypy_checks_the_benchmarks() -> None:
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert "bench" in files


def test_readme_quickstart_counts_the_shipped_stories() -> None:
    # The first command plays scenarios/: the count it promises is the one it prints.
    stated = re.search(
        r"play the shipped scenarios \((\d+) stories", (ROOT / "README.md").read_text()
    )
    assert stated is not None
    assert int(stated.group(1)) == len(list((ROOT / "scenarios").glob("*.yaml")))
