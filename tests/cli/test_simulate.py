"""harness simulate: a summary line, and its argument checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main


def test_cli_simulate_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "simulate",
                "--users",
                "50",
                "--days",
                "2",
                "--seed",
                "4",
                "--failure-rate",
                "0.2",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 50
    assert summary["delivered"] == summary["sent"] > 0
    assert set(summary) >= {"generated", "sent", "delivered", "retried", "failed", "duplicates"}


def test_cli_simulate_same_seed_same_summary(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--users", "40", "--seed", "2", "--duplicate-rate", "0.3", "--no-progress"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    second = json.loads(capsys.readouterr().out)
    first.pop("seconds")
    second.pop("seconds")
    assert first == second


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--target", "http://127.0.0.1:9/hook"], "--api-key"),
        (["--failure-rate", "2"], "between 0 and 1"),
        (["--users", "0"], "at least 1"),
    ],
)
def test_cli_simulate_bad_arguments(
    args: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *args]) == 2
    assert text in capsys.readouterr().err


def test_cli_simulate_refused_out_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "capture.jsonl"
    args = ["simulate", "--users", "5", "--no-progress", "--out", str(out)]
    assert main([*args, "--scenario-out", str(tmp_path / "s.yaml")]) == 2
    assert "--scenario-out" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_simulate_out_in_a_missing_folder_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "capture.jsonl"
    assert main(["simulate", "--users", "5", "--no-progress", "--out", str(out)]) == 2
    assert f"Cannot write --out {out}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_simulate_broken_run_leaves_no_half_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.simulate.runner import Simulation

    def broken(self: Simulation, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Simulation, "run", broken)
    out = tmp_path / "capture.jsonl"
    assert main(["simulate", "--users", "5", "--no-progress", "--out", str(out)]) == 130
    assert list(tmp_path.iterdir()) == []


def test_cli_simulate_out_appears_whole_when_done(tmp_path: Path) -> None:
    out = tmp_path / "capture.jsonl"
    assert main(["simulate", "--users", "5", "--no-progress", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["capture.jsonl"]
    assert all(json.loads(line)["body"] for line in out.read_text().splitlines())


def test_cli_simulate_scenario_out_plays_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "run.yaml"
    args = ["simulate", "--users", "20", "--days", "1", "--seed", "2", "--no-progress"]
    assert main([*args, "--scenario-out", str(scenario)]) == 0
    assert json.loads(capsys.readouterr().out)["delivered"] > 0
    assert main(["play", str(scenario)]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
