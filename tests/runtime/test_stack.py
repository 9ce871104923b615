"""The harness behind ``harness serve``: its background work on a live server."""

from __future__ import annotations

import time

import requests

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
        faults = requests.get(f"{server.segment_url}/_harness/faults", timeout=10).json()
        assert faults["held"] == 0
