"""Seeded generation: same seed, same output in every process; what the fast paths must equal.

Determinism is checked three ways, so that a Faker release cannot break the suite without a
defect in the harness, nor hide one:

- always: the golden run generated in two fresh processes (different hash seeds) and in this
  one is the same, and another population or stream seed gives another run;
- always: :data:`STRUCTURE_DIGEST`, a sha256 over what the seeded ``random.Random`` alone
  decides (ids, times, call types, order, the non-Faker traits), must never change. Faker
  only fills the value pools (names, e-mail domains, titles, cities, countries, company
  names, industries) that the generator picks from by index, so these values are left out,
  and a test checks that the digest holds whatever the pools hold;
- with the Faker version the digest was taken with (:data:`GOLDEN_FAKER`): the exact digest of
  everything, Faker's values included (:data:`GOLDEN_DIGEST`). Under another Faker it is
  skipped, saying so; the two checks above still run.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.simulate import (
    ClientCall,
    PopulationConfig,
    StreamConfig,
    VisitorSeen,
    build_population,
    generate_events,
)
from harness.simulate import population as population_module
from harness.simulate.instants import IsoText, collector_paused, epoch_ms, instant

GOLDEN_RUN = (PopulationConfig(users=60, seed=11), StreamConfig(days=4, seed=11))
GOLDEN_DIGEST = "18d7d4af05afdd96db805009f893ddd729f865b724c4001af4895ed9ede9c5ed"
"""sha256 of the golden run's population and events, Faker's values included.

Change it only on purpose (and say so in docs/benchmarks.md). It holds for
:data:`GOLDEN_FAKER` only: Faker's en_US data fills the value pools.
"""
GOLDEN_FAKER = "40.63.0"
"""The Faker version :data:`GOLDEN_DIGEST` was taken with."""
STRUCTURE_DIGEST = "18879900275c35ca233af4fd1bae3b4ee16025e38913a34feac6a43c778c9f11"
"""sha256 of the golden run without Faker's values (:func:`structure_digest`): a change here
changes every seeded run whatever Faker is installed. Change it only on purpose (and say so
in docs/benchmarks.md)."""

FAKER_TRAITS = frozenset(
    {"name", "firstName", "lastName", "email", "title", "city", "country", "industry"}
)
"""Traits (of users, their addresses and companies) whose values come from Faker's pools."""


def _run(population_config: PopulationConfig, stream_config: StreamConfig) -> dict[str, Any]:
    population = build_population(population_config)
    events = generate_events(population, stream_config)
    return {
        "users": [
            [u.index, u.anonymous_id, u.user_id, u.traits, u.company_id] for u in population.users
        ],
        "visits": [[u.visitor_ids, u.identify_day] for u in population.users],
        "companies": [[c.group_id, c.traits] for c in population.companies],
        "events": [
            [e.at.isoformat(), e.body]
            if isinstance(e, ClientCall)
            else [e.at.isoformat(), e.visitor_id, e.anonymous_id]
            for e in events
        ],
    }


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def run_digest(population_config: PopulationConfig, stream_config: StreamConfig) -> str:
    """A digest of everything a seeded run generates."""
    return _sha256(_run(population_config, stream_config))


def _without_faker(value: Any, in_traits: bool = False) -> Any:
    """``value`` with every Faker-filled trait replaced by a marker (the key stays)."""
    if isinstance(value, dict):
        return {
            key: "<faker>"
            if in_traits and key in FAKER_TRAITS
            else _without_faker(item, in_traits or key == "traits")
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_without_faker(item, in_traits) for item in value]
    return value


def structure_digest(population_config: PopulationConfig, stream_config: StreamConfig) -> str:
    """A digest of what a seeded run generates but Faker's values.

    Ids, times, call types, order, message ids, plans, ages and sign-up times: all drawn from
    the seeded ``random.Random``, whatever Faker's word lists hold.
    """
    run = _run(population_config, stream_config)
    run["users"] = [[*user[:3], _without_faker(user[3], True), user[4]] for user in run["users"]]
    run["companies"] = [[group, _without_faker(traits, True)] for group, traits in run["companies"]]
    run["events"] = _without_faker(run["events"])
    return _sha256(run)


def test_generation_golden_digest_is_unchanged() -> None:
    if version("faker") != GOLDEN_FAKER:
        pytest.skip(
            f"GOLDEN_DIGEST holds for Faker {GOLDEN_FAKER} (installed: {version('faker')});"
            " the structure digest and the cross-process checks still run"
        )
    assert run_digest(*GOLDEN_RUN) == GOLDEN_DIGEST


def test_generation_structure_digest_is_unchanged() -> None:
    assert structure_digest(*GOLDEN_RUN) == STRUCTURE_DIGEST


def test_generation_structure_digest_holds_whatever_faker_fills_the_pools_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = population_module._pools(GOLDEN_RUN[0].seed)
    other = dataclasses.replace(
        real,
        **{
            field.name: [f"other {value}" for value in getattr(real, field.name)] + ["one more"]
            for field in dataclasses.fields(real)
        },
    )
    monkeypatch.setattr(population_module, "_pools", lambda seed: other)
    assert run_digest(*GOLDEN_RUN) != GOLDEN_DIGEST  # other values, other lengths
    assert structure_digest(*GOLDEN_RUN) == STRUCTURE_DIGEST


def _digests_in_a_new_process(hash_seed: str) -> list[str]:
    code = (
        "from tests.simulate.test_generation import GOLDEN_RUN, run_digest, structure_digest;"
        "print(run_digest(*GOLDEN_RUN), structure_digest(*GOLDEN_RUN))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return out.split()


def test_generation_same_seed_same_run_in_two_other_processes() -> None:
    first, second = _digests_in_a_new_process("1"), _digests_in_a_new_process("2")
    assert first == second == [run_digest(*GOLDEN_RUN), structure_digest(*GOLDEN_RUN)]


def test_generation_other_seed_other_run() -> None:
    population, stream = GOLDEN_RUN
    other_population = (PopulationConfig(users=60, seed=12), stream)
    other_stream = (population, StreamConfig(days=4, seed=12))
    for digest in (run_digest, structure_digest):
        assert digest(*other_population) != digest(*GOLDEN_RUN)
        assert digest(*other_stream) != digest(*GOLDEN_RUN)


@given(ms=st.integers(epoch_ms(datetime(1970, 1, 1, tzinfo=UTC)), 253_402_300_799_999))
def test_iso_text_equals_isoformat_with_milliseconds(ms: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat(
        timespec="milliseconds"
    )
    assert IsoText()(ms) == expected.replace("+00:00", "Z")
    assert instant(ms) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_iso_text_to_minute_drops_seconds() -> None:
    ms = epoch_ms(datetime(2021, 7, 4, 9, 5, 59, 999_000, tzinfo=UTC))
    assert IsoText().to_minute(ms) == "2021-07-04T09:05:00Z"


def test_stream_message_ids_are_what_each_library_sends() -> None:
    population = build_population(PopulationConfig(users=400, user_id_only_share=0.2))
    calls = [e for e in generate_events(population, StreamConfig()) if isinstance(e, ClientCall)]
    browser = [c for c in calls if c.body["context"]["library"]["name"] == "analytics.js"]
    server = [c for c in calls if c.body["context"]["library"]["name"] == "analytics-python"]
    assert browser and server
    assert all(re.fullmatch(r"ajs-[0-9a-f]{32}", c.body["messageId"]) for c in browser)
    assert all(uuid.UUID(c.body["messageId"]).version == 4 for c in server)
    assert len({c.body["messageId"] for c in calls}) == len(calls)


def test_stream_timestamps_have_milliseconds_and_sent_at_follows() -> None:
    population = build_population(PopulationConfig(users=300))
    stream = StreamConfig(clock_skew_share=0.5)
    for call in (e for e in generate_events(population, stream) if isinstance(e, ClientCall)):
        original, sent = call.body["originalTimestamp"], call.body["sentAt"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", original)
        gap = datetime.fromisoformat(sent) - datetime.fromisoformat(original)
        assert timedelta(0) <= gap < timedelta(seconds=2)
        skew = datetime.fromisoformat(original) - call.at
        assert abs(skew) <= stream.max_clock_skew


def test_stream_timestamps_follow_clocks_skewed_by_days() -> None:
    population = build_population(PopulationConfig(users=100))
    stream = StreamConfig(days=2, clock_skew_share=1.0, max_clock_skew=timedelta(days=3))
    skews = []
    for call in (e for e in generate_events(population, stream) if isinstance(e, ClientCall)):
        original, sent = call.body["originalTimestamp"], call.body["sentAt"]
        assert timedelta(0) <= datetime.fromisoformat(sent) - datetime.fromisoformat(original)
        skews.append(datetime.fromisoformat(original) - call.at)
    assert max(skews) > timedelta(days=1) and min(skews) < -timedelta(days=1)
    assert all(abs(skew) <= stream.max_clock_skew for skew in skews)


def test_stream_first_identify_keeps_its_traits_after_a_plan_change() -> None:
    population = build_population(PopulationConfig(users=300, late_identify_share=0))
    events = generate_events(population, StreamConfig(days=6, trait_change_share=0.9))
    first: dict[str, ClientCall] = {}
    for call in (e for e in events if isinstance(e, ClientCall) and e.type == "identify"):
        first.setdefault(call.body.get("anonymousId") or call.body["userId"], call)
    users = {u.anonymous_id or u.user_id: u for u in population.users}
    assert first
    assert all(call.body["traits"] == users[key].traits for key, call in first.items())


def test_stream_sightings_precede_the_first_identify() -> None:
    population = build_population(PopulationConfig(users=200, late_identify_share=0))
    seen_users = {u.anonymous_id for u in population.users if u.visitor_ids}
    seen: set[str] = set()
    checked = 0
    for event in generate_events(population, StreamConfig(days=1)):
        if isinstance(event, VisitorSeen):
            seen.add(event.anonymous_id)
        elif event.body.get("anonymousId") in seen_users:
            assert event.body["anonymousId"] in seen
            checked += 1
    assert checked


def test_collector_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_paused_hands_what_was_built_over_as_old_objects() -> None:
    with collector_paused():
        built = [[index] for index in range(5_000)]
    old = {id(obj) for obj in gc.get_objects(generation=2)}
    assert all(id(item) in old for item in built)


def test_collector_paused_leaves_the_process_frozen_objects_frozen() -> None:
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        with collector_paused():
            built = [[index] for index in range(100)]
        assert built
        assert gc.get_freeze_count() > 0  # unfreezing would have thawed them all: 0
    finally:
        gc.unfreeze()


def test_stream_start_between_two_seconds_moves_every_event_by_the_fraction() -> None:
    population = build_population(PopulationConfig(users=50))
    start = datetime(2026, 3, 2, 0, 0, 0, 250_000, tzinfo=UTC)
    events = generate_events(population, StreamConfig(start=start, clock_skew_share=0))
    whole = generate_events(population, StreamConfig(clock_skew_share=0))
    assert [e.at for e in events] == [e.at + timedelta(milliseconds=250) for e in whole]
    for call in (e for e in events if isinstance(e, ClientCall)):
        assert datetime.fromisoformat(call.body["originalTimestamp"]) == call.at
