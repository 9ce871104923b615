"""The fake AB Tasty on a real socket: uvicorn on loopback, spoken to with requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests

from harness import ManualClock
from harness.abtasty import AbTasty
from harness.abtasty.store import MemoryStore
from harness.http import create_abtasty_app
from harness.runtime.server import LiveServer, live_session
from tests.support import START, basic, message


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_abtasty_app(AbTasty(MemoryStore(), ManualClock(START)))
    with LiveServer(app) as live:
        yield live


def test_live_server_full_flow_with_manual_clock(server: LiveServer) -> None:
    http = live_session()
    url = server.url
    account = http.post(f"{url}/api/accounts", json={"name": "Live"}).json()["id"]
    base = f"{url}/api/accounts/{account}"
    connector = http.post(f"{base}/integrations/pull/segment", json={"name": "Segment"}).json()[
        "id"
    ]
    key = http.post(f"{base}/settings/integrations/api-key").json()["api_key"]
    http.post(f"{base}/visitors", json={"visitor_id": "v1", "segment_anonymous_id": "anon-1"})
    webhook = http.post(
        f"{url}/segment/webhook",
        data=json.dumps(message(traits={"plan": "pro"})),
        headers={
            "Authorization": basic(key),
            "User-Agent": "Segment.io/1.0",
            "Content-Type": "application/json",
        },
    )
    assert webhook.json() == {"status": "accepted"}
    http.put(f"{url}/_harness/clock", json={"now": "2026-03-03T03:00:00Z"})
    item = http.get(f"{base}/segment-builder/criteria").json()["groups"][0]["items"][0]
    assert item["connector_id"] == connector
    assert item["traits"] == [
        {
            "key": "plan",
            "source": "identify",
            "path": ["plan"],
            "values": [{"value": "pro", "visitors": 1}],
        }
    ]


def test_live_server_oversized_body_refused_without_reading_it_all(server: LiveServer) -> None:
    def endless() -> Iterator[bytes]:
        for _ in range(10_000):  # 10 MB offered; the server stops after 32 KB
            yield b"x" * 1_000

    response = requests.post(
        f"{server.url}/segment/webhook", data=endless(), headers={"Authorization": basic("k")}
    )
    assert response.status_code == 401  # auth is checked before a byte of the body is read


def test_live_server_unknown_route_is_json_404(server: LiveServer) -> None:
    response = requests.get(f"{server.url}/nope")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_live_server_stops_what_it_started() -> None:
    live = LiveServer(create_abtasty_app()).start()
    assert requests.get(f"{live.url}/_harness/health").json() == {"status": "ok"}
    live.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{live.url}/_harness/health", timeout=2)


def test_live_server_refuses_non_loopback_host() -> None:
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError) as caught:
        LiveServer(create_abtasty_app(), host="0.0.0.0")
    assert caught.value.code == "admin_token_required"


def test_live_server_stops_every_thread_it_started() -> None:
    # Litestar's default logging handler started a queue-listener thread at every app
    # start-up that never stopped: a test session built hundreds of them.
    before = set(threading.enumerate())
    for _ in range(3):
        app = create_abtasty_app(AbTasty(MemoryStore(), ManualClock(START)))
        with LiveServer(app) as live:
            assert requests.get(f"{live.url}/_harness/health", timeout=5).status_code == 200
    left = [thread.name for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert left == []
