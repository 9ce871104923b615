"""Clocks: the only source of "now" for the domain.

The domain never calls ``datetime.now()`` itself. A :class:`SystemClock` reads the real
time through ``datetime.now(timezone.utc)``, so ``freezegun`` controls it in-process; a
:class:`ManualClock` moves only when told, which is what a live server under test needs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

ClockMode = Literal["system", "manual"]


@runtime_checkable
class Clock(Protocol):
    """Anything that can say what time it is (always timezone-aware, UTC)."""

    @property
    def mode(self) -> ClockMode:
        """``manual`` when the clock moves only when told, ``system`` when it follows time."""
        ...

    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...

    def move_to(self, when: datetime) -> None:
        """Set the time (manual clocks only; never backwards)."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds`` (manual clocks only)."""
        ...


@runtime_checkable
class SerialClock(Protocol):
    """A manual clock whose moves are serialised: one move at a time, across every worker.

    A move that stops at each due instant (:func:`~harness.core.timeline.move_clock`)
    reads the clock, then moves it several times; two such moves at once, through two
    workers, could both read the same start and lose one's seconds. Holding
    :meth:`moving` for the whole move makes them run one after the other.
    """

    def moving(self) -> AbstractContextManager[object]:
        """Held while one move runs; a second move waits for it (re-entrant in a thread)."""
        ...


@runtime_checkable
class RecallingClock(Protocol):
    """A clock that can say the latest instant it showed, even when reading it is refused."""

    def shown(self) -> datetime:
        """The latest instant the clock showed (never raises)."""
        ...


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""A manual clock stays in [EARLIEST, LATEST): a fake that jumped to the year 9999 would owe
millions of nightly refreshes."""

# Where the clock starts when nobody says. Three entry points, three documented defaults,
# kept here side by side so each is written once. They differ on purpose, and changing one
# would change results users already rely on:
TEST_START = "2026-03-02T12:00:00Z"
"""A pytest test's start (no ``harness_clock`` marker, no freezegun): a Monday, noon UTC, so
the first nightly refresh (03:00) lies ahead and a test moves time to reach it."""
SCENARIO_START = "2026-01-01T00:00:00Z"
"""A scenario file's start when it has no ``start:``: midnight UTC on New Year's Day 2026.
Scenario files written since format 1 count on it (their ``at:`` steps and expected refresh
counts are relative to it), so it is not the tests' Monday noon."""
SIMULATION_START = "2026-03-02T00:00:00Z"
"""``harness simulate``'s first day (without ``--start`` or ``--target``): midnight of the
tests' Monday, because a simulated day runs from midnight to midnight."""


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; naive datetimes are refused rather than guessed."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise HarnessError(
            ErrorCode.INVALID_BODY, "Timestamps must carry a UTC offset, e.g. 2026-01-01T03:00:00Z."
        )
    return when.astimezone(UTC)


def clock_time(when: datetime) -> datetime:
    """``when`` in UTC, if a manual clock may show it.

    Raises:
        HarnessError: ``invalid_body`` outside 1970-01-01 to 2199-12-31.
    """
    instant = ensure_utc(when)
    if not EARLIEST <= instant < LATEST:
        raise HarnessError(
            ErrorCode.INVALID_BODY,
            f"The clock can be set from {format_instant(EARLIEST)} to before {format_instant(LATEST)}, "
            f"not {format_instant(instant)}.",
        )
    return instant


class SystemClock:
    """The wall clock (follows freezegun, which patches ``datetime.now``)."""

    mode: ClockMode = "system"

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    def move_to(self, when: datetime) -> None:
        """Refused: the system clock cannot be set."""
        raise HarnessError(
            ErrorCode.CLOCK_NOT_MANUAL,
            "The clock follows the system time; start the server with --clock manual to set it.",
        )

    def advance(self, seconds: float) -> None:
        """Refused: the system clock cannot be moved."""
        self.move_to(self.now())


class ManualClock:
    """A clock that moves only when told to, and never backwards.

    Args:
        start: The initial time; defaults to the wall-clock time at creation.
    """

    mode: ClockMode = "manual"

    def __init__(self, start: datetime | None = None) -> None:
        self._now = clock_time(start) if start is not None else datetime.now(UTC)
        self._lock = threading.Lock()
        self._moving = threading.RLock()

    def moving(self) -> AbstractContextManager[object]:
        """Held by one move at a time (threads of this process)."""
        return self._moving

    def now(self) -> datetime:
        """The time the clock was last moved to."""
        return self._now

    def move_to(self, when: datetime) -> None:
        """Move to ``when``; moving backwards is refused with ``clock_backwards``."""
        target = clock_time(when)
        with self._lock:
            if target < self._now:
                raise HarnessError(
                    ErrorCode.CLOCK_BACKWARDS,
                    f"The clock is at {format_instant(self._now)} and cannot move back to "
                    f"{format_instant(target)}; reset the state or start a new server instead.",
                )
            self._now = target

    def restart_at(self, when: datetime) -> None:
        """Set the time to ``when``, even backwards: only for a harness whose state was wiped.

        Never exposed over HTTP (where the clock must not move back); test fixtures and
        scenario playback call it after resetting every piece of state that read the clock.
        """
        with self._lock:
            self._now = clock_time(when)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (a negative amount is refused)."""
        if seconds < 0:
            raise HarnessError(
                ErrorCode.CLOCK_BACKWARDS,
                "The clock only moves forward; give a positive number of seconds.",
            )
        with self._moving:
            if seconds >= (LATEST - self._now).total_seconds():
                self.move_to(LATEST)  # refused, naming the clock's range
            self.move_to(self._now + timedelta(seconds=seconds))


class ClockRows(Protocol):
    """Where a shared store keeps its manual clocks: one row per clock, by name.

    ``""`` names the global clock; any other name a tenant's clock.
    """

    def read_clock(self, name: str) -> datetime | None:
        """The clock's time, or None when there is no such clock."""
        ...

    def write_clock(self, name: str, when: datetime, *, forward_only: bool) -> datetime:
        """Set the clock to ``when``, creating it if need be, in one transaction.

        With ``forward_only``, a clock already later than ``when`` is left as it is.

        Returns:
            The clock's time after the call.
        """
        ...

    def clock_names(self) -> list[tuple[str, datetime]]:
        """Every clock and its time, by name."""
        ...

    def delete_clock(self, name: str) -> bool:
        """Forget a clock; False when there was none."""
        ...

    def lock_clock(self, name: str) -> AbstractContextManager[object]:
        """Held while one move of the clock runs, in every process sharing the rows.

        Re-entrant within a thread; released when the holder's process dies.
        """
        ...


class StoredClock:
    """A manual clock kept as a row of a shared store: read on every call, never cached.

    Every worker sharing the store sees a move made through any of them at once, and a
    restarted server resumes where the clock stood.

    Args:
        rows: The store's clock rows.
        name: Which clock (``""``: the global one).
    """

    mode: ClockMode = "manual"

    def __init__(self, rows: ClockRows, name: str = "") -> None:
        self.rows = rows
        self.name = name

    def now(self) -> datetime:
        """The clock's time, read from the store."""
        when = self.rows.read_clock(self.name)
        if when is None:
            raise HarnessError(
                ErrorCode.CLOCK_NOT_FOUND,
                f"There is no clock {self.name!r}; create it with PUT /_harness/clocks/{self.name}.",
            )
        return when

    def moving(self) -> AbstractContextManager[object]:
        """Held by one move of this clock at a time, across every worker of the store."""
        return self.rows.lock_clock(self.name)

    def move_to(self, when: datetime) -> None:
        """Move to ``when``, never backwards (a compare-and-set in the store)."""
        target = clock_time(when)
        now = self.rows.write_clock(self.name, target, forward_only=True)
        if now > target:
            raise HarnessError(
                ErrorCode.CLOCK_BACKWARDS,
                f"The clock is at {format_instant(now)} and cannot move back to "
                f"{format_instant(target)}; reset the state or start a new server instead.",
            )

    def restart_at(self, when: datetime) -> None:
        """Set the time to ``when``, even backwards (see :meth:`ManualClock.restart_at`)."""
        self.rows.write_clock(self.name, clock_time(when), forward_only=False)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (a negative amount is refused)."""
        if seconds < 0:
            raise HarnessError(
                ErrorCode.CLOCK_BACKWARDS,
                "The clock only moves forward; give a positive number of seconds.",
            )
        with self.moving():
            now = self.now()
            if seconds >= (LATEST - now).total_seconds():
                self.move_to(LATEST)  # refused, naming the clock's range
            self.move_to(now + timedelta(seconds=seconds))


class MemoryClockRows:
    """Clock rows in this process (the memory store's): the same contract as a store's."""

    def __init__(self) -> None:
        self._rows: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._moving = NamedLocks()

    def lock_clock(self, name: str) -> AbstractContextManager[object]:
        """Held while one move of the clock runs (threads of this process)."""
        return self._moving.get(name)

    def read_clock(self, name: str) -> datetime | None:
        """The clock's time."""
        return self._rows.get(name)

    def write_clock(self, name: str, when: datetime, *, forward_only: bool) -> datetime:
        """Set (or create) the clock, forward only if asked."""
        with self._lock:
            current = self._rows.get(name)
            if current is not None and forward_only and current > when:
                return current
            self._rows[name] = when
            return when

    def clock_names(self) -> list[tuple[str, datetime]]:
        """Every clock by name."""
        with self._lock:
            return sorted(self._rows.items())

    def delete_clock(self, name: str) -> bool:
        """Forget a clock."""
        with self._lock:
            return self._rows.pop(name, None) is not None


class NamedLocks:
    """One re-entrant lock per name, made on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> threading.RLock:
        """The lock of ``name``."""
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())


@contextmanager
def outermost(
    lock: threading.RLock, depth: dict[str, int], name: str, hold: AbstractContextManager[object]
) -> Iterator[None]:
    """Hold ``lock`` (this process's threads), and ``hold`` (other processes) when outermost.

    ``depth`` counts, per name, how deep the thread holding ``lock`` is, so an inner,
    re-entrant use neither takes nor releases the cross-process ``hold``.
    """
    with lock:
        level = depth.get(name, 0)
        depth[name] = level + 1
        try:
            if level:
                yield
            else:
                with hold:
                    yield
        finally:
            depth[name] = level


CLOCK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ClockBook:
    """The global clock and the tenants' own manual clocks, by name.

    A tenant (an account and the Segment sources delivering to it) bound to a named clock
    at creation runs on that clock: moving it moves nobody else's time. Tenant clocks are
    always manual, whatever the global clock is.

    Args:
        global_clock: The clock of everything bound to no named clock.
        rows: Where the named clocks live (a shared store's rows; in memory by default).
    """

    def __init__(self, global_clock: Clock, rows: ClockRows | None = None) -> None:
        self.global_clock = global_clock
        self.rows: ClockRows = rows if rows is not None else MemoryClockRows()

    def clock(self, name: str | None) -> Clock:
        """The clock called ``name`` (None or ``""``: the global clock).

        Raises:
            HarnessError: ``clock_not_found``.
        """
        if not name:
            return self.global_clock
        if self.rows.read_clock(name) is None:
            raise HarnessError(
                ErrorCode.CLOCK_NOT_FOUND,
                f"There is no clock {name[:64]!r}; create it with PUT /_harness/clocks/{name[:64]} "
                '{"now": "2026-03-02T12:00:00Z"}.',
            )
        return StoredClock(self.rows, name)

    def set(self, name: str, when: datetime) -> tuple[Clock, bool]:
        """Create the clock at ``when``, or move it there (never backwards).

        Returns:
            The clock, and whether it was created.

        Raises:
            HarnessError: ``invalid_body`` for a bad name or instant; ``clock_backwards``.
        """
        if not CLOCK_NAME.fullmatch(name):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"Clock name {name[:70]!r} is not 1 to 64 letters, digits, '.', '_' or '-'.",
            )
        target = clock_time(when)
        created = self.rows.read_clock(name) is None
        clock = StoredClock(self.rows, name)
        if created:
            self.rows.write_clock(name, target, forward_only=True)
        return clock, created

    def named(self) -> list[tuple[str, datetime]]:
        """Every tenant clock and its time, by name."""
        return [(name, now) for name, now in self.rows.clock_names() if name]


def format_instant(when: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, as every response of the fakes uses."""
    text = (when if when.tzinfo is UTC else when.astimezone(UTC)).isoformat()
    return text.removesuffix("+00:00") + "Z"


_YEAR = re.compile(r"\s*([+-]?)(\d+)-")


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 timestamp that carries an offset, returning it in UTC.

    Raises:
        ValueError: saying what is wrong, worded to follow the value: "is not an ISO-8601
            timestamp with an offset", "has no UTC offset", "is not a valid instant: year
            10000 is out of range (years 1 to 9999)", "is not a valid instant: month must be
            in 1..12", ... (:func:`instant_problem` makes a sentence of it).
    """
    try:
        when = datetime.fromisoformat(text)
    except ValueError as problem:
        raise ValueError(_why_not_iso(text, str(problem))) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("has no UTC offset")
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: in UTC it falls outside the years 1 to 9999") from None


def _why_not_iso(text: str, problem: str) -> str:
    year = _YEAR.match(text)
    if (
        year is not None
        and not year.group(1)
        and (len(year.group(2)) > 4 or int(year.group(2)) == 0)
    ):
        return (
            f"is not a valid instant: year {int(year.group(2))} is out of range (years 1 to 9999)"
        )
    if problem.startswith("Invalid isoformat string"):
        return "is not an ISO-8601 timestamp with an offset"
    if problem.startswith("offset must be"):
        return "is not a valid instant: its UTC offset must be less than 24 hours"
    return f"is not a valid instant: {problem}"


def instant_problem(field: str, value: str, problem: ValueError) -> str:
    """The sentence for a timestamp field that :func:`parse_instant` refused.

    Args:
        field: The field's name, e.g. ``seen_at``.
        value: The text it carried (only its first 40 characters are quoted).
        problem: What :func:`parse_instant` raised.
    """
    return (
        f"{field} {value[:40]!r} {problem}; send ISO-8601 with an offset, "
        "e.g. 2026-01-01T03:00:00Z."
    )
