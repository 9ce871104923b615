"""harness play and harness verify flags that no other test passes on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import ManualClock
from harness.cli import main
from harness.runtime.server import ServerGroup
from harness.runtime.stack import Harness
from harness.testing.handles import basic_auth, segment_message
from tests.support import t

ROOT = Path(__file__).resolve().parents[2]
ACTIVATION = ROOT / "scenarios" / "activation_3am.yaml"


def test_play_live_admin_token_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    harness = Harness(ManualClock(t("2026-01-01T00:00:00Z")))
    with ServerGroup(
        [(harness.abtasty_app("tok"), "127.0.0.1", 0), (harness.segment_app("tok"), "127.0.0.1", 0)]
    ) as group:
        abtasty, segment = group.urls
        live = ["play", "--url", abtasty, "--segment-url", segment, "--restart", str(ACTIVATION)]
        assert main([*live, "--quiet"]) == 1  # no token: the server refuses the setup
        capsys.readouterr()
        assert main([*live, "--admin-token", "tok", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("1 passed, 0 failed")
    assert "line " not in out  # --quiet: no step lines


def test_verify_api_key_refuses_another_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "capture.jsonl"
    entry = {
        "headers": {"Authorization": basic_auth("abt_right_key"), "User-Agent": "Segment.io/1.0"},
        "body": segment_message(message_id="m1"),
    }
    capture.write_text(json.dumps(entry) + "\n")
    assert main(["verify", str(capture), "--api-key", "abt_right_key"]) == 0
    assert main(["verify", str(capture), "--api-key", "abt_other_key"]) == 1
    assert "invalid_api_key" in capsys.readouterr().out
