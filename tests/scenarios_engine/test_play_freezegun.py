"""Scenario files played with freezegun moving the time: the same results as the manual clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.freezegun_clock import freezegun_active
from harness.scenarios import load_scenario, run_scenario, shared_in_process_driver
from harness.scenarios.driver import InProcessDriver
from harness.scenarios.loader import LineDict, read_yaml
from harness.scenarios.model import Scenario, parse_scenario
from harness.scenarios.specs import AtSpec

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
TIMED_PATHS = ("/segment/webhook", "/v1/")


def _outcome(scenario: Scenario, driver: InProcessDriver) -> dict[str, Any]:
    result = run_scenario(scenario, driver)
    journals = (driver.harness.abtasty_journal, driver.harness.segment_journal)
    return {
        "passed": result.passed,
        "failure": str(result.failure) if result.failure else None,
        "steps": [(s.index, s.line, s.action, s.status, s.message) for s in result.steps],
        # When each webhook and Tracking API request arrived, and how it was answered.
        "arrivals": [
            [
                (e.at, e.method, e.path, e.status)
                for e in journal.entries()
                if e.path.startswith(TIMED_PATHS)
            ]
            for journal in journals
        ],
    }


def _scenario(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "story.yaml"
    path.write_text(text)
    document = read_yaml(path)
    assert isinstance(document, LineDict)
    return parse_scenario(document, str(path))


def test_play_ships_scenarios_to_compare() -> None:
    assert len(SHIPPED) >= 20


@pytest.mark.parametrize("file", SHIPPED, ids=[f.stem for f in SHIPPED])
def test_play_with_freezegun_matches_the_manual_clock(file: Path) -> None:
    scenario = load_scenario(file)
    manual = _outcome(scenario, shared_in_process_driver("manual"))
    frozen = _outcome(scenario, shared_in_process_driver("freezegun"))
    assert manual["passed"], manual["failure"]
    assert frozen == manual
    assert not freezegun_active()


REFUSED_MOVES = """\
name: refused moves
start: 2026-03-02T12:00:00Z
steps:
  - at: 2026-03-02T18:00:00Z
  - at: 2026-03-02T17:00:00Z
    expect: {status: 409, code: clock_backwards}
  - at: 2250-01-01T00:00:00Z
    expect: {status: 400, code: invalid_body}
  - advance: 80000d
    expect: {status: 400, code: invalid_body}
  - advance: 1h
  - expect:
      refreshes: {account: shop, count: 0}
"""


def test_play_with_freezegun_refuses_the_moves_the_manual_clock_refuses(tmp_path: Path) -> None:
    text = REFUSED_MOVES.replace("steps:\n", "steps:\n  - account: {name: shop}\n")
    scenario = _scenario(tmp_path, text)
    manual = _outcome(scenario, shared_in_process_driver("manual"))
    frozen = _outcome(scenario, shared_in_process_driver("freezegun"))
    assert manual["passed"], manual["failure"]
    assert frozen == manual


def test_play_with_freezegun_stops_freezegun_after_a_failing_scenario(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "name: fails\nstart: 2026-03-02T12:00:00Z\nsteps:\n  - account: {name: shop}\n"
        "  - expect:\n      builder: {account: shop, shows: {plan: pro}}\n",
    )
    result = run_scenario(scenario, shared_in_process_driver("freezegun"))
    assert not result.passed
    assert not freezegun_active()


def test_play_with_freezegun_moves_freezegun_itself(tmp_path: Path) -> None:
    seen: list[datetime] = []
    driver = InProcessDriver("freezegun")
    scenario = _scenario(
        tmp_path,
        "name: time\nstart: 2026-03-02T12:00:00Z\nsteps:\n  - at: 2026-03-02T23:00:00Z\n",
    )
    driver.begin(scenario.start)
    try:
        at = scenario.steps[0].body
        assert isinstance(at, AtSpec)
        driver.set_clock(at.when)
        seen.append(datetime.fromtimestamp(time.time(), UTC))  # what the app sees
    finally:
        driver.close()
    assert seen == [datetime(2026, 3, 2, 23, 0, tzinfo=UTC)]


def test_play_cli_with_freezegun_clock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", "--clock", "freezegun", str(ROOT / "scenarios")]) == 0
    out = capsys.readouterr().out
    assert f"{len(SHIPPED)} passed, 0 failed" in out
    assert "(in-process, freezegun)" in out


def test_play_cli_refuses_freezegun_against_a_live_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["play", "--clock", "freezegun", "--url", "http://127.0.0.1:9", str(SHIPPED[0])])
    assert code == 2
    assert "freezegun cannot move a separate harness serve" in capsys.readouterr().err


def test_pytest_item_plays_with_freezegun_clock(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("scenarios")
    for file in SHIPPED[:3]:
        (folder / file.name).write_text(file.read_text())
    result = pytester.runpytest("-p", "no:cacheprovider", "--harness-clock=freezegun")
    result.assert_outcomes(passed=3)


def test_pytest_item_refuses_freezegun_clock_with_a_live_server(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("scenarios")
    (folder / SHIPPED[0].name).write_text(SHIPPED[0].read_text())
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--harness-clock=freezegun", "--harness-url=http://127.0.0.1:9"
    )
    result.stdout.fnmatch_lines(["*freezegun cannot move the clock of a separate harness serve*"])
