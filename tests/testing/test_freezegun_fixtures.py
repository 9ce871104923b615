"""The plugin's fixtures under freezegun: the harness clock follows ``freeze_time``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from freezegun import freeze_time

from harness.core.errors import HarnessError
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, ClockControl, SourceHandle
from tests.support import t


def test_fixtures_follow_freeze_time_as_the_issue_writes_it(abtasty_account: AccountHandle) -> None:
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        abtasty_account.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-03T03:00:01Z")
        assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_fixtures_receive_messages_at_the_frozen_time(abtasty_account: AccountHandle) -> None:
    with freeze_time("2026-03-03T01:00:00Z") as frozen:  # day 2: activated on day 3 only
        abtasty_account.see("visitor-1", "anon-1")
        abtasty_account.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-03T03:00:00Z")
        assert abtasty_account.shown() == {}
        frozen.move_to("2026-03-04T03:00:00Z")
        assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_fixtures_catch_up_several_nights_in_one_move(abtasty_account: AccountHandle) -> None:
    with freeze_time("2026-03-02T23:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        abtasty_account.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-06T04:00:00Z")
        runs = abtasty_account.refreshes()
        assert abtasty_account.shown() == {"plan": {"pro": 1}}
    assert [run.scheduled_for for run in runs] == [
        t("2026-03-03T03:00:00Z"),
        t("2026-03-04T03:00:00Z"),
        t("2026-03-05T03:00:00Z"),
        t("2026-03-06T03:00:00Z"),
    ]
    assert [run.messages for run in runs] == [1, 0, 0, 0]


def test_fixtures_make_retries_at_their_due_times_across_one_tick(
    abtasty_account: AccountHandle, simulated_segment: SourceHandle
) -> None:
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        abtasty_account.see("visitor-1", "anon-1")
        simulated_segment.outage(until="2026-03-02T22:20:00Z")
        simulated_segment.identify("anon-1", plan="pro")
        assert simulated_segment.stages()["delivered"] == 0
        frozen.tick(timedelta(hours=6))  # 04:00: had the retry run now, 03:00 would miss it
        assert simulated_segment.stages()["delivered"] == 1
        assert abtasty_account.shown() == {"plan": {"pro": 1}}
    (record,) = simulated_segment.overview().messages
    assert record.attempts > 1


def test_fixtures_fail_delivery_once_tick_crosses_the_retry_window(
    abtasty_account: AccountHandle, simulated_segment: SourceHandle
) -> None:
    failed_at = []
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        simulated_segment.outage(until="2026-03-03T06:00:00Z")
        simulated_segment.identify("anon-1", plan="pro")
        for _ in range(10):  # 5 hours in steps of 30 minutes
            frozen.tick(timedelta(minutes=30))
            if simulated_segment.stages()["failed_delivery"]:
                failed_at.append(frozen())
        stages = simulated_segment.stages()
    (record,) = simulated_segment.overview().messages
    assert (stages["delivered"], stages["failed_delivery"]) == (0, 1)
    assert t("2026-03-02T22:30:00Z").replace(tzinfo=None) < failed_at[0]
    assert failed_at[0] <= t("2026-03-03T02:30:00Z").replace(tzinfo=None)  # within 4 h + a step
    assert record.attempts >= 8
    assert record.first_attempt_at == t("2026-03-02T22:00:00Z")


def test_fixtures_activate_at_3am_paris_on_the_spring_dst_night(harness: Harness) -> None:
    paris = AccountHandle.create(harness, timezone="Europe/Paris")
    with freeze_time("2026-03-28T20:00:00Z") as frozen:  # 21:00 in Paris, the night clocks jump
        paris.see("visitor-1", "anon-1")
        paris.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-29T00:59:59Z")  # 01:59:59 CET; 02:00 becomes 03:00 CEST
        assert paris.shown() == {}
        frozen.move_to("2026-03-29T01:00:00Z")  # 03:00 CEST
        assert paris.shown() == {"plan": {"pro": 1}}


@freeze_time("2026-10-24T20:00:00Z")
def test_fixtures_activate_at_3am_paris_on_the_autumn_dst_night(harness: Harness) -> None:
    paris = AccountHandle.create(harness, timezone="Europe/Paris")
    paris.see("visitor-1", "anon-1")
    paris.identify("anon-1", plan="pro")
    with freeze_time("2026-10-25T01:59:59Z"):  # 02:59:59 CET, after the hour 02:00-03:00 repeats
        assert paris.shown() == {}
    with freeze_time("2026-10-25T02:00:00Z"):  # 03:00 CET
        assert paris.shown() == {"plan": {"pro": 1}}


@freeze_time("2025-06-01T10:00:00Z")
def test_fixtures_start_at_the_time_a_decorator_freezes(harness_clock: ClockControl) -> None:
    assert harness_clock.now() == t("2025-06-01T10:00:00Z")


@pytest.mark.harness_clock("2025-05-01T00:00:00Z")
@freeze_time("2025-06-01T10:00:00Z")
def test_fixtures_start_at_the_marker_rather_than_the_decorator(harness: Harness) -> None:
    assert harness.clock.now() == t("2025-06-01T10:00:00Z")  # followed forward from the marker
    assert harness.abtasty.create_account("Shop").created_at == t("2025-06-01T10:00:00Z")


@pytest.fixture
def frozen_in_2024() -> Iterator[None]:
    with freeze_time("2024-02-29T09:00:00Z"):
        yield


def test_fixtures_start_where_freezegun_is_at_setup(
    frozen_in_2024: None, harness_clock: ClockControl
) -> None:
    assert harness_clock.now() == t("2024-02-29T09:00:00Z")


def test_fixtures_refuse_harness_clock_moves_inside_freeze_time(
    harness_clock: ClockControl,
) -> None:
    with freeze_time("2026-03-02T22:00:00Z"):
        with pytest.raises(HarnessError) as moved:
            harness_clock.move_to("2026-03-03T03:00:00Z")
        with pytest.raises(HarnessError) as advanced:
            harness_clock.advance("1h")
        assert harness_clock.now() == t("2026-03-02T22:00:00Z")
    assert moved.value.code == advanced.value.code == "clock_not_manual"


def test_fixtures_refuse_freezegun_moved_back(abtasty_account: AccountHandle) -> None:
    with freeze_time("2026-03-02T22:00:00Z") as frozen:
        abtasty_account.identify("anon-1", plan="pro")
        frozen.move_to("2026-03-02T21:00:00Z")
        with pytest.raises(HarnessError) as refused:
            abtasty_account.shown()
    assert refused.value.code == "clock_backwards"


def test_fixtures_move_manually_from_where_freezegun_left(
    harness_clock: ClockControl, abtasty_account: AccountHandle
) -> None:
    with freeze_time("2026-03-02T23:00:00Z"):
        abtasty_account.see("visitor-1", "anon-1")
        abtasty_account.identify("anon-1", plan="pro")
    assert harness_clock.now() == t("2026-03-02T23:00:00Z")
    harness_clock.advance("4h")
    assert abtasty_account.shown() == {"plan": {"pro": 1}}


def test_fixtures_follow_tick_true(harness_clock: ClockControl) -> None:
    import time

    with freeze_time("2026-03-02T22:00:00Z", tick=True):
        first = harness_clock.now()
        time.sleep(0.01)
        assert harness_clock.now() > first


def test_fixtures_follow_auto_tick_seconds(harness_clock: ClockControl) -> None:
    with freeze_time("2026-03-02T22:00:00Z", auto_tick_seconds=20):
        readings = [harness_clock.now() for _ in range(3)]
    # Every reading of the harness clock is a reading of freezegun's, so it steps it too.
    assert readings == [
        t("2026-03-02T22:00:00Z"),
        t("2026-03-02T22:00:20Z"),
        t("2026-03-02T22:00:40Z"),
    ]
