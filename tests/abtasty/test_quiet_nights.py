"""Sightings on quiet nights: a visitor reported after a run is matched by the next one.

The next run may reuse the previous night's result only when nothing it reads changed;
a sighting is such a change even when no message arrived (issue 9, defect 1). Each test
runs on the memory store and on a SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.abtasty.store import MemoryStore, SqliteStore, Store
from tests.support import World

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": lambda folder: SqliteStore(folder / "quiet.sqlite"),
}


@pytest.fixture(params=sorted(STORES))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store = STORES[request.param](tmp_path)
    w = World.build(store=store)
    w.at("2026-03-02T20:00:00Z")
    w.see("v0", "anon-0")
    w.identify("anon-0", plan="free")
    w.identify("anon-1", plan="pro")
    w.at("2026-03-03T02:00:00Z")
    yield w
    if isinstance(store, SqliteStore):
        store.close()


def _explain(world: World, visitor: str) -> list[str]:
    segment = world.segment("plan", "equals", "pro")  # the builder shows plan (v0's free)
    explanation = world.explain(segment, visitor)
    assert not explanation.matches
    return list(explanation.reasons)


def _assert_true_reasons(reasons: list[str]) -> None:
    text = " ".join(reasons)
    assert "set to null" not in text
    assert "no Segment message carries" not in text
    assert "matched at the next refresh at 2026-03-04T03:00:00Z" in text


def test_quiet_night_visitor_seen_at_refresh_instant_is_matched_next_night(world: World) -> None:
    world.at("2026-03-03T03:00:00Z")
    world.see("v1", "anon-1")  # the 03:00 run has just run, before this sighting
    assert world.shown() == {"plan": {"free": 1}}
    _assert_true_reasons(_explain(world, "v1"))
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1, "pro": 1}}


def test_quiet_night_visitor_seen_later_that_day_is_matched_next_night(world: World) -> None:
    world.at("2026-03-03T15:00:00Z")
    world.see("v1", "anon-1")
    _assert_true_reasons(_explain(world, "v1"))
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1, "pro": 1}}


def test_quiet_night_backdated_sighting_is_matched_next_night(world: World) -> None:
    world.at("2026-03-03T15:00:00Z")
    world.see("v1", "anon-1", seen_at="2026-03-02T21:00:00Z")  # before the 03:00 run
    _assert_true_reasons(_explain(world, "v1"))
    world.at("2026-03-04T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1, "pro": 1}}
    (pros,) = world.service.store.segments(world.account.id)
    assert world.segments_of("v1") == [pros.id]
    assert world.explain(pros.id, "v1").matches


def test_quiet_night_catch_up_after_sighting_matches_from_the_next_run(world: World) -> None:
    world.at("2026-03-03T15:00:00Z")
    world.see("v1", "anon-1", seen_at="2026-03-02T21:00:00Z")
    world.at("2026-03-07T12:00:00Z")  # four nights at once
    runs = world.refreshes()
    assert [r.matched_profiles for r in runs] == [1, 2, 2, 2, 2]
    assert [r.messages for r in runs] == [2, 0, 0, 0, 0]
    assert world.shown() == {"plan": {"free": 1, "pro": 1}}


def test_quiet_night_sighting_after_messages_expired_explains_truly(world: World) -> None:
    world.at("2026-03-12T15:00:00Z")  # the messages were dropped 7 days after their run
    world.see("v1", "anon-1")
    _assert_true_reasons_at(_explain(world, "v1"), "2026-03-13T03:00:00Z")
    world.at("2026-03-13T03:00:00Z")
    assert world.shown() == {"plan": {"free": 1, "pro": 1}}


def _assert_true_reasons_at(reasons: list[str], next_run: str) -> None:
    text = " ".join(reasons)
    assert "set to null" not in text
    assert "no Segment message carries" not in text
    assert f"matched at the next refresh at {next_run}" in text
