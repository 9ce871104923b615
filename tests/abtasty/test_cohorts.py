"""Empty cohorts are never shown; Segment's delivery realities do not change the outcome."""

from __future__ import annotations

import pytest

from tests.support import World, message


@pytest.fixture
def world() -> World:
    w = World.build()
    w.at("2026-03-02T20:00:00Z")
    w.see("v1", "anon-1")
    w.see("v2", "anon-2")
    return w


def test_cohorts_trait_without_matched_visitor_is_not_listed(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.identify("anon-unseen", tier="gold")
    world.at("2026-03-03T03:00:00Z")
    assert "tier" not in world.shown()
    assert world.shown() == {"plan": {"pro": 1}}


def test_cohorts_connector_item_listed_even_with_no_traits(world: World) -> None:
    items = world.service.criteria(world.account.id)
    assert [(i.connector_id, i.connector_name, i.traits) for i in items] == [
        (world.connector.id, "Segment", ())
    ]


def test_cohorts_value_that_empties_disappears_at_next_refresh_only(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    world.at("2026-03-03T10:00:00Z")
    world.identify("anon-1", plan="free")
    assert world.shown() == {"plan": {"pro": 1}}  # still yesterday's activated data
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1}}


def test_cohorts_trait_set_to_null_disappears(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    world.identify("anon-1", plan=None)
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {}


def test_cohorts_trait_change_moves_visitor_between_segments_at_refresh(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    world.identify("anon-2", plan="free")
    world.at("2026-03-04T03:00:00Z")
    pro = world.segment("plan", "equals", "pro")
    free = world.segment("plan", "equals", "free")
    world.identify("anon-1", plan="free")
    assert world.segments_of("v1") == [pro]
    world.at("2026-03-05T03:00:00Z")
    assert world.segments_of("v1") == [free]


def test_cohorts_duplicate_message_id_stored_once(world: World) -> None:
    body = message(anonymous_id="anon-1", traits={"plan": "pro"}, message_id="dup-1")
    assert world.send(body) == "accepted"
    assert world.send(body) == "duplicate"
    world.at("2026-03-03T03:00:00Z")
    assert world.service.refreshes(world.account.id)[0].messages == 1


def test_cohorts_duplicate_window_is_24h_from_first_arrival_not_extended(world: World) -> None:
    body = message(anonymous_id="anon-1", traits={"plan": "pro"}, message_id="dup-1")
    world.send(body)
    world.at("2026-03-03T19:59:59Z")
    assert world.send(body) == "duplicate"
    world.at("2026-03-03T20:00:00Z")  # 24 h after the first arrival, not after the duplicate
    assert world.send(body) == "accepted"


def test_cohorts_late_older_message_does_not_overwrite_newer_value(world: World) -> None:
    world.send(
        message(anonymous_id="anon-1", traits={"plan": "pro"}, timestamp="2026-03-02T19:00:00Z")
    )
    world.send(
        message(anonymous_id="anon-1", traits={"plan": "free"}, timestamp="2026-03-02T18:00:00Z")
    )
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_cohorts_late_older_message_across_refreshes_does_not_win(world: World) -> None:
    world.send(
        message(anonymous_id="anon-1", traits={"plan": "pro"}, timestamp="2026-03-02T19:00:00Z")
    )
    world.at("2026-03-03T03:00:00Z")
    world.at("2026-03-03T05:00:00Z")  # a retry delivers an older message late
    world.send(
        message(
            anonymous_id="anon-1",
            traits={"plan": "free", "seats": 3},
            timestamp="2026-03-02T18:00:00Z",
        )
    )
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}, "seats": {3: 1}}


def test_cohorts_late_delivery_across_midnight_activates_a_day_later(world: World) -> None:
    # Event at 23:50, delivered after a retry at 00:10: counts on the day it was received.
    world.at("2026-03-03T00:10:00Z")
    world.send(
        message(anonymous_id="anon-1", traits={"plan": "pro"}, timestamp="2026-03-02T23:50:00Z")
    )
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {}
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}


def test_cohorts_group_traits_reach_members_as_group_prefix(world: World) -> None:
    world.send(
        message(
            "group",
            anonymous_id="anon-1",
            group_id="acme",
            traits={"plan": "enterprise", "employees": 120},
        )
    )
    world.send(message("group", anonymous_id="anon-2", group_id="acme"))
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {
        "group.employees": {120: 2},
        "group.plan": {"enterprise": 2},
        "plan": {"pro": 1},
    }


def test_cohorts_group_trait_update_reaches_all_members_next_refresh(world: World) -> None:
    world.send(message("group", anonymous_id="anon-1", group_id="acme", traits={"plan": "startup"}))
    world.send(message("group", anonymous_id="anon-2", group_id="acme"))
    world.at("2026-03-03T03:00:00Z")
    world.send(
        message(
            "group",
            anonymous_id=None,
            user_id="admin",
            group_id="acme",
            traits={"plan": "enterprise"},
        )
    )
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"group.plan": {"enterprise": 2}}


def test_cohorts_nested_and_list_traits_become_criteria(world: World) -> None:
    world.identify(
        "anon-1", company={"name": "ACME", "plan": "pro"}, tags=["beta", "vip"], vip=True
    )
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {
        "company.name": {"ACME": 1},
        "company.plan": {"pro": 1},
        "tags": {"beta": 1, "vip": 1},
        "vip": {True: 1},
    }


def test_cohorts_true_one_and_text_one_are_distinct_values(world: World) -> None:
    world.identify("anon-1", flag=True)
    world.identify("anon-2", flag=1)
    world.see("v3", "anon-3")
    world.identify("anon-3", flag="1")
    world.at("2026-03-03T03:00:00Z")
    values = world.service.criteria(world.account.id)[0].traits[0].values
    assert sorted((type(v.value).__name__, v.visitors) for v in values) == [
        ("bool", 1),
        ("int", 1),
        ("str", 1),
    ]


def test_cohorts_deleted_connector_leaves_builder(world: World) -> None:
    world.identify("anon-1", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    world.service.delete_connector(world.account.id, world.connector.id)
    assert world.service.criteria(world.account.id) == []


def _values(world: World) -> list[object]:
    return [v.value for v in world.service.criteria(world.account.id)[0].traits[0].values]


def test_cohorts_numeric_values_listed_in_numeric_order(world: World) -> None:
    world.identify("anon-1", seats=[2, 10, 9, 1.5, -3])
    world.at("2026-03-03T03:00:00Z")
    assert _values(world) == [-3, 1.5, 2, 9, 10]


def test_cohorts_mixed_values_numbers_then_strings_then_booleans(world: World) -> None:
    world.identify("anon-1", mixed=[True, "abc", 10, "10", False, "9", 2.5])
    world.at("2026-03-03T03:00:00Z")
    assert _values(world) == [2.5, 10, "10", "9", "abc", False, True]
