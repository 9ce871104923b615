"""The simulated Segment: deterministic populations and streams, faithful envelopes, faults."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.abtasty.spec import validate_message
from harness.core.clock import parse_instant
from harness.segment import tracking
from harness.simulate import (
    ClientCall,
    FaultConfig,
    PopulationConfig,
    StreamConfig,
    VisitorSeen,
    build_population,
    generate_events,
)
from harness.simulate.runner import Simulation, SimulationConfig
from tests.support import ScriptedDestination


def test_population_same_seed_same_users() -> None:
    first = build_population(PopulationConfig(users=200, seed=7))
    again = build_population(PopulationConfig(users=200, seed=7))
    other = build_population(PopulationConfig(users=200, seed=8))
    assert first == again
    assert first.users != other.users


def test_population_knobs_shape_the_users() -> None:
    population = build_population(
        PopulationConfig(
            users=2_000,
            seed=1,
            unmatched_share=0.5,
            user_id_only_share=0.1,
            shared_device_share=0.2,
        )
    )
    users = population.users
    server_only = [u for u in users if u.anonymous_id is None]
    never_seen = [u for u in users if u.anonymous_id is not None and not u.visitor_ids]
    shared = [u for u in users if len(u.visitor_ids) == 2]
    assert 0.07 < len(server_only) / len(users) < 0.13
    assert 0.4 < len(never_seen) / (len(users) - len(server_only)) < 0.6
    assert shared
    assert all(u.user_id is not None for u in server_only)
    assert len({u.traits["email"] for u in users}) == len(users)


def test_population_plan_weights() -> None:
    users = build_population(
        PopulationConfig(users=3_000, plan_weights={"free": 0.9, "pro": 0.1})
    ).users
    share = sum(u.traits["plan"] == "pro" for u in users) / len(users)
    assert 0.07 < share < 0.13


def test_stream_same_seed_same_events_in_time_order() -> None:
    population = build_population(PopulationConfig(users=300))
    events = generate_events(population, StreamConfig(seed=3))
    assert events == generate_events(population, StreamConfig(seed=3))
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert any(isinstance(e, VisitorSeen) for e in events)


def test_stream_calls_are_valid_segment_messages_after_ingest() -> None:
    population = build_population(PopulationConfig(users=300))
    calls = [
        e for e in generate_events(population, StreamConfig(days=4)) if isinstance(e, ClientCall)
    ]
    kinds = {c.type for c in calls}
    assert kinds == {"identify", "group"}
    for call in calls:
        assert call.body["context"]["library"]["name"] in {"analytics.js", "analytics-python"}
        message = tracking.normalize(call.body, call.at, lambda: "unused")
        assert isinstance(message, dict), message
        validate_message(message)
        # Segment's correction recovers the true time whatever the client's clock said.
        assert abs((parse_instant(message["timestamp"]) - call.at).total_seconds()) < 3


def test_stream_has_trait_changes_and_late_identifies() -> None:
    population = build_population(PopulationConfig(users=500, late_identify_share=0.3))
    calls = [
        e
        for e in generate_events(population, StreamConfig(days=5, trait_change_share=0.5))
        if isinstance(e, ClientCall)
    ]
    assert any(
        c.body["traits"] == {"plan": c.body["traits"].get("plan")}
        for c in calls
        if c.type == "identify"
    )
    first_identify_day = {
        c.body.get("anonymousId"): (c.at - StreamConfig().start).days for c in reversed(calls)
    }
    assert max(first_identify_day.values()) >= 1


def _cohorts(faults: FaultConfig, users: int = 250) -> dict[str, dict[object, int]]:
    simulation = Simulation(
        SimulationConfig(PopulationConfig(users=users, seed=5), StreamConfig(seed=5), faults)
    )
    summary = simulation.run()
    assert summary.failed == 0
    return simulation.cohorts()


def test_simulation_faults_do_not_change_final_cohorts() -> None:
    clean = _cohorts(FaultConfig())
    faulty = _cohorts(
        FaultConfig(
            failure_rate=0.3,
            duplicate_rate=0.2,
            reorder_window=timedelta(minutes=20),
            late_share=0.1,
            seed=9,
        )
    )
    assert clean
    assert faulty == clean


def test_simulation_summary_counts_faults() -> None:
    simulation = Simulation(
        SimulationConfig(
            PopulationConfig(users=200), faults=FaultConfig(failure_rate=0.3, duplicate_rate=0.1)
        )
    )
    summary = simulation.run()
    assert summary.generated == summary.sent == summary.delivered > 0
    assert summary.retried == summary.injected_failures > 0
    assert summary.duplicates > 0


def test_simulation_external_destination_gets_segment_shaped_posts() -> None:
    destination = ScriptedDestination(script=[503])
    simulation = Simulation(
        SimulationConfig(PopulationConfig(users=30)), destination=destination, api_key="abt_theirs"
    )
    summary = simulation.run()
    assert summary.delivered == summary.sent
    _url, headers, body = destination.calls[-1]
    assert headers["User-Agent"] == "Segment.io/1.0"
    assert body["receivedAt"] and body["timestamp"] and body["messageId"]
    assert summary.retried == 1


def test_simulation_rejects_destination_without_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Simulation(SimulationConfig(), destination=ScriptedDestination())


def test_simulation_capture_lines_are_json(tmp_path: object) -> None:
    from pathlib import Path

    from harness.cli import main

    out = Path(str(tmp_path)) / "capture.jsonl"
    assert (
        main(["simulate", "--users", "20", "--days", "1", "--out", str(out), "--no-progress"]) == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines
    assert all(line["headers"]["Authorization"].startswith("Basic ****") for line in lines)


@given(seed=st.integers(0, 2**64))
def test_uuid4_text_equals_the_uuid_module(seed: int) -> None:
    import random
    import uuid

    from harness.simulate.ids import uuid4_text

    assert uuid4_text(random.Random(seed)) == str(
        uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)
    )
