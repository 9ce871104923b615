"""``harness serve --workers N``: several workers over one SQLite file or one PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.core.clock import ManualClock
from harness.runtime.server import ServeProcess, live_session
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, basic_auth
from tests.conftest import empty_schema_url
from tests.runtime.fleet import (
    FLEET_ARGS,
    START,
    Pipeline,
    Receiver,
    kill_9_mid_stream,
    kill_all,
    pid_with_connection,
    serving,
    stream_message,
    worker_pids,
)
from tests.support import t


def _fleet(store: str, workers: int = 3, ports: tuple[int, int] | None = None) -> Any:
    return serving("--store", store, "--workers", str(workers), *FLEET_ARGS, ports=ports)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """Two workers over one store, shared by this module's tests (each on its own clock)."""
    if request.param == "sqlite":
        store = f"sqlite:{tmp_path_factory.mktemp('fleet') / 'harness.sqlite'}"
    else:
        store = empty_schema_url(request.getfixturevalue("postgres_cluster"))
    with _fleet(store, workers=2) as server:
        yield server


def _tenant_clock(server: ServeProcess, name: str) -> None:
    requests.put(
        f"{server.url}/_harness/clocks/{name}", json={"now": START}, timeout=10
    ).raise_for_status()


def _move(server: ServeProcess, name: str, when: str) -> None:
    requests.put(
        f"{server.url}/_harness/clocks/{name}", json={"now": when}, timeout=30
    ).raise_for_status()


def test_workers_refused_over_the_memory_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "memory store lives in one process" in done.stderr


def test_workers_share_clock_journal_and_key_rotation(fleet: ServeProcess) -> None:
    server = fleet
    assert server.process is not None
    assert len(worker_pids(server.process.pid)) == 2
    tenant = Pipeline(server.url, server.segment_url)
    requests.put(
        f"{server.url}/_harness/clock", json={"now": "2026-03-02T09:30:00Z"}, timeout=10
    ).raise_for_status()
    # Fresh connections land on any worker: every one sees the move at once.
    seen = {
        requests.get(f"{server.url}/_harness/clock", timeout=10).json()["now"] for _ in range(30)
    }
    assert seen == {"2026-03-02T09:30:00Z"}
    old_key = tenant.api_key
    requests.post(
        f"{server.url}/api/accounts/{tenant.account}/settings/integrations/api-key/regenerate",
        timeout=10,
    ).raise_for_status()
    refused = {
        tenant.webhook(
            requests.Session(), {"type": "identify", "anonymousId": "a"}, old_key
        ).status_code
        for _ in range(30)
    }
    assert refused == {401}  # the rotated key, on every worker at once
    journal = requests.get(f"{server.url}/_harness/requests", timeout=10).json()["requests"]
    with_old_key = [
        r
        for r in journal
        if r["path"] == "/segment/webhook"
        and r["headers"].get("authorization", "").endswith(old_key[-4:])
    ]
    assert len(with_old_key) == 30  # one journal, filled by every worker


def test_workers_catch_up_each_night_once_under_thirty_parallel_requests(
    fleet: ServeProcess,
) -> None:
    server = fleet
    _tenant_clock(server, "catch-up")
    tenant = Pipeline(server.url, server.segment_url, clock="catch-up")
    http = live_session()
    for index in range(20):
        tenant.webhook(
            http,
            {
                "type": "identify",
                "messageId": f"m{index}",
                "anonymousId": f"a{index}",
                "traits": {"plan": "pro"},
            },
        ).raise_for_status()
        http.post(
            f"{server.url}/api/accounts/{tenant.account}/visitors",
            json={"visitor_id": f"v{index}", "segment_anonymous_id": f"a{index}"},
        ).raise_for_status()
    _move(server, "catch-up", "2026-03-05T04:00:00Z")

    def read(_: int) -> int:
        return requests.get(
            f"{server.url}/api/accounts/{tenant.account}/segment-builder/criteria", timeout=60
        ).status_code

    with ThreadPoolExecutor(30) as pool:
        assert set(pool.map(read, range(30))) == {200}
    runs = tenant.refreshes()
    assert [r["scheduled_for"] for r in runs] == [
        "2026-03-03T03:00:00Z",
        "2026-03-04T03:00:00Z",
        "2026-03-05T03:00:00Z",
    ]
    assert [r["messages"] for r in runs] == [20, 0, 0]
    assert tenant.shown() == {"plan": {"pro": 20}}


def _in_process_view(messages: list[dict[str, Any]]) -> dict[str, dict[Any, int]]:
    handle = AccountHandle.create(Harness(ManualClock(t(START))))
    for index in range(40):
        handle.see(f"v{index}", f"anon-{index}")
    for message in messages:
        handle.send(message)
    handle.at("2026-03-03T03:00:00Z")
    return handle.shown()


def test_two_workers_fed_one_stream_show_what_one_process_shows(fleet: ServeProcess) -> None:
    server = fleet
    messages = [stream_message(i) for i in range(400)]
    _tenant_clock(server, "stream")
    tenant = Pipeline(server.url, server.segment_url, clock="stream")
    for index in range(40):
        tenant.http.post(
            f"{server.url}/api/accounts/{tenant.account}/visitors",
            json={"visitor_id": f"v{index}", "segment_anonymous_id": f"anon-{index}"},
        ).raise_for_status()

    def send(chunk: list[dict[str, Any]]) -> list[str]:
        http = live_session()
        return [tenant.webhook(http, m).json()["status"] for m in chunk]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for part in pool.map(send, [messages[i::4] for i in range(4)]) for s in part]
    # Segment delivers some twice: the same messages again, from other connections.
    with ThreadPoolExecutor(4) as pool:
        again = [s for part in pool.map(send, [messages[i:400:40] for i in range(4)]) for s in part]
    _move(server, "stream", "2026-03-03T03:00:00Z")
    assert statuses.count("accepted") == 400
    assert set(again) == {"duplicate"}  # one dedup window across both workers
    assert sum(r["messages"] for r in tenant.refreshes()) == 400
    assert tenant.shown() == _in_process_view(messages)


def test_kill_9_one_worker_then_all_loses_and_doubles_nothing(store_spec: str) -> None:
    outcome = kill_9_mid_stream(store_spec, workers=3, messages=150)
    assert 150 * 2 // 3 <= len(outcome.acknowledged) < 150, "the kill did not land mid-stream"
    print(
        f"\n{outcome.store}: {len(outcome.acknowledged)} of 150 acknowledged before kill -9,"
        f" {outcome.lost} lost, {outcome.doubled} doubled,"
        f" {outcome.resent_and_kept_twice} unacknowledged, resent and kept twice"
    )
    for index in outcome.acknowledged:
        kept = outcome.records[f"m-{index:04d}"]
        assert len(kept) == 2  # once per destination: not lost, not doubled
        assert {r["stage"] for r in kept} == {"delivered"}
    assert (outcome.lost, outcome.doubled) == (0, 0)
    assert len(outcome.records) == 150
    # A message committed just before the kill, but never acknowledged, is resent by its
    # client and kept twice: at most one per client (3) in flight at each of the two kills.
    assert outcome.resent_and_kept_twice <= 6
    assert set(outcome.receiver_accepted) == set(outcome.records)
    assert outcome.refreshed == 150  # AB Tasty took each exactly once
    assert outcome.receiver_accepted == outcome.to_receiver  # each delivery made once


def test_workers_share_engage_state_and_keep_it_across_kill_9(store_spec: str) -> None:
    server = ServeProcess("--store", store_spec, "--workers", "2", *FLEET_ARGS).start(60)
    try:
        tenant = Pipeline(server.url, server.segment_url)
        base = f"{server.segment_url}/_segment/sources/{tenant.source}"
        audience = requests.post(f"{base}/audiences", json={"key": "vip_users"}, timeout=10).json()

        def enter(_: int) -> bool:
            answer = requests.post(  # a fresh connection each: any worker answers
                f"{base}/audiences/{audience['id']}/enter",
                json={"anonymous_id": "anon-1"},
                timeout=30,
            )
            answer.raise_for_status()
            sent: bool = answer.json()["sent"]
            return sent

        with ThreadPoolExecutor(8) as pool:
            sent = list(pool.map(enter, range(16)))
        assert sent.count(True) == 1  # one membership change, whichever worker took it
        seen = {
            tuple(
                requests.get(f"{base}/audiences/{audience['id']}/members", timeout=10).json()[
                    "members"
                ]
            )
            for _ in range(10)
        }
        assert seen == {("anon-1",)}
        kill_all(server)
    finally:
        server.stop()
    with _fleet(store_spec, workers=2, ports=(server.port, server.segment_port)) as again:
        base = f"{again.segment_url}/_segment/sources/{tenant.source}"
        listed = requests.get(f"{base}/engage", timeout=10).json()
        assert [a["key"] for a in listed["audiences"]] == ["vip_users"]
        again_in = requests.post(
            f"{base}/audiences/{audience['id']}/enter", json={"anonymous_id": "anon-1"}, timeout=10
        )
        assert again_in.json() == {"sent": False, "message_ids": []}
        clash = requests.post(f"{base}/audiences", json={"key": "vip_users"}, timeout=10)
        assert clash.status_code == 409
        engage = [m for m in tenant.overview()["messages"] if m["message_id"].startswith("engage-")]
    assert len(engage) == 1  # the one entry, delivered once to the one destination


def test_workers_serialise_concurrent_clock_advances(fleet: ServeProcess) -> None:
    server = fleet
    _tenant_clock(server, "race")
    Pipeline(server.url, server.segment_url, clock="race")  # a tenant whose retries are on it
    before = requests.get(f"{server.url}/_harness/clock", timeout=10).json()["now"]

    def advance(path: str) -> int:
        return requests.post(  # a fresh connection each: both workers take some
            f"{server.url}/_harness/{path}", json={"seconds": 60}, timeout=60
        ).status_code

    paths = ["clocks/race/advance", "clock/advance"] * 10
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(advance, paths)) == {200}
    tenant = requests.get(f"{server.url}/_harness/clocks/race", timeout=10).json()["now"]
    after = requests.get(f"{server.url}/_harness/clock", timeout=10).json()["now"]
    assert tenant == "2026-03-02T08:10:00Z"  # ten moves of a minute, none lost
    assert t(after) - t(before) == timedelta(minutes=10)


def _webhook_calls(server: ServeProcess) -> int:
    journal = requests.get(f"{server.url}/_harness/requests", timeout=10).json()["requests"]
    return sum(1 for r in journal if r["path"] == "/segment/webhook")


def _faults_seen(server: ServeProcess) -> set[tuple[int, int, int]]:
    """(duplicate_next, hold_next, held) as fresh connections (any worker) see them."""
    seen = set()
    for _ in range(10):
        faults = requests.get(f"{server.segment_url}/_harness/faults", timeout=10).json()
        seen.add((faults["duplicate_next"], faults["hold_next"], faults["held"]))
    return seen


def test_workers_share_scripted_faults(store_spec: str) -> None:
    with _fleet(store_spec, workers=2) as server:
        tenant = Pipeline(server.url, server.segment_url)

        def track(index: int) -> bool:  # a fresh connection each: both workers deliver some
            return tenant.track(requests.Session(), stream_message(index))

        faults = f"{server.segment_url}/_harness/faults"
        requests.put(faults, json={"duplicate_next": 3}, timeout=10).raise_for_status()
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(track, range(12)))
        assert _webhook_calls(server) == 12 + 3  # three duplicates in all, not three a worker
        assert _faults_seen(server) == {(0, 0, 0)}

        requests.put(
            faults, json={"hold_next": 2, "hold_seconds": 3600}, timeout=10
        ).raise_for_status()
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(track, range(12, 18)))
        assert _webhook_calls(server) == 15 + 4  # two of the six held back
        assert _faults_seen(server) == {(0, 0, 2)}
        requests.post(
            f"{server.url}/_harness/clock/advance", json={"seconds": 3600}, timeout=30
        ).raise_for_status()
        assert _webhook_calls(server) == 15 + 6  # each held message handed over once
        assert _faults_seen(server) == {(0, 0, 0)}

        requests.put(
            faults, json={"outage": {"status": 503, "until": "2026-03-02T10:00:00Z"}}, timeout=10
        ).raise_for_status()
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(track, range(18, 26)))
        stages = Counter(
            m["stage"] for m in tenant.overview()["messages"] if m["message_id"] >= "m-0018"
        )
        assert stages == {"retrying": 8}  # every worker's attempts failed


def test_workers_hand_over_a_held_message_whose_worker_was_killed_mid_handover(
    store_spec: str,
) -> None:
    held = {"type": "identify", "messageId": "m-held", "anonymousId": "a", "traits": {}}
    with Receiver(hang="m-held") as receiver, _fleet(store_spec, workers=2) as server:
        assert server.process is not None
        receiver.accept = True
        tenant = Pipeline(server.url, server.segment_url, endpoints=(receiver.url,))
        faults = f"{server.segment_url}/_harness/faults"
        requests.put(
            faults, json={"hold_next": 1, "hold_seconds": 3600}, timeout=10
        ).raise_for_status()
        assert tenant.track(requests.Session(), held)  # "delivered": held back for an hour
        assert receiver.attempts["m-held"] == 0

        def advance() -> None:
            with contextlib.suppress(requests.RequestException):  # its worker may be killed
                requests.post(
                    f"{server.url}/_harness/clock/advance", json={"seconds": 3600}, timeout=60
                )

        mover = threading.Thread(target=advance, daemon=True)
        mover.start()
        assert receiver.hung.wait(30), "the held message was never handed over"
        # kill -9 the worker in the instant it hands the message over.
        os.kill(pid_with_connection(receiver.hung_port, worker_pids(server.process.pid)), 9)
        receiver.release.set()
        mover.join(60)
        deadline = time.monotonic() + 30  # the other worker's (or the new one's) ticker
        while not receiver.accepted["m-held"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.accepted["m-held"] >= 1  # at least once; AB Tasty dedups a second
        # Removed once the destination's answer is back (just after the receiver counted it).
        while requests.get(faults, timeout=10).json()["held"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert requests.get(faults, timeout=10).json()["held"] == 0


PUT_ROUNDS = 100


def test_workers_keep_both_of_two_concurrent_fault_changes(store_spec: str) -> None:
    # Two PUTs at once, each setting its own field, through fresh connections (either worker
    # answers each): after every round both changes are in force, none overwritten by the
    # other's stale copy of the switches.
    with _fleet(store_spec, workers=2) as server:
        faults = f"{server.segment_url}/_harness/faults"
        barrier = threading.Barrier(2)

        def put(body: dict[str, Any]) -> None:
            barrier.wait(timeout=30)
            requests.put(faults, json=body, timeout=30).raise_for_status()

        lost = []
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(1, PUT_ROUNDS + 1):
                list(pool.map(put, [{"duplicate_next": round_}, {"hold_seconds": float(round_)}]))
                now = requests.get(faults, timeout=10).json()
                if (now["duplicate_next"], now["hold_seconds"]) != (round_, round_):
                    lost.append((round_, now["duplicate_next"], now["hold_seconds"]))
    assert lost == []


def test_workers_share_one_rate_limit(store_spec: str) -> None:
    rate = 5
    with serving(
        "--store", store_spec, "--workers", "2", "--segment-rate-limit", str(rate), *FLEET_ARGS
    ) as server:
        tenant = Pipeline(server.url, server.segment_url)

        def call(index: int) -> int:
            return requests.post(  # a fresh connection each: both workers take some
                f"{server.segment_url}/v1/identify",
                json=stream_message(index),
                headers={"Authorization": basic_auth(tenant.write_key)},
                timeout=30,
            ).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(call, range(60)))
        elapsed = time.monotonic() - started
    assert set(statuses) == {200, 429}
    # One bucket for the workspace: a burst of `rate`, then `rate` a second.
    assert rate <= statuses.count(200) <= rate + rate * elapsed + 1


def test_two_serve_processes_on_one_database_act_as_one(postgres_url: str) -> None:
    # As two hosts behind a load balancer: two `harness serve`, one PostgreSQL.
    with _fleet(postgres_url, workers=1) as first, _fleet(postgres_url, workers=1) as second:
        tenant = Pipeline(first.url, first.segment_url)
        message = {"type": "identify", "messageId": "m-1", "anonymousId": "a", "traits": {}}
        via_second = tenant.via(second.url, second.segment_url)
        http = live_session()
        assert tenant.webhook(http, message).json()["status"] == "accepted"
        assert via_second.webhook(http, message).json()["status"] == "duplicate"  # one window
        requests.put(
            f"{second.url}/_harness/clock", json={"now": "2026-03-02T09:00:00Z"}, timeout=10
        ).raise_for_status()
        assert requests.get(f"{first.url}/_harness/clock", timeout=10).json()["now"] == (
            "2026-03-02T09:00:00Z"
        )
        assert via_second.track(http, {"messageId": "t-1", "anonymousId": "a", "traits": {}})
        assert [m["stage"] for m in tenant.overview()["messages"]] == ["delivered"]
        old_key = tenant.api_key
        requests.post(
            f"{second.url}/api/accounts/{tenant.account}/settings/integrations/api-key/regenerate",
            timeout=10,
        ).raise_for_status()
        assert tenant.webhook(http, message, old_key).status_code == 401  # refused on the other
        journal = requests.get(f"{first.url}/_harness/requests", timeout=10).json()["requests"]
        assert [r["path"] for r in journal if r["path"] == "/segment/webhook"] == [
            "/segment/webhook"
        ] * 4  # both hosts' calls and the delivery, in one journal


def test_workers_stop_reaches_workers_orphaned_by_a_dead_supervisor(tmp_path: Path) -> None:
    # A supervisor killed alone (or just after restarting a worker) leaves workers that hold
    # the server's stderr open: stop() must still end them and return.
    server = ServeProcess(
        "--store", f"sqlite:{tmp_path / 'harness.sqlite'}", "--workers", "2", *FLEET_ARGS
    ).start(timeout=60)
    assert server.process is not None
    workers = worker_pids(server.process.pid)
    assert len(workers) == 2
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert all(_ends(pid) for pid in workers)


def _ends(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process is gone (or a zombie) within ``timeout``: SIGKILL is not instant."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in "ZX":
            return True
        time.sleep(0.01)
    return False
