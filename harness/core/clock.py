"""Clocks: the only source of "now" for the domain.

The domain never calls ``datetime.now()`` itself. A :class:`SystemClock` reads the real
time through ``datetime.now(timezone.utc)``, so ``freezegun`` controls it in-process; a
:class:`ManualClock` moves only when told, which is what a live server under test needs.
"""

from __future__ import annotations

import re
import threading
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


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""A manual clock stays in [EARLIEST, LATEST): a fake that jumped to the year 9999 would owe
millions of nightly refreshes."""


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
        if seconds >= (LATEST - self._now).total_seconds():
            self.move_to(LATEST)  # refused, naming the clock's range
        self.move_to(self._now + timedelta(seconds=seconds))


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
