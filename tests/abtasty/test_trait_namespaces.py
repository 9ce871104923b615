"""Trait namespaces: group and identify traits, literal dotted keys and nested objects stay apart.

A trait is (source, path), never a prefixed string (issue 9, defect 6): an identify trait
literally named ``group.plan`` is not the group trait ``plan``, and a literal key
``company.name`` is not the nested ``company: {name}``, even though the builder prints
each pair alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.abtasty.records import TraitKey
from harness.abtasty.store import MemoryStore, SqliteStore, Store
from harness.core.errors import HarnessError
from tests.support import World

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": lambda folder: SqliteStore(folder / "traits.sqlite"),
}


@pytest.fixture(params=sorted(STORES))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store = STORES[request.param](tmp_path)
    w = World.build(store=store)
    w.at("2026-03-02T20:00:00Z")
    yield w
    if isinstance(store, SqliteStore):
        store.close()


def _builder(world: World) -> list[tuple[str, str, tuple[str, ...], dict[object, int]]]:
    (item,) = world.service.criteria(world.id)
    return [(t.key, t.source, t.path, {v.value: v.visitors for v in t.values}) for t in item.traits]


def _group_plan_collision(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v2", "anon-2")
    world.identify("anon-1", **{"group.plan": "literal"})
    world.group("acme", "anon-2", plan="enterprise")
    world.at("2026-03-03T03:00:00Z")


def _company_collision(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v2", "anon-2")
    world.see("v3", "anon-3")
    world.identify("anon-1", **{"company.name": "Acme"})
    world.identify("anon-2", company={"name": "Beta"})
    world.identify("anon-3", company={"name": "Acme"}, **{"company.name": "Gamma"})
    world.at("2026-03-03T03:00:00Z")


def test_traits_identify_key_named_group_plan_is_not_the_group_trait(world: World) -> None:
    _group_plan_collision(world)
    assert _builder(world) == [
        ("group.plan", "group", ("plan",), {"enterprise": 1}),
        ("group.plan", "identify", ("group.plan",), {"literal": 1}),
    ]


def test_traits_literal_dotted_key_and_nested_object_are_two_traits(world: World) -> None:
    _company_collision(world)
    assert _builder(world) == [
        ("company.name", "identify", ("company", "name"), {"Acme": 1, "Beta": 1}),
        ("company.name", "identify", ("company.name",), {"Acme": 1, "Gamma": 1}),
    ]


def test_traits_one_visitor_is_counted_once_per_trait(world: World) -> None:
    _company_collision(world)
    # v3 has company.name "Gamma" (literal) and company: {name: "Acme"} (nested): one
    # value in each trait, never two values of one trait.
    visitor = world.service.visitor(world.id, "v3").traits[world.connector.id]
    assert visitor == {
        TraitKey("identify", ("company", "name")): ("Acme",),
        TraitKey("identify", ("company.name",)): ("Gamma",),
    }


def test_traits_shown_names_the_trait_a_plain_key_would_mistake(world: World) -> None:
    _group_plan_collision(world)
    assert world.shown() == {
        "group.plan": {"enterprise": 1},
        'group.plan (identify ["group.plan"])': {"literal": 1},
    }


def test_traits_condition_by_printed_key_alone_is_ambiguous(world: World) -> None:
    _group_plan_collision(world)
    with pytest.raises(HarnessError) as caught:
        world.segment("group.plan", "exists")
    assert caught.value.code == "ambiguous_trait"
    assert "source 'group'" in caught.value.message
    assert "source 'identify'" in caught.value.message


@pytest.mark.parametrize(
    ("source", "path", "members"),
    [
        ("group", None, ["v2"]),
        ("identify", None, ["v1"]),
        (None, ["plan"], ["v2"]),
        (None, ["group.plan"], ["v1"]),
        ("identify", ["group.plan"], ["v1"]),
    ],
)
def test_traits_condition_with_source_or_path_picks_one_trait(
    world: World, source: str | None, path: list[str] | None, members: list[str]
) -> None:
    _group_plan_collision(world)
    segment = world.segment("group.plan", "exists", source=source, path=path)
    assert [v for v in ("v1", "v2") if segment in world.segments_of(v)] == members
    (condition,) = world.service.segment(world.id, segment).conditions
    group = TraitKey("group", ("plan",))
    assert condition.key == (group if members == ["v2"] else TraitKey("identify", ("group.plan",)))


@pytest.mark.parametrize(
    ("path", "members"), [(["company", "name"], ["v1"]), (["company.name"], ["v2"])]
)
def test_traits_condition_by_path_tells_literal_from_nested(
    world: World, path: list[str], members: list[str]
) -> None:
    world.see("v1", "anon-1")
    world.see("v2", "anon-2")
    world.identify("anon-1", company={"name": "Acme"})
    world.identify("anon-2", **{"company.name": "Acme"})
    world.at("2026-03-03T03:00:00Z")
    segment = world.segment(None, "equals", "Acme", path=path)
    assert [v for v in ("v1", "v2") if segment in world.segments_of(v)] == members
    explanation = world.explain(segment, members[0])
    assert explanation.matches


def test_traits_unambiguous_printed_key_keeps_working(world: World) -> None:
    world.see("v1", "anon-1")
    world.group("acme", "anon-1", plan="enterprise")
    world.identify("anon-1", company={"name": "Acme"})
    world.at("2026-03-03T03:00:00Z")
    group_plan = world.segment("group.plan", "equals", "enterprise")
    company = world.segment("company.name", "equals", "Acme")
    assert world.segments_of("v1") == [group_plan, company]


def test_traits_segment_keeps_its_trait_when_a_look_alike_appears(world: World) -> None:
    world.see("v1", "anon-1")
    world.see("v2", "anon-2")
    world.group("acme", "anon-1", plan="enterprise")
    world.at("2026-03-03T03:00:00Z")
    segment = world.segment("group.plan", "exists")
    world.identify("anon-2", **{"group.plan": "literal"})
    world.at("2026-03-04T03:00:00Z")
    assert segment in world.segments_of("v1")
    assert segment not in world.segments_of("v2")


def test_traits_trait_and_path_that_disagree_are_refused(world: World) -> None:
    _company_collision(world)
    with pytest.raises(HarnessError) as caught:
        world.segment("company", "exists", path=["company", "name"])
    assert caught.value.code == "invalid_body"
    assert "path" in caught.value.message


@pytest.mark.parametrize("path", [[], ["a", 1], "company.name"])
def test_traits_malformed_path_is_invalid_body(world: World, path: object) -> None:
    _company_collision(world)
    with pytest.raises(HarnessError) as caught:
        world.segment(None, "exists", path=path)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_body"


def test_traits_unknown_source_is_invalid_body(world: World) -> None:
    _group_plan_collision(world)
    with pytest.raises(HarnessError) as caught:
        world.segment("group.plan", "exists", source="track")
    assert caught.value.code == "invalid_body"


def test_traits_explain_names_which_trait_is_missing(world: World) -> None:
    _company_collision(world)
    segment = world.segment(None, "equals", "Gamma", path=["company.name"])
    reason = world.explain(segment, "v2").reasons[1]
    assert 'company.name (identify ["company.name"])' in reason
    assert "none carries" in reason


def test_traits_pending_look_alike_is_not_the_trait_asked_for(world: World) -> None:
    world.see("v1", "anon-1")
    world.identify("anon-1", **{"group.plan": "literal"})
    with pytest.raises(HarnessError) as caught:
        world.segment("group.plan", "exists", source="group")
    assert caught.value.code == "criterion_not_available"
    assert "next refresh" not in caught.value.message  # only an identify trait is waiting
