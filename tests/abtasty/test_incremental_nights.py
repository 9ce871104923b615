"""Incremental nights: a night recomputes only the visitors whose inputs changed.

The property: whatever happens between nights (messages in any order, groups, sightings
now or backdated, a connector replaced, several nights caught up at once), the run, its
activated data and its cohort changes equal those of a service that recomputes every
visitor every night, and the activation equals a from-scratch :func:`audience.activate`
over the store.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.abtasty import audience
from harness.abtasty.records import Activation, RefreshRun, Sighting
from harness.core.clock import format_instant
from tests.support import World, message

ANONYMOUS_IDS = ("a0", "a1", "a2")
VISITORS = ("v0", "v1", "v2")
GROUPS = ("g0", "g1")
VALUES: list[Any] = ["free", "pro", 1, 1.0, True, None, ["x", "y"], {"name": "acme", "n": [1]}]
traits = st.dictionaries(st.sampled_from(["plan", "n", "tags", "company"]), st.sampled_from(VALUES))
identify = st.tuples(
    st.just("identify"), st.sampled_from(ANONYMOUS_IDS), st.none(), traits, st.integers(-2, 2)
)
group = st.tuples(
    st.just("group"),
    st.sampled_from((*ANONYMOUS_IDS, None, None)),
    st.sampled_from(GROUPS),
    traits,
    st.integers(-2, 2),
)
see = st.tuples(
    st.just("see"),
    st.sampled_from(ANONYMOUS_IDS),
    st.sampled_from(VISITORS),
    st.sampled_from([0, 1, 30]),
)
event = st.one_of(identify, group, see, st.just(("replace_connector",)))
night = st.tuples(st.lists(event, max_size=8), st.sampled_from([0, 1, 1, 2]))


def _apply(world: World, step: tuple[Any, ...], serial: int) -> None:
    now = world.clock.now()
    if step[0] == "see":
        _, anonymous_id, visitor, back = step
        world.see(visitor, anonymous_id, format_instant(now - timedelta(hours=back)))
    elif step[0] == "replace_connector":
        service = world.service
        service.delete_connector(world.id, world.connector.id)
        world.connector = service.create_segment_connector(world.id, "Segment")
    else:
        kind, anonymous_id, group_id, values, hours = step
        stamp = format_instant(now + timedelta(hours=hours))
        world.send(
            message(
                kind,
                anonymous_id=anonymous_id,
                user_id=None if anonymous_id else "u1",
                group_id=group_id,
                traits=values,
                timestamp=stamp,
                message_id=f"m{serial % 5}-{serial}",
            )
        )


def _plain(activation: Activation | None, connector_names: dict[str, str]) -> Any:
    if activation is None:
        return None
    visitors = {
        visitor: {connector_names.get(c, c): traits for c, traits in by.items()}
        for visitor, by in activation.visitors.items()
    }
    matched = {(connector_names.get(c, c), a) for c, a in activation.matched}
    return visitors, matched


def _run(run: RefreshRun) -> tuple[Any, ...]:
    return (
        run.scheduled_for,
        run.messages,
        run.profiles,
        run.matched_profiles,
        run.cohorts,
        run.entered,
        run.left,
    )


def _changes(world: World, names: dict[str, str]) -> list[tuple[Any, ...]]:
    # Sorted: a visitor's changes come in connector id order, and the ids are random.
    return sorted(
        (
            c.scheduled_for,
            c.visitor_id,
            names.get(c.connector_id, c.connector_id),
            c.trait,
            audience.value_key(c.value),
            c.change,
            c.source,
            c.path,
        )
        for c in world.service.cohort_changes(world.id, limit=10_000)
    )


@settings(max_examples=200)
@given(st.lists(night, min_size=1, max_size=6))
@example(  # a group's new traits reach a member whose own profile did not change
    [
        ([("group", "a0", "g0", {"plan": "free"}, 0), ("see", "a0", "v0", 0)], 1),
        ([("group", None, "g0", {"plan": "pro"}, 0)], 1),
    ]
)
def test_incremental_night_equals_full_recompute(nights: list[Any]) -> None:
    fast, full = World.build(), World.build()
    full.service.incremental_nights = False
    names_fast: dict[str, str] = {}
    names_full: dict[str, str] = {}
    serial = ran = 0
    for events, days in nights:
        for step in events:
            serial += 1
            for world, names in ((fast, names_fast), (full, names_full)):
                _apply(world, step, serial)
                names.setdefault(world.connector.id, f"c{len(names)}")
        for world in (fast, full):
            world.at(world.clock.now() + timedelta(days=days, hours=1))
        runs_fast, runs_full = fast.refreshes(), full.refreshes()
        assert [_run(r) for r in runs_fast] == [_run(r) for r in runs_full]
        store = fast.service.store
        assert _plain(store.activation(fast.id), names_fast) == _plain(
            full.service.store.activation(full.id), names_full
        )
        assert _changes(fast, names_fast) == _changes(full, names_full)
        if len(runs_fast) > ran:  # a run just now: over the connectors live now
            ran = len(runs_fast)
            profiles = {(p.connector_id, p.anonymous_id): p for p in store.profiles(fast.id)}
            groups = {(g.connector_id, g.group_id): g for g in store.groups(fast.id)}
            live = frozenset(c.id for c in store.connectors(fast.id))
            scratch, _ = audience.activate(
                fast.id,
                runs_fast[-1].scheduled_for,
                profiles,
                groups,
                store.sightings(fast.id),
                live,
            )
            assert _plain(store.activation(fast.id), {}) == _plain(scratch.activation, {})


def test_advance_night_counts_a_sighting_once_its_time_comes() -> None:
    world = World.build()
    world.identify("a0", plan="pro")
    world.at("2026-03-03T04:00:00Z")
    (run,) = world.refreshes()
    store = world.service.store
    profiles = {(p.connector_id, p.anonymous_id): p for p in store.profiles(world.id)}
    live = frozenset({world.connector.id})
    later = Sighting(world.id, "v0", "a0", run.scheduled_for + timedelta(hours=2))
    first, state = audience.activate(world.id, run.scheduled_for, profiles, {}, [later], live)
    assert first.activation.visitors == {} and state.deferred
    next_night = run.scheduled_for + timedelta(days=1)
    result, changes = audience.advance_night(state, next_night, [], [], 1)
    scratch, _ = audience.activate(world.id, next_night, dict(profiles), {}, [later], live)
    assert changes.visitors == {"v0"} and not state.deferred
    assert result.activation.visitors == scratch.activation.visitors != {}
    assert (result.matched_profiles, result.cohorts) == (scratch.matched_profiles, scratch.cohorts)
