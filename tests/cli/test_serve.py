"""The harness command line."""

from __future__ import annotations

import pytest
import requests

from harness.cli import main
from harness.runtime.server import ServeProcess


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
    with ServeProcess(
        "--clock", "manual", "--now", "2026-01-01T00:00:00Z", "--admin-token", "tok"
    ) as server:
        admin = {"Authorization": "Bearer tok"}
        assert requests.get(f"{server.url}/_harness/health", headers=admin).json() == {
            "status": "ok"
        }
        clock = requests.get(f"{server.url}/_harness/clock", headers=admin).json()
        assert clock == {"now": "2026-01-01T00:00:00Z", "mode": "manual"}
        assert requests.get(f"{server.url}/_harness/clock").status_code == 401
        assert (
            requests.get(f"{server.segment_url}/_harness/clock", headers=admin).json() == clock
        )  # one clock


def test_cli_serve_port_in_use_is_one_clear_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--segment-port", "0"]) == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--port", "9000", "--segment-port", "9000"], "must differ"),
        (["--journal-size", "-1"], "0 or more"),
    ],
)
def test_cli_serve_bad_arguments(
    args: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *args]) == 2
    assert text in capsys.readouterr().err


def test_cli_serve_stops_on_ctrl_c_with_one_line() -> None:
    server = ServeProcess().start()
    status, errors = server.interrupt()
    assert status == 0
    assert errors.splitlines() == ["harness serve: stopped (Ctrl-C)."]


def test_cli_version_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"harness {version('segment-abtasty-harness')}\n"
