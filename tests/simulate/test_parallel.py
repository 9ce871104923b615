"""Several senders: users split into lanes, requests in flight at once, the same outcome."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from harness.simulate import FaultConfig, PopulationConfig, StreamConfig, VisitorSeen
from harness.simulate.audiences import AudienceChange
from harness.simulate.parallel import ParallelSimulation, lane_of
from harness.simulate.runner import SimulationConfig
from tests.cli.receivers import receiver, serving

CONFIG = SimulationConfig(
    PopulationConfig(users=40, seed=2), StreamConfig(days=2, seed=2), FaultConfig(seed=2)
)


@contextmanager
def meeting_receiver(parties: int) -> Iterator[dict[str, Any]]:
    """Holds requests until ``parties`` are in flight together (else after 5 s, 503).

    Once they have met, it answers everything at once: a lane left alone at the end (the
    other lanes done) would otherwise wait 5 s and be retried, request after request.
    """
    barrier = threading.Barrier(parties, timeout=5)
    seen: dict[str, Any] = {"met": 0, "timed_out": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status = 200 if seen["met"] >= parties else self._meet()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def _meet(self) -> int:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                seen["timed_out"] += 1
                barrier.reset()
                return 503
            seen["met"] += 1
            return 200

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        seen["url"] = f"{base}/hook"
        yield seen


def test_parallel_lanes_have_requests_in_flight_at_once() -> None:
    with meeting_receiver(2) as seen:
        simulation = ParallelSimulation(
            replace(CONFIG, population=PopulationConfig(users=6, seed=2, late_identify_share=0)),
            endpoint=seen["url"],
            api_key="abt_key",
            senders=2,
        )
        lanes = {lane_of(e, 2) for e in simulation.events() if not isinstance(e, VisitorSeen)}
        assert lanes == {0, 1}, "the seed must put users in both lanes"
        simulation.run()
    assert seen["met"] >= 2


def test_parallel_lane_of_keeps_each_user_in_one_lane() -> None:
    simulation = ParallelSimulation(CONFIG, endpoint="http://127.0.0.1:9/h", api_key="k", senders=5)
    lanes: dict[str, set[int]] = {}
    for event in simulation.events():
        if isinstance(event, VisitorSeen):
            key = event.anonymous_id
        elif isinstance(event, AudienceChange):
            continue
        else:
            key = event.body.get("anonymousId") or event.body["userId"]
        lanes.setdefault(key, set()).add(lane_of(event, 5))
    assert all(len(found) == 1 for found in lanes.values())
    assert len(set().union(*lanes.values())) == 5
    change = AudienceChange(datetime(2026, 3, 2, tzinfo=UTC), "vip", "anon", None, True)
    assert lane_of(change, 5) == 0


def test_parallel_same_seed_same_senders_same_summary_with_faults() -> None:
    faulty = replace(
        CONFIG, faults=FaultConfig(failure_rate=0.3, duplicate_rate=0.2, late_share=0.1, seed=4)
    )

    def summary() -> dict[str, Any]:
        with receiver() as hook:
            run = ParallelSimulation(faulty, endpoint=hook.url, api_key="abt_k", senders=3).run()
            assert len(hook.received) == run.delivered + run.duplicates
        return {k: v for k, v in run.as_dict().items() if k != "seconds"}

    first = summary()
    assert first["injected_failures"] > 0 and first["duplicates"] > 0
    assert first["delivered"] == first["sent"]
    assert summary() == first


def test_parallel_senders_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="senders"):
        ParallelSimulation(CONFIG, endpoint="http://127.0.0.1:9/h", api_key="k", senders=0)
