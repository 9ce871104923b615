"""Segment's Tracking API rules: write key, limits, normalisation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harness.core.errors import HarnessError
from harness.segment import tracking
from tests.support import t

NOW = t("2026-03-02T12:00:00Z")


def _normalize(item: dict[str, Any]) -> dict[str, Any] | tracking.IngestRejection:
    return tracking.normalize(item, NOW, lambda: "filled-id")


def test_tracking_write_key_from_basic_then_body() -> None:
    basic = "Basic " + base64.b64encode(b"wk_basic:").decode()
    assert tracking.write_key_of(basic, {"writeKey": "wk_body"}) == "wk_basic"
    assert tracking.write_key_of(None, {"writeKey": "wk_body"}) == "wk_body"
    assert tracking.write_key_of("Basic %%%", {"writeKey": "wk_body"}) == "wk_body"
    with pytest.raises(HarnessError) as caught:
        tracking.write_key_of(None, {})
    assert caught.value.code == "invalid_write_key"


def test_tracking_fills_message_id_and_received_at() -> None:
    message = _normalize({"type": "identify", "anonymousId": "a"})
    assert isinstance(message, dict)
    assert message["messageId"] == "filled-id"
    assert message["receivedAt"] == "2026-03-02T12:00:00Z"
    assert message["timestamp"] == "2026-03-02T12:00:00Z"


def test_tracking_corrects_timestamp_for_client_clock_skew() -> None:
    # The client's clock is 1 hour fast: it says it sent at 13:00, event at 12:55.
    message = _normalize(
        {
            "type": "identify",
            "anonymousId": "a",
            "originalTimestamp": "2026-03-02T12:55:00Z",
            "sentAt": "2026-03-02T13:00:00Z",
        }
    )
    assert isinstance(message, dict)
    assert message["timestamp"] == "2026-03-02T11:55:00Z"
    assert message["originalTimestamp"] == "2026-03-02T12:55:00Z"


def test_tracking_event_time_is_original_timestamp_else_timestamp() -> None:
    only_timestamp = _normalize(
        {"type": "identify", "anonymousId": "a", "timestamp": "2026-03-01T10:00:00+01:00"}
    )
    assert isinstance(only_timestamp, dict)
    assert only_timestamp["timestamp"] == "2026-03-01T09:00:00Z"
    both = _normalize(
        {
            "type": "identify",
            "anonymousId": "a",
            "timestamp": "2026-01-01T00:00:00Z",
            "originalTimestamp": "2026-02-01T00:00:00Z",
        }
    )
    assert isinstance(both, dict)
    assert both["timestamp"] == "2026-02-01T00:00:00Z"


def test_tracking_write_key_never_travels_on() -> None:
    message = _normalize({"type": "identify", "anonymousId": "a", "writeKey": "secret"})
    assert isinstance(message, dict)
    assert "writeKey" not in message


def test_tracking_numeric_ids_become_strings() -> None:
    message = _normalize({"type": "identify", "userId": 42})
    assert isinstance(message, dict)
    assert message["userId"] == "42"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"type": "identify"}, "neither userId nor anonymousId"),
        ({"type": "group", "anonymousId": "a"}, "groupId"),
        ({"type": "purchase", "anonymousId": "a"}, "type must be"),
        ({"type": "identify", "anonymousId": "a", "timestamp": "soon"}, "timestamp"),
        ({"type": "identify", "anonymousId": "a", "messageId": "x" * 101}, "100"),
        (
            {
                "type": "identify",
                "anonymousId": "a",
                "sentAt": "0001-01-01T00:00:00Z",
                "originalTimestamp": "9999-12-31T00:00:00Z",
            },
            "out of range",
        ),
        ({"type": "identify", "anonymousId": ["a"]}, "anonymousId"),
        ({"type": "identify", "anonymousId": "a" * 1_001}, "1 to 1,000 characters"),
        ({"type": "identify", "anonymousId": "", "userId": "u1"}, "1 to 1,000 characters"),
        (
            {"type": "identify", "anonymousId": "a", "timestamp": "10000-01-01T00:00:00Z"},
            "year 10000 is out of range",
        ),
    ],
)
def test_tracking_unusable_message_fails_on_ingest(item: dict[str, Any], reason: str) -> None:
    outcome = _normalize(item)
    assert isinstance(outcome, tracking.IngestRejection)
    assert reason in outcome.reason


def test_tracking_anonymous_id_of_1000_chars_is_used() -> None:
    message = _normalize({"type": "identify", "anonymousId": "a" * 1_000})
    assert isinstance(message, dict)
    assert message["anonymousId"] == "a" * 1_000


def test_tracking_batch_merges_top_level_context_and_integrations() -> None:
    body = {
        "batch": [
            {"type": "identify", "anonymousId": "a", "context": {"ip": "1.2.3.4"}},
            {
                "type": "identify",
                "anonymousId": "b",
                "integrations": {"AB Tasty client side": False},
            },
        ],
        "context": {"library": {"name": "x"}, "ip": "0.0.0.0"},
        "integrations": {"All": True},
        "sentAt": "2026-03-02T12:00:00Z",
    }
    items, rejected = tracking.batch_items(body, lambda item: len(json.dumps(item)))
    assert rejected == []
    assert items[0]["context"] == {"library": {"name": "x"}, "ip": "1.2.3.4"}
    assert items[1]["integrations"] == {"All": True, "AB Tasty client side": False}
    assert items[0]["sentAt"] == "2026-03-02T12:00:00Z"


def test_tracking_batch_over_2500_messages_all_rejected_on_ingest() -> None:
    body = {
        "batch": [
            {"type": "identify", "anonymousId": str(i), "messageId": f"m{i}"} for i in range(2_501)
        ]
    }
    items, rejected = tracking.batch_items(body, lambda item: 10)
    assert items == []
    assert len(rejected) == 2_501
    assert rejected[0].message_id == "m0"


def test_tracking_batch_item_over_32kb_refuses_request() -> None:
    body = {"batch": [{"type": "identify", "anonymousId": "a", "traits": {"pad": "x" * 40_000}}]}
    with pytest.raises(HarnessError) as caught:
        tracking.batch_items(body, lambda item: len(json.dumps(item)))
    assert caught.value.code == "message_too_large"


def test_tracking_batch_must_be_a_list() -> None:
    with pytest.raises(HarnessError) as caught:
        tracking.batch_items({"batch": {}}, lambda item: 0)
    assert caught.value.code == "invalid_body"


def test_tracking_size_limits() -> None:
    with pytest.raises(HarnessError) as single:
        tracking.decode_request(b" " * (32 * 1024 + 1), batch=False)
    with pytest.raises(HarnessError) as batch:
        tracking.decode_request(b" " * (500 * 1024 + 1), batch=True)
    assert (single.value.code, batch.value.code) == ("message_too_large", "batch_too_large")
    assert tracking.decode_request(b'{"a":1}' + b" " * (32 * 1024 - 7), batch=False) == {"a": 1}
