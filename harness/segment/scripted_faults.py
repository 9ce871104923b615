"""Delivery faults a test switches on and off: an outage, duplicates, held-back messages.

Unlike the simulation's random faults, these are explicit and scripted: "the destination
answers 503 until 23:00", "deliver the next 2 messages twice", "hold the next message for
2 hours". They sit between the fake Segment and its destinations, and are driven through
``PUT /_harness/faults`` on the fake Segment.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from harness.core.clock import Clock
from harness.segment.delivery import Transport, TransportResponse, is_delivered


@dataclass(frozen=True, slots=True)
class Outage:
    """Every delivery attempt fails with ``status`` (None: a timeout) until ``until``."""

    status: int | None
    until: datetime


@dataclass(order=True)
class _Held:
    due: datetime
    order: int
    url: str = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    body: bytes = field(compare=False)


class HeldDeliveries:
    """Deliveries held back until the shared clock reaches their time (a clock waker).

    Args:
        target: Where a held message finally goes.
        clock: The shared clock.
    """

    def __init__(self, target: Transport, clock: Clock) -> None:
        self.target = target
        self.clock = clock
        self.failed = 0
        self._held: list[_Held] = []
        self._order = itertools.count()

    def hold(self, delay: timedelta, url: str, headers: dict[str, str], body: bytes) -> None:
        """Hand this message to the target ``delay`` from now."""
        heapq.heappush(
            self._held, _Held(self.clock.now() + delay, next(self._order), url, dict(headers), body)
        )

    def clear(self) -> None:
        """Drop every held message."""
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)

    def next_due(self) -> datetime | None:
        """When the next held message is handed over."""
        return self._held[0].due if self._held else None

    def run_due(self) -> int:
        """Hand over the held messages that are due; count those the target did not take."""
        ran = 0
        while self._held and self._held[0].due <= self.clock.now():
            held = heapq.heappop(self._held)
            if not is_delivered(self.target.post(held.url, held.headers, held.body)):
                self.failed += 1
            ran += 1
        return ran


class ScriptedFaults:
    """A transport wrapper with switchable faults; also a clock waker for held messages."""

    def __init__(self, target: Transport, clock: Clock) -> None:
        self.target = target
        self.clock = clock
        self.outage: Outage | None = None
        self.duplicate_next = 0
        self.hold_next = 0
        self.hold_for = timedelta(0)
        self.held = HeldDeliveries(target, clock)

    def clear(self) -> None:
        """Switch every fault off and drop held messages."""
        self.outage = None
        self.duplicate_next = self.hold_next = 0
        self.held.clear()

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Deliver, fail, hold or duplicate one message as the switches say."""
        if self.outage is not None:
            if self.clock.now() < self.outage.until:
                if self.outage.status is None:
                    return TransportResponse(None, "", "timeout (scripted outage)")
                return TransportResponse(self.outage.status, '{"message": "scripted outage"}')
            self.outage = None
        if self.hold_next > 0:
            self.hold_next -= 1
            self.held.hold(self.hold_for, url, headers, body)
            return TransportResponse(200, '{"status": "accepted"}')
        answer = self.target.post(url, headers, body)
        if self.duplicate_next > 0 and is_delivered(answer):
            self.duplicate_next -= 1
            self.target.post(url, headers, body)
        return answer

    def next_due(self) -> datetime | None:
        """When the next held message is handed over."""
        return self.held.next_due()

    def run_due(self) -> int:
        """Hand over the held messages that are due."""
        return self.held.run_due()
