"""Scenario files are validated before anything runs; errors name file, line and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harness.scenarios import ScenarioError, load_scenario
from harness.scenarios.specs import AccountSpec, AdvanceSpec, CallSpec, parse_duration


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "story.yaml"
    path.write_text(text)
    return load_scenario(path)


def _error(tmp_path: Path, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        _load(tmp_path, text)
    return caught.value


def test_loader_parses_typed_steps(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        "name: ok\nstart: 2026-03-02T12:00:00+01:00\nsteps:\n"
        "  - account: {name: shop, timezone: Europe/Paris}\n"
        "  - identify: {account: shop, anonymous_id: a, traits: {country: NO, beta: yes, on: true}}\n"
        "    expect: {status: 200}\n"
        "  - advance: 1h30m\n",
    )
    steps = scenario.steps  # type: ignore[attr-defined]
    assert scenario.start.hour == 11  # type: ignore[attr-defined]
    assert isinstance(steps[0].body, AccountSpec)
    assert isinstance(steps[1].body, CallSpec)
    assert steps[1].body.traits == {
        "country": "NO",
        "beta": "yes",
        "on": True,
    }  # YAML 1.1 surprises switched off
    assert steps[1].outcome.status == 200
    assert steps[2].body == AdvanceSpec(timedelta(hours=1, minutes=30))
    assert [s.line for s in steps] == [4, 5, 7]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("steps: []\nname: x\n", 1, "steps", "non-empty"),
        (
            "name: x\nsteps:\n  - identify: {account: shop, anonymous_id: 5}\n",
            3,
            "steps[0].identify.anonymous_id",
            "expected text or null, got the number 5",
        ),
        (
            "name: x\nsteps:\n  - identify: {account: s, anonymus_id: a}\n",
            3,
            "steps[0].identify",
            "unknown field 'anonymus_id'",
        ),
        ("name: x\nsteps:\n  - fly: {to: moon}\n", 3, "steps[0]", "unknown action 'fly'"),
        ("name: x\nsteps:\n  - at: tomorrow\n", 3, "steps[0].at", "not an ISO-8601"),
        ("name: x\nsteps:\n  - advance: soon\n", 3, "steps[0].advance", "duration"),
        (
            "name: x\nsteps:\n  - identify: {anonymous_id: a}\n",
            3,
            "steps[0].identify",
            "either an account",
        ),
        ("name: x\nsteps:\n  - group: {account: s}\n", 3, "steps[0].group", "group_id"),
        ("name: x\nsteps:\n  - expect: {}\n", 3, "steps[0].expect", "expect what"),
        (
            "name: x\nsteps:\n  - segment:\n      account: s\n      as: x\n      conditions:\n        - {trait: plan, operator: 3}\n",
            7,
            "steps[0].segment.conditions[0].operator",
            "expected text, got the number 3",
        ),
        (
            "name: x\nstart: 2026-03-02 12:00\nsteps:\n  - at: 2026-03-02T12:00:00Z\n",
            2,
            "start",
            "offset",
        ),
        (
            "name: x\ncolour: blue\nsteps:\n  - at: 2026-03-02T12:00:00Z\n",
            2,
            "colour",
            "unknown top-level",
        ),
        (
            "name: x\nsteps:\n  - account: {name: a}\n    identify: {account: a}\n",
            4,
            "steps[0]",
            "exactly one action",
        ),
        ("name: [unclosed\n", 2, "", "not valid YAML"),
        ("name: x\nname: y\nsteps: []\n", 2, "", "duplicate key"),
        ("- just\n- a list\n", 1, "", "a scenario is a mapping"),
    ],
)
def test_loader_error_names_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    error = _error(tmp_path, text)
    assert (error.line, error.field) == (line, field), str(error)
    assert words in error.message
    assert str(error).startswith(f"{tmp_path / 'story.yaml'}:{line}")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        (1.5, 1.5),
        ("90s", 90),
        ("15m", 900),
        ("7h", 25_200),
        ("2d", 172_800),
        ("1h30m", 5_400),
    ],
)
def test_duration_forms(text: str | float, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1h", "1x", True, -5])
def test_duration_refused(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_shipped_scenarios_all_load() -> None:
    files = sorted(Path(__file__).resolve().parents[2].joinpath("scenarios").glob("*.yaml"))
    assert len(files) >= 15
    names = [load_scenario(f).name for f in files]
    assert len(set(names)) == len(names)
