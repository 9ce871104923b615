"""Helpers for tests of ``harness serve --workers N``: a receiver, worker pids, setup."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from harness.runtime.server import ServeProcess, free_port
from harness.testing.handles import basic_auth


class Receiver:
    """An integrator's own receiver on loopback: 503 until ``accept`` is set, then 200.

    Counts every attempt and every accepted delivery per messageId.
    """

    def __init__(self) -> None:
        self.accept = False
        self.attempts: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message_id = json.loads(body).get("messageId", "?")
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


def kill_all(server: ServeProcess) -> None:
    """kill -9 every worker, then the supervisor: the whole fake dies at once."""
    assert server.process is not None
    for pid in worker_pids(server.process.pid):
        os.kill(pid, signal.SIGKILL)
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
        self.http = requests.Session()
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
        if server.process is not None and server.process.poll() is None:
            server.stop()
