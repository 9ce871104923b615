"""Play a synthetic population through the fake Segment into a destination, on simulated time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import msgspec
import requests

from harness import ManualClock
from harness.core.codes import CommandCode
from harness.core.errors import HarnessError
from harness.core.protocol import basic_authorization
from harness.runtime.recording import DeliveryRecorder, RecordedRun
from harness.runtime.stack import Harness
from harness.runtime.transports import INPROCESS_ABTASTY
from harness.segment import DeliveryRecord, Transport
from harness.simulate.audiences import AudienceChange, AudienceConfig, generate_audience_changes
from harness.simulate.population import PopulationConfig, build_population
from harness.simulate.random_faults import FaultConfig, FaultyTransport
from harness.simulate.sender import KeepAliveSender, keep_alive_session, uses_proxy
from harness.simulate.streams import ClientCall, Event, StreamConfig, VisitorSeen, generate_events

EXTERNAL_ENDPOINT = "simulated://destination"
FAILURE_EXAMPLES = 3
KEPT_ANSWER_CHARS = 300
PROGRESS_EVERY = 1_000
"""Events between two progress reports."""
STOP_EVERY = 100
"""Events between two looks at a parallel run's stop signal."""


def _answer_code(body: str | None) -> str | None:
    """The ``code`` (else nothing) of a receiver's JSON error body."""
    try:
        answer = json.loads(body or "")
    except ValueError:
        return None
    code = answer.get("code") if isinstance(answer, dict) else None
    return code if isinstance(code, str) else None


def failure_reasons(
    records: Iterable[DeliveryRecord],
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Failed deliveries grouped by the receiver's last answer, and a few examples of each kind."""
    counts: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    for record in records:
        if record.stage not in ("failed_delivery", "failed_on_ingest"):
            continue
        if record.stage == "failed_on_ingest":
            key, code = "failed on ingest", None
        elif record.last_status is None:
            key, code = "no answer", None
        else:
            code = _answer_code(record.last_body)
            key = f"{record.last_status} {code}" if code else str(record.last_status)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 1 and len(examples) < FAILURE_EXAMPLES:
            examples.append(
                {
                    "message_id": record.message_id,
                    "attempts": record.attempts,
                    "status": record.last_status,
                    "code": code,
                    "answer": (record.last_body or "")[:KEPT_ANSWER_CHARS],
                }
            )
    return dict(sorted(counts.items(), key=lambda item: -item[1])), examples


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
    failures: dict[str, int] = field(default_factory=dict)
    """Failed messages by what the receiver last answered: ``"401 invalid_api_key"``, ``"no answer"``."""
    failure_examples: list[dict[str, Any]] = field(default_factory=list)
    """A few failed messages with the receiver's last answer (status, code, body)."""
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
        record: Note what reaches the in-process AB Tasty, for :meth:`recorded_run`.
        visitors_url: With ``endpoint``: where the tag's sightings go, one
            ``POST {"visitor_id", "segment_anonymous_id"}`` each, e.g. a live ``harness serve``'s
            ``.../api/accounts/ACC/visitors`` (seen at the server's own time).
        admin_token: Sent as ``Authorization: Bearer`` with each sighting.
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
        visitors_url: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        external = endpoint is not None or destination is not None
        if external and not api_key:
            raise ValueError("an external destination needs the api_key it expects")
        self.config = config
        self.visitors_url = visitors_url
        self._visitor_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._http = keep_alive_session(visitors_url) if visitors_url else requests.Session()
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
        elif endpoint is not None and uses_proxy(endpoint):
            self.harness.http.session = keep_alive_session(endpoint)
        elif endpoint is not None:
            self.harness.transport.routes[endpoint] = KeepAliveSender(endpoint)
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
        self.endpoint = endpoint
        self.harness.segment.add_destination(source.id, api_key, endpoint)
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
        self.play(planned, summary, on_progress)
        summary.failures, summary.failure_examples = failure_reasons(self.finish(summary))
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def play(
        self,
        planned: Iterable[Event | AudienceChange],
        summary: Summary,
        on_progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Play the events at their times, counting them in ``summary`` (until ``stop`` is set)."""
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
                elif self.visitors_url is not None:
                    self._post_sighting(self.visitors_url, event)
            elif isinstance(event, ClientCall):
                summary.generated += 1
                segment.ingest(event.type, self._auth, encode(event.body))
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
            if on_progress is not None and done % PROGRESS_EVERY == 0:
                on_progress(done)
            if stop is not None and done % STOP_EVERY == 0 and stop.is_set():
                return

    def finish(self, summary: Summary) -> list[DeliveryRecord]:
        """Let the drain time pass (retries, held messages), count the outcome in ``summary``;
        returns every message's delivery record."""
        end = self.config.stream.start + timedelta(days=self.config.stream.days) + self.config.drain
        if end > self.clock.now():
            self.harness.move_to(end)
        overview = self.harness.segment.overview(self.source_id)
        summary.delivered += overview.stages["delivered"]
        summary.failed += overview.stages["failed_delivery"] + overview.stages["failed_on_ingest"]
        summary.retried += sum(max(0, r.attempts - 1) for r in overview.messages)
        summary.duplicates += self.faults.stats.duplicates
        summary.injected_failures += self.faults.stats.injected_failures
        return overview.messages

    def _post_sighting(self, url: str, event: VisitorSeen) -> None:
        body = {"visitor_id": event.visitor_id, "segment_anonymous_id": event.anonymous_id}
        try:
            response = self._http.post(url, json=body, headers=self._visitor_headers, timeout=10)
        except requests.RequestException as error:
            raise HarnessError(
                CommandCode.UNREACHABLE,
                f"Cannot post a sighting to {url}: {type(error).__name__}.",
            ) from None
        if not 200 <= response.status_code < 300:
            raise HarnessError(
                CommandCode.SIGHTING_REFUSED,
                f"POST {url} answered {response.status_code} {_answer_code(response.text) or ''}: "
                f"{response.text[:KEPT_ANSWER_CHARS]}",
            )

    def _audience(self, key: str) -> str:
        """The id of the run's audience with this key, created on its first change."""
        engage = self.harness.segment.engage
        for computation in engage.computations(self.source_id):
            if computation.key == key and computation.computation_class == "audience":
                return computation.id
        return engage.create_audience(self.source_id, key).computation.id

    def recorded_run(self) -> RecordedRun:
        """This (finished, recorded) run as AB Tasty saw it.

        :func:`harness.scenarios.recorded.write_recorded_run` writes it as a scenario that
        plays back to the same result.

        Raises:
            ValueError: The run was not recorded, or delivered to an external destination.
        """
        if self.recorder is None or self.account_id is None:
            raise ValueError(
                "only a recorded run on the in-process AB Tasty can be written as a scenario"
            )
        config = self.config
        return RecordedRun(
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
