"""An AB Tasty app on a manual clock, driven through Litestar's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient

from harness import ManualClock
from harness.abtasty import AbTasty
from harness.abtasty.store import MemoryStore
from harness.http import create_abtasty_app
from tests.support import START, basic


@dataclass
class Api:
    """A client plus the ids a test sets up."""

    client: TestClient[Any]
    clock: ManualClock
    account_id: str = ""
    connector_id: str = ""
    api_key: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": basic(self.api_key)}

    def setup(self, timezone: str = "UTC") -> Api:
        """An account with a Segment connector and an API key."""
        self.account_id = self.client.post(
            "/api/accounts", json={"name": "Shop", "timezone": timezone}
        ).json()["id"]
        base = f"/api/accounts/{self.account_id}"
        self.connector_id = self.client.post(
            f"{base}/integrations/pull/segment", json={"name": "Segment"}
        ).json()["id"]
        self.api_key = self.client.post(f"{base}/settings/integrations/api-key").json()["api_key"]
        return self

    @property
    def base(self) -> str:
        return f"/api/accounts/{self.account_id}"

    def move_to(self, when: str) -> None:
        assert self.client.put("/_harness/clock", json={"now": when}).status_code == 200


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock(START)
    app = create_abtasty_app(AbTasty(MemoryStore(), clock))
    with TestClient(app) as client:
        yield Api(client, clock)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the contract's JSON error with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and len(body["message"]) > 10
    return body
