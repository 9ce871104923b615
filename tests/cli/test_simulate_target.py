"""harness simulate --target URL: delivered over HTTP to real receivers, the way Segment delivers."""

from __future__ import annotations

import base64
import json

import pytest

from harness.cli import main
from tests.cli.receivers import receiver

KEY = "abt_receiver_key_0123456789"
START = "2026-03-02T00:00:00Z"


def _simulate(url: str, *more: str) -> list[str]:
    return [
        "simulate", "--users", "12", "--days", "1", "--seed", "3", "--start", START,
        "--target", url, "--api-key", KEY, "--no-progress", *more,
    ]  # fmt: skip


def test_simulate_target_posts_each_message_with_partner_headers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with receiver() as hook:
        assert main(_simulate(hook.url)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sent"] > 0
    assert len(hook.received) == summary["delivered"] > 0
    for request in hook.received:
        assert request.path == "/hook"
        assert (
            request.headers["Authorization"]
            == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
        )
        assert request.headers["User-Agent"] == "Segment.io/1.0"
        assert request.headers["Content-Type"] == "application/json"
        message = request.json()
        assert isinstance(message, dict) and message["type"] in ("identify", "group")
    assert len({r.json()["messageId"] for r in hook.received}) == len(hook.received)


def test_simulate_target_duplicates_reach_the_receiver(capsys: pytest.CaptureFixture[str]) -> None:
    with receiver() as hook:
        assert main(_simulate(hook.url, "--duplicate-rate", "0.5", "--reorder-window", "60")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["duplicates"] > 0
    assert len(hook.received) == summary["delivered"] + summary["duplicates"]
    ids = [r.json()["messageId"] for r in hook.received]
    assert len(set(ids)) == summary["delivered"]


@pytest.mark.parametrize(("status", "code"), [(401, "invalid_api_key"), (400, "invalid_message")])
def test_simulate_target_refusals_print_status_and_code(
    status: int, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"code": code, "message": f"refused with {code}"}
    with receiver(lambda _: (status, answer)) as hook:
        assert main(_simulate(hook.url)) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["failed"] == summary["sent"] == len(hook.received)  # a 4xx is not retried
    assert summary["failures"] == {f"{status} {code}": summary["sent"]}
    assert f"{status} {code}" in err
    assert f"refused with {code}" in err


def test_simulate_target_retries_a_503_then_delivers(capsys: pytest.CaptureFixture[str]) -> None:
    with receiver(
        lambda n: (503, {"message": "busy"}) if n % 2 else (200, {"status": "accepted"})
    ) as hook:
        assert main(_simulate(hook.url)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["retried"] > 0
    assert summary["delivered"] == summary["sent"]
    assert summary["failed"] == 0
    assert len(hook.received) == summary["sent"] + summary["retried"]


def test_simulate_target_unreachable_says_no_answer(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.runtime.server import free_port

    url = f"http://127.0.0.1:{free_port()}/hook"
    assert main(_simulate(url, "--users", "2")) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["delivered"] == 0
    assert "no answer" in err


def test_simulate_target_live_serve_builder_shows_the_runs_traits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import requests

    from harness.runtime.server import ServeProcess
    from harness.simulate import FaultConfig, PopulationConfig, StreamConfig
    from harness.simulate.runner import Simulation, SimulationConfig
    from tests.support import t

    with ServeProcess("--clock", "manual", "--now", START) as server:
        account = requests.post(
            f"{server.url}/api/accounts", json={"name": "Live"}, timeout=10
        ).json()["id"]
        base = f"{server.url}/api/accounts/{account}"
        requests.post(f"{base}/integrations/pull/segment", json={"name": "Segment"}, timeout=10)
        key = requests.post(f"{base}/settings/integrations/api-key", timeout=10).json()["api_key"]
        args = [
            "simulate", "--users", "30", "--days", "1", "--seed", "5", "--start", START,
            "--target", f"{server.url}/segment/webhook", "--api-key", key,
            "--visitors-url", f"{base}/visitors", "--no-progress",
        ]  # fmt: skip
        assert main(args) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["delivered"] == summary["sent"] > 0
        before = requests.get(f"{base}/segment-builder/criteria", timeout=10).json()
        assert before["groups"][0]["items"][0]["traits"] == []  # nothing before 03:00
        requests.put(
            f"{server.url}/_harness/clock", json={"now": "2026-03-03T03:00:00Z"}, timeout=10
        )
        item = requests.get(f"{base}/segment-builder/criteria", timeout=10).json()["groups"][0][
            "items"
        ][0]
    shown = {
        trait["key"]: {v["value"]: v["visitors"] for v in trait["values"]}
        for trait in item["traits"]
    }
    # The same seed played in-process ends with the same EXTERNAL DATA.
    config = SimulationConfig(
        PopulationConfig(users=30, seed=5),
        StreamConfig(start=t(START), days=1, seed=5),
        FaultConfig(seed=5),
    )
    simulation = Simulation(config)
    simulation.run()
    assert shown and shown == simulation.cohorts()


def test_simulate_target_late_share_arrives_late_but_arrives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with receiver() as hook:
        assert main(_simulate(hook.url, "--late-share", "0.5")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["delivered"] == summary["sent"] == len(hook.received)
    # Held messages are handed over after the others: the arrival order differs from sending.
    sent_order = sorted(hook.received, key=lambda r: r.json()["timestamp"])
    assert [r.json()["messageId"] for r in sent_order] != [
        r.json()["messageId"] for r in hook.received
    ]


def test_simulate_progress_bar_still_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with receiver() as hook:
        assert main([*_simulate(hook.url)[:-1], "--progress"]) == 0
    assert json.loads(capsys.readouterr().out)["delivered"] == len(hook.received)


def test_simulate_target_visitors_url_with_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    import requests

    from harness.runtime.server import ServeProcess

    admin = {"Authorization": "Bearer sim-token"}
    with ServeProcess("--clock", "manual", "--now", START, "--admin-token", "sim-token") as server:
        account = requests.post(
            f"{server.url}/api/accounts", json={"name": "Live"}, headers=admin, timeout=10
        ).json()["id"]
        base = f"{server.url}/api/accounts/{account}"
        requests.post(
            f"{base}/integrations/pull/segment", json={"name": "S"}, headers=admin, timeout=10
        )
        key = requests.post(
            f"{base}/settings/integrations/api-key", headers=admin, timeout=10
        ).json()["api_key"]
        args = [
            "simulate", "--users", "5", "--days", "1", "--start", START, "--no-progress",
            "--target", f"{server.url}/segment/webhook", "--api-key", key,
            "--visitors-url", f"{base}/visitors",
        ]  # fmt: skip
        assert main(args) == 2  # sightings refused without the token: the run stops, says why
        assert "401" in capsys.readouterr().err
        assert main([*args, "--admin-token", "sim-token"]) == 0
        assert json.loads(capsys.readouterr().out)["sightings"] > 0
        journal = requests.get(f"{server.url}/_harness/requests", headers=admin, timeout=10).json()
    assert any(
        e["path"].endswith("/visitors") and e["status"] in (200, 201) for e in journal["requests"]
    )


def test_simulate_target_senders_deliver_each_message_once_in_each_users_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    received: dict[str, list[list[str]]] = {}
    for senders in ("1", "3"):
        with receiver() as hook:
            assert main([*_simulate(hook.url, "--senders", senders), "--days", "3"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["delivered"] == summary["sent"] == len(hook.received)
        messages = [r.json() for r in hook.received]
        received[senders] = [
            [m["messageId"], m.get("anonymousId") or m["userId"], m["originalTimestamp"]]
            for m in messages
        ]
    one, three = received["1"], received["3"]
    assert sorted(one) == sorted(three)
    for arrivals in (one, three):
        by_user: dict[str, list[str]] = {}
        for _, user, sent_at in arrivals:
            by_user.setdefault(user, []).append(sent_at)
        assert all(times == sorted(times) for times in by_user.values())


@pytest.mark.parametrize("more", [["--senders", "0"], ["--senders", "65"]])
def test_simulate_senders_out_of_range_is_refused(
    more: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_simulate("http://127.0.0.1:9/hook"), *more]) == 2
    assert "--senders must be from 1 to 64" in capsys.readouterr().err


def test_simulate_senders_without_target_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--users", "2", "--senders", "2", "--no-progress"]) == 2
    assert "--senders goes with --target" in capsys.readouterr().err
