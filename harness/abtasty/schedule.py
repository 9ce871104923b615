"""When the nightly audience refresh runs, in the account's own timezone.

The run of local day D happens at the first instant at or after ``refresh_hour:00`` local
time (a DST gap can swallow that hour) and takes what arrived before the first instant of
local day D (its cutoff), that is, since the start of the previous local day that exists.
A day a zone skipped (Pacific/Apia, 30 December 2011) has no run. When a gap that ends the
day swallows the hour (America/Nuuk at 23:00 on the last Saturday of March), the run is
when the clocks jump, which the local clock shows as 00:00 of the next day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from harness.abtasty.records import Account
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

NOT_A_PLACE = frozenset({"Factory"})
"""IANA's placeholder for "time zone not set yet": in the database, but no account's zone."""


@lru_cache(maxsize=1)
def iana_timezones() -> frozenset[str]:
    """The zone names of the IANA tz database as the ``tzdata`` package ships them.

    Not ``zoneinfo.available_timezones()``: that also lists whatever the system's zoneinfo
    directory holds, such as ``localtime`` (the host's own setting, which differs between
    machines), so an account's schedule would depend on where the fake runs.
    """
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listed.split()) - NOT_A_PLACE


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``.

    Raises:
        HarnessError: ``invalid_timezone`` for a name that is not an IANA zone.
    """
    if not isinstance(name, str) or name not in iana_timezones():
        shown = repr(name[:60]) if isinstance(name, str) else "not a string"
        raise HarnessError(
            ErrorCode.INVALID_TIMEZONE,
            f"timezone {shown} is not an IANA time zone name; use one like 'Europe/Paris' or 'UTC'.",
        )
    return ZoneInfo(name)


def first_instant_at_or_after(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall time in ``tz`` is at or after ``day`` ``hour``:00.

    Usually that wall time itself (its first occurrence when the clocks fall back); when a
    DST gap swallows it, the instant the clocks jump.
    """
    wall = datetime.combine(day, time(hour))
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == wall:
        return early
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(early, late), max(early, late)
    # Local wall time never decreases across a gap, so bisect on whole seconds.
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high if low.astimezone(tz).replace(tzinfo=None) < wall else low


@dataclass(frozen=True, slots=True)
class ScheduledRefresh:
    """One nightly run: its local day, when it runs and what it takes."""

    day: date
    scheduled_for: datetime
    cutoff: datetime


def refresh_of_day(account: Account, day: date) -> ScheduledRefresh:
    """The refresh of local ``day``, or of the first local day after it that exists.

    A time zone can skip a whole day (Pacific/Apia went from 29 to 31 December 2011): such
    a day has no run, and the next day's run takes what arrived since the start of the
    previous day that exists.
    """
    tz = zone(account.timezone)
    while True:
        cutoff = first_instant_at_or_after(day, 0, tz)
        if cutoff.astimezone(tz).date() == day:
            break
        day += timedelta(days=1)  # the first instant of the day is already a later day
    return ScheduledRefresh(
        day=day,
        scheduled_for=first_instant_at_or_after(day, account.refresh_hour, tz),
        cutoff=cutoff,
    )


def refresh_taking(account: Account, received_at: datetime) -> ScheduledRefresh:
    """The refresh that takes a message received at ``received_at``: the next local day's."""
    return refresh_of_day(account, local_day(received_at, account.timezone) + timedelta(days=1))


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar day of ``instant`` in ``timezone``."""
    return instant.astimezone(zone(timezone)).date()


def first_refresh(account: Account) -> ScheduledRefresh:
    """The first refresh after the account was created."""
    day = local_day(account.created_at, account.timezone) - timedelta(days=1)
    while True:
        run = refresh_of_day(account, day)
        if run.scheduled_for > account.created_at:
            return run
        day += timedelta(days=1)


def refresh_after(account: Account, previous_cutoff: datetime | None) -> ScheduledRefresh:
    """The refresh that follows the one with ``previous_cutoff`` (or the first one)."""
    if previous_cutoff is None:
        return first_refresh(account)
    return refresh_taking(account, previous_cutoff)


def due_refreshes(
    account: Account, previous_cutoff: datetime | None, now: datetime
) -> Iterator[ScheduledRefresh]:
    """Every refresh due at or before ``now`` after the one with ``previous_cutoff``, in order."""
    run = refresh_after(account, previous_cutoff)
    while run.scheduled_for <= now:
        yield run
        run = refresh_of_day(account, run.day + timedelta(days=1))
