"""The fake Segment workspace: sources, destinations, ingest and delivery on the shared clock.

The first delivery attempt is made when a message is accepted, so its outcome is known by
the time the Tracking API answers. Retries fall due on the clock and run when it reaches
them (:meth:`FakeSegment.run_due`, called before every answer and by the timeline when the
clock moves), so a test can advance through the whole retry window.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from harness.core.clock import Clock
from harness.core.errors import HarnessError, mask_secret
from harness.segment import tracking
from harness.segment.delivery import (
    AB_TASTY_DESTINATION,
    AB_TASTY_TYPES,
    RetryPolicy,
    Transport,
    is_delivered,
    is_retryable,
    partner_headers,
    sends_to,
)
from harness.segment.ratelimit import RateLimiter

Stage = Literal[
    "retrying", "delivered", "failed_delivery", "filtered_at_destination", "failed_on_ingest"
]
STAGES = ("received", "failed_on_ingest", "filtered_at_destination", "failed_delivery", "delivered")
KEPT_RESPONSE_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Source:
    """A Segment source; its write key is kept only as a digest."""

    id: str
    name: str
    write_key_digest: bytes
    write_key_last4: str


@dataclass(frozen=True, slots=True)
class Destination:
    """An AB Tasty destination on a source: where to post and with which API key."""

    id: str
    source_id: str
    type: str
    api_key: str
    endpoint: str
    name: str = AB_TASTY_DESTINATION


@dataclass(slots=True)
class DeliveryRecord:
    """One message on its way to one destination (or stopped before it)."""

    source_id: str
    message_id: str | None
    type: str | None
    destination_id: str | None
    stage: Stage
    attempts: int = 0
    last_status: int | None = None
    last_body: str | None = None
    next_attempt_at: datetime | None = None
    first_attempt_at: datetime | None = None
    last_delay: timedelta | None = None
    payload: bytes = b""
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Overview:
    """The delivery overview of a source."""

    stages: dict[str, int]
    messages: list[DeliveryRecord]


@dataclass
class _Workspace:
    sources: dict[str, Source] = field(default_factory=dict)
    source_by_digest: dict[bytes, str] = field(
        default_factory=dict
    )  # write key digest -> source id
    destinations: dict[str, Destination] = field(default_factory=dict)
    records: list[DeliveryRecord] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)


class FakeSegment:
    """Segment's Tracking API and its cloud-mode delivery to AB Tasty destinations.

    Args:
        clock: The shared clock.
        transport: How destinations are reached.
        default_endpoint: Where a destination posts when it names no endpoint.
        retry_policy: The backoff schedule.
        seed: Seeds the backoff jitter and filled-in messageIds, for repeatable runs.
        rate_limit: Requests a second the Tracking API takes before answering 429 (off: None).
    """

    def __init__(
        self,
        clock: Clock,
        transport: Transport,
        *,
        default_endpoint: str,
        retry_policy: RetryPolicy | None = None,
        seed: int | None = 0,
        rate_limit: float | None = None,
    ) -> None:
        self.clock = clock
        self.transport = transport
        self.default_endpoint = default_endpoint
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_limiter = RateLimiter(rate_limit) if rate_limit else None
        self._seed = seed
        self._rng = random.Random(seed)
        self._ids = random.Random(None if seed is None else seed + 1)
        self._state = _Workspace()
        self._due: list[tuple[datetime, int, DeliveryRecord]] = []
        self._tiebreak = itertools.count()
        self._lock = threading.RLock()
        self._encoder = msgspec.json.Encoder()

    # workspace setup -------------------------------------------------------------------
    def create_source(self, name: str) -> tuple[Source, str]:
        """A new source and its write key (shown only here)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise HarnessError("invalid_name", "A source needs a name of 1 to 100 characters.")
        write_key = secrets.token_urlsafe(24)
        source = Source(f"src_{secrets.token_hex(6)}", name, _digest(write_key), write_key[-4:])
        with self._lock:
            self._state.sources[source.id] = source
            self._state.source_by_digest[source.write_key_digest] = source.id
        return source, write_key

    def source(self, source_id: str) -> Source:
        """The source.

        Raises:
            HarnessError: ``source_not_found``.
        """
        source = self._state.sources.get(source_id)
        if source is None:
            raise HarnessError(
                "source_not_found",
                f"There is no source {source_id[:40]!r}; create one with POST /_segment/sources.",
            )
        return source

    def add_destination(
        self, source_id: str, api_key: str, endpoint: str | None = None, type: str = "ab_tasty"
    ) -> Destination:
        """Connect an AB Tasty destination to a source."""
        self.source(source_id)
        if type != "ab_tasty":
            raise HarnessError(
                "invalid_body", f"Destination type {type[:30]!r} is not supported; use 'ab_tasty'."
            )
        if not isinstance(api_key, str) or not api_key.strip():
            raise HarnessError(
                "invalid_body",
                "api_key is required: the AB Tasty API key from Settings > Integrations > API Key.",
            )
        target = endpoint or self.default_endpoint
        if "://" not in target or any(c.isspace() for c in target):
            raise HarnessError(
                "invalid_body",
                f"endpoint {target[:60]!r} is not a URL, e.g. http://127.0.0.1:9000/hook.",
            )
        destination = Destination(f"dst_{secrets.token_hex(6)}", source_id, type, api_key, target)
        with self._lock:
            self._state.destinations[destination.id] = destination
        return destination

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        return [d for d in self._state.destinations.values() if d.source_id == source_id]

    def source_for_write_key(self, write_key: str) -> Source:
        """The source a write key belongs to.

        Raises:
            HarnessError: ``invalid_write_key``.
        """
        digest = _digest(write_key)
        source = self._state.sources.get(self._state.source_by_digest.get(digest, ""))
        if source is not None:
            return source
        raise HarnessError(
            "invalid_write_key",
            f"The write key {mask_secret(write_key)} is not a source's write key in this workspace.",
        )

    def adopt_write_key(self, source_id: str, write_key: str) -> bool:
        """Accept ``write_key`` as one more key of a source (the harness's, not Segment's).

        An application under test keeps its own (production) write key; the harness's
        interception of Segment's real hosts adopts it into the test's source, so the calls
        are delivered there. A key a source already has is left with it.

        Returns:
            True when the key was new and is now the source's.

        Raises:
            HarnessError: ``source_not_found``; ``invalid_write_key`` for an empty key.
        """
        if not isinstance(write_key, str) or not write_key:
            raise HarnessError("invalid_write_key", "A write key cannot be empty.")
        digest = _digest(write_key)
        with self._lock:
            self.source(source_id)
            if digest in self._state.source_by_digest:
                return False
            self._state.source_by_digest[digest] = source_id
            return True

    # the Tracking API ------------------------------------------------------------------
    def track(self, path_type: str, authorization: str | None, raw: bytes) -> Source:
        """Take one Tracking API request (``/v1/<path_type>``), as Segment does.

        Raises:
            HarnessError: ``invalid_json``, ``message_too_large``, ``batch_too_large`` or
                ``invalid_write_key``; anything else is accepted (and may fail on ingest).
        """
        if self.rate_limiter is not None:
            self.rate_limiter.take()
        batch = path_type == "batch"
        body = tracking.decode_request(raw, batch=batch)
        source = self.source_for_write_key(tracking.write_key_of(authorization, body))
        with self._lock:
            self.run_due()
            if batch:
                items, rejected = tracking.batch_items(
                    body, lambda item: len(self._encoder.encode(item))
                )
            else:
                items, rejected = [{**body, "type": path_type}], []
            now = self.clock.now()
            for rejection in rejected:
                self._record_rejection(source.id, rejection)
            for item in items:
                outcome = tracking.normalize(item, now, self._new_message_id)
                if isinstance(outcome, tracking.IngestRejection):
                    self._record_rejection(source.id, outcome)
                else:
                    self._accept(source.id, outcome)
        return source

    def _new_message_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _count_received(self, source_id: str) -> None:
        self._state.received[source_id] = self._state.received.get(source_id, 0) + 1

    def _record_rejection(self, source_id: str, rejection: tracking.IngestRejection) -> None:
        self._count_received(source_id)
        self._state.records.append(
            DeliveryRecord(
                source_id,
                rejection.message_id,
                rejection.type,
                None,
                "failed_on_ingest",
                last_body=rejection.reason,
            )
        )

    def _accept(self, source_id: str, message: dict[str, Any]) -> None:
        self._count_received(source_id)
        payload = self._encoder.encode(message)
        for destination in self.destinations(source_id):
            record = DeliveryRecord(
                source_id,
                message["messageId"],
                message["type"],
                destination.id,
                "retrying",
                payload=payload,
            )
            self._state.records.append(record)
            if message["type"] not in AB_TASTY_TYPES or not sends_to(message, destination.name):
                record.stage = "filtered_at_destination"
                continue
            record.first_attempt_at = self.clock.now()
            self._attempt(record, destination)

    # delivery --------------------------------------------------------------------------
    def _attempt(self, record: DeliveryRecord, destination: Destination) -> None:
        now = self.clock.now()
        response = self.transport.post(
            destination.endpoint, partner_headers(destination.api_key), record.payload
        )
        record.attempts += 1
        record.last_status = response.status
        record.last_body = (
            response.body if response.status is not None else response.error or "no answer"
        )[:KEPT_RESPONSE_CHARS]
        record.next_attempt_at = None
        if is_delivered(response):
            record.stage = "delivered"
            return
        if not is_retryable(response):
            record.stage = "failed_delivery"
            return
        record.retries += 1
        delay = self.retry_policy.delay(record.retries, record.last_delay, self._rng)
        due = now + delay
        assert record.first_attempt_at is not None
        if due - record.first_attempt_at > self.retry_policy.window:
            record.stage = "failed_delivery"
            return
        record.last_delay = delay
        record.next_attempt_at = due
        record.stage = "retrying"
        heapq.heappush(self._due, (due, next(self._tiebreak), record))

    def next_due(self) -> datetime | None:
        """When the next retry falls due, if any is pending."""
        with self._lock:
            while self._due and self._due[0][2].next_attempt_at != self._due[0][0]:
                heapq.heappop(self._due)  # a record reset or already handled
            return self._due[0][0] if self._due else None

    def run_due(self) -> int:
        """Make every retry that is due by now, oldest due first; returns how many ran."""
        ran = 0
        with self._lock:
            now = self.clock.now()
            while self._due and self._due[0][0] <= now:
                due, _, record = heapq.heappop(self._due)
                destination = self._state.destinations.get(record.destination_id or "")
                if record.next_attempt_at != due or destination is None:
                    continue
                self._attempt(record, destination)
                ran += 1
        return ran

    # reporting and control -------------------------------------------------------------
    def overview(self, source_id: str) -> Overview:
        """Counts per stage and every message's delivery state, oldest first."""
        with self._lock:
            self.run_due()
            self.source(source_id)
            records = [r for r in self._state.records if r.source_id == source_id]
            stages = dict.fromkeys(STAGES, 0)
            stages["received"] = self._state.received.get(source_id, 0)
            for record in records:
                if record.stage != "retrying":
                    stages[record.stage] += 1
            return Overview(stages, records)

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source with its destinations and deliveries."""
        with self._lock:
            if source_id is None:
                self._state = _Workspace()
                self._due.clear()
                self._rng.seed(self._seed)
                self._ids.seed(None if self._seed is None else self._seed + 1)
                return
            self.source(source_id)
            state = self._state
            del state.sources[source_id]
            state.source_by_digest = {
                digest: owner
                for digest, owner in state.source_by_digest.items()
                if owner != source_id  # its own write key and any it adopted
            }
            state.received.pop(source_id, None)
            state.destinations = {
                k: d for k, d in state.destinations.items() if d.source_id != source_id
            }
            for record in state.records:
                if record.source_id == source_id:
                    record.next_attempt_at = None
            state.records = [r for r in state.records if r.source_id != source_id]


def _digest(write_key: str) -> bytes:
    return hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).digest()
