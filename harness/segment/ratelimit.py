"""Segment's Tracking API rate limit: past about 1,000 requests a second per workspace, 429.

A token bucket on real time, not the simulated clock: a rate limit is about how fast
requests really arrive. Off unless asked for (``harness serve --segment-rate-limit
1000``), since the fakes' own load and fuzz tests go faster. One process keeps its bucket
in memory (monotonic time); ``harness serve --workers N`` keeps it in the shared store (the
store's wall clock), so the limit is the workspace's, not N times it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

WORKSPACE = ""
"""The one bucket of the fake's one workspace."""


def refill(rate: float, row: Any, now: float) -> tuple[float, float]:
    """One take from a bucket stored as ``(tokens, last)`` (None: a new, full bucket).

    Returns:
        The tokens left at ``now``, and 0 when a token was taken, else the seconds to wait.
    """
    tokens = rate if row is None else min(rate, row[0] + max(0.0, now - row[1]) * rate)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class RateBucket(Protocol):
    """A token bucket shared by every worker of a store."""

    def take(self, name: str, rate: float) -> float:
        """Take a token from bucket ``name``: 0 when admitted, else the seconds to wait."""
        ...


class MemoryRateBucket:
    """A :class:`RateBucket` in this process, on monotonic time.

    Args:
        monotonic: The time source (injected in tests).
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._rows: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, rate: float) -> float:
        """Take a token: 0 when admitted, else the seconds to wait."""
        with self._lock:
            now = self._monotonic()
            tokens, wait = refill(rate, self._rows.get(name), now)
            self._rows[name] = (tokens, now)
        return wait


class RateLimiter:
    """Allows ``rate`` requests a second, in bursts of up to ``rate``.

    Args:
        rate: Requests per second.
        monotonic: The time source of the in-memory bucket (injected in tests).
        bucket: Where the bucket lives; in this process by default.
    """

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        bucket: RateBucket | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.bucket: RateBucket = bucket if bucket is not None else MemoryRateBucket(monotonic)

    def take(self) -> None:
        """Admit one request, or refuse it.

        Raises:
            HarnessError: ``rate_limited``, with how long to wait.
        """
        wait = self.bucket.take(WORKSPACE, self.rate)
        if wait <= 0:
            return
        raise HarnessError(
            ErrorCode.RATE_LIMITED,
            f"More than {self.rate:g} requests a second for this workspace; retry after "
            f"{math.ceil(wait)} s (Retry-After).",
        )
