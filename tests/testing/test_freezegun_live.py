"""The live server and async tests under ``freeze_time(..., real_asyncio=True)``."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests
from freezegun import freeze_time
from segment.analytics import Client

from harness.runtime.asgi import AsgiClient
from harness.testing.handles import AccountHandle, SourceHandle
from harness.testing.plugin import LiveHarness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _criteria_path(account: AccountHandle) -> str:
    return f"/api/accounts/{account.id}/segment-builder/criteria"


def _shown_traits(criteria: dict[str, object]) -> list[str]:
    items = criteria["groups"][0]["items"]  # type: ignore[index]
    return [trait["key"] for item in items for trait in item["traits"]]


def test_live_server_follows_freeze_time(
    harness_live: LiveHarness, abtasty_account: AccountHandle, simulated_segment: SourceHandle
) -> None:
    abtasty_account.see("visitor-1", "anon-1")
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True) as frozen:
        clock = requests.get(f"{harness_live.abtasty_url}/_harness/clock", timeout=5).json()
        assert clock == {"now": "2026-03-02T23:00:00Z", "mode": "system"}
        client = Client(simulated_segment.write_key, host=harness_live.segment_url, sync_mode=True)
        client.identify(anonymous_id="anon-1", traits={"plan": "pro"})
        frozen.move_to("2026-03-03T03:00:01Z")
        criteria = requests.get(
            harness_live.abtasty_url + _criteria_path(abtasty_account), timeout=5
        ).json()
    assert _shown_traits(criteria) == ["plan"]


def test_live_server_refuses_clock_moves_under_freeze_time(harness_live: LiveHarness) -> None:
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True):
        answer = requests.put(
            f"{harness_live.abtasty_url}/_harness/clock",
            json={"now": "2026-03-03T03:00:00Z"},
            timeout=5,
        )
    assert (answer.status_code, answer.json()["code"]) == (409, "clock_not_manual")


def test_live_server_answers_409_when_freezegun_moves_back(harness_live: LiveHarness) -> None:
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True) as frozen:
        requests.get(f"{harness_live.abtasty_url}/_harness/clock", timeout=5)
        frozen.move_to("2026-03-02T22:00:00Z")
        answer = requests.get(f"{harness_live.abtasty_url}/_harness/clock", timeout=5)
        frozen.move_to("2026-03-02T23:00:00Z")
    assert (answer.status_code, answer.json()["code"]) == (409, "clock_backwards")


def test_live_server_files_a_call_refused_by_freezegun_at_the_clocks_last_instant(
    harness_live: LiveHarness,
) -> None:
    url = harness_live.abtasty_url
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True) as frozen:
        requests.get(f"{url}/_harness/clock", timeout=5)
        frozen.move_to("2026-03-02T22:00:00Z")
        refused = requests.get(f"{url}/_harness/clock?probe=back", timeout=5)
        frozen.move_to("2026-03-02T23:30:00Z")
        requests.get(f"{url}/_harness/clock?probe=after", timeout=5)
    assert refused.status_code == 409
    filed = requests.get(f"{url}/_harness/requests", timeout=5).json()["requests"]
    at = {entry["path"]: entry["at"] for entry in filed}
    assert at["/_harness/clock?probe=back"] == "2026-03-02T23:00:00Z"
    assert at["/_harness/clock?probe=after"] == "2026-03-02T23:30:00Z"


@pytest.mark.anyio
async def test_async_test_reaches_the_live_server_under_freeze_time(
    harness_live: LiveHarness, abtasty_account: AccountHandle, simulated_segment: SourceHandle
) -> None:
    abtasty_account.see("visitor-1", "anon-1")
    with freeze_time("2026-03-02T23:00:00Z", real_asyncio=True) as frozen:
        async with httpx.AsyncClient(timeout=5) as http:
            sent = await http.post(
                f"{harness_live.segment_url}/v1/identify",
                json={"anonymousId": "anon-1", "traits": {"plan": "pro"}},
                auth=(simulated_segment.write_key, ""),
            )
            await asyncio.sleep(0.01)  # real time passes; the frozen time does not
            frozen.move_to("2026-03-03T03:00:01Z")
            criteria = await http.get(harness_live.abtasty_url + _criteria_path(abtasty_account))
    assert sent.status_code == 200
    assert _shown_traits(criteria.json()) == ["plan"]


@pytest.mark.anyio
@freeze_time("2026-03-02T23:00:00Z", real_asyncio=True)
async def test_async_test_decorated_with_freeze_time(
    abtasty_account: AccountHandle, abtasty_client: AsgiClient
) -> None:
    abtasty_account.see("visitor-1", "anon-1")
    abtasty_account.identify("anon-1", plan="pro")
    await asyncio.sleep(0.01)
    with freeze_time("2026-03-03T03:00:01Z", real_asyncio=True):
        reply = abtasty_client.request("GET", _criteria_path(abtasty_account))
    assert _shown_traits(reply.json()) == ["plan"]


@pytest.mark.anyio
async def test_async_test_with_tick_moves_the_live_clock_in_real_time(
    harness_live: LiveHarness,
) -> None:
    with freeze_time("2026-03-02T23:00:00Z", tick=True, real_asyncio=True):
        async with httpx.AsyncClient(timeout=5) as http:
            before = (await http.get(f"{harness_live.abtasty_url}/_harness/clock")).json()["now"]
            await asyncio.sleep(0.05)
            after = (await http.get(f"{harness_live.abtasty_url}/_harness/clock")).json()["now"]
    assert "2026-03-02T23:00:00" <= before < after < "2026-03-02T23:00:10"
