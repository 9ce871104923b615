"""Engage audiences and computed traits: what the fake Segment sends, and what AB Tasty shows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.clock import ManualClock
from harness.core.errors import HarnessError
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, ClockControl, SourceHandle, instant


def _payloads(simulated_segment: SourceHandle) -> list[Any]:
    return [json.loads(r.payload) for r in simulated_segment.overview().messages]


def test_audience_enter_sends_identify_with_true_and_personas(simulated_segment):
    vip = simulated_segment.audience("vip_users", "VIP users")
    assert vip.enter("anon-1", user_id="u-1")
    (message,) = _payloads(simulated_segment)
    assert message["type"] == "identify"
    assert message["traits"] == {"vip_users": True}
    assert (message["anonymousId"], message["userId"]) == ("anon-1", "u-1")
    personas = message["context"]["personas"]
    assert personas["computation_class"] == "audience"
    assert personas["computation_key"] == "vip_users"
    assert personas["computation_id"] == vip.id
    assert personas["space_id"].startswith("spa_")
    assert simulated_segment.stages()["delivered"] == 1


def test_audience_exit_sends_false_only_for_a_member(simulated_segment):
    vip = simulated_segment.audience("vip_users")
    assert not vip.exit("anon-1")  # never entered: Engage has nothing to say
    assert vip.enter("anon-1")
    assert not vip.enter("anon-1")  # already in
    assert vip.exit("anon-1")
    assert [m["traits"] for m in _payloads(simulated_segment)] == [
        {"vip_users": True},
        {"vip_users": False},
    ]
    assert vip.members() == []


def test_audience_key_is_unique_among_live_computations(simulated_segment):
    simulated_segment.audience("vip_users")
    with pytest.raises(HarnessError) as refused:
        simulated_segment.computed_trait("vip_users")
    assert refused.value.code == "computation_key_exists"


def test_audience_key_of_a_deleted_audience_is_reused_with_a_warning(simulated_segment):
    first = simulated_segment.audience("vip_users")
    assert first.warning is None
    first.delete()
    again = simulated_segment.audience("vip_users")
    assert again.warning is not None
    assert first.id in again.warning


@pytest.mark.parametrize("key", ["", "VIP", "vip users", "x" * 101, "vip-users"])
def test_audience_key_malformed_is_refused(simulated_segment, key):
    with pytest.raises(HarnessError) as refused:
        simulated_segment.audience(key)
    assert refused.value.code == "invalid_body"


def test_audience_member_anonymous_id_over_the_limit_is_refused(simulated_segment):
    vip = simulated_segment.audience("vip_users")
    with pytest.raises(HarnessError) as refused:
        vip.enter("a" * 1001)
    assert refused.value.code == "invalid_body"
    assert simulated_segment.stages()["received"] == 0


def test_computed_trait_user_level_sends_identify(simulated_segment):
    ltv = simulated_segment.computed_trait("lifetime_value")
    assert ltv.set("anon-1", 120)
    assert not ltv.set("anon-1", 120)  # unchanged
    assert ltv.set("anon-1", 120.5)
    messages = _payloads(simulated_segment)
    assert [m["traits"] for m in messages] == [{"lifetime_value": 120}, {"lifetime_value": 120.5}]
    assert messages[0]["context"]["personas"]["computation_class"] == "computed_trait"


def test_computed_trait_account_level_sends_a_group_call_per_member(simulated_segment):
    seats = simulated_segment.computed_trait("active_seats", level="account")
    assert seats.set_for_account("acme", 12, members=["anon-1", "anon-2"])
    messages = _payloads(simulated_segment)
    assert [(m["type"], m["anonymousId"], m["groupId"], m["traits"]) for m in messages] == [
        ("group", "anon-1", "acme", {"active_seats": 12}),
        ("group", "anon-2", "acme", {"active_seats": 12}),
    ]


def test_computed_trait_level_mismatch_is_refused(simulated_segment):
    seats = simulated_segment.computed_trait("active_seats", level="account")
    with pytest.raises(HarnessError) as refused:
        seats.set("anon-1", 3)
    assert refused.value.code == "invalid_body"
    with pytest.raises(HarnessError):
        simulated_segment.computed_trait("x", level="workspace")


def test_engage_messages_follow_the_integrations_and_retries(harness_clock, simulated_segment):
    simulated_segment.outage(until="2026-03-02T13:00:00Z")
    simulated_segment.audience("vip_users").enter("anon-1")
    assert simulated_segment.stages()["delivered"] == 0
    harness_clock.advance("2h")
    assert simulated_segment.stages()["delivered"] == 1


def test_audience_appears_in_builder_the_night_after_entering(
    harness_clock, abtasty_account, simulated_segment
):
    abtasty_account.see("visitor-1", "anon-1")
    abtasty_account.see("visitor-2", "anon-2")
    vip = simulated_segment.audience("vip_users")
    harness_clock.move_to("2026-03-02T23:00:00Z")
    vip.enter("anon-1")
    vip.enter("anon-2")
    harness_clock.move_to("2026-03-03T02:59:59Z")
    assert abtasty_account.shown() == {}
    harness_clock.advance("1s")
    assert abtasty_account.shown() == {"vip_users": {True: 2}}
    harness_clock.move_to("2026-03-03T10:00:00Z")
    vip.exit("anon-2")  # moves from true to false at the next refresh only
    assert abtasty_account.shown() == {"vip_users": {True: 2}}
    harness_clock.move_to("2026-03-04T03:00:00Z")
    assert abtasty_account.shown() == {"vip_users": {True: 1, False: 1}}


def test_account_computed_trait_reaches_every_member_of_the_group(
    harness_clock, abtasty_account, simulated_segment
):
    for n in (1, 2, 3):
        abtasty_account.see(f"visitor-{n}", f"anon-{n}")
    seats = simulated_segment.computed_trait("active_seats", level="account")
    seats.set_for_account("acme", 12, members=["anon-1", "anon-2"])
    harness_clock.move_to("2026-03-03T03:00:00Z")
    shown = abtasty_account.shown()
    assert {key: values for key, values in shown.items() if "active_seats" in key} == {
        next(key for key in shown if "active_seats" in key): {12: 2}
    }


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["anon-1", "anon-2", "anon-3"]), st.booleans()),
        max_size=12,
    )
)
def test_audience_any_entries_and_exits_end_in_the_cohort_of_the_last_state(steps):
    harness = Harness(ManualClock(instant("2026-03-02T12:00:00Z")))
    clock = ClockControl(harness)
    account = AccountHandle.create(harness)
    for anon in ("anon-1", "anon-2", "anon-3"):
        account.see(f"visitor-{anon}", anon)
    source = SourceHandle.create(harness, account)
    vip = source.audience("vip_users")
    last: dict[str, bool] = {}
    for anon, inside in steps:
        (vip.enter if inside else vip.exit)(anon)
        clock.advance("1m")
        if inside or anon in last:
            last[anon] = inside
    clock.move_to("2026-03-03T03:00:00Z")
    expected: dict[bool, int] = {}
    for inside in last.values():
        expected[inside] = expected.get(inside, 0) + 1
    assert account.shown() == ({"vip_users": expected} if expected else {})


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_explain_names_the_engage_audience_behind_a_value(tmp_path, store):
    from harness.abtasty.store import SqliteStore

    harness = Harness(
        ManualClock(instant("2026-03-02T12:00:00Z")),
        store=SqliteStore(tmp_path / "ab.sqlite") if store == "sqlite" else None,
    )
    clock = ClockControl(harness)
    account = AccountHandle.create(harness)
    account.see("visitor-1", "anon-1")
    source = SourceHandle.create(harness, account)
    churn = source.audience("churn_risk")
    churn.enter("anon-1")
    clock.move_to("2026-03-03T09:00:00Z")
    churn.exit("anon-1")
    clock.move_to("2026-03-04T03:00:00Z")
    segment = account.segment("churn_risk", "equals", True)
    explanation = account.explain(segment, "visitor-1")
    assert not explanation.matches
    assert any(
        "Engage audience 'churn_risk': the user exited it at 2026-03-03T09:00:00Z" in reason
        for reason in explanation.reasons
    ), explanation.reasons


def test_explain_of_a_plain_identify_names_no_engage_audience(harness_clock, abtasty_account):
    abtasty_account.see("visitor-1", "anon-1")
    abtasty_account.identify("anon-1", churn_risk=True)
    harness_clock.move_to("2026-03-03T03:00:00Z")
    segment = abtasty_account.segment("churn_risk", "equals", True)
    explanation = abtasty_account.explain(segment, "visitor-1")
    assert explanation.matches
    assert not any("Engage" in reason for reason in explanation.reasons)
