"""docs/errors.md lists every error code of the one code -> status table, with its status."""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.codes import STATUS_BY_CODE, CommandCode, ErrorCode

PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def test_docs_errors_lists_every_code_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", PAGE.read_text(), re.MULTILINE))
    assert {code: int(status) for code, status in rows.items()} == STATUS_BY_CODE


def test_docs_errors_lists_every_command_line_code() -> None:
    section = PAGE.read_text().partition("## Command-line codes")[2]
    rows = re.findall(r"^\| `([a-z_]+)` \| [^0-9]", section, re.MULTILINE)
    assert sorted(rows) == sorted(CommandCode)


def test_docs_scenarios_expect_only_known_codes() -> None:
    root = PAGE.parent.parent
    texts = [path.read_text() for path in sorted((root / "scenarios").glob("*.yaml"))]
    texts += [path.read_text() for path in sorted((root / "docs").glob("*.md"))]
    texts.append((root / "README.md").read_text())
    named = {code for text in texts for code in re.findall(r"\bcode: ([a-z_]+)", text)}
    assert named
    assert named <= set(ErrorCode), sorted(named - set(ErrorCode))
