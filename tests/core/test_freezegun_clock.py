"""The clock the fixtures use: manual outside freezegun, following it inside ``freeze_time``."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from harness.core.errors import HarnessError
from harness.core.freezegun_clock import (
    FreezegunClock,
    freezegun_active,
    freezegun_now,
    freezegun_start_of,
)
from tests.support import t

START = t("2026-03-02T12:00:00Z")


class RecordingWaker:
    """Work due at given instants; records the clock's time whenever an item runs."""

    def __init__(self, clock: FreezegunClock, dues: list[datetime]) -> None:
        self.clock = clock
        self.dues = sorted(dues)
        self.ran_at: list[datetime] = []

    def next_due(self) -> datetime | None:
        return self.dues[0] if self.dues else None

    def run_due(self) -> int:
        ran = 0
        while self.dues and self.dues[0] <= self.clock.now():
            self.dues.pop(0)
            self.ran_at.append(self.clock.now())
            ran += 1
        return ran


def test_freezegun_clock_moves_manually_outside_freezegun() -> None:
    clock = FreezegunClock(START)
    clock.advance(3600)
    clock.move_to(t("2026-03-02T14:00:00Z"))
    assert clock.now() == t("2026-03-02T14:00:00Z")
    assert clock.mode == "manual"


def test_freezegun_clock_follows_freeze_time() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        assert clock.now() == t("2026-03-02T22:00:00Z")
        frozen.move_to("2026-03-03T03:00:01Z")
        assert clock.now() == t("2026-03-03T03:00:01Z")
        frozen.tick(timedelta(hours=1))
        assert clock.now() == t("2026-03-03T04:00:01Z")


def test_freezegun_clock_reports_system_mode_under_freeze_time() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z"):
        inside = clock.mode
    assert (inside, clock.mode) == ("system", "manual")


def test_freezegun_clock_stays_where_freezegun_left_it() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-03T04:00:00Z"):
        clock.now()
    assert clock.now() == t("2026-03-03T04:00:00Z")
    clock.advance(60)
    assert clock.now() == t("2026-03-03T04:01:00Z")


def test_freezegun_clock_refuses_freezegun_moved_back() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        clock.now()
        frozen.move_to("2026-03-02T21:00:00Z")
        with pytest.raises(HarnessError) as refused:
            clock.now()
    assert refused.value.code == "clock_backwards"
    assert "2026-03-02T21:00:00Z" in refused.value.message
    assert "2026-03-02T22:00:00Z" in refused.value.message


def test_freezegun_clock_refuses_freeze_time_before_its_start() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-01T00:00:00Z"), pytest.raises(HarnessError) as refused:
        clock.now()
    assert refused.value.code == "clock_backwards"
    assert "harness_clock" in refused.value.message


def test_freezegun_clock_refuses_manual_moves_under_freeze_time() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z"):
        with pytest.raises(HarnessError) as moved:
            clock.move_to(t("2026-03-03T00:00:00Z"))
        with pytest.raises(HarnessError) as advanced:
            clock.advance(1)
    assert moved.value.code == advanced.value.code == "clock_not_manual"
    assert "frozen.move_to" in moved.value.message


def test_freezegun_clock_refuses_frozen_time_outside_its_range() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2250-01-01T00:00:00Z"), pytest.raises(HarnessError) as refused:
        clock.now()
    assert refused.value.code == "invalid_body"


def test_freezegun_clock_runs_wakers_at_their_due_times_in_order() -> None:
    clock = FreezegunClock(START)
    dues = [t("2026-03-02T23:00:00Z"), t("2026-03-02T22:30:00Z"), t("2026-03-03T01:00:00Z")]
    waker = RecordingWaker(clock, dues)
    clock.bind_wakers([waker])
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        clock.now()
        frozen.move_to("2026-03-03T04:00:00Z")  # one jump over all three
        assert clock.now() == t("2026-03-03T04:00:00Z")
    assert waker.ran_at == sorted(dues)


def test_freezegun_clock_leaves_work_due_after_freezegun_for_later() -> None:
    clock = FreezegunClock(START)
    waker = RecordingWaker(clock, [t("2026-03-02T23:00:00Z")])
    clock.bind_wakers([waker])
    with freeze_time("2026-03-02T22:59:59Z"):
        clock.now()
    assert waker.ran_at == []
    assert waker.dues == [t("2026-03-02T23:00:00Z")]


def test_freezegun_clock_follows_tick_true() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z", tick=True):
        first = clock.now()
        time.sleep(0.01)
        assert clock.now() > first >= t("2026-03-02T22:00:00Z")


def test_freezegun_clock_follows_auto_tick_seconds() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-02T22:00:00Z", auto_tick_seconds=60):
        readings = [clock.now(), clock.now()]
    assert readings == [t("2026-03-02T22:00:00Z"), t("2026-03-02T22:01:00Z")]


def test_freezegun_clock_restart_goes_back_under_freeze_time() -> None:
    clock = FreezegunClock(START)
    with freeze_time("2026-03-01T08:00:00Z"):
        clock.restart_at(t("2026-03-01T08:00:00Z"))
        assert clock.now() == t("2026-03-01T08:00:00Z")


def test_freezegun_clock_reader_in_another_thread_sees_the_frozen_time() -> None:
    clock = FreezegunClock(START)
    seen: list[datetime] = []
    with freeze_time("2026-03-02T22:00:00Z"):
        reader = threading.Thread(target=lambda: seen.append(clock.now()))
        reader.start()
        reader.join()
    assert seen == [t("2026-03-02T22:00:00Z")]


def test_freezegun_now_is_none_outside_freeze_time() -> None:
    assert freezegun_now() is None
    assert not freezegun_active()
    with freeze_time("2026-03-02T22:00:00+02:00"):
        assert freezegun_now() == datetime(2026, 3, 2, 20, tzinfo=UTC)
        assert freezegun_active()


def test_freezegun_start_of_reads_the_decorator() -> None:
    @freeze_time("2026-01-05T08:00:00Z")
    def decorated() -> None: ...

    def plain() -> None: ...

    assert freezegun_start_of(decorated) == t("2026-01-05T08:00:00Z")
    assert freezegun_start_of(plain) is None
    assert freezegun_start_of(None) is None


def test_freezegun_start_of_prefers_the_innermost_decorator() -> None:
    @freeze_time("2026-01-01T00:00:00Z")
    @freeze_time("2026-02-01T00:00:00Z")
    def nested() -> None: ...

    assert freezegun_start_of(nested) == t("2026-02-01T00:00:00Z")


def test_freezegun_start_of_reads_an_async_test() -> None:
    @freeze_time("2026-01-05T08:00:00Z", real_asyncio=True)
    async def decorated() -> None: ...

    assert freezegun_start_of(decorated) == t("2026-01-05T08:00:00Z")
