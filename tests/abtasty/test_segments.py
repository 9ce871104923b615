"""Segments: conditions on activated traits, and explanations in domain terms."""

from __future__ import annotations

import pytest

from harness.core.errors import HarnessError
from tests.support import World, message


@pytest.fixture
def world() -> World:
    w = World.build()
    w.at("2026-03-02T20:00:00Z")
    for visitor, anon in (("v1", "anon-1"), ("v2", "anon-2"), ("v3", "anon-3")):
        w.see(visitor, anon)
    w.identify("anon-1", plan="pro", seats=12, email="ada@example.com", signup="2025-06-01")
    w.identify("anon-2", plan="free", seats=2, email="bob@example.org", signup="2026-02-01")
    w.identify("anon-3", plan="pro")
    w.at("2026-03-03T03:00:00Z")
    return w


@pytest.mark.parametrize(
    ("trait", "operator", "value", "members"),
    [
        ("plan", "equals", "pro", {"v1", "v3"}),
        ("plan", "not_equals", "pro", {"v2"}),
        ("email", "contains", "EXAMPLE.COM", {"v1"}),
        ("seats", "exists", None, {"v1", "v2"}),
        ("seats", "greater_than", 5, {"v1"}),
        ("seats", "less_than", "5", {"v2"}),
        ("seats", "equals", "12", {"v1"}),
        ("signup", "greater_than", "2026-01-01", {"v2"}),
        ("signup", "less_than", "2026-01-01T00:00:00Z", {"v1"}),
    ],
)
def test_segments_operator(
    world: World, trait: str, operator: str, value: object, members: set[str]
) -> None:
    segment = world.segment(trait, operator, value)
    assert {v for v in ("v1", "v2", "v3") if segment in world.segments_of(v)} == members


def test_segments_match_any_and_all(world: World) -> None:
    conditions = [
        (world.connector.id, "plan", "equals", "free"),
        (world.connector.id, "seats", "greater_than", 10),
    ]
    any_id = world.service.create_segment(world.account.id, "any", "any", conditions).id
    all_id = world.service.create_segment(world.account.id, "all", "all", conditions).id
    assert any_id in world.segments_of("v1") and any_id in world.segments_of("v2")
    assert all_id not in world.segments_of("v1") + world.segments_of("v2")


def test_segments_trait_not_shown_is_not_available(world: World) -> None:
    with pytest.raises(HarnessError) as caught:
        world.segment("country", "equals", "FR")
    assert caught.value.code == "criterion_not_available"
    assert "next refresh" not in caught.value.message


def test_segments_trait_received_but_not_activated_is_not_available(world: World) -> None:
    world.identify("anon-1", country="FR")
    with pytest.raises(HarnessError) as caught:
        world.segment("country", "equals", "FR")
    assert caught.value.code == "criterion_not_available"
    assert "next refresh at 2026-03-04T03:00:00Z" in caught.value.message


def test_segments_trait_of_unmatched_profile_is_not_pending(world: World) -> None:
    world.identify("anon-unseen", country="FR")
    world.at("2026-03-04T03:00:00Z")
    with pytest.raises(HarnessError) as caught:
        world.segment("country", "equals", "FR")
    assert caught.value.code == "criterion_not_available"
    assert "next refresh" not in caught.value.message
    assert "no visitor" in caught.value.message


@pytest.mark.parametrize("connector", ["con_nope", "other account"])
def test_segments_unknown_connector_has_its_own_code(world: World, connector: str) -> None:
    if connector == "other account":
        other = World.build()
        connector = other.connector.id
    with pytest.raises(HarnessError) as caught:
        world.service.create_segment(
            world.account.id, "S", "all", [(connector, "plan", "exists", None)]
        )
    assert caught.value.code == "unknown_connector"
    assert connector in caught.value.message


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("near", "x"),
        ("equals", None),
        ("equals", {"a": 1}),
        ("greater_than", "soon"),
        ("contains", [1]),
    ],
)
def test_segments_bad_condition_is_invalid_body(world: World, operator: str, value: object) -> None:
    with pytest.raises(HarnessError) as caught:
        world.segment("plan", operator, value)
    assert caught.value.code == "invalid_body"
    assert "conditions[0]" in caught.value.message


def test_segments_unknown_visitor_is_in_no_segment(world: World) -> None:
    world.segment("plan", "equals", "pro")
    assert world.segments_of("never-seen") == []


def test_explain_match_names_value(world: World) -> None:
    segment = world.segment("plan", "equals", "pro")
    explanation = world.service.explain(world.account.id, segment, "v1")
    assert explanation.matches
    assert "plan is 'pro'" in explanation.reasons[1]


def test_explain_value_differs(world: World) -> None:
    segment = world.segment("plan", "equals", "pro")
    explanation = world.service.explain(world.account.id, segment, "v2")
    assert not explanation.matches
    assert "value differs" in explanation.reasons[1]


def test_explain_no_message_for_visitors_anonymous_id(world: World) -> None:
    segment = world.segment("plan", "equals", "pro")
    world.see("v9", "cookie-the-tag-read")
    reasons = world.service.explain(world.account.id, segment, "v9").reasons
    assert "no visitor seen with that anonymousId" in reasons[1]
    assert "cookie-the-tag-read" in reasons[1]


def test_explain_received_but_not_activated_names_next_refresh(world: World) -> None:
    segment = world.segment("plan", "equals", "pro")
    world.see("v4", "anon-4")
    world.identify("anon-4", plan="pro")
    reason = world.service.explain(world.account.id, segment, "v4").reasons[1]
    assert "not yet activated" in reason
    assert "2026-03-04T03:00:00Z" in reason


def test_explain_visitor_seen_after_last_refresh(world: World) -> None:
    world.at("2026-03-03T04:00:00Z")
    world.identify("anon-5", plan="pro")
    world.at("2026-03-04T03:00:00Z")
    segment = world.segment("plan", "equals", "pro")
    world.at("2026-03-04T05:00:00Z")
    world.see("v5", "anon-5")
    reason = world.service.explain(world.account.id, segment, "v5").reasons[1]
    assert "after the last refresh" in reason
    assert "2026-03-05T03:00:00Z" in reason


def test_explain_message_without_that_trait(world: World) -> None:
    segment = world.segment("seats", "exists")
    reason = world.service.explain(world.account.id, segment, "v3").reasons[1]
    assert "none carries trait 'seats'" in reason


def test_explain_unknown_segment_and_visitor(world: World) -> None:
    segment = world.segment("plan", "equals", "pro")
    with pytest.raises(HarnessError) as no_segment:
        world.service.explain(world.account.id, "seg_nope", "v1")
    with pytest.raises(HarnessError) as no_visitor:
        world.service.explain(world.account.id, segment, "ghost")
    assert (no_segment.value.code, no_visitor.value.code) == (
        "segment_not_found",
        "visitor_not_found",
    )


def test_explain_group_trait_pending(world: World) -> None:
    world.send(
        message("group", anonymous_id="anon-1", group_id="acme", traits={"plan": "enterprise"})
    )
    world.at("2026-03-04T03:00:00Z")
    segment = world.segment("group.plan", "equals", "enterprise")
    world.see("v6", "anon-6")
    world.send(
        message("group", anonymous_id="anon-6", group_id="acme", traits={"plan": "enterprise"})
    )
    reason = world.service.explain(world.account.id, segment, "v6").reasons[1]
    assert "not yet activated" in reason
