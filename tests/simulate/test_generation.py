"""Seeded generation: same seed, same output in every process; what the fast paths must equal."""

from __future__ import annotations

import gc
import hashlib
import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

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
from harness.simulate.instants import IsoText, collector_paused, epoch_ms, instant

GOLDEN_RUN = (PopulationConfig(users=60, seed=11), StreamConfig(days=4, seed=11))
GOLDEN_DIGEST = "18d7d4af05afdd96db805009f893ddd729f865b724c4001af4895ed9ede9c5ed"
"""sha256 of the golden run's population and events: a change here changes every seeded run.

Change it only on purpose (and say so in docs/benchmarks.md); it depends on Faker's en_US
data too, which fills the value pools.
"""


def run_digest(population_config: PopulationConfig, stream_config: StreamConfig) -> str:
    """A digest of everything a seeded run generates."""
    population = build_population(population_config)
    events = generate_events(population, stream_config)
    text = json.dumps(
        {
            "users": [
                [u.index, u.anonymous_id, u.user_id, u.traits, u.company_id]
                for u in population.users
            ],
            "visits": [[u.visitor_ids, u.identify_day] for u in population.users],
            "companies": [[c.group_id, c.traits] for c in population.companies],
            "events": [
                [e.at.isoformat(), e.body]
                if isinstance(e, ClientCall)
                else [e.at.isoformat(), e.visitor_id, e.anonymous_id]
                for e in events
            ],
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_generation_golden_digest_is_unchanged() -> None:
    assert run_digest(*GOLDEN_RUN) == GOLDEN_DIGEST


def test_generation_same_seed_same_digest_in_another_process() -> None:
    code = (
        "from tests.simulate.test_generation import GOLDEN_RUN, run_digest;"
        "print(run_digest(*GOLDEN_RUN))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == run_digest(*GOLDEN_RUN)


def test_generation_other_seed_other_digest() -> None:
    population, stream = GOLDEN_RUN
    assert run_digest(PopulationConfig(users=60, seed=12), stream) != run_digest(*GOLDEN_RUN)
    assert run_digest(population, StreamConfig(days=4, seed=12)) != run_digest(*GOLDEN_RUN)


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
