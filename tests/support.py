"""Helpers for the project's own tests, built on the public ``harness.testing`` handles."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from harness import ManualClock
from harness.abtasty.store import Store
from harness.core.clock import TEST_START, parse_instant
from harness.runtime.stack import Harness
from harness.testing.handles import AccountHandle, basic_auth, segment_message

START = parse_instant(TEST_START)
basic = basic_auth
message = segment_message


def t(text: str) -> datetime:
    """An instant from ISO-8601 text ('Z' allowed)."""
    return parse_instant(text)


class World(AccountHandle):
    """An account on a fresh harness whose manual clock starts at ``start``."""

    @classmethod
    def build(
        cls,
        start: datetime = START,
        timezone: str = "UTC",
        refresh_hour: int = 3,
        store: Store | None = None,
    ) -> World:
        """A fresh harness (on ``store``, in memory by default) and one account wired for Segment."""
        harness = Harness(ManualClock(start), store=store)
        handle = AccountHandle.create(harness, "Shop", timezone, refresh_hour)
        return cls(handle.harness, handle.account, handle.connector, handle.api_key)


class ScriptedDestination:
    """A destination whose answers follow a script: status codes (None = timeout) in order.

    After the script runs out it answers ``then``. Every call is kept in ``calls``.
    """

    def __init__(self, script: list[int | None] | None = None, then: int = 200) -> None:
        from harness.segment.delivery import TransportResponse

        self._response = TransportResponse
        self.script = list(script or [])
        self.then = then
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def post(self, url: str, headers: dict[str, str], body: bytes) -> Any:
        self.calls.append((url, headers, json.loads(body)))
        status = self.script.pop(0) if self.script else self.then
        if status is None:
            return self._response(None, "", "timeout")
        return self._response(status, json.dumps({"status": status}))


@contextmanager
def socket_server(serve: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A raw TCP server on a free loopback port, for what an HTTP server will not do (reset
    a connection with a request unread, never answer). ``serve(listener, stop)`` runs in a
    thread; the listener's accept times out every 0.2 s, so ``serve`` can look at ``stop``,
    which is set when the block ends. Yields ``http://127.0.0.1:PORT``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, stop), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(15)
        listener.close()
