"""A simulated run written as a scenario plays back to the same result."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from harness.scenarios import load_scenario, run_scenario, shared_in_process_driver
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
    simulation.write_scenario(path)
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
    simulation.write_scenario(path)
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
