"""The harness command line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from harness.cli import main
from harness.server import free_port


def test_cli_serve_refuses_non_loopback_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--admin-token" in capsys.readouterr().err


def test_cli_serve_now_needs_manual_clock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--now", "2026-01-01T00:00:00Z"]) == 2
    assert "--clock manual" in capsys.readouterr().err


def test_cli_serve_rejects_bad_now() -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--clock", "manual", "--now", "tomorrow"])


def test_cli_serve_runs_and_answers_with_manual_clock_and_admin_token() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--port",
            str(port),
            "--clock",
            "manual",
            "--now",
            "2026-01-01T00:00:00Z",
            "--admin-token",
            "tok",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = requests.get(
                    f"http://127.0.0.1:{port}/_harness/health",
                    headers={"Authorization": "Bearer tok"},
                    timeout=1,
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (
                    process.communicate()[1] if process.poll() is not None else "no answer"
                )
                time.sleep(0.05)
        assert health.json() == {"status": "ok"}
        clock = requests.get(
            f"http://127.0.0.1:{port}/_harness/clock", headers={"Authorization": "Bearer tok"}
        ).json()
        assert clock == {"now": "2026-01-01T00:00:00Z", "mode": "manual"}
        assert requests.get(f"http://127.0.0.1:{port}/_harness/clock").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
