"""The nightly schedule in every IANA zone: one run per local day that exists, at its hour.

The properties are checked against the local clock itself (``astimezone``), not against
the schedule's own arithmetic: each local day that exists gets exactly one run, at the
first instant its wall clock reads the refresh hour or later, taking what arrived since
the start of the previous local day that exists (issue 9, defect 4). The windows are drawn
around each zone's own offset changes, so the properties meet DST gaps and folds, skipped
and repeated days rather than ordinary nights.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.abtasty import schedule
from harness.abtasty.records import Account, RefreshRun
from tests.support import World, t

SECOND = timedelta(seconds=1)
ZONES = sorted(schedule.iana_timezones())


def _runs(zone: str, hour: int, start: datetime, days: int) -> list[schedule.ScheduledRefresh]:
    account = Account("acc_1", "Shop", zone, hour, start)
    return list(schedule.due_refreshes(account, None, start + timedelta(days=days)))


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _local_days(tz: ZoneInfo, first: datetime, last: datetime) -> set[date]:
    """Every local date the wall clock shows between two instants (sampled each minute)."""
    days = set()
    instant = first
    while instant <= last:
        days.add(instant.astimezone(tz).date())
        instant += timedelta(minutes=1)
    return days


def _transitions(tz: ZoneInfo, year: int) -> list[datetime]:
    """Noon-UTC instants after which the zone's UTC offset changed within a day, in ``year``."""
    found = []
    noon = datetime(year, 1, 1, 12, tzinfo=UTC)
    while noon.year == year:
        if noon.astimezone(tz).utcoffset() != (noon + timedelta(days=1)).astimezone(tz).utcoffset():
            found.append(noon)
        noon += timedelta(days=1)
    return found


def check_schedule(zone: str, hour: int, start: datetime, days: int) -> None:
    """Every property of the runs between ``start`` and ``days`` later."""
    tz = ZoneInfo(zone)
    runs = _runs(zone, hour, start, days)
    assert runs, "at least one run in a window of a day or more"
    existing = _local_days(tz, runs[0].cutoff, runs[-1].scheduled_for)
    assert [r.day for r in runs] == sorted(d for d in existing if d >= runs[0].day), (
        "one run per local day that exists, none for a day that does not"
    )
    for previous, run in zip([None, *runs], runs, strict=False):
        target = datetime.combine(run.day, time(hour))
        assert _wall(run.scheduled_for, tz) >= target > _wall(run.scheduled_for - SECOND, tz), (
            f"{run.day} runs at the first instant its wall clock reads {hour}:00 or later"
        )
        shown = run.scheduled_for.astimezone(tz)
        if shown.date() != run.day:
            # Only when a DST gap that ends the day swallows the hour (America/Nuuk at 23:00
            # on the last Saturday of March): the run is when the clocks jump, which the
            # local clock shows as 00:00 of the next day.
            assert (shown.date(), shown.time()) == (run.day + timedelta(days=1), time(0))
            assert (run.scheduled_for - SECOND).astimezone(tz).date() == run.day
        assert run.cutoff.astimezone(tz).date() == run.day, "the cutoff is the day's first instant"
        assert (run.cutoff - SECOND).astimezone(tz).date() < run.day
        if previous is not None:
            assert previous.cutoff < run.cutoff and previous.scheduled_for < run.scheduled_for
            # What the run takes, [previous cutoff, cutoff), is the previous day that exists.
            assert (run.cutoff - SECOND).astimezone(tz).date() == previous.day


@st.composite
def windows(draw: st.DrawFn) -> tuple[str, int, datetime, int]:
    """A zone, an hour and a few days around one of the zone's offset changes (if any)."""
    zone = draw(st.sampled_from(ZONES))
    year = draw(st.integers(1971, 2037))
    changes = _transitions(ZoneInfo(zone), year)
    if changes:
        center = draw(st.sampled_from(changes))
    else:
        center = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)))
    start = center - timedelta(hours=draw(st.integers(24, 72)))
    return zone, draw(st.integers(0, 23)), start, draw(st.integers(2, 6))


@given(windows())
@example(("Pacific/Apia", 3, datetime(2011, 12, 27, 12, tzinfo=UTC), 6))  # skipped 30 Dec 2011
@example(("Pacific/Apia", 0, datetime(2011, 12, 27, 12, tzinfo=UTC), 6))
@example(("Pacific/Kiritimati", 3, datetime(1994, 12, 29, tzinfo=UTC), 5))  # skipped 31 Dec 1994
@example(("Europe/Paris", 2, datetime(2026, 3, 27, tzinfo=UTC), 4))  # 02:00 swallowed
@example(("Europe/Paris", 2, datetime(2026, 10, 23, tzinfo=UTC), 4))  # 02:00 twice
@example(("America/New_York", 2, datetime(2026, 3, 6, tzinfo=UTC), 4))
@example(("America/New_York", 1, datetime(2026, 10, 30, tzinfo=UTC), 4))
@example(("Europe/London", 1, datetime(2026, 3, 27, tzinfo=UTC), 4))  # DST change at 01:00
@example(("Europe/London", 1, datetime(2026, 10, 23, tzinfo=UTC), 4))
@example(("America/Sao_Paulo", 0, datetime(2018, 11, 2, tzinfo=UTC), 4))  # the day starts at 01:00
@example(("America/Nuuk", 23, datetime(2026, 3, 26, tzinfo=UTC), 4))  # 23:00 swallowed at day's end
def test_schedule_one_run_per_existing_local_day_at_its_hour(
    window: tuple[str, int, datetime, int],
) -> None:
    check_schedule(*window)


def test_schedule_apia_skipped_day_has_no_run_and_nothing_at_midnight() -> None:
    tz = ZoneInfo("Pacific/Apia")
    runs = _runs("Pacific/Apia", 3, t("2011-12-28T14:00:00Z"), 4)  # 04:00 on the 28th (-10)
    assert [(r.day.isoformat(), _wall(r.scheduled_for, tz).isoformat()) for r in runs] == [
        ("2011-12-29", "2011-12-29T03:00:00"),
        ("2011-12-31", "2011-12-31T03:00:00"),
        ("2012-01-01", "2012-01-01T03:00:00"),
        ("2012-01-02", "2012-01-02T03:00:00"),
    ]
    # The 31st takes the 29th: everything from 29 Dec 00:00 (-10) to 31 Dec 00:00 (+14).
    assert runs[1].cutoff == t("2011-12-30T10:00:00Z")


def test_refresh_apia_message_of_29_december_activated_at_3am_on_31st() -> None:
    world = World.build(start=t("2011-12-29T20:00:00Z"), timezone="Pacific/Apia")  # 10:00 local
    world.see("v1")
    world.identify(plan="pro")
    world.at("2011-12-30T10:00:00Z")  # local midnight that starts 31 December
    assert world.shown() == {}
    world.at("2011-12-30T12:59:59Z")
    assert world.shown() == {}
    world.at("2011-12-30T13:00:00Z")  # 03:00 on 31 December (+14)
    assert world.shown() == {"plan": {"pro": 1}}
    assert [_utc(r) for r in world.refreshes()] == [
        ("2011-12-30T13:00:00+00:00", "2011-12-30T10:00:00+00:00", 1)
    ]


def _utc(run: RefreshRun) -> tuple[str, str, int]:
    return run.scheduled_for.isoformat(), run.cutoff.isoformat(), run.messages


def test_refresh_apia_explains_activation_on_31st() -> None:
    world = World.build(start=t("2011-12-28T20:00:00Z"), timezone="Pacific/Apia")
    world.see("v0", "anon-0")
    world.identify("anon-0", plan="pro")
    world.at("2011-12-29T13:00:00Z")  # 03:00 on 29 December (-10)
    segment = world.segment("plan", "equals", "pro")
    world.at("2011-12-29T20:00:00Z")  # 10:00 on the 29th
    world.see("v1")
    world.identify(plan="pro")
    reason = world.explain(segment, "v1").reasons[1]
    assert "next refresh is at 2011-12-30T13:00:00Z" in reason
    assert "activated at 2011-12-30T13:00:00Z" in reason  # 03:00 on the 31st (+14)


@pytest.mark.parametrize(
    ("zone", "hour", "start", "expected"),
    [
        # New York springs forward at 02:00 (to 03:00 EDT): a 02:00 run happens at 03:00 EDT.
        ("America/New_York", 2, "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"),
        # ...and falls back at 02:00 EDT (to 01:00 EST): a 01:00 run is the first 01:00.
        ("America/New_York", 1, "2026-10-31T12:00:00Z", "2026-11-01T05:00:00Z"),
        # London changes at 01:00 itself: spring, 01:00 GMT is 02:00 BST at once...
        ("Europe/London", 1, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"),
        # ...autumn, 01:00 BST (00:00Z) comes first, then 01:00 GMT (01:00Z).
        ("Europe/London", 1, "2026-10-24T12:00:00Z", "2026-10-25T00:00:00Z"),
    ],
)
def test_refresh_dst_change_at_refresh_hour_runs_once(
    zone: str, hour: int, start: str, expected: str
) -> None:
    world = World.build(start=t(start), timezone=zone, refresh_hour=hour)
    world.at(t(start) + timedelta(days=2))
    runs = world.refreshes()
    assert t(expected) in [r.scheduled_for for r in runs]
    assert len({r.scheduled_for.astimezone(ZoneInfo(zone)).date() for r in runs}) == len(runs)
