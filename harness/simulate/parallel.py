"""A simulated run delivered to a live receiver by several senders at once.

One sender waits for each answer before the next message, so a receiver on the same
machine idles between requests. Segment promises no ordering between messages, and each
user's calls are independent of other users', so the run is split by user into lanes:
each lane is a whole :class:`Simulation` (its own fake Segment, simulated clock, faults,
keep-alive connection) playing its users' sightings and calls in time order, in its own
thread. Blocking on the network releases the GIL, so while one lane waits for an answer
the others prepare and send theirs: at most one request in flight per lane.

What stays as with one sender: every message is delivered once (more with duplicates),
retried on 5xx, 429 and timeouts, failed on other 4xx; each user's calls leave in their
order; the summary counts the same things. Audience changes all go through the first
lane, so there is one Engage space with one computation per audience. Which attempts the
fault knobs hit is drawn per lane (lane ``i`` uses fault seed ``seed + i * 1_000_003``),
so it is the same for the same seed and the same number of senders.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from harness.segment import DeliveryRecord
from harness.simulate.audiences import AudienceChange
from harness.simulate.runner import Simulation, SimulationConfig, Summary, failure_reasons
from harness.simulate.streams import ClientCall, Event, VisitorSeen

MAX_SENDERS = 64
LANE_SEED_STEP = 1_000_003


def lane_of(event: Event | AudienceChange, lanes: int) -> int:
    """The lane of an event: by its user (anonymousId, else userId); audience changes: 0."""
    if isinstance(event, VisitorSeen):
        key = event.anonymous_id
    elif isinstance(event, ClientCall):
        key = event.body.get("anonymousId") or event.body.get("userId") or ""
    else:
        return 0
    return zlib.crc32(key.encode()) % lanes


class ParallelSimulation:
    """A run to a live receiver (``endpoint``) through ``senders`` lanes at once.

    Args:
        config: The run's knobs.
        endpoint: The webhook URL to deliver to.
        api_key: The API key it expects.
        senders: Lanes (1 is the same as one :class:`Simulation`).
        visitors_url: Where the tag's sightings go (see :class:`Simulation`).
        admin_token: Sent with each sighting.
    """

    def __init__(
        self,
        config: SimulationConfig,
        *,
        endpoint: str,
        api_key: str,
        senders: int,
        visitors_url: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        if not 1 <= senders <= MAX_SENDERS:
            raise ValueError(f"senders must be from 1 to {MAX_SENDERS}")
        self.config = config
        self.lanes = [
            Simulation(
                replace(
                    config,
                    faults=replace(config.faults, seed=config.faults.seed + i * LANE_SEED_STEP),
                ),
                endpoint=endpoint,
                api_key=api_key,
                visitors_url=visitors_url,
                admin_token=admin_token,
            )
            for i in range(senders)
        ]

    def events(self) -> list[Event | AudienceChange]:
        """The run's events, in time order (as :meth:`Simulation.events`)."""
        return self.lanes[0].events()

    def run(
        self,
        events: Iterable[Event | AudienceChange] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Summary:
        """Play the events through the lanes at once; the summary of the whole run.

        Raises:
            HarnessError: what a lane raised first (the other lanes stop soon after).
        """
        started = time.perf_counter()
        planned = list(events) if events is not None else self.events()
        shares: list[list[Event | AudienceChange]] = [[] for _ in self.lanes]
        for event in planned:
            shares[lane_of(event, len(self.lanes))].append(event)
        summaries = [Summary() for _ in self.lanes]
        stop = threading.Event()
        done = [0] * len(self.lanes)
        lock = threading.Lock()

        def lane_progress(index: int) -> Callable[[int], None] | None:
            if on_progress is None:
                return None
            report = on_progress

            def progress(count: int) -> None:
                with lock:
                    done[index] = count
                    total = sum(done)
                report(total)

            return progress

        def play(index: int) -> list[DeliveryRecord]:
            lane = self.lanes[index]
            try:
                lane.play(shares[index], summaries[index], lane_progress(index), stop)
                if stop.is_set():
                    return []
                return lane.finish(summaries[index])
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(len(self.lanes), thread_name_prefix="simulate-lane") as pool:
            futures = [pool.submit(play, index) for index in range(len(self.lanes))]
            records = [future.result() for future in futures]
        summary = merge(summaries, self.config)
        summary.failures, summary.failure_examples = failure_reasons(
            record for lane in records for record in lane
        )
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary


def merge(summaries: list[Summary], config: SimulationConfig) -> Summary:
    """The lanes' counts added up, for the run's users and days."""
    total = Summary(users=config.population.users, days=config.stream.days)
    for part in summaries:
        total.generated += part.generated
        total.sightings += part.sightings
        total.sent += part.sent
        total.delivered += part.delivered
        total.retried += part.retried
        total.failed += part.failed
        total.duplicates += part.duplicates
        total.injected_failures += part.injected_failures
        total.audience_changes += part.audience_changes
    return total
