"""harness verify: captured webhook requests judged with the server's own codes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.runtime.verify import read_capture, verify
from tests.support import message


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _lines(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    return path


GOOD: dict[str, Any] = {
    "headers": {"Authorization": _basic("abt_k"), "User-Agent": "Segment.io/1.0"},
    "body": message(message_id="m1"),
}


def test_verify_clean_capture_passes(tmp_path: Path) -> None:
    report = verify(read_capture(_lines(tmp_path / "c.jsonl", [GOOD])), api_key="abt_k")
    assert report.passed
    assert (report.requests, report.accepted, report.notes) == (1, 1, [])


def test_verify_reports_each_deviation_with_server_code(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
        {"headers": {}, "body": message()},
        {"headers": {"Authorization": "Bearer x"}, "body": message()},
        {"headers": {"Authorization": _basic("abt_other")}, "body": message()},
        {"headers": {"Authorization": _basic("abt_k")}, "body": "{broken"},
        {"headers": {"Authorization": _basic("abt_k")}, "body": message("track")},
        {"headers": {"Authorization": _basic("abt_k")}, "body": message(anonymous_id=None)},
        {"headers": {"Authorization": _basic("abt_k")}, "body": {**message(), "traits": [1]}},
        {"method": "GET", "headers": {"Authorization": _basic("abt_k")}, "body": message()},
    ]
    report = verify(read_capture(_lines(tmp_path / "c.jsonl", entries)), api_key="abt_k")
    assert [(f.position, f.status, f.code) for f in report.deviations] == [
        (1, 401, "missing_api_key"),
        (2, 401, "invalid_api_key"),
        (3, 401, "invalid_api_key"),
        (4, 400, "invalid_json"),
        (5, 501, "unsupported_type"),
        (6, 400, "missing_identity"),
        (7, 400, "invalid_message"),
        (8, 405, "method_not_allowed"),
    ]


def test_verify_notes_duplicates_user_agent_and_user_id_only(tmp_path: Path) -> None:
    odd = {
        "headers": {"Authorization": _basic("k"), "User-Agent": "my-sender"},
        "body": message(anonymous_id=None, user_id="u"),
    }
    report = verify(read_capture(_lines(tmp_path / "c.jsonl", [GOOD, GOOD, odd])))
    assert report.passed
    assert [n.code for n in report.notes] == ["duplicate", "no_anonymous_id", "user_agent"]


def test_verify_reads_har(tmp_path: Path) -> None:
    har = {
        "log": {
            "entries": [
                {"request": {"method": "GET", "url": "http://x/other", "headers": []}},
                {
                    "request": {
                        "method": "POST",
                        "url": "http://127.0.0.1:8080/segment/webhook",
                        "headers": [{"name": "Authorization", "value": _basic("k")}],
                        "postData": {"text": json.dumps(message("page"))},
                    }
                },
            ]
        }
    }
    path = tmp_path / "c.har"
    path.write_text(json.dumps(har))
    report = verify(read_capture(path))
    assert [(f.position, f.code) for f in report.deviations] == [(2, "unsupported_type")]


def test_verify_unreadable_capture_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(GOOD) + "\nnot json\n")
    with pytest.raises(HarnessError, match=r"c.jsonl:2"):
        read_capture(path)


def test_verify_cli_exit_status_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _lines(tmp_path / "good.jsonl", [GOOD])
    bad = _lines(tmp_path / "bad.jsonl", [{"headers": {}, "body": message()}])
    assert main(["verify", str(good)]) == 0
    assert main(["verify", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["deviations"][0]["code"] == "missing_api_key"


def test_verify_accepts_simulate_capture(tmp_path: Path) -> None:
    capture = tmp_path / "sim.jsonl"
    assert (
        main(["simulate", "--users", "30", "--days", "1", "--out", str(capture), "--no-progress"])
        == 0
    )
    report = verify(read_capture(capture))
    assert report.passed
    assert report.requests > 0


MASKED_ENTRY: dict[str, Any] = {
    "headers": {"Authorization": "Basic ****_key", "User-Agent": "Segment.io/1.0"},
    "body": message(message_id="m9"),
}


def test_verify_masked_capture_says_it_cannot_check_authentication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = _lines(tmp_path / "masked.jsonl", [MASKED_ENTRY, GOOD])
    assert main(["verify", str(capture)]) == 0
    out = capsys.readouterr().out
    assert "Authentication not checked for 1 request(s): the capture masks their keys" in out


def test_verify_masked_key_with_other_last_4_is_refused(tmp_path: Path) -> None:
    report = verify(read_capture(_lines(tmp_path / "m.jsonl", [MASKED_ENTRY])), "abt_other_key")
    assert report.passed
    report = verify(read_capture(_lines(tmp_path / "m.jsonl", [MASKED_ENTRY])), "abt_k_9999")
    assert [f.code for f in report.deviations] == ["invalid_api_key"]
    assert report.as_dict()["masked_keys"] == 1


def test_verify_help_states_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "JSON lines, one request a line" in text
    assert "HAR 1.2" in text
    assert "masked" in text
