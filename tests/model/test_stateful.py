"""The fake AB Tasty against the reference model, by random steps (see tests/model/machine.py).

The same machine runs three ways: the service over the memory store, the service over a
SQLite file, and the Litestar app through the in-process ASGI client. The CI profile keeps
the examples bounded; ``HARNESS_MODEL_EXAMPLES`` (examples per way) and
``HARNESS_MODEL_STEPS`` (steps per example) run more (docs/model-based-tests.md).

A failure prints the shrunk steps as a scenario file that ``harness play`` replays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.machine import machine_for
from tests.model.systems import HttpSystem, memory_system, sqlite_system

STEPS = 30
COLLISIONS = True
"""Identify traits named like group traits, and literal dotted keys beside nested ones."""


def _settings(examples: int) -> settings:
    return settings(
        max_examples=int(os.environ.get("HARNESS_MODEL_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("HARNESS_MODEL_STEPS", STEPS)),
    )


@pytest.fixture(scope="module")
def http_system() -> Iterator[HttpSystem]:
    system = HttpSystem()
    yield system
    system.shutdown()


def test_stateful_memory_store_agrees_with_model() -> None:
    machine = machine_for(memory_system(), collisions=COLLISIONS)
    run_state_machine_as_test(machine, settings=_settings(300))


def test_stateful_sqlite_store_agrees_with_model(tmp_path: Path) -> None:
    machine = machine_for(sqlite_system(tmp_path), collisions=COLLISIONS)
    run_state_machine_as_test(machine, settings=_settings(100))


def test_stateful_http_agrees_with_model(http_system: HttpSystem) -> None:
    machine = machine_for(http_system, collisions=COLLISIONS)
    run_state_machine_as_test(machine, settings=_settings(100))
