"""Segment's Tracking API rate limit (opt-in): 429 with Retry-After past the rate."""

from __future__ import annotations

import base64
import json

import pytest

from harness import ManualClock
from harness.core.errors import HarnessError
from harness.runtime.asgi import AsgiClient
from harness.runtime.stack import Harness
from harness.segment.ratelimit import RateLimiter
from tests.support import START


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refuses_then_refills() -> None:
    time = FakeTime()
    limiter = RateLimiter(5, monotonic=time)
    for _ in range(5):
        limiter.take()
    with pytest.raises(HarnessError) as refused:
        limiter.take()
    assert refused.value.code == "rate_limited"
    time.now += 0.2  # one token back at 5 a second
    limiter.take()
    with pytest.raises(HarnessError):
        limiter.take()


def test_rate_limiter_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_tracking_api_answers_429_with_retry_after_past_the_rate() -> None:
    harness = Harness(ManualClock(START), segment_rate_limit=3)
    segment = AsgiClient(harness.segment_app())
    source = segment.request("POST", "/_segment/sources", json={"name": "web"}).json()
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{source['write_key']}:".encode()).decode()
    }
    statuses = [
        segment.request(
            "POST", "/v1/identify", content=json.dumps({"anonymousId": "a"}).encode(), headers=auth
        )
        for _ in range(6)
    ]
    refused = [reply for reply in statuses if reply.status == 429]
    assert refused
    assert refused[0].headers["retry-after"] == "1"
    assert refused[0].json()["code"] == "rate_limited"
    assert segment.request("GET", f"/_segment/sources/{source['id']}/delivery-overview").json()[
        "stages"
    ]["received"] == 6 - len(refused)


def test_tracking_api_has_no_rate_limit_by_default() -> None:
    harness = Harness(ManualClock(START))
    assert harness.segment.rate_limiter is None
