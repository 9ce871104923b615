"""docs/errors.md lists every error code of the one code -> status table, with its status."""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.codes import STATUS_BY_CODE

PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def test_docs_errors_lists_every_code_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", PAGE.read_text(), re.MULTILINE))
    assert {code: int(status) for code, status in rows.items()} == STATUS_BY_CODE
