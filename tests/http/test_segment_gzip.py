"""The Tracking API takes gzip bodies (analytics-python's ``gzip=True``), bounded once inflated."""

from __future__ import annotations

import gzip
import json
from typing import Any

from harness.runtime.asgi import AsgiClient
from harness.testing.handles import SourceHandle, basic_auth

IDENTIFY = {"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "pro"}}


def _post(
    client: AsgiClient, source: SourceHandle, body: bytes, path: str = "/v1/batch"
) -> dict[str, Any]:
    reply = client.request(
        "POST",
        path,
        content=body,
        headers={
            "Authorization": basic_auth(source.write_key),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    return {"status": reply.status, **(reply.json() or {})}


def test_tracking_api_inflates_a_gzip_batch(
    segment_client: AsgiClient, simulated_segment: SourceHandle
) -> None:
    body = gzip.compress(json.dumps({"batch": [IDENTIFY]}).encode())
    assert _post(segment_client, simulated_segment, body) == {"status": 200, "success": True}
    assert simulated_segment.stages()["delivered"] == 1


def test_tracking_api_refuses_a_body_that_is_not_gzip(
    segment_client: AsgiClient, simulated_segment: SourceHandle
) -> None:
    answer = _post(segment_client, simulated_segment, json.dumps({"batch": [IDENTIFY]}).encode())
    assert (answer["status"], answer["code"]) == (400, "invalid_json")
    assert "gzip" in answer["message"]


def test_tracking_api_refuses_a_gzip_message_over_32_kb_once_inflated(
    segment_client: AsgiClient, simulated_segment: SourceHandle
) -> None:
    bomb = gzip.compress(json.dumps({**IDENTIFY, "traits": {"pad": "x" * 10_000_000}}).encode())
    assert len(bomb) < 32 * 1024
    answer = _post(segment_client, simulated_segment, bomb, path="/v1/identify")
    assert (answer["status"], answer["code"]) == (400, "message_too_large")
    assert simulated_segment.stages()["received"] == 0
