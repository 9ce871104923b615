"""Simulated Engage audiences: seeded memberships that change over days, shown in AB Tasty."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from harness.cli import main
from harness.simulate.audiences import AudienceConfig, audience_keys, generate_audience_changes
from harness.simulate.population import PopulationConfig, build_population
from harness.simulate.runner import Simulation, SimulationConfig
from harness.simulate.streams import StreamConfig

START = datetime(2026, 3, 2, tzinfo=UTC)


def _changes(seed: int = 3, days: int = 6):
    population = build_population(PopulationConfig(users=60, seed=seed))
    config = AudienceConfig(audience_keys(2), seed=seed)
    return generate_audience_changes(population, config, START, days)


def test_audience_changes_same_seed_same_changes():
    assert _changes(3) == _changes(3)
    assert _changes(3) != _changes(4)


def test_audience_changes_alternate_entries_and_exits_per_member():
    changes = _changes(days=10)
    by_member: dict[tuple[str, str], list[bool]] = {}
    for change in changes:
        by_member.setdefault((change.audience_key, change.anonymous_id), []).append(change.entered)
    assert any(len(states) >= 3 for states in by_member.values())  # re-entries happen
    for states in by_member.values():
        assert states[0] is True
        assert all(a != b for a, b in itertools.pairwise(states))
    assert [c.at for c in changes] == sorted(c.at for c in changes)


def test_simulation_with_audiences_ends_with_each_matched_member_in_its_last_state():
    config = SimulationConfig(
        PopulationConfig(users=80, seed=9),
        StreamConfig(days=4, seed=9),
        audiences=AudienceConfig(("vip_users",), seed=9),
    )
    simulation = Simulation(config)
    events = simulation.events()
    summary = simulation.run(events)
    assert summary.audience_changes > 0
    population = build_population(config.population)
    seen = {u.anonymous_id for u in population.users if u.visitor_ids}
    visitors = {u.anonymous_id: len(u.visitor_ids) for u in population.users}
    last: dict[str, bool] = {}
    for event in events:
        if getattr(event, "audience_key", None) == "vip_users":
            last[event.anonymous_id] = event.entered  # type: ignore[union-attr]
    expected: dict[bool, int] = {}
    for anonymous_id, inside in last.items():
        if anonymous_id in seen:
            expected[inside] = expected.get(inside, 0) + visitors[anonymous_id]
    assert simulation.cohorts()["vip_users"] == expected


def test_simulate_cli_audiences_flag_reports_changes(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--users", "40", "--days", "2", "--seed", "1", "--audiences", "2"]
    assert main([*args, "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["audience_changes"] > 0
    assert summary["delivered"] == summary["sent"]


def test_simulate_cli_audiences_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--audiences", "101", "--no-progress"]) != 0
    assert "--audiences" in capsys.readouterr().err
