"""Tenant clocks: /_harness/clocks/{name}, accounts and sources bound to one at creation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from harness import ManualClock
from harness.runtime.stack import Harness
from tests.http.conftest import assert_error
from tests.support import START, basic


class Fleet:
    """Both fakes of one harness on the global clock at START, through test clients."""

    def __init__(self, abtasty: TestClient[Any], segment: TestClient[Any]) -> None:
        self.abtasty = abtasty
        self.segment = segment

    def tenant(self, clock: str | None) -> dict[str, str]:
        """An account and a source delivering to it, bound to ``clock``."""
        body: dict[str, Any] = {"name": "Shop"} | ({"clock": clock} if clock else {})
        account = self.abtasty.post("/api/accounts", json=body)
        assert account.status_code == 201, account.text
        account_id = account.json()["id"]
        self.abtasty.post(
            f"/api/accounts/{account_id}/integrations/pull/segment", json={"name": "Segment"}
        )
        api_key = self.abtasty.post(
            f"/api/accounts/{account_id}/settings/integrations/api-key"
        ).json()["api_key"]
        source = self.segment.post(
            "/_segment/sources", json={"name": "Web"} | ({"clock": clock} if clock else {})
        ).json()
        self.segment.post(
            f"/_segment/sources/{source['id']}/destinations",
            json={"type": "ab_tasty", "api_key": api_key},
        )
        for visitor in ("v1",):
            self.abtasty.post(
                f"/api/accounts/{account_id}/visitors",
                json={"visitor_id": visitor, "segment_anonymous_id": "anon-1"},
            )
        return {"account": account_id, "source": source["id"], "write_key": source["write_key"]}

    def identify(self, tenant: dict[str, str], plan: str) -> None:
        answer = self.segment.post(
            "/v1/identify",
            json={"anonymousId": "anon-1", "traits": {"plan": plan}},
            headers={"Authorization": basic(tenant["write_key"])},
        )
        assert answer.status_code == 200

    def shown(self, tenant: dict[str, str]) -> list[Any]:
        criteria = self.abtasty.get(
            f"/api/accounts/{tenant['account']}/segment-builder/criteria"
        ).json()
        return [t["key"] for item in criteria["groups"][0]["items"] for t in item["traits"]]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    harness = Harness(ManualClock(START))
    with TestClient(harness.abtasty_app()) as abtasty, TestClient(harness.segment_app()) as segment:
        yield Fleet(abtasty, segment)


def test_tenant_clock_created_then_moved_never_back(fleet: Fleet) -> None:
    created = fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-05-01T10:00:00Z"})
    assert created.status_code == 201
    assert created.json() == {"name": "team-a", "now": "2026-05-01T10:00:00Z", "mode": "manual"}
    moved = fleet.segment.put("/_harness/clocks/team-a", json={"now": "2026-05-01T11:00:00Z"})
    assert moved.status_code == 200  # one book of clocks behind both fakes
    advanced = fleet.abtasty.post("/_harness/clocks/team-a/advance", json={"seconds": 60})
    assert advanced.json()["now"] == "2026-05-01T11:01:00Z"
    assert_error(
        fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-05-01T09:00:00Z"}),
        409,
        "clock_backwards",
    )
    assert fleet.abtasty.get("/_harness/clocks").json() == {
        "clocks": [{"name": "team-a", "now": "2026-05-01T11:01:00Z", "mode": "manual"}]
    }
    assert fleet.abtasty.get("/_harness/clock").json()["now"] == "2026-03-02T12:00:00Z"


def test_tenant_clock_unknown_or_badly_named(fleet: Fleet) -> None:
    assert_error(fleet.abtasty.get("/_harness/clocks/nope"), 404, "clock_not_found")
    assert_error(
        fleet.abtasty.post("/api/accounts", json={"name": "Shop", "clock": "nope"}),
        404,
        "clock_not_found",
    )
    assert_error(
        fleet.segment.post("/_segment/sources", json={"name": "Web", "clock": "nope"}),
        404,
        "clock_not_found",
    )
    assert_error(
        fleet.abtasty.put("/_harness/clocks/a%20b", json={"now": "2026-05-01T10:00:00Z"}),
        400,
        "invalid_body",
    )


def test_tenant_clock_drives_only_its_tenants_nightly_run(fleet: Fleet) -> None:
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-03-02T12:00:00Z"})
    ours, theirs = fleet.tenant("team-a"), fleet.tenant(None)
    fleet.identify(ours, "pro")
    fleet.identify(theirs, "pro")
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-03-03T02:59:59Z"})
    assert fleet.shown(ours) == []
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-03-03T03:00:00Z"})
    assert fleet.shown(ours) == ["plan"]
    assert fleet.shown(theirs) == []  # the global clock has not moved
    account = fleet.abtasty.get(f"/api/accounts/{ours['account']}").json()
    assert account["clock"] == "team-a"


def test_tenant_clock_journal_shows_the_tenants_time(fleet: Fleet) -> None:
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2027-01-01T00:00:00Z"})
    ours = fleet.tenant("team-a")
    fleet.identify(ours, "pro")
    entries = fleet.abtasty.get(
        "/_harness/requests", params={"account_id": ours["account"]}
    ).json()["requests"]
    assert {e["at"] for e in entries} == {"2027-01-01T00:00:00Z"}
    tracked = fleet.segment.get("/_harness/requests", params={"account_id": ours["source"]}).json()[
        "requests"
    ]
    assert [e["at"] for e in tracked if e["path"] == "/v1/identify"] == ["2027-01-01T00:00:00Z"]


def test_tenant_clock_dedup_window_follows_it(fleet: Fleet) -> None:
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-03-02T12:00:00Z"})
    ours = fleet.tenant("team-a")
    account = ours["account"]
    key = fleet.abtasty.post(
        f"/api/accounts/{account}/settings/integrations/api-key/regenerate"
    ).json()["api_key"]
    body = {"type": "identify", "messageId": "m1", "anonymousId": "anon-1"}
    headers = {"Authorization": basic(key)}

    def status() -> str:
        answer: str = fleet.abtasty.post("/segment/webhook", json=body, headers=headers).json()[
            "status"
        ]
        return answer

    assert status() == "accepted"
    fleet.abtasty.put("/_harness/clock", json={"now": "2026-03-04T12:00:00Z"})  # global: no effect
    assert status() == "duplicate"
    fleet.abtasty.put("/_harness/clocks/team-a", json={"now": "2026-03-03T12:00:00Z"})
    assert status() == "accepted"  # 24 hours on the tenant's own clock
