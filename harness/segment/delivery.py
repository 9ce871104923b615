"""How Segment delivers to a cloud-mode partner destination.

One message per POST with the partner headers; retries with randomized exponential
backoff for up to 4 hours on timeouts, 429 and 5xx; none on other 4xx; no ordering
guarantee.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

AB_TASTY_DESTINATION = "AB Tasty client side"
AB_TASTY_TYPES = frozenset({"identify", "group"})


@dataclass(frozen=True, slots=True)
class TransportResponse:
    """What came back from a destination; ``status`` None means no answer (timeout, refused)."""

    status: int | None
    body: str
    error: str | None = None


class Transport(Protocol):
    """Sends one HTTP POST to a destination."""

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Post ``body``; never raises for a network failure (it returns ``status=None``)."""
        ...


def is_retryable(response: TransportResponse) -> bool:
    """Timeouts, network errors, 429 and 5xx are retried; 501 (unsupported type) and other 4xx are not."""
    status = response.status
    return status is None or status == 429 or (status >= 500 and status != 501)


def is_delivered(response: TransportResponse) -> bool:
    """A 2xx answer."""
    return response.status is not None and 200 <= response.status < 300


def sends_to(message: dict[str, Any], destination: str = AB_TASTY_DESTINATION) -> bool:
    """Whether the ``integrations`` object lets a message through to ``destination``.

    The destination's own key wins (``false`` disables it; ``true`` or an options object
    enables it); otherwise ``All`` decides, and it defaults to true. Keys are case-sensitive.
    """
    integrations = message.get("integrations")
    if not isinstance(integrations, dict):
        return True
    if destination in integrations:
        return integrations[destination] is not False
    return integrations.get("All", True) is not False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Randomized exponential backoff within a retry window.

    The n-th retry waits ``first_delay * multiplier**(n-1)``, stretched by a random factor
    in ``[1, 1 + jitter)``, never less than the wait before it and at most ``max_delay``.
    A retry that would fall past ``window`` after the first attempt is not made.
    """

    first_delay: timedelta = timedelta(seconds=30)
    multiplier: float = 2.0
    jitter: float = 0.5
    max_delay: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(hours=4)

    def delay(self, retry: int, previous: timedelta | None, rng: random.Random) -> timedelta:
        """The wait before retry number ``retry`` (1-based)."""
        base = self.first_delay.total_seconds() * self.multiplier ** min(retry - 1, 64)
        stretched = min(base * (1 + self.jitter * rng.random()), self.max_delay.total_seconds())
        wait = timedelta(seconds=stretched)
        return max(wait, previous) if previous is not None else wait
