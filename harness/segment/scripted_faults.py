"""Delivery faults a test switches on and off: an outage, duplicates, held-back messages.

Unlike the simulation's random faults, these are explicit and scripted: "the destination
answers 503 until 23:00", "deliver the next 2 messages twice", "hold the next message for
2 hours". They sit between the fake Segment and its destinations, and are driven through
``PUT /_harness/faults`` on the fake Segment.

The switches and the held messages live in :class:`FaultRows`: in memory for one process,
in the shared store for ``harness serve --workers N``, so "deliver the next 2 twice"
duplicates two deliveries in all, whichever workers make them. A held message is handed
over as a delivery attempt is made: claimed by one worker, removed once posted, and freed
for another worker if its own dies in between.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypedDict

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


Counter = Literal["duplicate_next", "hold_next"]


class FaultChanges(TypedDict, total=False):
    """Some of the switches of :class:`FaultSettings`, to set and leave the rest."""

    outage: Outage | None
    duplicate_next: int
    hold_next: int
    hold_for: timedelta


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """The switches in force.

    Attributes:
        outage: Every attempt fails until its end, if set.
        duplicate_next: How many more delivered messages are delivered twice.
        hold_next: How many more messages are held back.
        hold_for: For how long a message is held back.
    """

    outage: Outage | None = None
    duplicate_next: int = 0
    hold_next: int = 0
    hold_for: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A message held back until ``due``."""

    due: datetime
    url: str
    headers: dict[str, str]
    body: bytes


class FaultRows(Protocol):
    """Where the switches and the held messages live; every method is atomic."""

    def settings(self) -> FaultSettings:
        """The switches in force."""
        ...

    def set(self, settings: FaultSettings) -> None:
        """Replace the switches."""
        ...

    def update(self, changes: FaultChanges) -> FaultSettings:
        """Set these switches and leave the others as they are, at once; the switches after.

        Two updates at once, through two workers, both hold: neither writes back a stale
        copy of a switch the other changed.
        """
        ...

    def take(self, counter: Counter) -> FaultSettings | None:
        """Count one off ``counter`` when above zero; the settings before, or None when zero."""
        ...

    def end_outage(self, until: datetime) -> None:
        """Switch the outage off if it is still the one ending at ``until``."""
        ...

    def hold(self, message: HeldMessage) -> None:
        """Keep a held message."""
        ...

    def held_count(self) -> int:
        """How many messages are held."""
        ...

    def next_held(self) -> datetime | None:
        """When the earliest held message falls due."""
        ...

    def claim_held(self, now: datetime) -> AbstractContextManager[HeldMessage | None]:
        """Hold the earliest message due by ``now`` while it is handed over.

        As a delivery attempt is claimed (:meth:`~harness.segment.store.base.SegmentStore.claim_due`):
        a message another process holds is skipped; yields None when none is free. When the
        block ends the message is removed, unless it raised: then it is let go, for any
        process to hand over. A message held by a process that died is free again (at once
        for SQLite and PostgreSQL), so a worker killed mid-handover loses nothing; the
        destination may get it twice (AB Tasty's dedup window absorbs that).
        """
        ...

    def clear(self) -> None:
        """Switch everything off and drop held messages."""
        ...


class MemoryFaultRows:
    """:class:`FaultRows` in this process."""

    def __init__(self) -> None:
        self._settings = FaultSettings()
        self._held: list[_Held] = []
        self._claimed: dict[int, _Held] = {}  # being handed over, by order
        self._order = itertools.count()
        self._lock = threading.Lock()

    def settings(self) -> FaultSettings:
        return self._settings

    def set(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings

    def update(self, changes: FaultChanges) -> FaultSettings:
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings

    def take(self, counter: Counter) -> FaultSettings | None:
        with self._lock:
            before = self._settings
            left = getattr(before, counter)
            if left <= 0:
                return None
            self._settings = replace(before, **{counter: left - 1})
            return before

    def end_outage(self, until: datetime) -> None:
        with self._lock:
            if self._settings.outage is not None and self._settings.outage.until == until:
                self._settings = replace(self._settings, outage=None)

    def hold(self, message: HeldMessage) -> None:
        with self._lock:
            heapq.heappush(
                self._held,
                _Held(message.due, next(self._order), message.url, message.headers, message.body),
            )

    def held_count(self) -> int:
        with self._lock:
            return len(self._held) + len(self._claimed)

    def next_held(self) -> datetime | None:
        with self._lock:
            dues = [held.due for held in self._claimed.values()]
            if self._held:
                dues.append(self._held[0].due)
            return min(dues, default=None)

    @contextmanager
    def claim_held(self, now: datetime) -> Iterator[HeldMessage | None]:
        with self._lock:
            held = None
            if self._held and self._held[0].due <= now:
                held = heapq.heappop(self._held)  # out of the heap: no other thread takes it
                self._claimed[held.order] = held
        if held is None:
            yield None
            return
        try:
            yield HeldMessage(held.due, held.url, held.headers, held.body)
        except BaseException:
            with self._lock:
                if self._claimed.pop(held.order, None) is not None:  # not cleared meanwhile
                    heapq.heappush(self._held, held)
            raise
        with self._lock:
            self._claimed.pop(held.order, None)

    def clear(self) -> None:
        with self._lock:
            self._settings = FaultSettings()
            self._held.clear()
            self._claimed.clear()


class ScriptedFaults:
    """A transport wrapper with switchable faults; also a clock waker for held messages.

    Args:
        target: Where deliveries go.
        clock: The shared clock (outages end and held messages fall due on it).
        rows: Where the switches and held messages live; in this process by default.
    """

    def __init__(self, target: Transport, clock: Clock, rows: FaultRows | None = None) -> None:
        self.target = target
        self.clock = clock
        self.rows: FaultRows = rows if rows is not None else MemoryFaultRows()
        self.failed = 0
        """Held messages the target did not take when handed over (by this process)."""

    # the switches, as attributes ---------------------------------------------------------
    @property
    def outage(self) -> Outage | None:
        """Every delivery attempt fails until its end."""
        return self.rows.settings().outage

    @outage.setter
    def outage(self, outage: Outage | None) -> None:
        self.rows.update({"outage": outage})

    @property
    def duplicate_next(self) -> int:
        """How many more delivered messages are delivered twice."""
        return self.rows.settings().duplicate_next

    @duplicate_next.setter
    def duplicate_next(self, count: int) -> None:
        self.rows.update({"duplicate_next": count})

    @property
    def hold_next(self) -> int:
        """How many more messages are held back."""
        return self.rows.settings().hold_next

    @hold_next.setter
    def hold_next(self, count: int) -> None:
        self.rows.update({"hold_next": count})

    @property
    def hold_for(self) -> timedelta:
        """For how long a message is held back."""
        return self.rows.settings().hold_for

    @hold_for.setter
    def hold_for(self, delay: timedelta) -> None:
        self.rows.update({"hold_for": delay})

    @property
    def held(self) -> int:
        """How many messages are held back now."""
        return self.rows.held_count()

    def clear(self) -> None:
        """Switch every fault off and drop held messages."""
        self.rows.clear()

    # delivery ----------------------------------------------------------------------------
    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Deliver, fail, hold or duplicate one message as the switches say."""
        settings = self.rows.settings()
        outage = settings.outage
        if outage is not None:
            if self.clock.now() < outage.until:
                if outage.status is None:
                    return TransportResponse(None, "", "timeout (scripted outage)")
                return TransportResponse(outage.status, '{"message": "scripted outage"}')
            self.rows.end_outage(outage.until)
        if settings.hold_next > 0:
            taken = self.rows.take("hold_next")
            if taken is not None:
                self.rows.hold(
                    HeldMessage(self.clock.now() + taken.hold_for, url, dict(headers), body)
                )
                return TransportResponse(200, '{"status": "accepted"}')
        answer = self.target.post(url, headers, body)
        if (
            settings.duplicate_next > 0
            and is_delivered(answer)
            and self.rows.take("duplicate_next") is not None
        ):
            self.target.post(url, headers, body)
        return answer

    def next_due(self) -> datetime | None:
        """When the next held message is handed over."""
        return self.rows.next_held()

    def run_due(self) -> int:
        """Hand over the held messages that are due; each once, whichever worker runs it."""
        ran = 0
        while True:
            with self.rows.claim_held(self.clock.now()) as held:
                if held is None:
                    return ran
                if not is_delivered(self.target.post(held.url, held.headers, held.body)):
                    self.failed += 1
                ran += 1
