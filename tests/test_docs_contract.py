"""docs/contract.md lists every route both fakes serve, and serves every route it lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.codes import STATUS_BY_CODE
from harness.runtime.asgi import AsgiClient

PAGE = Path(__file__).resolve().parent.parent / "docs" / "contract.md"
ROUTE = re.compile(r"^\| `(GET|POST|PUT|DELETE|PATCH) (/[^` ]*)`", re.MULTILINE)


@pytest.fixture
def served(
    abtasty_client: AsgiClient, segment_client: AsgiClient
) -> dict[str, set[tuple[str, str]]]:
    """The routes each fake's OpenAPI schema lists."""
    served = {}
    for name, client in (("abtasty", abtasty_client), ("segment", segment_client)):
        paths = client.get("/schema/openapi.json").json()["paths"]
        served[name] = {
            (method.upper(), path)
            for path, operations in paths.items()
            for method in operations
            if method.upper() in ("GET", "POST", "PUT", "DELETE", "PATCH")
        }
    return served


def _listed() -> dict[str, set[tuple[str, str]]]:
    text = PAGE.read_text()
    abtasty, _, segment = text.partition("## Fake Segment")
    return {"abtasty": set(ROUTE.findall(abtasty)), "segment": set(ROUTE.findall(segment))}


@pytest.mark.parametrize("fake", ["abtasty", "segment"])
def test_docs_contract_lists_every_served_route(
    served: dict[str, set[tuple[str, str]]], fake: str
) -> None:
    missing = served[fake] - _listed()[fake]
    assert not missing, f"served by the fake {fake} but not in docs/contract.md: {sorted(missing)}"


@pytest.mark.parametrize("fake", ["abtasty", "segment"])
def test_docs_contract_lists_only_served_routes(
    served: dict[str, set[tuple[str, str]]], fake: str
) -> None:
    extra = _listed()[fake] - served[fake]
    assert not extra, f"in docs/contract.md but not served by the fake {fake}: {sorted(extra)}"


def test_docs_contract_names_only_known_codes() -> None:
    named = set(re.findall(r"\b\d{3} `([a-z_]+)`", PAGE.read_text()))
    assert named
    assert named <= set(STATUS_BY_CODE)


def test_docs_contract_is_what_harness_contract_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract"]) == 0
    assert capsys.readouterr().out == PAGE.read_text()
