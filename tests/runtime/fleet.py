"""Helpers for tests of ``harness serve --workers N``: a receiver, worker pids, setup, a crash."""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from harness.runtime.server import ServeProcess, free_port, live_session
from harness.testing.handles import basic_auth


class Receiver:
    """An integrator's own receiver on loopback: 503 until ``accept`` is set, then 200.

    Counts every attempt and every accepted delivery per messageId.

    Args:
        hang: A messageId whose first attempt is never answered: the receiver sets ``hung``
            (with the sender's port in ``hung_port``), waits for ``release`` (at most 60 s),
            then drops the connection.
    """

    def __init__(self, hang: str | None = None) -> None:
        self.accept = False
        self.attempts: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.hung = threading.Event()
        self.hung_port = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message_id = json.loads(body).get("messageId", "?")
                if message_id == hang and not receiver.hung.is_set():
                    receiver.hung_port = self.client_address[1]
                    receiver.hung.set()
                    receiver.release.wait(60)
                    self.close_connection = True
                    return  # no answer
                with receiver._lock:
                    receiver.attempts[message_id] += 1
                    status = 200 if receiver.accept else 503
                    if status == 200:
                        receiver.accepted[message_id] += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def worker_pids(supervisor: int) -> list[int]:
    """The worker processes of a ``harness serve --workers N`` (not the resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in command:
            pids.append(pid)
    return pids


def pid_with_connection(local_port: int, pids: list[int]) -> int:
    """Which of ``pids`` owns the loopback TCP connection from ``local_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue  # closed since it was listed
    raise LookupError(f"no process of {pids} holds a connection from port {local_port}")


def kill_all(server: ServeProcess) -> None:
    """kill -9 the supervisor and every worker at once (one signal to the process group).

    Killing the workers one by one first let the supervisor restart one before it died, and
    that orphan kept the server's stderr open: ``stop()`` then waited forever.
    """
    server.kill()


class Pipeline:
    """One tenant: an account with its connector and key, a source delivering to it."""

    def __init__(
        self,
        url: str,
        segment_url: str,
        *,
        clock: str | None = None,
        endpoints: tuple[str | None, ...] = (None,),
        timezone: str = "UTC",
    ) -> None:
        self.url, self.segment_url = url, segment_url
        self.http = live_session()  # resends a GET or PUT on a connection reset as it left
        body: dict[str, Any] = {"name": "Shop", "timezone": timezone}
        if clock is not None:
            body["clock"] = clock
        answer = self.http.post(f"{url}/api/accounts", json=body)
        answer.raise_for_status()
        self.account = answer.json()["id"]
        self.http.post(
            f"{url}/api/accounts/{self.account}/integrations/pull/segment", json={"name": "Segment"}
        ).raise_for_status()
        self.api_key = self.http.post(
            f"{url}/api/accounts/{self.account}/settings/integrations/api-key"
        ).json()["api_key"]
        source_body: dict[str, Any] = {"name": "Web"}
        if clock is not None:
            source_body["clock"] = clock
        source = self.http.post(f"{segment_url}/_segment/sources", json=source_body).json()
        self.source, self.write_key = source["id"], source["write_key"]
        self.destinations: list[str] = []
        for endpoint in endpoints:
            destination: dict[str, Any] = {"type": "ab_tasty", "api_key": self.api_key}
            if endpoint is not None:
                destination["endpoint"] = endpoint
            answer = self.http.post(
                f"{segment_url}/_segment/sources/{self.source}/destinations", json=destination
            )
            answer.raise_for_status()
            self.destinations.append(answer.json()["id"])

    def via(self, url: str, segment_url: str) -> Pipeline:
        """The same tenant, reached through another ``harness serve`` (another host)."""
        other = copy.copy(self)
        other.url, other.segment_url = url, segment_url
        return other

    def track(self, http: requests.Session, body: dict[str, Any], call: str = "identify") -> bool:
        """One Tracking API call; True when Segment acknowledged it (200)."""
        answer = http.post(
            f"{self.segment_url}/v1/{call}",
            json=body,
            headers={"Authorization": basic_auth(self.write_key)},
            timeout=30,
        )
        return answer.status_code == 200

    def webhook(
        self, http: requests.Session, body: dict[str, Any], key: str | None = None
    ) -> requests.Response:
        """One call to the fake AB Tasty's webhook, as Segment's servers make it."""
        return http.post(
            f"{self.url}/segment/webhook",
            json=body,
            headers={
                "Authorization": basic_auth(key or self.api_key),
                "User-Agent": "Segment.io/1.0",
            },
            timeout=30,
        )

    def overview(self) -> dict[str, Any]:
        """The source's delivery overview."""
        answer = self.http.get(
            f"{self.segment_url}/_segment/sources/{self.source}/delivery-overview"
        )
        answer.raise_for_status()
        overview: dict[str, Any] = answer.json()
        return overview

    def refreshes(self) -> list[dict[str, Any]]:
        """The account's nightly runs."""
        answer = self.http.get(f"{self.url}/api/accounts/{self.account}/audiences/refreshes")
        answer.raise_for_status()
        runs: list[dict[str, Any]] = answer.json()["refreshes"]
        return runs

    def shown(self) -> dict[str, dict[Any, int]]:
        """What the segment builder shows: trait -> value -> visitors."""
        answer = self.http.get(f"{self.url}/api/accounts/{self.account}/segment-builder/criteria")
        answer.raise_for_status()
        items = answer.json()["groups"][0]["items"]
        return (
            {
                trait["key"]: {v["value"]: v["visitors"] for v in trait["values"]}
                for trait in items[0]["traits"]
            }
            if items
            else {}
        )


@contextmanager
def serving(*args: str, ports: tuple[int, int] | None = None) -> Iterator[ServeProcess]:
    """``harness serve`` with these arguments, stopped (and its workers with it) afterwards."""
    port, segment_port = ports or (None, None)
    server = ServeProcess(*args, port=port, segment_port=segment_port).start(timeout=60)
    try:
        yield server
    finally:
        server.stop()  # also after a kill: it sweeps the process group and closes stderr


START = "2026-03-02T08:00:00Z"
FLEET_ARGS = ("--clock", "manual", "--now", START)


def stream_message(index: int) -> dict[str, Any]:
    """The index-th identify of a stream: 40 visitors, three plans, a timestamp each."""
    return {
        "type": "identify",
        "messageId": f"m-{index:04d}",
        "anonymousId": f"anon-{index % 40}",
        "traits": {"plan": ["free", "pro", "team"][(index * 7) % 3], "n": index},
        "timestamp": f"2026-03-02T09:{(index // 60) % 60:02d}:{index % 60:02d}Z",
    }


@dataclass
class CrashOutcome:
    """What a fleet killed mid-stream had acknowledged, and what became of it.

    Attributes:
        store: ``sqlite`` or ``postgresql``.
        workers: Workers of the fleet.
        sent: Messages the clients meant to send.
        acknowledged: Indexes the Tracking API answered 200 before the kills.
        records: Each messageId's delivery records after the restart and the queue's resumption.
        receiver_accepted: Deliveries the integrator's receiver accepted, per messageId.
        to_receiver: Delivery records to the receiver, per messageId.
        refreshed: Messages the fake AB Tasty's nightly run took.
        destinations: The source's destination ids (the fake AB Tasty's, the receiver's).
    """

    store: str
    workers: int
    sent: int
    acknowledged: set[int]
    records: dict[str, list[dict[str, Any]]]
    receiver_accepted: Counter[str]
    to_receiver: Counter[str]
    refreshed: int
    destinations: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Acknowledged messages not delivered to both destinations."""
        return sum(
            1
            for index in self.acknowledged
            if {r["stage"] for r in self.records.get(f"m-{index:04d}", [])} != {"delivered"}
            or len(self.records.get(f"m-{index:04d}", [])) < len(self.destinations)
        )

    @property
    def doubled(self) -> int:
        """Acknowledged messages kept more than once per destination, plus messages the
        nightly run took twice."""
        kept_twice = sum(
            1
            for index in self.acknowledged
            if len(self.records.get(f"m-{index:04d}", [])) > len(self.destinations)
        )
        return kept_twice + max(0, self.refreshed - self.sent)

    @property
    def resent_and_kept_twice(self) -> int:
        """Messages committed by a worker killed before its 200 left: the client resent them,
        so Segment kept them twice (its at-least-once delivery; AB Tasty's dedup absorbs it)."""
        return sum(
            1
            for message_id, records in self.records.items()
            if len(records) > len(self.destinations)
            and int(message_id.removeprefix("m-")) not in self.acknowledged
        )


def kill_9_mid_stream(store: str, *, workers: int = 3, messages: int = 150) -> CrashOutcome:
    """Stream identifies at ``harness serve --workers N``; kill -9 one worker, then all.

    Three clients stream the messages (two destinations each: the fake AB Tasty, at once,
    and an integrator's receiver that answers 503 for now, so those wait in Segment's
    retry queue). A third of the way in one worker is killed, two thirds in every process
    of the fleet. A new fleet on the same store then gets what the clients never saw
    acknowledged, the receiver comes back and the clock moves past every retry and the
    next night's run.
    """
    acknowledged: set[int] = set()
    lock = threading.Lock()
    with Receiver() as receiver:
        server = ServeProcess("--store", store, "--workers", str(workers), *FLEET_ARGS).start(60)
        try:
            assert server.process is not None
            tenant = Pipeline(server.url, server.segment_url, endpoints=(None, receiver.url))
            progress = threading.Event()

            def stream(offset: int) -> None:
                http = live_session()
                for index in range(offset, messages, 3):
                    try:
                        if tenant.track(http, stream_message(index)):
                            with lock:
                                acknowledged.add(index)
                    except requests.RequestException:
                        http = live_session()  # its worker died; the next call goes to another
                    progress.set()

            senders = [threading.Thread(target=stream, args=(i,)) for i in range(3)]
            for sender in senders:
                sender.start()
            while len(acknowledged) < messages // 3:
                progress.wait(0.01)
            os.kill(worker_pids(server.process.pid)[0], signal.SIGKILL)  # one worker, mid-stream
            while len(acknowledged) < 2 * messages // 3:
                progress.wait(0.01)
            kill_all(server)  # then all of them
            for sender in senders:
                sender.join(timeout=60)
        finally:
            server.stop()
        before_kill = set(acknowledged)
        ports = (server.port, server.segment_port)
        with serving(
            "--store", store, "--workers", str(workers), *FLEET_ARGS, ports=ports
        ) as again:
            http = live_session()
            for index in sorted(set(range(messages)) - before_kill):  # what the clients resend
                assert tenant.track(http, stream_message(index))
            receiver.accept = True
            requests.put(
                f"{again.url}/_harness/clock", json={"now": "2026-03-02T14:00:00Z"}, timeout=60
            ).raise_for_status()  # the queue resumes: every waiting retry is made
            overview = tenant.overview()
            requests.put(
                f"{again.url}/_harness/clock", json={"now": "2026-03-03T03:00:00Z"}, timeout=60
            ).raise_for_status()
            runs = tenant.refreshes()
    records: dict[str, list[dict[str, Any]]] = {}
    for record in overview["messages"]:
        records.setdefault(record["message_id"], []).append(record)
    return CrashOutcome(
        store.split(":")[0],
        workers,
        messages,
        before_kill,
        records,
        Counter(receiver.accepted),
        Counter(
            r["message_id"]
            for r in overview["messages"]
            if r["destination_id"] == tenant.destinations[1]
        ),
        sum(run["messages"] for run in runs),
        list(tenant.destinations),
    )
