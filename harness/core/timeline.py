"""Moving the shared clock without skipping what falls due on the way.

A retry due at 23:00 must reach AB Tasty at 23:00, not when a test jumps to 04:00: which
nightly refresh activates a message depends on when it was received. Moving a manual
clock therefore stops at each due instant and lets every waker run what fell due.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from harness.core.clock import Clock, SerialClock

MAX_STOPS = 1_000_000


@runtime_checkable
class Waker(Protocol):
    """Something with work scheduled on the clock (the fake Segment's retries)."""

    def next_due(self) -> datetime | None:
        """When the next piece of work falls due, if any."""
        ...

    def run_due(self) -> int:
        """Run what is due by the clock's current time; returns how much ran."""
        ...


def moving(clock: Clock) -> AbstractContextManager[object]:
    """Held for one whole move of ``clock`` (see :class:`~harness.core.clock.SerialClock`)."""
    return clock.moving() if isinstance(clock, SerialClock) else contextlib.nullcontext()


def move_clock(clock: Clock, target: datetime, wakers: Sequence[Waker] = ()) -> None:
    """Move ``clock`` to ``target``, stopping at every instant a waker has work due.

    Moves of one clock run one at a time, across workers: a move to an earlier time than
    another just made is refused, never half-applied.

    Raises:
        HarnessError: ``clock_backwards`` or ``clock_not_manual`` from the clock itself.
    """
    with moving(clock):
        _move(clock, target, wakers)


def _move(clock: Clock, target: datetime, wakers: Sequence[Waker]) -> None:
    if clock.mode != "manual" or not wakers:
        clock.move_to(target)
        return
    for _ in range(MAX_STOPS):
        dues = [due for due in (w.next_due() for w in wakers) if due is not None and due <= target]
        if not dues:
            break
        stop = min(dues)
        if stop > clock.now():
            clock.move_to(stop)
        for waker in wakers:
            waker.run_due()
    clock.move_to(target)


def advance_clock(clock: Clock, seconds: float, wakers: Sequence[Waker] = ()) -> None:
    """Move ``clock`` forward by ``seconds``, stopping where work falls due.

    The start is read once the move holds the clock: two advances at once, through two
    workers, add up.
    """
    if clock.mode != "manual" or seconds < 0:
        clock.advance(seconds)  # the system clock's or a negative amount's refusal
        return
    with moving(clock):
        _move(clock, clock.now() + timedelta(seconds=seconds), wakers)
