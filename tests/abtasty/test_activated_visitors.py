"""The activation's kept form: most visitors keep their one profile, not a traits dict.

:class:`audience.ActivatedVisitors` must read exactly like the plain ``visitor -> traits``
dict it replaced (the SQL stores still hand that dict back), and a cohort diff must not
depend on which of the two forms either side is in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.abtasty import audience
from harness.abtasty.records import (
    Activation,
    GroupProfile,
    Profile,
    Sighting,
    TraitKey,
    TraitValue,
)
from tests.support import World

START = datetime(2026, 3, 2, 3, tzinfo=UTC)
NIGHT = START + timedelta(days=1)
LIVE = frozenset({"c0", "c1"})


def _profile(
    connector: str, anonymous_id: str, groups: frozenset[str] = frozenset(), **traits: Any
) -> Profile:
    return Profile(
        connector,
        anonymous_id,
        {name: TraitValue(value, START, f"m-{name}") for name, value in traits.items()},
        groups,
    )


def _activate(
    profiles: list[Profile],
    sightings: list[tuple[str, str]],
    groups: dict[tuple[str, str], GroupProfile] | None = None,
) -> Activation:
    result, _ = audience.activate(
        "acc",
        NIGHT,
        {(p.connector_id, p.anonymous_id): p for p in profiles},
        groups or {},
        [Sighting("acc", visitor, anonymous_id, START) for visitor, anonymous_id in sightings],
        LIVE,
    )
    return result.activation


def _as_dict(activation: Activation) -> Activation:
    """The same activation in the form a SQL store gives back: a plain dict of traits."""
    return Activation(
        activation.account_id,
        activation.scheduled_for,
        dict(activation.visitors.items()),
        activation.matched,
    )


def test_a_plain_profile_is_kept_as_itself_and_read_as_its_traits() -> None:
    profile = _profile("c0", "a0", plan="pro", visits=3, gone=None)
    activation = _activate([profile], [("v0", "a0")])
    visitors = activation.visitors
    assert isinstance(visitors, audience.ActivatedVisitors)
    assert visitors.entries()["v0"] is profile  # no traits dict built for it
    assert visitors["v0"] == {
        "c0": {TraitKey("identify", ("plan",)): ("pro",), TraitKey("identify", ("visits",)): (3,)}
    }
    assert dict(visitors) == {"v0": visitors["v0"]} and visitors == dict(visitors)
    assert len(visitors) == 1 and "v0" in visitors and "v1" not in visitors
    assert visitors.get("v1") is None


def test_nested_values_groups_and_shared_devices_are_kept_as_traits() -> None:
    groups = {("c0", "g0"): GroupProfile("c0", "g0", {"tier": TraitValue("gold", START, "m-g")})}
    activation = _activate(
        [
            _profile("c0", "a0", company={"name": "acme"}),
            _profile("c0", "a1", tags=["x", "y"]),
            _profile("c0", "a2", frozenset({"g0"}), plan="pro"),
            _profile("c0", "a3", plan="free"),
            _profile("c1", "a3", plan="pro"),  # the same anonymousId on a second connector
        ],
        [("v0", "a0"), ("v1", "a1"), ("v2", "a2"), ("v3", "a3")],
        groups,
    )
    entries = activation.visitors.entries()  # type: ignore[attr-defined]
    assert all(isinstance(entry, dict) for entry in entries.values())
    assert activation.visitors["v0"] == {
        "c0": {TraitKey("identify", ("company", "name")): ("acme",)}
    }
    assert activation.visitors["v1"] == {"c0": {TraitKey("identify", ("tags",)): ("x", "y")}}
    assert activation.visitors["v2"] == {
        "c0": {TraitKey("identify", ("plan",)): ("pro",), TraitKey("group", ("tier",)): ("gold",)}
    }
    assert activation.visitors["v3"] == {
        "c0": {TraitKey("identify", ("plan",)): ("free",)},
        "c1": {TraitKey("identify", ("plan",)): ("pro",)},
    }


def test_a_profile_with_only_null_traits_activates_an_empty_connector() -> None:
    activation = _activate([_profile("c0", "a0", plan=None)], [("v0", "a0")])
    assert activation.visitors["v0"] == {"c0": {}}
    diff = audience.diff_cohorts(None, activation, 10)
    assert (diff.entered, diff.left, diff.changes) == (0, 0, [])


VALUES: list[Any] = ["free", "pro", 1, 1.0, True, None, ["x"], {"n": 1}]
trait_values = st.dictionaries(st.sampled_from(["plan", "n", "tags"]), st.sampled_from(VALUES))
profile_sets = st.dictionaries(
    st.tuples(st.sampled_from(["c0", "c1"]), st.sampled_from(["a0", "a1", "a2"])),
    trait_values,
    max_size=6,
)
sighting_sets = st.lists(
    st.tuples(st.sampled_from(["v0", "v1", "v2"]), st.sampled_from(["a0", "a1", "a2"])),
    max_size=5,
)


def _profiles(traits_by_key: dict[tuple[str, str], dict[str, Any]]) -> list[Profile]:
    return [
        _profile(connector, anonymous_id, **traits)
        for (connector, anonymous_id), traits in traits_by_key.items()
    ]


def _night_after(before: dict[tuple[str, str], dict[str, Any]]) -> st.SearchStrategy[Any]:
    """The profiles a night later: each kept, changed or dropped, and maybe some new ones."""
    fates = st.sampled_from(["kept", "changed", "changed", "dropped"])
    return st.tuples(st.lists(fates, min_size=len(before), max_size=len(before)), profile_sets)


@settings(max_examples=150)
@given(profile_sets, st.data(), sighting_sets, sighting_sets, st.sampled_from([0, 1, 3, 100]))
@example(  # a plain profile whose value changed: the same kept form on both sides
    {("c0", "a0"): {"plan": "free"}},
    None,
    [("v0", "a0")],
    [("v0", "a0")],
    100,
).via("a change the random draws rarely make")
def test_the_diff_does_not_depend_on_the_form(
    before: dict[tuple[str, str], dict[str, Any]],
    data: Any,
    seen_before: list[tuple[str, str]],
    seen_after: list[tuple[str, str]],
    keep: int,
) -> None:
    old_profiles = dict(zip(before, _profiles(before), strict=True))
    if data is None:
        after: dict[tuple[str, str], dict[str, Any]] = {("c0", "a0"): {"plan": "pro"}}
        fates = ["changed"]
    else:
        fates, added = data.draw(_night_after(before))
        after = {key: traits for key, traits in added.items() if key not in before}
    kept_records: dict[tuple[str, str], Profile] = {}
    for key, fate in zip(before, fates, strict=True):
        if fate == "kept":  # a profile no message changed is the very same record
            kept_records[key] = old_profiles[key]
        elif fate == "changed" and data is not None:
            after[key] = data.draw(trait_values)
    new_records = [*kept_records.values(), *_profiles(after)]
    old = _activate(list(old_profiles.values()), seen_before)
    new = _activate(new_records, seen_after)
    kept = audience.diff_cohorts(old, new, keep)

    # The counts against the cohorts themselves: a value's identity keeps 1, 1.0 and true apart.
    def cohorts(activation: Activation, visitor: str) -> set[Any]:
        traits = activation.visitors.get(visitor, {})
        return {
            (connector, key, audience.value_key(value))
            for connector, by_key in traits.items()
            for key, values in by_key.items()
            for value in values
        }

    everyone = set(old.visitors) | set(new.visitors)
    assert kept.entered == sum(len(cohorts(new, v) - cohorts(old, v)) for v in everyone)
    assert kept.left == sum(len(cohorts(old, v) - cohorts(new, v)) for v in everyone)
    for pair in ((_as_dict(old), new), (old, _as_dict(new)), (_as_dict(old), _as_dict(new))):
        assert audience.diff_cohorts(*pair, keep) == kept
    candidates = {visitor for visitor, _ in seen_before + seen_after}
    assert audience.diff_cohorts(_as_dict(old), new, keep, candidates) == kept
    assert audience.diff_cohorts(old, new, keep, candidates) == kept
    assert old.visitors == _as_dict(old).visitors and new.visitors == _as_dict(new).visitors


def test_a_value_turning_from_one_to_true_moves_the_visitor_between_cohorts() -> None:
    # 1 == True in Python, but the builder shows them as two values of the trait.
    old = _activate([_profile("c0", "a0", n=1, tags=[1])], [("v0", "a0")])
    new = _activate([_profile("c0", "a0", n=True, tags=[True])], [("v0", "a0")])
    for before, after in ((old, new), (_as_dict(old), _as_dict(new))):
        diff = audience.diff_cohorts(before, after, 10)
        assert (diff.entered, diff.left) == (2, 2)
        assert sorted((c.trait, c.value, c.change) for c in diff.changes) == [
            ("n", True, "entered"),
            ("n", 1, "left"),
            ("tags", True, "entered"),
            ("tags", 1, "left"),
        ]


def test_the_refresh_history_records_a_trait_turning_from_one_to_true() -> None:
    world = World.build()
    world.see("v0", "anon-1")
    world.identify(beta=1)
    world.at("2026-03-03T04:00:00Z")
    world.identify(beta=True)
    world.at("2026-03-04T04:00:00Z")
    _, second = world.refreshes()
    assert (second.entered, second.left) == (1, 1)
    changes = world.service.cohort_changes(world.id, scheduled_for=second.scheduled_for)
    assert sorted((c.value, c.change) for c in changes) == [(True, "entered"), (1, "left")]
    assert world.shown()["beta"] == {True: 1}


def test_an_empty_profile_moved_to_another_connector_changes_no_cohort() -> None:
    # A connector replaced: v0's profile had no trait before and has none after, so only v1
    # changed, and it must get the one change kept whichever form the last night is in.
    before = _activate(
        [_profile("c0", "a0"), _profile("c0", "a1", plan="free")], [("v0", "a0"), ("v1", "a1")]
    )
    after = _activate(
        [_profile("c1", "a0"), _profile("c1", "a1", plan="pro")], [("v0", "a0"), ("v1", "a1")]
    )
    for old in (before, _as_dict(before)):
        diff = audience.diff_cohorts(old, after, 1)
        assert [(c.visitor_id, c.value, c.change) for c in diff.changes] == [("v1", "free", "left")]
        assert (diff.entered, diff.left) == (1, 1)
