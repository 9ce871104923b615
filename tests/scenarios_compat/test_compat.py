"""The scenario files shipped before the format grew still play, with their old meaning.

These are the 21 stories as they were written for format 1 (no ``format:`` field), kept
byte for byte: a change to the runner that changes what they mean fails here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.scenarios import load_scenario, run_scenario, shared_in_process_driver

HERE = Path(__file__).resolve().parent
FILES = sorted(HERE.glob("*.yaml"))


def test_compat_files_are_unchanged() -> None:
    manifest: dict[str, str] = {}
    for line in (HERE / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        manifest[name] = digest
    assert sorted(manifest) == [f.name for f in FILES]
    assert len(FILES) == 21
    for file in FILES:
        assert hashlib.sha256(file.read_bytes()).hexdigest() == manifest[file.name], file.name


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.stem)
def test_compat_file_plays_as_format_1(file: Path) -> None:
    scenario = load_scenario(file)
    assert scenario.format == 1
    result = run_scenario(scenario, shared_in_process_driver())
    assert result.passed, str(result.failure)
