"""3 am activation: what arrives on day D is usable from the refresh of day D+1."""

from __future__ import annotations

import pytest

from harness.core.clock import format_instant
from tests.support import World, t


@pytest.fixture
def world() -> World:
    w = World.build()
    w.see("v1", "anon-1")
    return w


def test_refresh_message_at_23h_day1_not_shown_at_025959_day2(world: World) -> None:
    world.at("2026-03-02T23:00:00Z")
    world.identify(plan="pro")
    world.at("2026-03-03T02:59:59Z")
    assert world.shown() == {}


def test_refresh_message_at_23h_day1_shown_at_03h_day2(world: World) -> None:
    world.at("2026-03-02T23:00:00Z")
    world.identify(plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_refresh_message_at_01h_day2_waits_for_03h_day3(world: World) -> None:
    world.at("2026-03-03T01:00:00Z")
    world.identify(plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {}
    world.at("2026-03-04T02:59:59Z")
    assert world.shown() == {}
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_refresh_catch_up_runs_every_missed_night_with_its_own_cutoff(world: World) -> None:
    world.at("2026-03-02T22:00:00Z")
    world.identify(plan="free")
    world.at("2026-03-03T10:00:00Z")  # no request at 03:00: nothing ran yet in the store
    world.identify(plan="pro")
    world.at("2026-03-06T12:00:00Z")  # three 03:00s passed while nobody asked
    runs = world.service.refreshes(world.account.id)
    assert [format_instant(r.scheduled_for) for r in runs] == [
        "2026-03-03T03:00:00Z",
        "2026-03-04T03:00:00Z",
        "2026-03-05T03:00:00Z",
        "2026-03-06T03:00:00Z",
    ]
    assert [r.messages for r in runs] == [1, 1, 0, 0]
    assert [format_instant(r.cutoff) for r in runs][:2] == [
        "2026-03-03T00:00:00Z",
        "2026-03-04T00:00:00Z",
    ]
    assert world.shown() == {"plan": {"pro": 1}}


def test_refresh_first_run_is_the_first_refresh_hour_after_creation() -> None:
    world = World.build(start=t("2026-03-02T02:00:00Z"))
    world.at("2026-03-02T03:00:00Z")
    runs = world.service.refreshes(world.account.id)
    assert [format_instant(r.scheduled_for) for r in runs] == ["2026-03-02T03:00:00Z"]


def test_refresh_counts_report_state_after_run(world: World) -> None:
    world.at("2026-03-02T20:00:00Z")
    world.identify("anon-1", plan="pro", country="FR")
    world.identify("anon-2", plan="pro")  # never seen on the site
    world.at("2026-03-03T03:00:00Z")
    (run,) = world.service.refreshes(world.account.id)
    assert (run.messages, run.profiles, run.matched_profiles, run.cohorts) == (2, 2, 1, 2)


def test_refresh_counts_leave_out_a_deleted_connector(world: World) -> None:
    world.at("2026-03-02T20:00:00Z")
    world.identify("anon-1", plan="pro")
    world.service.delete_connector(world.account.id, world.connector.id)
    world.at("2026-03-03T03:00:00Z")
    (run,) = world.service.refreshes(world.account.id)
    # The run took the message, but the connector's data is gone from the builder.
    assert (run.messages, run.profiles, run.matched_profiles, run.cohorts) == (1, 0, 0, 0)


def test_refresh_other_hour_runs_at_that_hour() -> None:
    world = World.build(refresh_hour=5)
    world.see("v1")
    world.at("2026-03-02T23:00:00Z")
    world.identify(plan="pro")
    world.at("2026-03-03T04:59:59Z")
    assert world.shown() == {}
    world.at("2026-03-03T05:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_refresh_timezone_uses_local_3am_and_local_midnight() -> None:
    # Tokyo is UTC+9: local 03:00 on 3 March is 2 March 18:00 UTC.
    world = World.build(timezone="Asia/Tokyo")
    world.see("v1")
    world.at("2026-03-02T14:59:00Z")  # 23:59 local on 2 March
    world.identify(plan="pro")
    world.at("2026-03-02T17:59:59Z")
    assert world.shown() == {}
    world.at("2026-03-02T18:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


@pytest.mark.parametrize(
    ("message_at", "not_before", "shown_at"),
    [
        # Spring forward, 29 March 2026: 02:00 CET becomes 03:00 CEST; 03:00 CEST = 01:00Z.
        ("2026-03-28T21:30:00Z", "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z"),
        # Fall back, 25 October 2026: 03:00 CEST becomes 02:00 CET; 03:00 CET = 02:00Z.
        ("2026-10-24T21:30:00Z", "2026-10-25T01:59:59Z", "2026-10-25T02:00:00Z"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_refresh_paris_dst_nights_run_at_local_3am(
    message_at: str, not_before: str, shown_at: str
) -> None:

    world = World.build(start=t(message_at), timezone="Europe/Paris")
    world.see("v1")
    world.identify(plan="pro")
    world.at(not_before)
    assert world.shown() == {}
    world.at(shown_at)
    assert world.shown() == {"plan": {"pro": 1}}
    (run,) = world.service.refreshes(world.account.id)
    assert run.scheduled_for == t(shown_at)


def test_refresh_paris_hour_swallowed_by_dst_gap_runs_when_clocks_jump() -> None:

    world = World.build(start=t("2026-03-28T12:00:00Z"), timezone="Europe/Paris", refresh_hour=2)
    world.at("2026-03-29T12:00:00Z")
    runs = world.service.refreshes(world.account.id)
    # 02:00 does not exist on 29 March in Paris: the run is at 03:00 CEST (01:00Z).
    assert format_instant(runs[-1].scheduled_for) == "2026-03-29T01:00:00Z"
    assert format_instant(runs[-1].cutoff) == "2026-03-28T23:00:00Z"


def test_refresh_next_refresh_is_reported(world: World) -> None:
    assert (
        format_instant(world.service.next_refresh(world.account.id).scheduled_for)
        == "2026-03-03T03:00:00Z"
    )
