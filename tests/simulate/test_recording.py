"""A simulated run written as a scenario plays back to the same result."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from harness.runtime.recording import RecordedRun
from harness.scenarios import load_scenario, run_scenario, shared_in_process_driver
from harness.scenarios.recorded import write_recorded_run
from harness.simulate import FaultConfig, PopulationConfig, StreamConfig
from harness.simulate.runner import Simulation, SimulationConfig


def test_recording_plays_back_to_same_result_even_with_faults(tmp_path: Path) -> None:
    config = SimulationConfig(
        PopulationConfig(users=80, seed=11),
        StreamConfig(days=2, seed=11),
        FaultConfig(
            failure_rate=0.3,
            duplicate_rate=0.2,
            reorder_window=timedelta(minutes=15),
            late_share=0.1,
            seed=11,
        ),
    )
    simulation = Simulation(config, record=True)
    simulation.run()
    path = tmp_path / "recorded.yaml"
    write_recorded_run(path, simulation.recorded_run())
    scenario = load_scenario(path)
    result = run_scenario(scenario, shared_in_process_driver())
    assert result.passed, str(result.failure)
    assert "30% of attempts failing" in scenario.description


def test_recording_playback_detects_a_changed_result(tmp_path: Path) -> None:
    simulation = Simulation(
        SimulationConfig(PopulationConfig(users=20, seed=2), StreamConfig(days=1, seed=2)),
        record=True,
    )
    simulation.run()
    path = tmp_path / "recorded.yaml"
    write_recorded_run(path, simulation.recorded_run())
    # Drop the first identify that reached AB Tasty: playback must notice the cohorts differ.
    document = yaml.safe_load(path.read_text())
    steps = document["steps"]
    first = next(
        i
        for i, step in enumerate(steps)
        if "send" in step and step["send"]["body"]["type"] == "identify"
    )
    del steps[first]
    path.write_text(yaml.safe_dump(document))
    result = run_scenario(load_scenario(path), shared_in_process_driver())
    assert not result.passed


def test_recording_writes_format_2_with_typed_values_kept_apart(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from harness.scenarios.specs import BuilderExpect, ExpectSpec

    path = tmp_path / "typed.yaml"
    start = datetime(2026, 3, 2, tzinfo=UTC)
    run = RecordedRun(
        name="typed",
        description="",
        start=start,
        end=start,
        steps=[],
        cohorts={"flag": [(True, 1), (1, 2), ("1", 3)], "plan": [("pro", 4)]},
        refreshes=0,
    )
    write_recorded_run(path, run)
    scenario = load_scenario(path)
    assert scenario.format == 2
    expect = scenario.steps[-1].body
    assert isinstance(expect, ExpectSpec)
    assert isinstance(expect.builder, BuilderExpect)
    assert expect.builder.exactly == {
        "flag": [
            {"value": True, "visitors": 1},
            {"value": 1, "visitors": 2},
            {"value": "1", "visitors": 3},
        ],
        "plan": {"pro": 4},
    }
    assert [type(item["value"]) for item in expect.builder.exactly["flag"]] == [bool, int, str]
