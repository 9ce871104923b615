"""harness init: example scenarios and a starter test, written into a project, never over one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

SHIPPED = Path(__file__).resolve().parent.parent / "scenarios"


def test_scaffold_init_writes_every_example_and_the_starter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    examples = sorted(f"scenarios/{p.name}" for p in SHIPPED.glob("*.yaml"))
    assert written == sorted(["conftest.py", "tests/test_harness_starter.py", *examples])
    for name in examples:
        assert (tmp_path / name).read_bytes() == (SHIPPED / Path(name).name).read_bytes()
    assert f"{len(written)} files" in capsys.readouterr().out


def test_scaffold_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conftest.py").write_text("# mine\n")
    assert main(["init", "--dir", str(tmp_path)]) == 2
    assert "writes nothing over existing files" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["conftest.py"]
    assert (tmp_path / "conftest.py").read_text() == "# mine\n"


def test_scaffold_starter_project_plays_and_its_tests_pass(tmp_path: Path) -> None:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    assert main(["play", "-q", str(tmp_path / "scenarios")]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    stories = len(list(SHIPPED.glob("*.yaml")))
    assert f"{stories + 3} passed" in result.stdout  # every story, and the 3 starter tests
