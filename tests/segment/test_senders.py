"""The three ways the fake Segment reaches a destination: in-process, HTTP via requests, any URL."""

from __future__ import annotations

import base64
import json
from typing import Any

import responses

from harness import ManualClock
from harness.runtime.asgi import AsgiClient
from harness.runtime.stack import Harness
from harness.runtime.transports import INPROCESS_ABTASTY, InProcessAbTasty, RequestsTransport
from harness.segment import FakeSegment
from harness.testing.handles import AccountHandle
from tests.support import t


def _write_key_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def test_senders_requests_transport_routed_in_process_with_responses() -> None:
    harness = Harness(ManualClock(t("2026-03-02T20:00:00Z")))
    account = AccountHandle.create(harness)
    account.see("v1", "anon-1")
    abtasty = AsgiClient(harness.abtasty_app())

    def forward(request: Any) -> tuple[int, dict[str, str], bytes]:
        reply = abtasty.request(
            "POST", "/segment/webhook", content=request.body, headers=dict(request.headers)
        )
        return reply.status, {"Content-Type": "application/json"}, reply.content

    segment = FakeSegment(
        harness.clock, RequestsTransport(), default_endpoint="http://abtasty.test/segment/webhook"
    )
    source, write_key = segment.create_source("web")
    segment.add_destination(source.id, account.api_key)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, "http://abtasty.test/segment/webhook", callback=forward)
        segment.ingest(
            "identify",
            _write_key_auth(write_key),
            json.dumps({"anonymousId": "anon-1", "traits": {"plan": "pro"}}).encode(),
        )
        (call,) = mock.calls
    assert call.request.headers["User-Agent"] == "Segment.io/1.0"
    assert segment.overview(source.id).stages["delivered"] == 1
    account.at("2026-03-03T03:00:00Z")
    assert account.shown() == {"plan": {"pro": 1}}


def test_senders_in_process_files_calls_in_the_abtasty_journal() -> None:
    harness = Harness(ManualClock(t("2026-03-02T20:00:00Z")))
    account = AccountHandle.create(harness)
    segment = FakeSegment(
        harness.clock,
        InProcessAbTasty(harness.abtasty, harness.abtasty_journal),
        default_endpoint=INPROCESS_ABTASTY,
    )
    source, write_key = segment.create_source("web")
    segment.add_destination(source.id, account.api_key)
    segment.ingest(
        "group", _write_key_auth(write_key), json.dumps({"userId": "u", "groupId": "acme"}).encode()
    )
    (entry,) = harness.abtasty_journal.entries(account.id)
    assert (entry.path, entry.status) == ("/segment/webhook", 200)
    assert account.api_key not in json.dumps(entry.headers)


def test_senders_unreachable_url_is_a_retried_timeout_not_a_crash() -> None:
    harness = Harness(ManualClock(t("2026-03-02T20:00:00Z")))
    segment = FakeSegment(
        harness.clock,
        RequestsTransport(timeout=0.5),
        default_endpoint="http://127.0.0.1:9/segment/webhook",
    )
    source, write_key = segment.create_source("web")
    segment.add_destination(source.id, "abt_key")
    segment.ingest(
        "identify", _write_key_auth(write_key), json.dumps({"anonymousId": "a"}).encode()
    )
    (record,) = segment.overview(source.id).messages
    assert (record.stage, record.last_status) == ("retrying", None)
    assert record.last_body is not None and "connection failed" in record.last_body
