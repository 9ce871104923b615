"""harness simulate: a summary line, and its argument checks."""

from __future__ import annotations

import json

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
