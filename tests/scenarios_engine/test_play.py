"""harness play: output, exit status, reports; in-process and against a live server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import ManualClock
from harness.cli import main
from harness.runtime.server import ServerGroup
from harness.runtime.stack import Harness
from harness.scenarios import LiveDriver, load_scenario, run_scenario, shared_in_process_driver
from tests.support import t

ROOT = Path(__file__).resolve().parents[2]
ACTIVATION = ROOT / "scenarios" / "activation_3am.yaml"

FAILING = """\
name: expects too much
start: 2026-03-02T12:00:00Z
steps:
  - account: {name: shop}
  - visitor: {account: shop, visitor_id: v1, anonymous_id: anon-1}
  - identify: {account: shop, anonymous_id: anon-1, traits: {plan: pro}}
  - expect:
      builder: {account: shop, shows: {plan: {pro: 1}}}
  - at: 2026-03-03T03:00:00Z
"""


def test_play_passing_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", str(ACTIVATION)]) == 0
    out = capsys.readouterr().out
    assert "PASS 3 am activation" in out
    assert "1 passed, 0 failed" in out
    assert "line 14: identify" in out


def test_play_failing_file_exits_1_and_cites_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story = tmp_path / "story.yaml"
    story.write_text(FAILING)
    assert main(["play", str(story), str(ACTIVATION)]) == 1
    out = capsys.readouterr().out
    assert (
        f"{story}:7: step 4 (expect): expected trait 'plan' shown under EXTERNAL DATA; got traits shown: none"
        in out
    )
    assert "1 passed, 1 failed" in out


def test_play_invalid_file_plays_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - fly: {}\n")
    assert main(["play", str(bad), str(ACTIVATION)]) == 2
    captured = capsys.readouterr()
    assert f"INVALID {bad}:3: steps[0]" in captured.err
    assert "PASS" not in captured.out


def test_play_missing_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", "no/such/place.yaml"]) == 2
    assert "No scenario file" in capsys.readouterr().err


def test_play_reports_json_and_junit(tmp_path: Path) -> None:
    story = tmp_path / "story.yaml"
    story.write_text(FAILING)
    report_json, report_xml = tmp_path / "r.json", tmp_path / "r.xml"
    main(
        [
            "play",
            "-q",
            str(ACTIVATION),
            str(story),
            "--report",
            "json",
            str(report_json),
            "--report",
            "junit",
            str(report_xml),
        ]
    )
    data = json.loads(report_json.read_text())
    assert (data["passed"], data["failed"]) == (1, 1)
    failed = next(s for s in data["scenarios"] if not s["passed"])
    assert [s["status"] for s in failed["steps"]] == [
        "passed",
        "passed",
        "passed",
        "failed",
        "skipped",
    ]
    suite = ET.fromstring(report_xml.read_text())
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert suite.find("testcase/failure") is not None


def test_play_bad_report_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", str(ACTIVATION), "--report", "html", "x.html"]) == 2


def test_play_every_shipped_scenario_passes_in_process() -> None:
    driver = shared_in_process_driver()
    for file in sorted((ROOT / "scenarios").glob("*.yaml")):
        result = run_scenario(load_scenario(file), driver)
        assert result.passed, str(result.failure)


def test_play_against_live_server_with_admin_token() -> None:
    harness = Harness(ManualClock(t("2026-01-01T00:00:00Z")))
    group = ServerGroup(
        [(harness.abtasty_app("tok"), "127.0.0.1", 0), (harness.segment_app("tok"), "127.0.0.1", 0)]
    )
    with group:
        abtasty, segment = group.urls
        driver = LiveDriver(abtasty, segment, admin_token="tok", restart=True)
        for name in (
            "activation_3am",
            "key_auth_refusals",
            "delivery_segment_outage_retried",
            "segment_real_client_flow",
        ):
            result = run_scenario(load_scenario(ROOT / "scenarios" / f"{name}.yaml"), driver)
            assert result.passed, str(result.failure)


def test_play_live_refuses_a_start_behind_the_server_clock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness = Harness(ManualClock(t("2027-01-01T00:00:00Z")))
    with ServerGroup(
        [(harness.abtasty_app(), "127.0.0.1", 0), (harness.segment_app(), "127.0.0.1", 0)]
    ) as group:
        abtasty, segment = group.urls
        assert main(["play", "--url", abtasty, "--segment-url", segment, str(ACTIVATION)]) == 1
    out = capsys.readouterr().out
    assert "clock_backwards" in out
    assert "--restart" in out


def test_play_live_with_restart_plays_a_whole_folder(capsys: pytest.CaptureFixture[str]) -> None:
    harness = Harness(ManualClock(t("2027-01-01T00:00:00Z")))
    with ServerGroup(
        [(harness.abtasty_app(), "127.0.0.1", 0), (harness.segment_app(), "127.0.0.1", 0)]
    ) as group:
        abtasty, segment = group.urls
        assert (
            main(
                [
                    "play",
                    "-q",
                    "--restart",
                    "--url",
                    abtasty,
                    "--segment-url",
                    segment,
                    str(ROOT / "scenarios"),
                ]
            )
            == 0
        )
    assert "0 failed" in capsys.readouterr().out


def test_play_live_unreachable_server_says_it_cannot_reach_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness.runtime.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["play", "--url", url, str(ACTIVATION)]) == 2
    err = capsys.readouterr().err
    assert f"Cannot reach the fake AB Tasty at {url}" in err
    assert "harness serve" in err
