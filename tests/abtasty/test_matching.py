"""anonymousId matching: Segment's anonymousId meets the visitors the tag saw."""

from __future__ import annotations

import pytest

from tests.support import World, message


@pytest.fixture
def world() -> World:
    w = World.build()
    w.at("2026-03-02T20:00:00Z")
    return w


def test_matching_visitor_seen_before_identify(world: World) -> None:
    world.see("v1", "anon-1", seen_at="2026-03-02T13:00:00Z")
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_matching_visitor_seen_after_identify_before_3am(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T02:00:00Z")
    world.see("v1", "anon-1")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_matching_visitor_seen_after_3am_waits_for_next_refresh(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T04:00:00Z")
    world.see("v1", "anon-1")
    assert world.shown() == {}
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_matching_never_seen_visitor_fills_no_cohort(world: World) -> None:
    world.see("v1", "another-anon")
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {}
    (run,) = world.service.refreshes(world.account.id)
    assert (run.profiles, run.matched_profiles) == (1, 0)


def test_matching_user_id_only_is_stored_with_warning_and_never_matches(world: World) -> None:
    import json

    world.see("v1", "anon-1")
    body = message(anonymous_id=None, user_id="user-42", traits={"plan": "pro"})
    receipt = world.service.receive(world.auth, json.dumps(body).encode())
    assert (receipt.status, receipt.warning) == ("accepted", "no_anonymous_id")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {}
    assert world.service.refreshes(world.account.id)[0].messages == 1


def test_matching_one_anonymous_id_on_two_visitors_puts_both_in_cohort(world: World) -> None:
    world.see("desktop", "anon-1")
    world.see("tablet", "anon-1")
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 2}}


def test_matching_visitor_with_two_anonymous_ids_gets_both_profiles(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v1", "anon-2")
    world.identify("anon-1", plan="pro")
    world.identify("anon-2", plan="free", country="FR")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1, "pro": 1}, "country": {"FR": 1}}
    segment = world.segment("plan", "equals", "pro")
    assert world.segments_of("v1") == [segment]


def test_matching_visitor_ids_are_case_insensitive(world: World) -> None:
    assert world.see("ABC-1", "anon-1") is True
    assert world.see("abc-1", "anon-2") is False
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.segments_of("ABC-1") == world.segments_of("abc-1")
