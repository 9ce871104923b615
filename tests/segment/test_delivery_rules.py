"""Cloud-mode delivery rules: the integrations object, what is retried, and the backoff."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.segment.delivery import (
    RetryPolicy,
    TransportResponse,
    is_retryable,
    sends_to,
)


@pytest.mark.parametrize(
    ("integrations", "sent"),
    [
        (None, True),
        ({}, True),
        ({"All": False}, False),
        ({"All": False, "AB Tasty client side": True}, True),
        ({"All": False, "AB Tasty client side": {"option": 1}}, True),
        ({"AB Tasty client side": False}, False),
        ({"ab tasty client side": False}, True),  # keys are case-sensitive
        ({"All": True, "AB Tasty client side": False}, False),
    ],
)
def test_delivery_integrations_object(integrations: object, sent: bool) -> None:
    message = (
        {"type": "identify"}
        if integrations is None
        else {"type": "identify", "integrations": integrations}
    )
    assert sends_to(message) is sent


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (None, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (501, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (413, False),
        (200, False),
    ],
)
def test_delivery_what_is_retried(status: int | None, retried: bool) -> None:
    assert is_retryable(TransportResponse(status, "")) is retried


def _schedule(policy: RetryPolicy, seed: int) -> list[timedelta]:
    """The waits before each retry, for a destination that never recovers."""
    rng = random.Random(seed)
    waits: list[timedelta] = []
    elapsed = timedelta(0)
    previous = None
    for retry in range(1, 1_000):
        wait = policy.delay(retry, previous, rng)
        if elapsed + wait > policy.window:
            break
        waits.append(wait)
        elapsed += wait
        previous = wait
    return waits


@given(seed=st.integers(0, 2**32))
def test_retry_schedule_never_past_window(seed: int) -> None:
    policy = RetryPolicy()
    waits = _schedule(policy, seed)
    assert sum(waits, timedelta(0)) <= timedelta(hours=4)
    assert len(waits) >= 5


@given(seed=st.integers(0, 2**32))
def test_retry_backoff_grows(seed: int) -> None:
    waits = _schedule(RetryPolicy(), seed)
    assert all(later >= earlier for earlier, later in itertools.pairwise(waits))
    uncapped = [w for w in waits if w < RetryPolicy().max_delay]
    assert all(later > earlier for earlier, later in itertools.pairwise(uncapped))


@given(
    first=st.integers(1, 600),
    multiplier=st.floats(1.1, 4),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_retry_delays_are_randomized_within_bounds(
    first: int, multiplier: float, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=first), multiplier=multiplier, jitter=jitter)
    wait = policy.delay(1, None, random.Random(seed))
    assert (
        timedelta(seconds=first)
        <= wait
        <= timedelta(seconds=first * (1 + jitter)) + timedelta(microseconds=1)
    )
