"""Properties of the refresh that must hold for any delivery Segment can produce."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.core.clock import format_instant
from tests.support import World, message, t

ANONYMOUS_IDS = ["anon-a", "anon-b", "anon-c"]
TRAIT_KEYS = ["plan", "country", "seats"]
TRAIT_VALUES = st.one_of(
    st.sampled_from(["pro", "free", "FR"]), st.integers(0, 3), st.booleans(), st.none()
)


@st.composite
def identify_messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Identify calls with distinct messageIds; timestamps may tie (messageId breaks ties)."""
    count = draw(st.integers(1, 12))
    messages = []
    for index in range(count):
        traits = draw(
            st.dictionaries(st.sampled_from(TRAIT_KEYS), TRAIT_VALUES, min_size=1, max_size=3)
        )
        minute = draw(st.integers(0, 30))
        messages.append(
            message(
                anonymous_id=draw(st.sampled_from(ANONYMOUS_IDS)),
                traits=traits,
                message_id=f"m{index:02d}",
                timestamp=format_instant(t("2026-03-02T10:00:00Z") + timedelta(minutes=minute)),
            )
        )
    return messages


def _world(start: str = "2026-03-02T00:00:00Z") -> World:
    world = World.build(start=t(start))
    for index, anonymous_id in enumerate(ANONYMOUS_IDS):
        world.see(f"v{index}", anonymous_id)
    return world


def _profiles(world: World) -> dict[str, dict[str, Any]]:
    world.service.account(world.account.id)  # the refresh runs lazily, before any answer
    return {
        p.anonymous_id: {key: trait.value for key, trait in p.traits.items()}
        for p in world.service.store.profiles(world.account.id)
    }


@given(messages=identify_messages(), data=st.data())
def test_property_any_order_and_duplication_gives_in_order_profiles(
    messages: list[dict[str, Any]], data: st.DataObject
) -> None:
    in_order = _world()
    for body in sorted(messages, key=lambda m: (m["timestamp"], m["messageId"])):
        in_order.send(body)
    in_order.at("2026-03-03T03:00:00Z")

    delivered = data.draw(st.permutations(messages))
    duplicates = data.draw(st.lists(st.sampled_from(messages), max_size=6))
    stream = data.draw(st.permutations(delivered + duplicates))
    split = data.draw(st.integers(0, len(stream)))  # part of the stream arrives after a refresh
    shuffled = _world()
    for body in stream[:split]:
        shuffled.send(body)
    shuffled.at("2026-03-03T12:00:00Z")
    for body in stream[split:]:
        shuffled.send(body)
    shuffled.at("2026-03-04T03:00:00Z")

    assert _profiles(shuffled) == _profiles(in_order)
    assert shuffled.shown() == in_order.shown()


@given(
    arrivals=st.lists(st.integers(0, 3 * 24 * 60 - 1), min_size=1, max_size=8),
    query_minute=st.integers(0, 4 * 24 * 60),
)
def test_property_nothing_visible_before_its_refresh(
    arrivals: list[int], query_minute: int
) -> None:
    world = _world()
    start = t("2026-03-02T00:00:00Z")
    for index, minute in sorted(enumerate(arrivals), key=lambda pair: pair[1]):
        world.clock.move_to(start + timedelta(minutes=minute))
        world.send(message(anonymous_id="anon-a", traits={f"k{index}": "x"}))
    query = start + timedelta(minutes=query_minute)
    if query > world.clock.now():
        world.clock.move_to(query)
    now = world.clock.now()

    def activated_at(minute: int) -> Any:
        arrival = start + timedelta(minutes=minute)
        return arrival.replace(hour=3, minute=0) + timedelta(days=1)

    expected = {f"k{index}" for index, minute in enumerate(arrivals) if activated_at(minute) <= now}
    assert set(world.shown()) == expected


@given(
    sightings=st.lists(
        st.tuples(
            st.sampled_from(["v1", "v2", "v3", "v4"]), st.sampled_from([*ANONYMOUS_IDS, "anon-z"])
        ),
        max_size=8,
    ),
    messages=identify_messages(),
)
def test_property_every_shown_value_has_matched_visitors(
    sightings: list[tuple[str, str]], messages: list[dict[str, Any]]
) -> None:
    world = World.build()
    for visitor, anonymous_id in sightings:
        world.see(visitor, anonymous_id)
    for body in messages:
        world.send(body)
    world.at("2026-03-03T03:00:00Z")

    latest: dict[str, dict[str, Any]] = {}
    for body in sorted(messages, key=lambda m: (m["timestamp"], m["messageId"])):
        latest.setdefault(body["anonymousId"], {}).update(body["traits"])
    expected: dict[str, dict[Any, set[str]]] = {}
    for visitor, anonymous_id in sightings:
        for key, value in latest.get(anonymous_id, {}).items():
            if value is not None:
                expected.setdefault(key, {}).setdefault((type(value), value), set()).add(visitor)

    shown = world.service.criteria(world.account.id)[0].traits
    assert all(v.visitors >= 1 for trait in shown for v in trait.values)
    assert {
        trait.key: {(type(v.value), v.value): v.visitors for v in trait.values} for trait in shown
    } == {
        key: {value: len(visitors) for value, visitors in values.items()}
        for key, values in expected.items()
    }


def test_refresh_never_edits_the_records_a_store_handed_out() -> None:
    world = _world()
    world.send(
        message(
            anonymous_id="anon-a",
            traits={"plan": "free"},
            message_id="m1",
            timestamp="2026-03-02T01:00:00Z",
        )
    )
    world.at("2026-03-03T03:00:00Z")
    world.refreshes()
    (before,) = world.service.store.profiles(world.account.id)
    snapshot = (dict(before.traits), frozenset(before.groups))
    world.send(
        message(
            anonymous_id="anon-a",
            traits={"plan": "pro"},
            message_id="m2",
            timestamp="2026-03-03T04:00:00Z",
        )
    )
    world.send(message("group", anonymous_id="anon-a", group_id="g", message_id="m3"))
    world.at("2026-03-04T03:00:00Z")
    world.refreshes()
    assert (before.traits, before.groups) == snapshot  # copy-on-write: the old record is untouched
    (after,) = world.service.store.profiles(world.account.id)
    assert (after.traits["plan"].value, after.groups) == ("pro", frozenset({"g"}))
