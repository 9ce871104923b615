"""Delivery faults Segment's customers see: failing destinations, duplicates, reordering, lateness.

:class:`FaultyTransport` wraps a real transport. It answers some attempts itself with a
5xx, a 429 or a timeout (so Segment retries them), delivers some messages twice, and
holds some back (reordering within a window, or much later), handing them over when the
shared clock reaches their time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from harness.core.clock import Clock
from harness.segment import HeldDeliveries, Transport, TransportResponse, is_delivered

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
        self.held = HeldDeliveries(target, clock)

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
            self.stats.held += 1
            self.held.hold(delay, url, headers, body)
            answer = TransportResponse(200, '{"status": "accepted"}')
        else:
            answer = self.target.post(url, headers, body)
        if is_delivered(answer) and rng.random() < config.duplicate_rate:
            self.stats.duplicates += 1
            self.stats.held += 1
            later = timedelta(
                seconds=rng.uniform(0, max(1.0, config.reorder_window.total_seconds()))
            )
            self.held.hold(later, url, headers, body)
        return answer

    def next_due(self) -> datetime | None:
        """When the next held message is handed over."""
        return self.held.next_due()

    def run_due(self) -> int:
        """Hand over the held messages that are due."""
        ran = self.held.run_due()
        self.stats.held_failed = self.held.failed
        return ran
