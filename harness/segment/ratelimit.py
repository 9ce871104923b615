"""Segment's Tracking API rate limit: past about 1,000 requests a second per workspace, 429.

A token bucket on real (monotonic) time, not the simulated clock: a rate limit is about
how fast requests really arrive. Off unless asked for (``harness serve
--segment-rate-limit 1000``), since the fakes' own load and fuzz tests go faster.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError


class RateLimiter:
    """Allows ``rate`` requests a second, in bursts of up to ``rate``.

    Args:
        rate: Requests per second.
        monotonic: The time source (injected in tests).
    """

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._monotonic = monotonic
        self._tokens = rate
        self._last = monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Admit one request, or refuse it.

        Raises:
            HarnessError: ``rate_limited``, with how long to wait.
        """
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = math.ceil((1 - self._tokens) / self.rate)
        raise HarnessError(
            ErrorCode.RATE_LIMITED,
            f"More than {self.rate:g} requests a second for this workspace; retry after {wait} s (Retry-After).",
        )
