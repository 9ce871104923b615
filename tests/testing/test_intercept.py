"""Segment's real hosts answered by the in-process fake Segment (``responses``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses
import segment.analytics as analytics
from freezegun import freeze_time
from segment.analytics import Client

from harness import ManualClock
from harness.runtime.requests_routing import active_requests_mock
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, ClockControl, SourceHandle, basic_auth
from harness.testing.intercept import SEGMENT_HOSTS, SegmentIntercept, intercept_segment
from harness.testing.plugin import LiveHarness
from tests.support import t

APP_WRITE_KEY = "the-apps-own-production-write-key-WXYZ"


def _identify_at_23h(clock: ClockControl, account: AccountHandle) -> None:
    account.see("visitor-1", "anon-1")
    clock.move_to("2026-03-02T23:00:00Z")


def _activated(clock: ClockControl, account: AccountHandle) -> dict[str, dict[object, int]]:
    clock.move_to("2026-03-03T03:00:00Z")
    return account.shown()


def test_intercept_routes_analytics_python_default_host_in_sync_mode(
    segment_intercept: SegmentIntercept, harness_clock: ClockControl, abtasty_account: AccountHandle
) -> None:
    _identify_at_23h(harness_clock, abtasty_account)
    client = Client(APP_WRITE_KEY, sync_mode=True)  # host left at Segment's default
    client.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    assert _activated(harness_clock, abtasty_account) == {"plan": {"pro": 1}}
    (call,) = segment_intercept.calls
    assert isinstance(call.response, requests.Response)
    assert (call.request.url, call.response.status_code) == ("https://api.segment.io/v1/batch", 200)


@pytest.fixture
def app_analytics() -> Iterator[None]:
    """The application's module-level analytics, configured as in production."""
    analytics.write_key = APP_WRITE_KEY
    yield
    analytics.shutdown()
    analytics.default_client = None
    analytics.write_key = None


def test_intercept_routes_the_default_background_thread_after_flush(
    segment_intercept: SegmentIntercept,
    app_analytics: None,
    harness_clock: ClockControl,
    abtasty_account: AccountHandle,
    simulated_segment: SourceHandle,
) -> None:
    _identify_at_23h(harness_clock, abtasty_account)
    analytics.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    analytics.track(anonymous_id="anon-1", event="Signed Up")
    analytics.flush()  # the consumer thread posts the batch
    assert analytics.default_client is not None
    assert analytics.default_client.sync_mode is False
    assert simulated_segment.stages()["delivered"] == 1
    assert simulated_segment.stages()["filtered_at_destination"] == 1
    assert _activated(harness_clock, abtasty_account) == {"plan": {"pro": 1}}


def test_intercept_routes_a_plain_requests_post_to_v1_batch(
    segment_intercept: SegmentIntercept, harness_clock: ClockControl, abtasty_account: AccountHandle
) -> None:
    _identify_at_23h(harness_clock, abtasty_account)
    batch = {"batch": [{"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "pro"}}]}
    answer = requests.post(
        "https://api.segment.io/v1/batch",
        json=batch,
        headers={"Authorization": basic_auth(APP_WRITE_KEY)},
        timeout=5,
    )
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert _activated(harness_clock, abtasty_account) == {"plan": {"pro": 1}}


def test_intercept_routes_the_eu_host(
    segment_intercept: SegmentIntercept, harness_clock: ClockControl, abtasty_account: AccountHandle
) -> None:
    _identify_at_23h(harness_clock, abtasty_account)
    client = Client(APP_WRITE_KEY, host="https://events.eu1.segmentapis.com", sync_mode=True)
    client.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    assert _activated(harness_clock, abtasty_account) == {"plan": {"pro": 1}}
    assert segment_intercept.calls[0].request.url == "https://events.eu1.segmentapis.com/v1/batch"


def test_intercept_routes_analytics_python_with_gzip(
    segment_intercept: SegmentIntercept, simulated_segment: SourceHandle
) -> None:
    client = Client(APP_WRITE_KEY, sync_mode=True, gzip=True)
    client.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    assert simulated_segment.stages()["delivered"] == 1
    assert segment_intercept.calls[0].request.headers["Content-Encoding"] == "gzip"


def test_intercept_answers_as_the_fake_segment_does(segment_intercept: SegmentIntercept) -> None:
    answer = requests.post("https://api.segment.io/v1/identify", data=b"{not json", timeout=5)
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_json")
    answer = requests.get("https://api.segment.io/v1/identify", timeout=5)
    assert answer.status_code == 405


def test_intercept_adopts_the_apps_write_key_into_the_tests_source(
    segment_intercept: SegmentIntercept, simulated_segment: SourceHandle
) -> None:
    Client(APP_WRITE_KEY, sync_mode=True).identify(anonymous_id="anon-1", traits={"plan": "pro"})
    Client(simulated_segment.write_key, sync_mode=True).identify(anonymous_id="anon-2", traits={})
    assert segment_intercept.adopted == ["WXYZ"]
    assert simulated_segment.stages()["received"] == 2


def test_intercept_works_beside_the_tests_own_responses_add(
    segment_intercept: SegmentIntercept, harness_clock: ClockControl, abtasty_account: AccountHandle
) -> None:
    responses.add(responses.GET, "https://crm.example.com/users/7", json={"plan": "pro"})
    _identify_at_23h(harness_clock, abtasty_account)
    plan = requests.get("https://crm.example.com/users/7", timeout=5).json()["plan"]
    Client(APP_WRITE_KEY, sync_mode=True).identify(anonymous_id="anon-1", traits={"plan": plan})
    assert _activated(harness_clock, abtasty_account) == {"plan": {"pro": 1}}
    assert segment_intercept.mock is responses.mock
    assert [c.request.url for c in responses.calls] == [
        "https://crm.example.com/users/7",
        "https://api.segment.io/v1/batch",
    ]


@responses.activate
def test_intercept_works_under_responses_activate(
    segment_intercept: SegmentIntercept, simulated_segment: SourceHandle
) -> None:
    responses.add(responses.GET, "https://crm.example.com/users/7", json={"plan": "pro"})
    assert requests.get("https://crm.example.com/users/7", timeout=5).json() == {"plan": "pro"}
    Client(APP_WRITE_KEY, sync_mode=True).identify(anonymous_id="anon-1", traits={"plan": "pro"})
    assert simulated_segment.stages()["delivered"] == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_intercept_routes_never_fail_a_strict_responses_activate(
    segment_intercept: SegmentIntercept,
) -> None:
    responses.add(responses.GET, "https://crm.example.com/users/7", json={"plan": "pro"})
    requests.get("https://crm.example.com/users/7", timeout=5)
    # The decorator checks, before the intercept ends, that every registered route fired.
    assert all(route.call_count >= 1 for route in segment_intercept.routes)


@pytest.fixture
def strict_mock() -> Iterator[responses.RequestsMock]:
    """The test's own RequestsMock, started before the intercept, that checks every route fired."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(responses.GET, "https://crm.example.com/users/7", json={"plan": "pro"})
        yield mock


def test_intercept_registers_on_the_tests_active_mock(
    strict_mock: responses.RequestsMock,
    segment_intercept: SegmentIntercept,
    simulated_segment: SourceHandle,
) -> None:
    assert segment_intercept.mock is strict_mock
    plan = requests.get("https://crm.example.com/users/7", timeout=5).json()["plan"]
    Client(APP_WRITE_KEY, sync_mode=True).identify(anonymous_id="anon-1", traits={"plan": plan})
    assert simulated_segment.stages()["delivered"] == 1
    # On exit, the strict mock checks its own route fired and ignores the unused EU host.


def test_intercept_removes_its_routes_from_the_tests_mock_on_exit() -> None:
    harness = Harness(ManualClock(t("2026-03-02T12:00:00Z")))
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://crm.example.com/users/7", json={})
        with intercept_segment(harness, passthrough=["http://127.0.0.1"]):
            assert len(mock.registered()) > 1
            inside = mock.passthru_prefixes
        assert inside == ("http://127.0.0.1",)
        assert [r.url for r in mock.registered()] == ["https://crm.example.com/users/7"]
        assert mock.passthru_prefixes == ()
        requests.get("https://crm.example.com/users/7", timeout=5)


def test_intercept_refuses_other_hosts_by_default(segment_intercept: SegmentIntercept) -> None:
    with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
        requests.get("https://crm.example.com/users/7", timeout=5)


def test_intercept_passes_chosen_hosts_through(
    segment_intercept: SegmentIntercept, harness_live: LiveHarness, abtasty_account: AccountHandle
) -> None:
    url = harness_live.abtasty_url
    segment_intercept.pass_through(url)
    answer = requests.get(f"{url}/api/accounts/{abtasty_account.id}", timeout=5)
    assert answer.json()["id"] == abtasty_account.id


def test_intercept_follows_freezegun(
    segment_intercept: SegmentIntercept, abtasty_account: AccountHandle
) -> None:
    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        Client(APP_WRITE_KEY, sync_mode=True).identify(
            anonymous_id="anon-1", traits={"plan": "pro"}
        )
        frozen.move_to("2026-03-03T02:59:59Z")
        assert abtasty_account.shown() == {}
        frozen.move_to("2026-03-03T03:00:01Z")
        assert abtasty_account.shown() == {"plan": {"pro": 1}}
    body = json.loads(segment_intercept.calls[0].request.body or b"{}")
    assert body["sentAt"].startswith("2026-03-02T23:00:00")  # the library read the frozen time


@freeze_time("2026-03-02T23:00:00Z")
def test_intercept_follows_a_freezegun_decorator_in_background_mode(
    segment_intercept: SegmentIntercept, app_analytics: None, abtasty_account: AccountHandle
) -> None:
    abtasty_account.see("visitor-1", "anon-1")
    analytics.identify(anonymous_id="anon-1", traits={"plan": "pro"})
    analytics.flush()
    with freeze_time("2026-03-03T03:00:01Z"):
        assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_intercept_segment_outside_pytest_delivers_to_the_source() -> None:
    harness = Harness(ManualClock(t("2026-03-02T23:00:00Z")))
    account = AccountHandle.create(harness)
    source = SourceHandle.create(harness, account)
    account.see("visitor-1", "anon-1")
    with intercept_segment(harness, source_id=source.source.id) as intercept:
        assert active_requests_mock() is intercept.mock
        Client(APP_WRITE_KEY, sync_mode=True).identify(
            anonymous_id="anon-1", traits={"plan": "pro"}
        )
    assert active_requests_mock() is None
    harness.move_to(t("2026-03-03T03:00:00Z"))
    assert account.shown() == {"plan": {"pro": 1}}
    assert intercept.hosts == SEGMENT_HOSTS


def test_intercept_segment_without_a_source_refuses_unknown_write_keys() -> None:
    harness = Harness(ManualClock(t("2026-03-02T23:00:00Z")))
    with intercept_segment(harness):
        answer = requests.post(
            "https://api.segment.io/v1/identify",
            json={"anonymousId": "anon-1", "traits": {}},
            headers={"Authorization": basic_auth(APP_WRITE_KEY)},
            timeout=5,
        )
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_write_key")
    assert "WXYZ" in answer.json()["message"]
    assert APP_WRITE_KEY[:-4] not in answer.text


def test_intercept_segment_refuses_an_unknown_source() -> None:
    from harness.core.errors import HarnessError

    harness = Harness(ManualClock(t("2026-03-02T23:00:00Z")))
    with pytest.raises(HarnessError) as refused, intercept_segment(harness, source_id="src_nope"):
        pass
    assert refused.value.code == "source_not_found"


def test_intercept_forgets_adopted_keys_when_the_source_is_reset() -> None:
    harness = Harness(ManualClock(t("2026-03-02T23:00:00Z")))
    source, _ = harness.segment.create_source("web")
    assert harness.segment.adopt_write_key(source.id, APP_WRITE_KEY)
    assert not harness.segment.adopt_write_key(source.id, APP_WRITE_KEY)
    assert harness.segment.source_for_write_key(APP_WRITE_KEY).id == source.id
    harness.segment.reset(source.id)
    other, _ = harness.segment.create_source("other")
    assert harness.segment.adopt_write_key(other.id, APP_WRITE_KEY)
