"""Junk never gets a 5xx: deep nesting, wrong content types, absurd clocks, invalid UTF-8."""

from __future__ import annotations

import pytest

from harness.runtime.asgi import AsgiClient


@pytest.fixture
def clients(
    abtasty_client: AsgiClient, segment_client: AsgiClient
) -> tuple[AsgiClient, AsgiClient]:
    """The plugin's in-process fakes: fresh state, and a crash fails the test."""
    return abtasty_client, segment_client


DEEP = b'{"name":' + b"[" * 50_000 + b"]" * 50_000 + b"}"


@pytest.mark.parametrize("path", ["/api/accounts", "/_harness/clock/advance", "/_segment/sources"])
def test_hostile_deep_nesting_into_typed_routes_is_400(
    clients: tuple[AsgiClient, AsgiClient], path: str
) -> None:
    client = clients[1] if path.startswith("/_segment") else clients[0]
    reply = client.request("POST", path, content=DEEP, headers={"content-type": "application/json"})
    assert reply.status == 400
    # Too deep to read (invalid_json), or refused by type before the depth matters:
    # "name must be a string, not an array" (invalid_body).
    assert reply.json()["code"] in {"invalid_json", "invalid_body"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"name=x"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("application/x-www-form-urlencoded", b"name=x"),
        ("application/json; charset=latin-1", b'{"name": "caf\xe9"}'),
        ("application/json", b"\xef\xbb\xbf{}"),
    ],
)
def test_hostile_wrong_content_types_are_json_4xx(
    clients: tuple[AsgiClient, AsgiClient], content_type: str, body: bytes
) -> None:
    reply = clients[0].request(
        "POST", "/api/accounts", content=body, headers={"content-type": content_type}
    )
    assert 400 <= reply.status < 500
    assert set(reply.json()) == {"code", "message"}


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_hostile_absurd_clock_is_refused(clients: tuple[AsgiClient, AsgiClient], when: str) -> None:
    reply = clients[0].request("PUT", "/_harness/clock", json={"now": when})
    assert (reply.status, reply.json()["code"]) == (400, "invalid_body")
    assert "2200" in reply.json()["message"]


def test_hostile_advance_past_the_clock_range_is_refused(
    clients: tuple[AsgiClient, AsgiClient],
) -> None:
    reply = clients[0].request(
        "POST", "/_harness/clock/advance", json={"seconds": 99 * 366 * 86_400 * 2}
    )
    assert reply.status == 400


def test_hostile_absurd_message_timestamps_are_kept_or_refused_never_500(
    clients: tuple[AsgiClient, AsgiClient],
) -> None:
    from tests.support import basic

    abtasty, segment = clients
    account = abtasty.request("POST", "/api/accounts", json={"name": "S"}).json()["id"]
    abtasty.request(
        "POST", f"/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"}
    )
    key = abtasty.request("POST", f"/api/accounts/{account}/settings/integrations/api-key").json()[
        "api_key"
    ]
    for stamp in (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2026-03-02T12:00:00+14:00",
        "2026-03-02T12:00:00-12:00",
    ):
        message = {
            "type": "identify",
            "messageId": stamp,
            "anonymousId": "a",
            "timestamp": stamp,
            "sentAt": "0001-01-01T00:00:00Z",
        }
        reply = abtasty.request(
            "POST", "/segment/webhook", json=message, headers={"Authorization": basic(key)}
        )
        assert reply.status == 200, reply.text
    source = segment.request("POST", "/_segment/sources", json={"name": "web"}).json()
    body = {
        "anonymousId": "a",
        "originalTimestamp": "9999-12-31T23:59:59Z",
        "sentAt": "0001-01-01T00:00:00Z",
    }
    assert (
        segment.request(
            "POST", "/v1/identify", json=body, headers={"Authorization": basic(source["write_key"])}
        ).status
        == 200
    )
    abtasty.request("PUT", "/_harness/clock", json={"now": "2026-03-05T00:00:00Z"})
    assert abtasty.request("GET", f"/api/accounts/{account}/segment-builder/criteria").status == 200


def test_hostile_ten_idle_years_of_catch_up_are_all_recorded() -> None:
    from tests.support import World

    world = World.build()
    world.see("v1")
    world.identify(plan="pro")
    world.at("2036-03-02T12:00:00Z")
    runs = world.refreshes()
    assert len(runs) == 3_653
    assert [r.messages for r in runs[:2]] == [1, 0]
    assert world.shown() == {"plan": {"pro": 1}}


@pytest.mark.parametrize(
    "path",
    [
        "/api/accounts/%ff%fe",
        "/api/accounts/\u00e9\u4e2d/integrations",
        "/api/accounts/" + "x" * 5_000,
    ],
)
def test_hostile_odd_paths_are_json_4xx(clients: tuple[AsgiClient, AsgiClient], path: str) -> None:
    reply = clients[0].request("GET", path)
    assert 400 <= reply.status < 500
    assert set(reply.json()) == {"code", "message"}
