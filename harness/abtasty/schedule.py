"""When the nightly audience refresh runs, in the account's own timezone.

The run of local day D happens at the first instant at or after ``refresh_hour:00`` local
time (a DST gap can swallow that hour) and takes what arrived before the first instant of
local day D (its cutoff).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from harness.abtasty.records import Account
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
            "invalid_timezone",
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
    """The refresh an account runs on local ``day``."""
    tz = zone(account.timezone)
    return ScheduledRefresh(
        day=day,
        scheduled_for=first_instant_at_or_after(day, account.refresh_hour, tz),
        cutoff=first_instant_at_or_after(day, 0, tz),
    )


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
    return refresh_of_day(account, local_day(previous_cutoff, account.timezone) + timedelta(days=1))


def due_refreshes(
    account: Account, previous_cutoff: datetime | None, now: datetime
) -> Iterator[ScheduledRefresh]:
    """Every refresh due at or before ``now`` after the one with ``previous_cutoff``, in order."""
    run = refresh_after(account, previous_cutoff)
    while run.scheduled_for <= now:
        yield run
        run = refresh_of_day(account, run.day + timedelta(days=1))
