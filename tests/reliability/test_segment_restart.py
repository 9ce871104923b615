"""The fake Segment on a file store: what the Tracking API acknowledged outlives the process.

A 200 from the Tracking API means Segment accepted the message: after SIGTERM or kill -9,
a restarted ``harness serve`` still has the source, the overview counts, delivers what it
had accepted and makes the retries on their schedule.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests

from harness.runtime.server import ServeProcess, live_session
from harness.testing.handles import basic_auth

START = "2026-03-02T08:00:00Z"
MESSAGES = 300


class Tenant:
    """An account wired to the fake AB Tasty and a Segment source delivering to it."""

    def __init__(self, url: str, segment_url: str) -> None:
        http = live_session()
        self.account = http.post(f"{url}/api/accounts", json={"name": "Durable"}).json()["id"]
        http.post(
            f"{url}/api/accounts/{self.account}/integrations/pull/segment", json={"name": "Segment"}
        ).raise_for_status()
        api_key = http.post(
            f"{url}/api/accounts/{self.account}/settings/integrations/api-key"
        ).json()["api_key"]
        source = http.post(f"{segment_url}/_segment/sources", json={"name": "Web"}).json()
        self.source, self.write_key = source["id"], source["write_key"]
        http.post(
            f"{segment_url}/_segment/sources/{self.source}/destinations",
            json={"type": "ab_tasty", "api_key": api_key},
        ).raise_for_status()


def _identify(index: int) -> dict[str, Any]:
    return {
        "messageId": f"m-{index:05d}",
        "anonymousId": f"anon-{index % 50}",
        "traits": {"plan": ["free", "pro"][index % 2], "n": index},
    }


def _send(http: requests.Session, segment_url: str, write_key: str, index: int) -> bool:
    answer = http.post(
        f"{segment_url}/v1/identify",
        json=_identify(index),
        headers={"Authorization": basic_auth(write_key)},
        timeout=10,
    )
    return answer.status_code == 200


def _overview(segment_url: str, source: str) -> dict[str, Any]:
    answer = requests.get(f"{segment_url}/_segment/sources/{source}/delivery-overview", timeout=10)
    answer.raise_for_status()
    overview: dict[str, Any] = answer.json()
    return overview


def _outage(segment_url: str, until: str) -> None:
    requests.put(
        f"{segment_url}/_harness/faults",
        json={"outage": {"status": 503, "until": until}},
        timeout=10,
    ).raise_for_status()


def _serve(database: Path) -> ServeProcess:
    return ServeProcess("--store", f"sqlite:{database}", "--clock", "manual", "--now", START)


def test_segment_restart_after_sigterm_keeps_sources_counts_and_retry_schedule(
    tmp_path: Path,
) -> None:
    database = tmp_path / "harness.sqlite"
    with _serve(database) as server:
        tenant = Tenant(server.url, server.segment_url)
        _outage(server.segment_url, "2026-03-02T09:00:00Z")
        http = live_session()
        assert all(_send(http, server.segment_url, tenant.write_key, i) for i in range(3))
        before = _overview(server.segment_url, tenant.source)
    # leaving the block sent SIGTERM
    assert before["stages"]["received"] == 3
    assert {m["stage"] for m in before["messages"]} == {"retrying"}
    with _serve(database) as again:
        after = _overview(again.segment_url, tenant.source)
        assert after == before  # the source, its counts and each retry's due time
        faults = requests.get(f"{again.segment_url}/_harness/faults", timeout=10).json()
        assert faults["outage_until"] == "2026-03-02T09:00:00Z"  # scripted faults are kept too
        requests.delete(f"{again.segment_url}/_harness/faults", timeout=10).raise_for_status()
        first_due = min(m["next_attempt_at"] for m in after["messages"])
        requests.put(
            f"{again.url}/_harness/clock", json={"now": first_due}, timeout=10
        ).raise_for_status()
        made = _overview(again.segment_url, tenant.source)
        assert any(m["stage"] == "delivered" for m in made["messages"])
        requests.put(
            f"{again.url}/_harness/clock", json={"now": "2026-03-02T10:00:00Z"}, timeout=10
        ).raise_for_status()
        done = _overview(again.segment_url, tenant.source)
    assert done["stages"]["delivered"] == 3
    assert all(m["attempts"] == 2 for m in done["messages"])


def test_segment_kill_9_mid_stream_delivers_every_acknowledged_message_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "harness.sqlite"
    acknowledged: list[int] = []
    server = _serve(database).start()
    try:
        tenant = Tenant(server.url, server.segment_url)
        # The destination is down: every accepted message waits in Segment's retry queue.
        _outage(server.segment_url, "2026-03-02T09:00:00Z")

        def stream() -> None:
            sender = live_session()
            for index in range(MESSAGES):
                try:
                    if _send(sender, server.segment_url, tenant.write_key, index):
                        acknowledged.append(index)
                except requests.RequestException:
                    return  # the server died under us

        sender = threading.Thread(target=stream)
        sender.start()
        stop = threading.Event()
        while len(acknowledged) < MESSAGES // 3 and sender.is_alive():
            stop.wait(0.01)
        server.kill()
        sender.join(timeout=30)
    finally:
        server.stop()
    assert MESSAGES // 3 <= len(acknowledged) < MESSAGES, "the kill did not land mid-stream"
    print(f"\nsegment crash: {len(acknowledged)} of {MESSAGES} Tracking API calls acknowledged")

    with _serve(database) as restarted:
        http = live_session()
        # The destination is back (the scripted outage outlived the crash, as faults do).
        requests.delete(f"{restarted.segment_url}/_harness/faults", timeout=10).raise_for_status()
        # The client resends what it never saw acknowledged, as Segment's libraries do.
        unacknowledged = sorted(set(range(MESSAGES)) - set(acknowledged))
        assert all(_send(http, restarted.segment_url, tenant.write_key, i) for i in unacknowledged)
        requests.put(
            f"{restarted.url}/_harness/clock", json={"now": "2026-03-02T12:00:00Z"}, timeout=10
        ).raise_for_status()  # the queue resumes: every retry falls due and is made
        overview = _overview(restarted.segment_url, tenant.source)
        requests.put(
            f"{restarted.url}/_harness/clock", json={"now": "2026-03-03T03:00:00Z"}, timeout=10
        ).raise_for_status()
        runs = http.get(
            f"{restarted.url}/api/accounts/{tenant.account}/audiences/refreshes", timeout=10
        ).json()["refreshes"]
    records: dict[str, list[dict[str, Any]]] = {}
    for record in overview["messages"]:
        records.setdefault(record["message_id"], []).append(record)
    for index in acknowledged:
        (record,) = records[f"m-{index:05d}"]  # kept once, not lost, not doubled
        assert record["stage"] == "delivered"
    assert {r["stage"] for rs in records.values() for r in rs} == {"delivered"}
    assert len(records) == MESSAGES
    assert sum(run["messages"] for run in runs) == MESSAGES  # AB Tasty took each exactly once


def test_engage_audiences_and_members_survive_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "harness.sqlite"
    with _serve(database) as server:
        tenant = Tenant(server.url, server.segment_url)
        base = f"{server.segment_url}/_segment/sources/{tenant.source}"
        audience = requests.post(f"{base}/audiences", json={"key": "vip_users"}, timeout=10).json()
        entered = requests.post(
            f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "anon-1"}, timeout=10
        )
        assert entered.json()["sent"] is True
    with _serve(database) as again:
        base = f"{again.segment_url}/_segment/sources/{tenant.source}"
        listed = requests.get(f"{base}/engage", timeout=10).json()
        assert [a["key"] for a in listed["audiences"]] == ["vip_users"]
        members = requests.get(f"{base}/audiences/{audience['id']}/members", timeout=10).json()
        assert members == {"members": ["anon-1"]}
        # Engage remembers the member: entering again sends nothing, a live key stays taken.
        again_in = requests.post(
            f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "anon-1"}, timeout=10
        )
        assert again_in.json() == {"sent": False, "message_ids": []}
        clash = requests.post(f"{base}/audiences", json={"key": "vip_users"}, timeout=10)
        assert clash.status_code == 409
