"""Play a synthetic population through the fake Segment into a destination, on simulated time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from harness import ManualClock
from harness.core.protocol import basic_authorization
from harness.runtime.stack import Harness
from harness.runtime.transports import INPROCESS_ABTASTY
from harness.segment import Transport
from harness.simulate.audiences import AudienceChange, AudienceConfig, generate_audience_changes
from harness.simulate.population import PopulationConfig, build_population
from harness.simulate.random_faults import FaultConfig, FaultyTransport
from harness.simulate.scenario_writer import DeliveryRecorder, write_scenario
from harness.simulate.streams import ClientCall, Event, StreamConfig, VisitorSeen, generate_events

EXTERNAL_ENDPOINT = "simulated://destination"


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Population, stream and faults of one simulated run."""

    population: PopulationConfig = field(default_factory=PopulationConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    audiences: AudienceConfig = field(default_factory=AudienceConfig)
    """Engage audiences whose entries and exits Segment sends as identify calls."""
    drain: timedelta = timedelta(days=2)
    """Simulated time after the last day, for retries, held messages and their refreshes."""


@dataclass(slots=True)
class Summary:
    """What a run did."""

    users: int = 0
    days: int = 0
    generated: int = 0
    sightings: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    duplicates: int = 0
    injected_failures: int = 0
    audience_changes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (one JSON line for the CLI and benchmarks)."""
        return asdict(self)


def describe_faults(faults: FaultConfig) -> str:
    """The fault knobs in words."""
    if faults == FaultConfig(seed=faults.seed):
        return "none"
    return (
        f"{faults.failure_rate:.0%} of attempts failing, {faults.duplicate_rate:.0%} duplicated, "
        f"reordered within {faults.reorder_window.total_seconds():.0f} s, {faults.late_share:.0%} late by "
        f"{faults.late_delay.total_seconds() / 3600:g} h, seed {faults.seed}"
    )


class Simulation:
    """One simulated run.

    By default the fake Segment delivers to an in-process fake AB Tasty with an account,
    a Segment connector and an API key set up, and the tag's sightings are recorded there
    too. With ``endpoint`` (a URL, reached over HTTP) or ``destination`` (a transport, such
    as a recorder), deliveries go there instead, with ``api_key``.

    Args:
        config: The run's knobs.
        endpoint: A webhook URL to deliver to: an integrator's receiver or a live ``harness serve``.
        destination: A transport to deliver to instead of the in-process AB Tasty.
        api_key: The API key the destination expects (required with either).
        clock: The simulated clock, if the caller needs it first (it starts at the stream's start).
        record: Note what reaches the in-process AB Tasty, for :meth:`write_scenario`.
    """

    def __init__(
        self,
        config: SimulationConfig,
        *,
        endpoint: str | None = None,
        destination: Transport | None = None,
        api_key: str | None = None,
        clock: ManualClock | None = None,
        record: bool = False,
    ) -> None:
        external = endpoint is not None or destination is not None
        if external and not api_key:
            raise ValueError("an external destination needs the api_key it expects")
        self.config = config
        self.clock = clock if clock is not None else ManualClock(config.stream.start)
        self.harness = Harness(self.clock, seed=config.stream.seed)
        self.account_id: str | None = None
        if not external:
            abtasty = self.harness.abtasty
            account = abtasty.create_account("Simulated shop")
            abtasty.create_segment_connector(account.id, "Segment")
            api_key = abtasty.generate_api_key(account.id)
            self.account_id = account.id
        elif destination is not None:
            endpoint = endpoint or EXTERNAL_ENDPOINT
            self.harness.transport.routes[endpoint] = destination
        self.recorder: DeliveryRecorder | None = None
        if record and not external:
            routes = self.harness.transport.routes
            self.recorder = DeliveryRecorder(routes[INPROCESS_ABTASTY], self.clock)
            routes[INPROCESS_ABTASTY] = self.recorder
        self.faults = FaultyTransport(self.harness.segment.transport, self.clock, config.faults)
        self.harness.segment.transport = self.faults
        self.harness.wakers.append(self.faults)
        source, write_key = self.harness.segment.create_source("Simulated web")
        self.source_id = source.id
        assert api_key is not None
        self.harness.segment.add_destination(
            source.id, api_key, EXTERNAL_ENDPOINT if destination else None
        )
        self._auth = basic_authorization(write_key)

    def events(self) -> list[Event | AudienceChange]:
        """The run's sightings, calls and audience changes, in time order (deterministic for
        the seeds)."""
        population = build_population(self.config.population)
        stream = self.config.stream
        events: list[Event | AudienceChange] = [*generate_events(population, stream)]
        if self.config.audiences.keys:
            changes = generate_audience_changes(
                population, self.config.audiences, stream.start, stream.days
            )
            events = sorted([*events, *changes], key=lambda event: event.at)
        return events

    def run(
        self,
        events: Iterable[Event | AudienceChange] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Summary:
        """Play every event at its time, then let retries and refreshes finish."""
        started = time.perf_counter()
        planned = list(events) if events is not None else self.events()
        summary = Summary(users=self.config.population.users, days=self.config.stream.days)
        encode = msgspec.json.encode
        audiences: dict[str, str] = {}
        segment, abtasty = self.harness.segment, self.harness.abtasty
        for done, event in enumerate(planned, 1):
            if event.at > self.clock.now():
                self.harness.move_to(event.at)
            if isinstance(event, VisitorSeen):
                summary.sightings += 1
                if self.account_id is not None:
                    abtasty.record_sighting(self.account_id, event.visitor_id, event.anonymous_id)
                    if self.recorder is not None:
                        self.recorder.sighting(event.at, event.visitor_id, event.anonymous_id)
            elif isinstance(event, ClientCall):
                summary.generated += 1
                segment.track(event.type, self._auth, encode(event.body))
                summary.sent += 1
            else:
                audience = audiences.get(event.audience_key) or self._audience(event.audience_key)
                audiences[event.audience_key] = audience
                change = segment.engage.enter if event.entered else segment.engage.exit
                summary.audience_changes += 1
                summary.generated += 1
                summary.sent += change(
                    self.source_id, audience, event.anonymous_id, event.user_id
                ).sent
            if on_progress is not None and done % 1_000 == 0:
                on_progress(done)
        end = self.config.stream.start + timedelta(days=self.config.stream.days) + self.config.drain
        if end > self.clock.now():
            self.harness.move_to(end)
        overview = segment.overview(self.source_id)
        summary.delivered = overview.stages["delivered"]
        summary.failed = overview.stages["failed_delivery"] + overview.stages["failed_on_ingest"]
        summary.retried = sum(max(0, r.attempts - 1) for r in overview.messages)
        summary.duplicates = self.faults.stats.duplicates
        summary.injected_failures = self.faults.stats.injected_failures
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _audience(self, key: str) -> str:
        """The id of the run's audience with this key, created on its first change."""
        engage = self.harness.segment.engage
        for computation in engage.computations(self.source_id):
            if computation.key == key and computation.computation_class == "audience":
                return computation.id
        return engage.create_audience(self.source_id, key).computation.id

    def write_scenario(self, path: Path) -> None:
        """Write this (finished, recorded) run as a scenario that plays back to the same result."""
        if self.recorder is None or self.account_id is None:
            raise ValueError(
                "only a recorded run on the in-process AB Tasty can be written as a scenario"
            )
        config = self.config
        write_scenario(
            path,
            name=f"Recorded simulation: {config.population.users} users, {config.stream.days} days, seed {config.stream.seed}",
            description=(
                "Written by harness simulate --scenario-out: what AB Tasty received during the run, "
                f"when it received it (faults: {describe_faults(config.faults)}), and the cohorts it ended with."
            ),
            start=config.stream.start,
            end=self.clock.now(),
            steps=self.recorder.steps,
            cohorts=self.cohort_values(),
            refreshes=len(self.harness.abtasty.refreshes(self.account_id)),
        )

    def cohort_values(self) -> dict[str, list[tuple[Any, int]]]:
        """EXTERNAL DATA as the builder lists it: trait -> [(value, visitors)], typed values
        kept apart (``true``, ``1`` and ``"1"`` are three)."""
        if self.account_id is None:
            raise ValueError("this run delivered to an external destination")
        (item,) = self.harness.abtasty.criteria(self.account_id)
        return {trait.key: [(v.value, v.visitors) for v in trait.values] for trait in item.traits}

    def cohorts(self) -> dict[str, dict[Any, int]]:
        """The in-process AB Tasty's EXTERNAL DATA: trait -> value -> visitors."""
        if self.account_id is None:
            raise ValueError("this run delivered to an external destination")
        (item,) = self.harness.abtasty.criteria(self.account_id)
        return {trait.key: {v.value: v.visitors for v in trait.values} for trait in item.traits}
