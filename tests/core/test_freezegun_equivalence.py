"""Property: moving freezegun forward gives the same story as moving the manual clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from harness import ManualClock
from harness.core.clock import format_instant
from harness.core.freezegun_clock import FreezegunClock
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, SourceHandle
from tests.support import START

ACTIONS = ("nothing", "identify", "see", "outage", "direct")
steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=30 * 3600),  # seconds forward: up to 30 hours
        st.sampled_from(ACTIONS),
        st.sampled_from(["pro", "free", "team"]),
        st.integers(min_value=0, max_value=2),  # which visitor / anonymousId
    ),
    min_size=1,
    max_size=8,
)


def _story(
    harness: Harness, moves: list[tuple[int, str, str, int]], move: Callable[[Any], None]
) -> Any:
    account = AccountHandle.create(harness, timezone="Europe/Paris")
    source = SourceHandle.create(harness, account)
    target = START
    for seconds, action, value, who in moves:
        anonymous_id = f"anon-{who}"
        if action == "identify":
            source.identify(anonymous_id, plan=value)  # through Segment: delivery and retries
        elif action == "direct":
            account.identify(anonymous_id, tier=value)  # straight to the webhook
        elif action == "see":
            account.see(f"visitor-{who}", anonymous_id)
        elif action == "outage":
            source.outage(until=format_instant(harness.clock.now() + timedelta(hours=2)))
        target += timedelta(seconds=seconds)
        move(target)
    runs = [
        (r.scheduled_for, r.cutoff, r.messages, r.profiles, r.matched_profiles, r.cohorts)
        for r in account.refreshes()
    ]
    return runs, account.shown(), source.stages()


@given(steps)
def test_freezegun_moves_give_the_manual_clocks_refresh_log(
    moves: list[tuple[int, str, str, int]],
) -> None:
    manual = Harness(ManualClock(START))
    expected = _story(manual, moves, manual.move_to)

    following = Harness(FreezegunClock(START))
    with freeze_time(START) as frozen:
        actual = _story(following, moves, frozen.move_to)

    assert actual == expected
