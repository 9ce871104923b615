"""Delivery faults Segment's customers see: failing destinations, duplicates, reordering, lateness.

:class:`FaultyTransport` wraps a real transport. It answers some attempts itself with a
5xx, a 429 or a timeout (so Segment retries them), delivers some messages twice, and
holds some back (reordering within a window, or much later), handing them over when the
shared clock reaches their time.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from harness.clock import Clock
from harness.segment.delivery import Transport, TransportResponse, is_delivered

INJECTED_FAILURES: tuple[int | None, ...] = (500, 502, 503, 429, None)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """The fault knobs.

    Attributes:
        failure_rate: Share of attempts answered with a 5xx, 429 or timeout instead of arriving.
        duplicate_rate: Share of delivered messages that arrive a second time.
        reorder_window: Each message may be held back up to this long (no ordering guarantee).
        late_share: Share of messages held back a further ``late_delay``.
        late_delay: How late a late message is.
        seed: Same seed, same faults.
    """

    failure_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_window: timedelta = timedelta(0)
    late_share: float = 0.0
    late_delay: timedelta = timedelta(hours=2)
    seed: int = 0


@dataclass(slots=True)
class FaultStats:
    """What the faults did."""

    attempts: int = 0
    injected_failures: int = 0
    duplicates: int = 0
    held: int = 0
    held_failed: int = 0


@dataclass(order=True)
class _Held:
    due: datetime
    order: int
    url: str = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    body: bytes = field(compare=False)


class FaultyTransport:
    """A transport that misbehaves as configured; also a clock waker for held messages.

    Args:
        target: Where messages really go.
        clock: The shared clock (held messages are handed over when it reaches them).
        config: The faults.
    """

    def __init__(self, target: Transport, clock: Clock, config: FaultConfig) -> None:
        self.target = target
        self.clock = clock
        self.config = config
        self.stats = FaultStats()
        self._rng = random.Random(config.seed * 7_919 + 3)
        self._held: list[_Held] = []
        self._order = itertools.count()

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Deliver, fail, duplicate or hold one message."""
        config, rng = self.config, self._rng
        self.stats.attempts += 1
        if rng.random() < config.failure_rate:
            self.stats.injected_failures += 1
            status = rng.choice(INJECTED_FAILURES)
            if status is None:
                return TransportResponse(None, "", "timeout (injected)")
            return TransportResponse(status, '{"message": "injected failure"}')
        delay = timedelta(seconds=rng.uniform(0, config.reorder_window.total_seconds()))
        if rng.random() < config.late_share:
            delay += config.late_delay
        if delay > timedelta(0):
            self._hold(delay, url, headers, body)
            answer = TransportResponse(200, '{"status": "accepted"}')
        else:
            answer = self.target.post(url, headers, body)
        if is_delivered(answer) and rng.random() < config.duplicate_rate:
            self.stats.duplicates += 1
            self._hold(
                timedelta(seconds=rng.uniform(0, max(1.0, config.reorder_window.total_seconds()))),
                url,
                headers,
                body,
            )
        return answer

    def _hold(self, delay: timedelta, url: str, headers: dict[str, str], body: bytes) -> None:
        self.stats.held += 1
        heapq.heappush(
            self._held, _Held(self.clock.now() + delay, next(self._order), url, dict(headers), body)
        )

    def next_due(self) -> datetime | None:
        """When the next held message is handed over."""
        return self._held[0].due if self._held else None

    def run_due(self) -> int:
        """Hand over the held messages that are due."""
        ran = 0
        now = self.clock.now()
        while self._held and self._held[0].due <= now:
            held = heapq.heappop(self._held)
            if not is_delivered(self.target.post(held.url, held.headers, held.body)):
                self.stats.held_failed += 1
            ran += 1
        return ran
