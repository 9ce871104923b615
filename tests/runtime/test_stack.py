"""The harness behind ``harness serve``: its background work on a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import requests

from harness.core.clock import SystemClock
from harness.runtime.server import LiveServer
from harness.runtime.stack import Harness
from harness.segment.scripted_faults import HeldMessage, MemoryFaultRows
from tests.runtime.fleet import Pipeline, Receiver, serving


def test_harness_live_server_on_the_system_clock_hands_over_a_held_message_when_due() -> None:
    # Nobody moves the system clock: the server's own ticker hands the message over.
    with Receiver() as receiver, serving("--store", "memory") as server:
        receiver.accept = True
        tenant = Pipeline(server.url, server.segment_url, endpoints=(receiver.url,))
        requests.put(
            f"{server.segment_url}/_harness/faults",
            json={"hold_next": 1, "hold_seconds": 1},
            timeout=10,
        ).raise_for_status()
        message = {"type": "identify", "messageId": "m-1", "anonymousId": "a", "traits": {}}
        assert tenant.track(requests.Session(), message)
        assert receiver.accepted["m-1"] == 0  # held back for a second
        deadline = time.monotonic() + 15
        while not receiver.accepted["m-1"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.accepted["m-1"] == 1
        faults = f"{server.segment_url}/_harness/faults"
        # Removed once the destination's answer is back (just after the receiver counted it).
        while requests.get(faults, timeout=10).json()["held"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert requests.get(faults, timeout=10).json()["held"] == 0


class OnceBrokenFaultRows(MemoryFaultRows):
    """Fault rows whose first claim fails, as a store whose connection was just reset."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    @contextmanager
    def claim_held(self, now: datetime) -> Iterator[HeldMessage | None]:
        if not self.failures:
            self.failures += 1
            raise ConnectionResetError("the store's connection was reset")
        with super().claim_held(now) as held:
            yield held


def test_harness_ticker_goes_on_after_a_failing_tick() -> None:
    rows = OnceBrokenFaultRows()
    harness = Harness(SystemClock(), fault_rows=rows)
    with Receiver() as receiver, LiveServer(harness.segment_app()):
        receiver.accept = True
        body = b'{"messageId": "m-1"}'
        rows.hold(HeldMessage(harness.clock.now(), receiver.url, {}, body))
        deadline = time.monotonic() + 15
        while not receiver.accepted["m-1"] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert rows.failures == 1
    assert receiver.accepted["m-1"] == 1  # handed over at a later tick
