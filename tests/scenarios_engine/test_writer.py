"""Scenario files written from typed steps load back to the same steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest

from harness.scenarios import load_scenario
from harness.scenarios.specs import STEP_SPECS, StepBody
from harness.scenarios.writer import DraftStep, ScenarioDraft, format_duration, write_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_writer_step_specs_are_the_step_body_union() -> None:
    assert set(STEP_SPECS) == set(get_args(StepBody))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_writer_round_trips_a_shipped_scenario(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    draft = ScenarioDraft(
        scenario.name,
        scenario.start,
        [DraftStep(step.body, step.outcome, step.note) for step in scenario.steps],
        scenario.description,
    )
    written = tmp_path / path.name
    write_scenario(written, draft)
    again = load_scenario(written)
    assert (again.name, again.start, again.description) == (
        scenario.name,
        scenario.start,
        scenario.description,
    )
    assert [(s.body, s.outcome, s.note) for s in again.steps] == [
        (s.body, s.outcome, s.note) for s in scenario.steps
    ]


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=2), "2d"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(0), "0s"),
    ],
)
def test_writer_format_duration_reads_back(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_writer_short_scenario_keeps_one_step_a_line() -> None:
    from harness.scenarios.specs import AccountSpec, AtSpec
    from harness.scenarios.writer import dump_scenario

    draft = ScenarioDraft("Short", datetime(2026, 3, 2, 12, tzinfo=UTC))
    draft.add(AccountSpec(name="shop"))
    draft.add(AtSpec(datetime(2026, 3, 3, 3, tzinfo=UTC)))
    assert dump_scenario(draft).splitlines() == [
        "name: Short",
        "start: '2026-03-02T12:00:00Z'",
        "steps:",
        "- account: {name: shop}",
        "- at: '2026-03-03T03:00:00Z'",
    ]
