"""README's fixture table names every public method and attribute of each fixture's handle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.runtime.asgi import AsgiClient, Reply
from harness.testing.handles import AccountHandle, ClockControl, SourceHandle
from harness.testing.intercept import SegmentIntercept
from harness.testing.plugin import LiveHarness

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
PLUMBING = {"create", "close", "app", "harness"}
"""How a handle is built and closed: the fixtures do it, the table need not say it."""


def _row(fixture: str) -> str:
    match = re.search(rf"^\| `{fixture}`[^\n]*$", README, re.MULTILINE)
    assert match is not None, f"no README row for {fixture}"
    return match.group(0)


def _public(cls: type) -> set[str]:
    names = {name for name in dir(cls) if not name.startswith("_")}
    names |= set(getattr(cls, "__dataclass_fields__", {}))
    names |= set(getattr(cls, "__annotations__", {}))
    return {name for name in names if not name.startswith("_")} - PLUMBING


@pytest.mark.parametrize(
    ("fixture", "cls"),
    [
        ("harness_clock", ClockControl),
        ("abtasty_account", AccountHandle),
        ("simulated_segment", SourceHandle),
        ("abtasty_client", AsgiClient),
        ("abtasty_client", Reply),
        ("harness_live", LiveHarness),
        ("segment_intercept", SegmentIntercept),
    ],
)
def test_readme_fixture_row_names_every_public_member(fixture: str, cls: type) -> None:
    row = _row(fixture)
    missing = sorted(name for name in _public(cls) if not re.search(rf"`{name}[`(]", row))
    assert not missing, f"README's {fixture} row does not mention {missing}"


def test_readme_clients_answer_like_requests(abtasty_client: AsgiClient) -> None:
    reply = abtasty_client.get("/_harness/health")
    assert (reply.status_code, reply.ok, reply.json()) == (200, True, {"status": "ok"})
    assert not abtasty_client.post("/api/accounts", json={}).ok


def test_readme_simulated_segment_has_its_source_id(
    simulated_segment: SourceHandle, segment_client: AsgiClient
) -> None:
    reply = segment_client.get(f"/_segment/sources/{simulated_segment.source_id}/delivery-overview")
    assert reply.status_code == 200
