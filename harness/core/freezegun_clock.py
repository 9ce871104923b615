"""A manual clock that follows freezegun while ``freeze_time`` is active.

Python testers freeze time with freezegun by habit. The harness's fixtures run on a manual
clock (it must restart for every test, and a live server must not see the wall clock), so
this clock reads freezegun's frozen time whenever ``freeze_time`` is active and behaves as a
plain :class:`~harness.core.clock.ManualClock` otherwise.

Following is done on reading: when freezegun shows a later instant than the clock last
showed, the clock walks the timeline's wakers first, stopping at each due Segment retry or
held delivery in order (as :func:`~harness.core.timeline.move_clock` does for a manual
move), then shows freezegun's instant. So ``frozen.move_to(...)`` from 22:00 to 04:00 makes
a retry due at 23:00 reach AB Tasty at 23:00, before the 03:00 refresh, exactly as
``harness_clock.move_to(...)`` would.

The rules when both are used:

- While ``freeze_time`` is active, freezegun wins: ``move_to``/``advance`` on this clock
  (``harness_clock``, ``PUT /_harness/clock``) are refused with ``clock_not_manual``, and
  the clock reports ``mode = "system"`` (it follows the process's time, as freezegun shows it).
- freezegun moved to an instant before the one the clock has shown is refused like a manual
  move backwards: reading the clock raises ``clock_backwards`` (a 409 over HTTP), and the
  journal files that call at the instant the clock last showed (:meth:`FreezegunClock.shown`).
- When ``freeze_time`` ends, the clock stays where freezegun left it and moves manually again.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from harness.core.clock import ClockMode, ManualClock, clock_time, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.timeline import Waker, move_clock


def freezegun_now() -> datetime | None:
    """freezegun's current time (UTC) while ``freeze_time`` is active, else ``None``.

    freezegun is never imported here: if no one imported it, no time is frozen. The time is
    read from freezegun's active factory, so it is the same in every thread (the uvicorn
    thread of a live server included) and ignores freezegun's per-module ``ignore`` list.
    With ``auto_tick_seconds``, reading it steps the time, as any ``datetime.now()`` does.
    """
    api = sys.modules.get("freezegun.api")
    factories = getattr(api, "freeze_factories", None)
    if not factories:
        return None
    frozen: datetime = factories[-1]()  # naive, in UTC
    return frozen.replace(tzinfo=UTC)


def freezegun_active() -> bool:
    """Whether a ``freeze_time`` is active in this process (without reading its time)."""
    api = sys.modules.get("freezegun.api")
    return bool(getattr(api, "freeze_factories", None))


def freezegun_start_of(function: object) -> datetime | None:
    """The time a ``@freeze_time(...)`` decorating ``function`` freezes at, if one does.

    pytest sets fixtures up before it calls the test, so a decorated test's fixtures run
    before freezegun starts; the plugin reads the decorator's time to start the harness
    there. With nested decorators, the innermost (the one the body sees) wins.
    """
    api = sys.modules.get("freezegun.api")
    freeze_type = getattr(api, "_freeze_time", None)
    if freeze_type is None:
        return None
    found: datetime | None = None
    seen: set[int] = set()
    while callable(function) and id(function) not in seen:
        seen.add(id(function))
        for cell in getattr(function, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(value, freeze_type):
                found = value.time_to_freeze.replace(tzinfo=UTC)  # naive, in UTC
        function = getattr(function, "__wrapped__", None)
    return found


class FreezegunClock:
    """A manual clock that follows freezegun whenever ``freeze_time`` is active.

    Args:
        start: Where the manual clock starts (the wall-clock time by default).
        wakers: Work scheduled on the clock (retries, held deliveries); the harness binds
            its own list with :meth:`bind_wakers`.
    """

    def __init__(self, start: datetime | None = None, wakers: Sequence[Waker] = ()) -> None:
        self.manual = ManualClock(start)
        """The clock as it moves outside freezegun (and as it stops while catching up)."""
        self._wakers: Sequence[Waker] = wakers
        self._catching_up = threading.Lock()

    def bind_wakers(self, wakers: Sequence[Waker]) -> None:
        """Follow freezegun through these wakers (a live list: later additions count)."""
        self._wakers = wakers

    @property
    def mode(self) -> ClockMode:
        """``system`` while freezegun drives the clock, ``manual`` otherwise."""
        return "system" if freezegun_active() else "manual"

    def now(self) -> datetime:
        """freezegun's time while it is active (after running what fell due), else the manual time.

        Raises:
            HarnessError: ``clock_backwards`` when freezegun was moved before the instant
                this clock already showed; ``invalid_body`` outside the clock's range.
        """
        if self._catching_up.locked():
            # A waker reading the time during a catch-up (this thread), or another thread
            # while one catches up: both see the instant reached so far.
            return self.manual.now()
        frozen = freezegun_now()
        shown = self.manual.now()
        if frozen is None or frozen == shown:
            return shown
        if frozen < shown:
            raise HarnessError(
                ErrorCode.CLOCK_BACKWARDS,
                f"freezegun is at {format_instant(frozen)}, but the harness clock already showed "
                f"{format_instant(shown)} and cannot move back: freeze time at or after it, or "
                "start the harness earlier (@pytest.mark.harness_clock(...) or harness_start).",
            )
        target = clock_time(frozen)
        if not self._catching_up.acquire(blocking=False):
            return self.manual.now()
        try:
            move_clock(self.manual, target, self._wakers)
        finally:
            self._catching_up.release()
        return self.manual.now()

    def shown(self) -> datetime:
        """The latest instant the clock showed, even while reading it is refused.

        A record of a call the clock refused (freezegun moved back: the call was answered
        409) is filed at this instant, on the clock's own timeline, never at freezegun's
        earlier time or the wall clock's.
        """
        return self.manual.now()

    def move_to(self, when: datetime) -> None:
        """Move the manual clock (never backwards); refused while freezegun drives it."""
        self._refuse_under_freezegun()
        self.manual.move_to(when)

    def advance(self, seconds: float) -> None:
        """Move the manual clock forward; refused while freezegun drives it."""
        self._refuse_under_freezegun()
        self.manual.advance(seconds)

    def restart_at(self, when: datetime) -> None:
        """Set the time, even backwards: only for a harness whose state was wiped."""
        self.manual.restart_at(when)

    def _refuse_under_freezegun(self) -> None:
        if freezegun_active():
            raise HarnessError(
                ErrorCode.CLOCK_NOT_MANUAL,
                "freeze_time is active, so freezegun drives the harness clock: move time with "
                "freezegun (frozen.move_to(...), frozen.tick(...)), not harness_clock or "
                "PUT /_harness/clock.",
            )
