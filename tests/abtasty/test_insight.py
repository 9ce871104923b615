"""What the fake tells about its own state: hidden cohorts, cohort history, visitors, runs."""

from __future__ import annotations

import pytest

from harness.abtasty.records import TraitKey
from harness.core.errors import HarnessError
from tests.support import World, t


@pytest.fixture
def world() -> World:
    return World.build()


def test_refresh_run_records_when_it_ran(world: World) -> None:
    world.at("2026-03-05T10:00:00Z")
    runs = world.refreshes()
    assert [r.scheduled_for for r in runs] == [
        t("2026-03-03T03:00:00Z"),
        t("2026-03-04T03:00:00Z"),
        t("2026-03-05T03:00:00Z"),
    ]
    assert {r.ran_at for r in runs} == {t("2026-03-05T10:00:00Z")}


def test_cohort_changes_entered_then_left_when_value_changes(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify(plan="free")
    world.at("2026-03-03T03:00:00Z")
    world.identify(plan="pro")
    world.at("2026-03-04T03:00:00Z")
    changes = world.service.cohort_changes(world.id, visitor_id="V1")
    assert [(c.scheduled_for, c.trait, c.value, c.change) for c in changes] == [
        (t("2026-03-03T03:00:00Z"), "plan", "free", "entered"),
        (t("2026-03-04T03:00:00Z"), "plan", "free", "left"),
        (t("2026-03-04T03:00:00Z"), "plan", "pro", "entered"),
    ]
    runs = world.refreshes()
    assert [(r.entered, r.left) for r in runs] == [(1, 0), (1, 1)]


def test_cohort_changes_idle_night_records_nothing(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify(plan="free")
    world.at("2026-03-05T03:00:00Z")
    assert [(r.entered, r.left) for r in world.refreshes()] == [(1, 0), (0, 0), (0, 0)]
    assert len(world.service.cohort_changes(world.id)) == 1


def test_cohort_changes_by_run(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v2", "anon-2")
    world.identify(plan="free")
    world.identify("anon-2", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    changes = world.service.cohort_changes(world.id, scheduled_for=t("2026-03-03T03:00:00Z"))
    assert {(c.visitor_id, c.value) for c in changes} == {("v1", "free"), ("v2", "pro")}
    assert world.service.cohort_changes(world.id, scheduled_for=t("2026-03-04T03:00:00Z")) == []


def test_hidden_cohorts_unmatched_profile_says_why(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify(plan="pro")
    world.identify("anon-2", plan="free")
    world.at("2026-03-03T03:00:00Z")
    hidden = world.service.hidden_cohorts(world.id)
    assert [(h.trait, h.value, h.reason, h.profiles) for h in hidden] == [
        ("plan", "free", "unmatched", 1)
    ]
    assert "had seen none of their anonymousIds" in hidden[0].explanation


def test_hidden_cohorts_unmatched_seen_since_joins_at_next_refresh(world: World) -> None:
    world.identify("anon-2", plan="free")
    world.at("2026-03-03T03:00:00Z")
    world.at("2026-03-03T03:00:01Z")
    world.see("v2", "anon-2")
    (hidden,) = world.service.hidden_cohorts(world.id)
    assert hidden.seen_since == 1
    assert "2026-03-04T03:00:00Z" in hidden.explanation


def test_hidden_cohorts_backdated_sighting_counts_as_seen_since(world: World) -> None:
    # The refresh matches every sighting seen by its scheduled time, whenever the tag
    # reported it: one reported after the last run but dated before it joins at the next.
    world.identify("anon-2", plan="free")
    world.at("2026-03-03T03:00:00Z")
    world.at("2026-03-03T09:00:00Z")
    world.see("v2", "anon-2", seen_at="2026-03-03T01:00:00Z")
    (hidden,) = world.service.hidden_cohorts(world.id)
    assert hidden.seen_since == 1
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1}}


def test_hidden_cohorts_new_sighting_shown_at_once_after_a_cached_read(world: World) -> None:
    world.identify("anon-2", plan="free")
    world.at("2026-03-03T03:00:01Z")
    (before,) = world.service.hidden_cohorts(world.id)
    world.see("v2", "anon-2")
    (after,) = world.service.hidden_cohorts(world.id)
    assert (before.seen_since, after.seen_since) == (0, 1)


def test_hidden_cohorts_waiting_message_not_activated_yet(world: World) -> None:
    world.see("v1", "anon-1")
    world.at("2026-03-02T23:00:00Z")
    world.identify(plan="pro")
    (hidden,) = world.service.hidden_cohorts(world.id)
    assert (hidden.trait, hidden.value, hidden.reason) == ("plan", "pro", "not_activated")
    assert "activated at the refresh at 2026-03-03T03:00:00Z" in hidden.explanation


def test_hidden_cohorts_user_id_only_message_can_never_match(world: World) -> None:
    world.send(
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "m-user-only",
            "timestamp": "2026-03-02T12:00:00Z",
            "traits": {"plan": "gold"},
        }
    )
    (hidden,) = world.service.hidden_cohorts(world.id)
    assert (hidden.value, hidden.reason) == ("gold", "no_anonymous_id")


def test_hidden_cohorts_group_without_member(world: World) -> None:
    world.send(
        {
            "type": "group",
            "userId": "u1",
            "groupId": "g1",
            "messageId": "m-group",
            "timestamp": "2026-03-02T12:00:00Z",
            "traits": {"plan": "enterprise"},
        }
    )
    world.at("2026-03-03T03:00:00Z")
    hidden = world.service.hidden_cohorts(world.id)
    assert [(h.trait, h.reason) for h in hidden] == [("group.plan", "no_member")]


def test_hidden_cohorts_shown_cohort_is_not_hidden(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify(plan="pro")
    world.identify("anon-2", plan="pro")
    world.at("2026-03-03T03:00:00Z")
    assert world.shown() == {"plan": {"pro": 1}}
    assert world.service.hidden_cohorts(world.id) == []


def test_hidden_cohorts_recomputed_after_next_refresh(world: World) -> None:
    world.identify("anon-2", plan="free")
    world.at("2026-03-03T03:00:00Z")
    assert len(world.service.hidden_cohorts(world.id)) == 1
    world.at("2026-03-03T03:00:01Z")
    world.see("v2", "anon-2")
    world.at("2026-03-04T03:00:00Z")
    assert world.service.hidden_cohorts(world.id) == []


def test_visitors_paged_by_id_with_prefix(world: World) -> None:
    for visitor in ["b2", "a1", "b1", "c1"]:
        world.see(visitor, f"anon-{visitor}")
    page, total = world.service.visitors(world.id, prefix="B", limit=1, offset=1)
    assert ([v.visitor_id for v in page], total) == (["b2"], 2)
    everyone, total = world.service.visitors(world.id)
    assert [v.visitor_id for v in everyone] == ["a1", "b1", "b2", "c1"]


def test_visitor_report_tells_sightings_matches_traits_and_segments(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v1", "anon-9")
    world.identify(plan="pro")
    world.at("2026-03-03T03:00:00Z")
    segment = world.segment("plan", "equals", "pro")
    world.identify(plan="max")
    report = world.service.visitor(world.id, "V1")
    assert [s.anonymous_id for s in report.sightings] == ["anon-1", "anon-9"]
    assert report.matched == ((world.connector.id, "anon-1"),)
    assert report.traits == {world.connector.id: {TraitKey("identify", ("plan",)): ("pro",)}}
    assert [taken for _, taken in report.messages] == [True, False]
    assert report.segments == (segment,)
    assert report.next_refresh == t("2026-03-04T03:00:00Z")


def test_visitor_report_unknown_visitor(world: World) -> None:
    with pytest.raises(HarnessError) as raised:
        world.service.visitor(world.id, "nobody")
    assert raised.value.code == "visitor_not_found"


def test_accounts_paged_oldest_first(world: World) -> None:
    second = world.service.create_account("Second")
    assert world.service.account_count() == 2
    assert [a.id for a in world.service.accounts(0, 10)] == [world.id, second.id]
    assert [a.id for a in world.service.accounts(1, 10)] == [second.id]


def test_cohort_changes_of_a_visitor_list_values_in_the_builders_order(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify(seats=[10, "10", 9, True, 2])
    world.at("2026-03-03T03:00:00Z")
    changes = world.service.cohort_changes(world.id, visitor_id="v1")
    assert [c.value for c in changes] == [2, 9, 10, "10", True]
