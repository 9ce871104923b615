"""The fake Segment over HTTP: Tracking API, workspace setup, delivery overview, control plane."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harness.runtime.asgi import AsgiClient
from harness.runtime.stack import Harness
from tests.http.conftest import assert_error


class Workspace:
    def __init__(self, harness: Harness, abtasty: AsgiClient, segment: AsgiClient) -> None:
        self.harness, self.abtasty, self.segment = harness, abtasty, segment
        account = abtasty.post("/api/accounts", json={"name": "Shop"}).json()["id"]
        abtasty.post(f"/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"})
        self.api_key = abtasty.post(
            f"/api/accounts/{account}/settings/integrations/api-key"
        ).json()["api_key"]
        self.account = account
        source = segment.post("/_segment/sources", json={"name": "web"}).json()
        self.source_id, self.write_key = source["id"], source["write_key"]
        self.destination = segment.post(
            f"/_segment/sources/{self.source_id}/destinations", json={"api_key": self.api_key}
        ).json()

    @property
    def auth(self) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()
        }

    def overview(self) -> dict[str, Any]:
        return self.segment.get(f"/_segment/sources/{self.source_id}/delivery-overview").json()  # type: ignore[no-any-return]


@pytest.fixture
def ws(harness: Harness, abtasty_client: AsgiClient, segment_client: AsgiClient) -> Workspace:
    """The plugin's in-process fakes, set up over HTTP: an account with a key, a source."""
    return Workspace(harness, abtasty_client, segment_client)


@pytest.mark.parametrize("call", ["identify", "group", "track", "page", "screen", "alias"])
def test_tracking_every_call_answers_success(ws: Workspace, call: str) -> None:
    body = {"anonymousId": "a", "userId": "u", "groupId": "g", "previousId": "p", "event": "e"}
    response = ws.segment.post(f"/v1/{call}", json=body, headers=ws.auth)
    assert (response.status_code, response.json()) == (200, {"success": True})


def test_tracking_write_key_in_body(ws: Workspace) -> None:
    response = ws.segment.post("/v1/identify", json={"anonymousId": "a", "writeKey": ws.write_key})
    assert response.json() == {"success": True}


def test_tracking_unknown_write_key_is_401(ws: Workspace) -> None:
    response = ws.segment.post(
        "/v1/identify",
        json={"anonymousId": "a"},
        headers={"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},
    )
    assert_error(response, 401, "invalid_write_key")
    assert_error(
        ws.segment.post("/v1/identify", json={"anonymousId": "a"}), 401, "invalid_write_key"
    )


def test_tracking_invalid_json_and_sizes_are_400(ws: Workspace) -> None:
    assert_error(
        ws.segment.post("/v1/identify", content=b"{", headers=ws.auth), 400, "invalid_json"
    )
    big = json.dumps({"anonymousId": "a", "traits": {"pad": "x" * 33_000}}).encode()
    assert_error(
        ws.segment.post("/v1/identify", content=big, headers=ws.auth), 400, "message_too_large"
    )
    huge = json.dumps(
        {"batch": [{"type": "identify", "anonymousId": "a", "traits": {"p": "x" * 30_000}}] * 18}
    ).encode()
    assert_error(
        ws.segment.post("/v1/batch", content=huge, headers=ws.auth), 400, "batch_too_large"
    )


def test_tracking_batch_over_2500_is_200_and_failed_on_ingest(ws: Workspace) -> None:
    batch = [{"type": "identify", "anonymousId": str(i)} for i in range(2_501)]
    assert ws.segment.post("/v1/batch", json={"batch": batch}, headers=ws.auth).status_code == 200
    stages = ws.overview()["stages"]
    assert stages["received"] == 2_501
    assert stages["failed_on_ingest"] == 2_501


def test_tracking_reaches_ab_tasty_and_overview_shows_it(ws: Workspace) -> None:
    ws.segment.post(
        "/v1/identify",
        json={"anonymousId": "a", "traits": {"plan": "pro"}, "messageId": "m1"},
        headers=ws.auth,
    )
    ws.segment.post(
        "/v1/track",
        json={"anonymousId": "a", "event": "Clicked", "messageId": "m2"},
        headers=ws.auth,
    )
    overview = ws.overview()
    assert overview["stages"] == {
        "received": 2,
        "failed_on_ingest": 0,
        "filtered_at_destination": 1,
        "failed_delivery": 0,
        "delivered": 1,
    }
    delivered = overview["messages"][0]
    assert delivered["message_id"] == "m1"
    assert delivered["destination_id"] == ws.destination["id"]
    assert (delivered["stage"], delivered["attempts"], delivered["last_status"]) == (
        "delivered",
        1,
        200,
    )
    journal = ws.abtasty.get("/_harness/requests", params={"account_id": ws.account}).json()[
        "requests"
    ]
    webhook = [e for e in journal if e["path"] == "/segment/webhook"]
    assert webhook[0]["headers"]["user-agent"] == "Segment.io/1.0"
    assert ws.api_key not in json.dumps(journal)


def test_destination_setup_shows_key_last4_only(ws: Workspace) -> None:
    assert ws.destination["api_key_last4"] == ws.api_key[-4:]
    assert ws.destination["endpoint"] == "inprocess://abtasty/segment/webhook"
    assert ws.destination["name"] == "AB Tasty client side"
    assert_error(
        ws.segment.post("/_segment/sources/src_x/destinations", json={"api_key": "k"}),
        404,
        "source_not_found",
    )
    assert_error(
        ws.segment.post(f"/_segment/sources/{ws.source_id}/destinations", json={}),
        400,
        "invalid_body",
    )
    assert_error(ws.segment.post("/_segment/sources", json={"name": ""}), 400, "invalid_name")
    assert_error(
        ws.segment.get("/_segment/sources/src_x/delivery-overview"), 404, "source_not_found"
    )


def test_wrong_api_key_ends_in_failed_delivery_without_retry(ws: Workspace) -> None:
    bad = ws.segment.post(
        f"/_segment/sources/{ws.source_id}/destinations", json={"api_key": "abt_wrong"}
    ).json()
    ws.segment.post("/v1/identify", json={"anonymousId": "a"}, headers=ws.auth)
    ws.segment.post("/_harness/clock/advance", json={"seconds": 5 * 3600})
    record = next(m for m in ws.overview()["messages"] if m["destination_id"] == bad["id"])
    assert (record["stage"], record["attempts"], record["last_status"]) == (
        "failed_delivery",
        1,
        401,
    )
    assert "invalid_api_key" in record["last_body"]


def test_segment_control_plane_shares_clock_and_resets(ws: Workspace) -> None:
    ws.segment.put("/_harness/clock", json={"now": "2026-03-05T00:00:00Z"})
    assert ws.abtasty.get("/_harness/clock").json()["now"] == "2026-03-05T00:00:00Z"
    assert ws.segment.post("/_harness/reset", params={"source_id": ws.source_id}).json() == {
        "reset": ws.source_id
    }
    assert_error(
        ws.segment.get(f"/_segment/sources/{ws.source_id}/delivery-overview"),
        404,
        "source_not_found",
    )
    assert ws.abtasty.get(f"/api/accounts/{ws.account}").status_code == 200
    assert ws.segment.post("/_harness/reset").json() == {"reset": "all"}
    assert_error(ws.abtasty.get(f"/api/accounts/{ws.account}"), 404, "account_not_found")


def test_segment_schema_served(ws: Workspace) -> None:
    paths = ws.segment.get("/schema/openapi.json").json()["paths"]
    assert "/v1/batch" in paths
    assert "/_segment/sources/{source_id}/delivery-overview" in paths


def test_faults_put_with_one_bad_field_changes_nothing(ws: Workspace) -> None:
    response = ws.segment.put(
        "/_harness/faults",
        json={"outage": {"status": 503, "until": "2026-03-02T23:00:00Z"}, "hold_next": -1},
    )
    assert_error(response, 400, "invalid_body")
    faults = ws.segment.get("/_harness/faults").json()
    assert (faults["outage_status"], faults["hold_next"]) == (None, 0)


def test_faults_put_sets_every_field_at_once(ws: Workspace) -> None:
    body = {
        "outage": {"status": None, "until": "2026-03-02T23:00:00Z"},
        "duplicate_next": 2,
        "hold_next": 1,
        "hold_seconds": 60,
    }
    assert ws.segment.put("/_harness/faults", json=body).status_code == 200
    assert ws.segment.get("/_harness/faults").json() == {
        "outage_status": None,
        "outage_until": "2026-03-02T23:00:00Z",
        "duplicate_next": 2,
        "hold_next": 1,
        "hold_seconds": 60.0,
        "held": 0,
    }
