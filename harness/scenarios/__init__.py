"""Scenario files: one story per file, played in-process, from pytest, or against a live server."""

from harness.scenarios.driver import InProcessDriver, LiveDriver, shared_in_process_driver
from harness.scenarios.loader import ScenarioError
from harness.scenarios.model import Scenario, load_scenario, scenario_files
from harness.scenarios.runner import ScenarioResult, StepFailure, run_scenario

__all__ = [
    "InProcessDriver",
    "LiveDriver",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "StepFailure",
    "load_scenario",
    "run_scenario",
    "scenario_files",
    "shared_in_process_driver",
]
