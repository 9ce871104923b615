"""kill -9 during a stream of webhook calls loses nothing that was acknowledged."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import requests

from harness import ManualClock
from harness.runtime.server import live_session
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, basic_auth
from tests.reliability.process import ServeProcess
from tests.support import t

MESSAGES = 5_000
PROFILES = 400
START = "2026-03-02T08:00:00Z"


def _messages() -> list[dict[str, Any]]:
    plans = ["free", "pro", "enterprise"]
    return [
        {
            "type": "identify",
            "messageId": f"m-{i:05d}",
            "anonymousId": f"anon-{i % PROFILES}",
            "traits": {"plan": plans[(i * 7) % 3], "visits": i // PROFILES},
            "timestamp": f"2026-03-02T09:{(i // 100) % 60:02d}:{i % 60:02d}Z",
        }
        for i in range(MESSAGES)
    ]


def _setup(http: requests.Session, url: str) -> tuple[str, str]:
    account = http.post(f"{url}/api/accounts", json={"name": "Crash"}).json()["id"]
    http.post(
        f"{url}/api/accounts/{account}/integrations/pull/segment", json={"name": "Segment"}
    ).raise_for_status()
    key = http.post(f"{url}/api/accounts/{account}/settings/integrations/api-key").json()["api_key"]
    for index in range(PROFILES):
        http.post(
            f"{url}/api/accounts/{account}/visitors",
            json={"visitor_id": f"v{index}", "segment_anonymous_id": f"anon-{index}"},
        )
    return account, key


def _post(http: requests.Session, url: str, key: str, message: dict[str, Any]) -> str:
    answer = http.post(
        f"{url}/segment/webhook",
        data=json.dumps(message),
        headers={
            "Authorization": basic_auth(key),
            "Content-Type": "application/json",
            "User-Agent": "Segment.io/1.0",
        },
        timeout=10,
    )
    answer.raise_for_status()
    status: str = answer.json()["status"]
    return status


def _expected_cohorts(messages: list[dict[str, Any]]) -> dict[str, dict[Any, int]]:
    """The same stream, uninterrupted, in memory."""
    handle = AccountHandle.create(Harness(ManualClock(t(START))))
    for index in range(PROFILES):
        handle.see(f"v{index}", f"anon-{index}")
    for message in messages:
        handle.send(message)
    handle.at("2026-03-03T03:00:00Z")
    return handle.shown()


def test_kill_9_mid_stream_loses_no_acknowledged_message(tmp_path: Path) -> None:
    database = tmp_path / "harness.sqlite"
    messages = _messages()
    acknowledged: list[str] = []
    server = ServeProcess(
        "--store", f"sqlite:{database}", "--clock", "manual", "--now", START
    ).start()
    try:
        http = live_session()
        account, key = _setup(http, server.url)
        killed = threading.Event()

        def stream() -> None:
            sender = live_session()
            for message in messages:
                try:
                    if _post(sender, server.url, key, message) == "accepted":
                        acknowledged.append(message["messageId"])
                except requests.RequestException:
                    return  # the server died under us

        sender = threading.Thread(target=stream)
        sender.start()
        while len(acknowledged) < MESSAGES // 3 and sender.is_alive():
            killed.wait(0.01)
        server.kill()
        sender.join(timeout=30)
    finally:
        server.stop()
    assert MESSAGES // 3 <= len(acknowledged) < MESSAGES, "the kill did not land mid-stream"
    print(f"\ncrash: {len(acknowledged)} of {MESSAGES} messages acknowledged before SIGKILL")

    with ServeProcess(
        "--store", f"sqlite:{database}", "--clock", "manual", "--now", START
    ) as restarted:
        http = live_session()
        clock = http.get(f"{restarted.url}/_harness/clock").json()["now"]
        assert clock >= START  # resumed from the latest stored time, never earlier
        # Segment retries everything it did not see acknowledged; we resend it all.
        answers = {m["messageId"]: _post(http, restarted.url, key, m) for m in messages}
        assert all(answers[message_id] == "duplicate" for message_id in acknowledged)
        http.put(
            f"{restarted.url}/_harness/clock", json={"now": "2026-03-03T03:00:00Z"}
        ).raise_for_status()
        runs = http.get(f"{restarted.url}/api/accounts/{account}/audiences/refreshes").json()[
            "refreshes"
        ]
        assert sum(run["messages"] for run in runs) == MESSAGES  # each exactly once
        assert runs[-1]["profiles"] == PROFILES
        criteria = http.get(
            f"{restarted.url}/api/accounts/{account}/segment-builder/criteria"
        ).json()
    traits = criteria["groups"][0]["items"][0]["traits"]
    shown = {trait["key"]: {v["value"]: v["visitors"] for v in trait["values"]} for trait in traits}
    assert shown == _expected_cohorts(messages)


def test_file_store_clock_resumes_from_latest_stored_time(tmp_path: Path) -> None:
    database = tmp_path / "harness.sqlite"
    with ServeProcess(
        "--store", f"sqlite:{database}", "--clock", "manual", "--now", START
    ) as server:
        http = live_session()
        http.put(f"{server.url}/_harness/clock", json={"now": "2026-03-05T10:00:00Z"})
        http.post(f"{server.url}/api/accounts", json={"name": "Late"}).raise_for_status()
    with ServeProcess(
        "--store", f"sqlite:{database}", "--clock", "manual", "--now", START
    ) as again:
        assert (
            requests.get(f"{again.url}/_harness/clock", timeout=5).json()["now"]
            == "2026-03-05T10:00:00Z"
        )
