"""The /_harness control plane: health, clock, journal, reset; and the admin token."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from harness import SystemClock
from harness.abtasty import AbTasty
from harness.http import create_abtasty_app
from tests.http.conftest import Api, assert_error
from tests.support import message


def test_health(api: Api) -> None:
    assert api.client.get("/_harness/health").json() == {"status": "ok"}


def test_clock_read_set_advance(api: Api) -> None:
    assert api.client.get("/_harness/clock").json() == {
        "now": "2026-03-02T12:00:00Z",
        "mode": "manual",
    }
    assert (
        api.client.put("/_harness/clock", json={"now": "2026-03-03T05:00:00+02:00"}).json()["now"]
        == "2026-03-03T03:00:00Z"
    )
    assert (
        api.client.post("/_harness/clock/advance", json={"seconds": 90.5}).json()["now"]
        == "2026-03-03T03:01:30.500000Z"
    )


def test_clock_backwards_is_409(api: Api) -> None:
    assert_error(
        api.client.put("/_harness/clock", json={"now": "2026-03-01T00:00:00Z"}),
        409,
        "clock_backwards",
    )
    assert_error(
        api.client.post("/_harness/clock/advance", json={"seconds": -1}), 409, "clock_backwards"
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_harness/clock", {"now": "soon"}),
        ("/_harness/clock", {"now": "2026-03-03T00:00:00"}),
        ("/_harness/clock", {}),
        ("/_harness/clock/advance", {"seconds": "ten"}),
        ("/_harness/clock/advance", {"seconds": 1e300}),
        ("/_harness/clock/advance", {"seconds": "10"}),
        ("/_harness/clock/advance", {"seconds": True}),
        ("/_harness/clock", {"now": 1767225600}),
        ("/_harness/clock", {"now": "10000-01-01T00:00:00Z"}),
    ],
)
def test_clock_bad_input_is_400(api: Api, path: str, body: dict[str, object]) -> None:
    method = api.client.put if path == "/_harness/clock" else api.client.post
    assert_error(method(path, json=body), 400, "invalid_body")


def test_clock_system_mode_cannot_be_set() -> None:
    with TestClient(create_abtasty_app(AbTasty(clock=SystemClock()))) as client:
        assert client.get("/_harness/clock").json()["mode"] == "system"
        assert_error(
            client.put("/_harness/clock", json={"now": "2030-01-01T00:00:00Z"}),
            409,
            "clock_not_manual",
        )
        assert_error(
            client.post("/_harness/clock/advance", json={"seconds": 5}), 409, "clock_not_manual"
        )


def test_refresh_runs_when_clock_moved_through_control_plane(api: Api) -> None:
    api.setup()
    api.client.post(
        f"{api.base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"}
    )
    api.client.post(
        "/segment/webhook",
        content=json.dumps(message(traits={"plan": "pro"})).encode(),
        headers=api.auth,
    )
    api.client.post("/_harness/clock/advance", json={"seconds": 15 * 3600})  # 03:00 next day
    traits = api.client.get(f"{api.base}/segment-builder/criteria").json()["groups"][0]["items"][0][
        "traits"
    ]
    assert traits == [
        {
            "key": "plan",
            "source": "identify",
            "path": ["plan"],
            "values": [{"value": "pro", "visitors": 1}],
        }
    ]


def test_journal_masks_secrets_and_files_webhook_under_key_account(api: Api) -> None:
    api.setup()
    api.client.post("/segment/webhook", content=json.dumps(message()).encode(), headers=api.auth)
    entries = api.client.get("/_harness/requests").json()["requests"]
    text = json.dumps(entries)
    assert api.api_key not in text
    key_entry = next(e for e in entries if e["path"].endswith("/api-key"))
    assert key_entry["response"] == {"api_key": "****" + api.api_key[-4:]}
    webhook = entries[-1]
    assert webhook["path"] == "/segment/webhook" and webhook["status"] == 200
    assert webhook["account_id"] == api.account_id
    assert webhook["headers"]["authorization"] == "Basic ****" + api.api_key[-4:]
    assert webhook["body"]["type"] == "identify" and webhook["response"] == {"status": "accepted"}
    assert webhook["at"].endswith("Z")


def test_journal_filters_by_account_and_limit_newest_last(api: Api) -> None:
    api.setup()
    other = api.client.post("/api/accounts", json={"name": "Other"}).json()["id"]
    api.client.get(f"/api/accounts/{other}")
    mine = api.client.get("/_harness/requests", params={"account_id": api.account_id}).json()[
        "requests"
    ]
    assert {e["account_id"] for e in mine} == {api.account_id}
    last = api.client.get("/_harness/requests", params={"limit": 1}).json()["requests"]
    assert [e["path"] for e in last] == [f"/api/accounts/{other}"]
    assert_error(api.client.get("/_harness/requests", params={"limit": 0}), 400, "invalid_body")


def test_journal_is_bounded() -> None:
    from harness.http.journal import RequestJournal

    app = create_abtasty_app(journal=RequestJournal(capacity=5))
    with TestClient(app) as client:
        for _ in range(20):
            client.get("/api/accounts/nope")
        assert len(client.get("/_harness/requests").json()["requests"]) == 5


def test_reset_one_tenant_keeps_others_and_clock(api: Api) -> None:
    api.setup()
    other = api.client.post("/api/accounts", json={"name": "Other"}).json()["id"]
    api.move_to("2026-03-05T00:00:00Z")
    assert api.client.post("/_harness/reset", params={"account_id": api.account_id}).json() == {
        "reset": api.account_id
    }
    journal = api.client.get("/_harness/requests", params={"account_id": api.account_id}).json()
    assert journal["requests"] == []
    assert_error(api.client.get(api.base), 404, "account_not_found")
    assert api.client.get(f"/api/accounts/{other}").status_code == 200
    assert api.client.get("/_harness/clock").json()["now"] == "2026-03-05T00:00:00Z"
    assert api.client.post("/_harness/reset").json() == {"reset": "all"}
    assert_error(api.client.get(f"/api/accounts/{other}"), 404, "account_not_found")
    assert_error(
        api.client.post("/_harness/reset", params={"account_id": "acc_gone"}),
        404,
        "account_not_found",
    )


def test_reset_revokes_tenant_key(api: Api) -> None:
    api.setup()
    api.client.post("/_harness/reset", params={"account_id": api.account_id})
    response = api.client.post(
        "/segment/webhook", content=json.dumps(message()).encode(), headers=api.auth
    )
    assert_error(response, 401, "invalid_api_key")


@pytest.fixture
def guarded() -> Iterator[TestClient[Any]]:
    with TestClient(create_abtasty_app(admin_token="s3cret-token")) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/accounts/x", "/_harness/clock", "/_harness/requests"])
def test_admin_token_required_on_setup_and_control_routes(
    guarded: TestClient[Any], path: str
) -> None:
    assert_error(guarded.get(path), 401, "missing_admin_token")
    assert_error(
        guarded.get(path, headers={"Authorization": "Bearer wrong"}), 401, "invalid_admin_token"
    )
    assert_error(
        guarded.get(path, headers={"Authorization": "Basic s3cret-token"}),
        401,
        "invalid_admin_token",
    )


def test_admin_token_lets_owner_in_and_webhook_keeps_key_auth(guarded: TestClient[Any]) -> None:
    admin = {"Authorization": "Bearer s3cret-token"}
    account = guarded.post("/api/accounts", json={"name": "S"}, headers=admin)
    assert account.status_code == 201
    assert_error(guarded.post("/segment/webhook", content=b"{}"), 401, "missing_api_key")
    entries = guarded.get("/_harness/requests", headers=admin).json()["requests"]
    assert "s3cret-token" not in json.dumps(entries)


def test_requests_log_nothing_at_info(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        api.client.get("/api/accounts/nope")
        api.client.post("/api/accounts", content=b"{")
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]  # httpx is the test client
    assert [r for r in ours if r.levelno <= logging.INFO] == []
