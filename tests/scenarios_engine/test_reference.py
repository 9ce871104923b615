"""docs/scenarios.md and harness play --list-steps say the same, from the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenarios.model import schema
from harness.scenarios.reference import PARTS, reference
from harness.scenarios.specs import CHECKS, SPECS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_reference_in_the_docs_is_the_one_list_steps_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["play", "--list-steps"]) == 0
    printed = capsys.readouterr().out
    block = re.search(r"<!-- steps:begin -->\n(.*)<!-- steps:end -->", DOCS.read_text(), re.S)
    assert block is not None
    assert block.group(1) == printed, (
        "docs/scenarios.md is out of step: paste the output of harness play --list-steps"
    )


def test_reference_names_every_action_check_part_and_field() -> None:
    text = reference()
    for action in SPECS:
        assert f"### `{action}`" in text
    for check in CHECKS:
        assert f"### `{check}`" in text
    definitions = schema()["$defs"]
    for name in PARTS:
        assert name in definitions
    for definition in definitions.values():
        for field in definition["properties"]:
            assert f"| `{field}` |" in text


def test_reference_describes_every_field() -> None:
    assert not re.search(r"\|  \|$", reference(), re.M)
