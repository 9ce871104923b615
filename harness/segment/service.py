"""The fake Segment workspace: sources, destinations, ingest and delivery on the shared clock.

The first delivery attempt is made when a message is accepted, so its outcome is known by
the time the Tracking API answers. Retries fall due on the clock and run when it reaches
them (:meth:`FakeSegment.run_due`, called before every answer and by the timeline when the
clock moves), so a test can advance through the whole retry window.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import msgspec

from harness.core.clock import Clock, ClockBook
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError, mask_secret
from harness.core.protocol import partner_headers
from harness.segment import tracking
from harness.segment.delivery import (
    AB_TASTY_TYPES,
    RetryPolicy,
    Transport,
    is_delivered,
    is_retryable,
    sends_to,
)
from harness.segment.engage import Engage, EngageStore
from harness.segment.ratelimit import RateBucket, RateLimiter
from harness.segment.records import (
    DELIVERY_STAGES,
    STAGES,
    Attempt,
    DeliveryPage,
    DeliveryRecord,
    Destination,
    Source,
    Stage,
)
from harness.segment.store import MemorySegmentStore, SegmentStore

__all__ = [
    "STAGES",
    "Attempt",
    "DeliveryPage",
    "DeliveryRecord",
    "Destination",
    "FakeSegment",
    "Overview",
    "Source",
    "Stage",
]

KEPT_RESPONSE_CHARS = 2_000
ATTEMPT_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class Overview:
    """The delivery overview of a source."""

    stages: dict[str, int]
    messages: list[DeliveryRecord]


class FakeSegment:
    """Segment's Tracking API and its cloud-mode delivery to AB Tasty destinations.

    The workspace lives in ``store``; the service itself keeps nothing another process
    serving the same store must see, so several workers can share one store.

    Args:
        clock: The shared clock.
        transport: How destinations are reached.
        default_endpoint: Where a destination posts when it names no endpoint.
        retry_policy: The backoff schedule.
        seed: Seeds the backoff jitter (per message and retry, so the schedule does not
            depend on what else is in flight) and filled-in messageIds, for repeatable
            runs; None draws them at random (what a long-running server wants).
        rate_limit: Requests a second the Tracking API takes before answering 429 (off: None).
        store: Where the workspace lives; in memory by default.
        engage_store: Where Engage keeps audiences and computed traits; in memory by default.
        rate_bucket: Where the rate limit's bucket lives (a shared store's, so workers share
            one limit); in this process by default.
        clocks: The tenants' own clocks, for sources bound to one (``clock`` is the
            global clock of the book); a book of its own by default.
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
        store: SegmentStore | None = None,
        engage_store: EngageStore | None = None,
        clocks: ClockBook | None = None,
        rate_bucket: RateBucket | None = None,
    ) -> None:
        self.clock = clock
        self.clocks = clocks if clocks is not None else ClockBook(clock)
        self.transport = transport
        self.default_endpoint = default_endpoint
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_limiter = RateLimiter(rate_limit, bucket=rate_bucket) if rate_limit else None
        self.store: SegmentStore = store if store is not None else MemorySegmentStore()
        self._seed = seed
        self._ids = random.Random(None if seed is None else seed + 1)
        self._ids_lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._adopted: dict[bytes, str] = {}  # write key digest -> source id (adopt_write_key)
        self._adopted_lock = threading.Lock()
        self.engage = Engage(clock, self._send_from_engage, self._new_message_id, engage_store)
        """Engage spaces (one per source): audiences and computed traits."""

    # workspace setup -------------------------------------------------------------------
    def create_source(self, name: str, clock: str | None = None) -> tuple[Source, str]:
        """A new source and its write key (shown only here).

        With ``clock``, the source runs on that tenant clock (it must exist): its messages'
        receivedAt and its retry schedule follow it.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise HarnessError(
                ErrorCode.INVALID_NAME, "A source needs a name of 1 to 100 characters."
            )
        self.clocks.clock(clock)  # clock_not_found before anything is created
        write_key = secrets.token_urlsafe(24)
        source = Source(
            f"src_{secrets.token_hex(6)}", name, _digest(write_key), write_key[-4:], clock or None
        )
        self.store.add_source(source)
        return source, write_key

    def source(self, source_id: str) -> Source:
        """The source.

        Raises:
            HarnessError: ``source_not_found``.
        """
        source = self.store.get_source(source_id)
        if source is None:
            raise HarnessError(
                ErrorCode.SOURCE_NOT_FOUND,
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
                ErrorCode.INVALID_BODY,
                f"Destination type {type[:30]!r} is not supported; use 'ab_tasty'.",
            )
        if not isinstance(api_key, str) or not api_key.strip():
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                "api_key is required: the AB Tasty API key from Settings > Integrations > API Key.",
            )
        if endpoint and ("://" not in endpoint or any(c.isspace() for c in endpoint)):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"endpoint {endpoint[:60]!r} is not a URL, e.g. http://127.0.0.1:9000/hook.",
            )
        # No endpoint: the fake AB Tasty served beside this Segment, wherever that is when
        # the delivery is made (a restart on other ports, another host sharing the store).
        destination = Destination(
            f"dst_{secrets.token_hex(6)}", source_id, type, api_key, endpoint or ""
        )
        self.store.add_destination(destination)
        return destination

    def clock_for_source(self, source_id: str | None) -> Clock:
        """The clock a source runs on (the global clock for no or an unknown source)."""
        source = self.store.get_source(source_id) if source_id else None
        return self.clocks.clock(source.clock) if source is not None else self.clock

    def endpoint_of(self, destination: Destination) -> str:
        """Where a destination's deliveries go (its own URL, else the default endpoint)."""
        return destination.endpoint or self.default_endpoint

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        return self.store.destinations(source_id)

    def source_for_write_key(self, write_key: str) -> Source:
        """The source a write key belongs to.

        Raises:
            HarnessError: ``invalid_write_key``.
        """
        digest = _digest(write_key)
        source = self.store.find_source(digest)
        if source is not None and secrets.compare_digest(source.write_key_digest, digest):
            return source
        adopter = self._adopted.get(digest)
        source = self.store.get_source(adopter) if adopter is not None else None
        if source is not None:
            return source
        raise HarnessError(
            ErrorCode.INVALID_WRITE_KEY,
            f"The write key {mask_secret(write_key)} is not a source's write key in this workspace.",
        )

    def adopt_write_key(self, source_id: str, write_key: str) -> bool:
        """Accept ``write_key`` as one more key of a source (the harness's, not Segment's).

        An application under test keeps its own (production) write key; the harness's
        interception of Segment's real hosts adopts it into the test's source, so the calls
        are delivered there. A key a source already has is left with it. Adopted keys live
        in this process only (not in the store): only the in-process interception sends
        them, and what they deliver is stored under the source's id like any other call.

        Returns:
            True when the key was new and is now the source's.

        Raises:
            HarnessError: ``source_not_found``; ``invalid_write_key`` for an empty key.
        """
        if not isinstance(write_key, str) or not write_key:
            raise HarnessError(ErrorCode.INVALID_WRITE_KEY, "A write key cannot be empty.")
        digest = _digest(write_key)
        self.source(source_id)
        with self._adopted_lock:
            if digest in self._adopted or self.store.find_source(digest) is not None:
                return False
            self._adopted[digest] = source_id
            return True

    # the Tracking API ------------------------------------------------------------------
    def ingest(self, path_type: str, authorization: str | None, raw: bytes) -> Source:
        """Take one Tracking API request (``/v1/<path_type>``: identify, group, track, batch, ...).

        Every message is committed to the store before the first delivery attempts, so a
        200 outlives a crash: a restarted server makes the attempts the dead one did not.

        Raises:
            HarnessError: ``invalid_json``, ``message_too_large``, ``batch_too_large`` or
                ``invalid_write_key``; anything else is accepted (and may fail on ingest).
        """
        if self.rate_limiter is not None:
            self.rate_limiter.take()
        batch = path_type == "batch"
        body = tracking.decode_request(raw, batch=batch)
        source = self.source_for_write_key(tracking.write_key_of(authorization, body))
        self.run_due(source.clock)
        if batch:
            items, rejected = tracking.batch_items(
                body, lambda item: len(self._encoder.encode(item))
            )
        else:
            items, rejected = [{**body, "type": path_type}], []
        self._accept(source, items, rejected)
        return source

    def _send_from_engage(self, source_id: str, messages: list[dict[str, Any]]) -> None:
        source = self.source(source_id)
        self.run_due(source.clock)
        self._accept(source, messages, [])

    def _accept(
        self,
        source: Source,
        items: list[dict[str, Any]],
        rejected: list[tracking.IngestRejection],
    ) -> None:
        """Record what the Tracking API (or Engage) took, then make the first attempts."""
        now = self.clocks.clock(source.clock).now()
        records = [self._rejection(source.id, rejection, now) for rejection in rejected]
        received = len(rejected)
        destinations = self.store.destinations(source.id) if items else []
        for item in items:
            received += 1
            outcome = tracking.normalize(item, now, self._new_message_id)
            if isinstance(outcome, tracking.IngestRejection):
                records.append(self._rejection(source.id, outcome, now))
            else:
                records.extend(self._deliveries(source.id, outcome, destinations, now))
        ids = self.store.receive(source.id, received, records)
        for record_id, record in zip(ids, records, strict=True):
            if record.stage == "retrying":
                self._first_attempt(record_id, source.clock)

    track = ingest
    """The former name of :meth:`ingest` (it takes every call type, not only track)."""

    def _new_message_id(self) -> str:
        with self._ids_lock:
            bits = self._ids.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    @staticmethod
    def _rejection(
        source_id: str, rejection: tracking.IngestRejection, now: datetime
    ) -> DeliveryRecord:
        return DeliveryRecord(
            source_id,
            rejection.message_id,
            rejection.type,
            None,
            "failed_on_ingest",
            last_body=rejection.reason,
            received_at=now,
        )

    def _deliveries(
        self,
        source_id: str,
        message: dict[str, Any],
        destinations: list[Destination],
        now: datetime,
    ) -> list[DeliveryRecord]:
        payload = self._encoder.encode(message)
        records = []
        for destination in destinations:
            stage: Stage = "retrying"
            if message["type"] not in AB_TASTY_TYPES or not sends_to(message, destination.name):
                stage = "filtered_at_destination"
            records.append(
                DeliveryRecord(
                    source_id,
                    message["messageId"],
                    message["type"],
                    destination.id,
                    stage,
                    payload=payload,
                    next_attempt_at=now if stage == "retrying" else None,
                    first_attempt_at=now if stage == "retrying" else None,
                    received_at=now,
                )
            )
        return records

    # delivery --------------------------------------------------------------------------
    def _first_attempt(self, record_id: int, clock: str | None) -> None:
        with self.store.claim(record_id) as claim:
            if claim is not None:
                claim.save(self._attempt(claim.record, self.clocks.clock(clock)))

    def _attempt(self, record: DeliveryRecord, clock: Clock) -> DeliveryRecord:
        """One attempt at a held record; returns its new state."""
        destination = self.store.get_destination(record.destination_id or "")
        if destination is None:  # its source was reset while the record was held
            return replace(record, stage="failed_delivery", next_attempt_at=None)
        now = clock.now()
        response = self.transport.post(
            self.endpoint_of(destination), partner_headers(destination.api_key), record.payload
        )
        record.attempts += 1
        record.last_status = response.status
        record.last_body = (
            response.body if response.status is not None else response.error or "no answer"
        )[:KEPT_RESPONSE_CHARS]
        record.next_attempt_at = None
        detail = record.last_body[:ATTEMPT_DETAIL_CHARS]
        if is_delivered(response):
            record.stage = "delivered"
            record.history = (*record.history, Attempt(now, response.status, "delivered", detail))
            return record
        if not is_retryable(response):
            record.stage = "failed_delivery"
            record.history = (*record.history, Attempt(now, response.status, "failed", detail))
            return record
        record.retries += 1
        delay = self.retry_policy.delay(record.retries, record.last_delay, self._jitter(record))
        due = now + delay
        assert record.first_attempt_at is not None
        if due - record.first_attempt_at > self.retry_policy.window:
            record.stage = "failed_delivery"
            record.history = (*record.history, Attempt(now, response.status, "failed", detail))
            return record
        record.last_delay = delay
        record.next_attempt_at = due
        record.stage = "retrying"
        record.history = (*record.history, Attempt(now, response.status, "retry", detail, due))
        return record

    def _jitter(self, record: DeliveryRecord) -> random.Random:
        # Seeded per message, destination and retry: a tenant's retry schedule is the same
        # whatever else is in flight, whichever worker makes the attempt. The destination is
        # named by its place on the source, not its id: ids are random, so a seeded run
        # (a scenario played twice, on the manual clock or under freezegun) would not repeat.
        if self._seed is None:
            return random.Random()
        ids = [destination.id for destination in self.store.destinations(record.source_id)]
        place = ids.index(record.destination_id) if record.destination_id in ids else -1
        return random.Random(f"{self._seed}:{record.message_id}:{place}:{record.retries}")

    def next_due(self, clock: str | None = None) -> datetime | None:
        """When the next retry on ``clock`` (None: the global clock) falls due, if any."""
        return self.store.next_due(clock or None)

    def run_due(self, clock: str | None = None) -> int:
        """Make every retry due by ``clock``'s time, oldest due first; returns how many ran."""
        ran = 0
        on = self.clocks.clock(clock)
        now = on.now()
        while True:
            with self.store.claim_due(clock or None, now) as claim:
                if claim is None:
                    return ran
                claim.save(self._attempt(claim.record, on))
                ran += 1

    def run_all_due(self) -> int:
        """Make the retries due on every clock, the global one and each tenant's."""
        ran = self.run_due()
        for name, _ in self.clocks.named():
            ran += self.run_due(name)
        return ran

    def waker(self, clock: str | None) -> ClockWaker:
        """The retries on one clock, as a waker for moving that clock."""
        return ClockWaker(self, clock)

    # reporting and control -------------------------------------------------------------
    def overview(self, source_id: str) -> Overview:
        """Counts per stage and every message's delivery state, oldest first."""
        source = self.source(source_id)
        self.run_due(source.clock)
        received, records = self.store.overview(source_id)
        stages = dict.fromkeys(STAGES, 0)
        stages["received"] = received
        for record in records:
            if record.stage != "retrying":
                stages[record.stage] += 1
        return Overview(stages, records)

    def sources(self) -> list[Source]:
        """Every source of the workspace, oldest first."""
        return self.store.sources()

    def deliveries(
        self,
        source_id: str,
        *,
        stage: str | None = None,
        message_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DeliveryPage:
        """The delivery overview's counts and one page of its messages, newest first.

        Args:
            source_id: The source.
            stage: Only messages in this stage (``retrying`` included).
            message_id: Only this message (one record per destination).
            offset: Messages to skip.
            limit: At most this many.

        Raises:
            HarnessError: ``source_not_found``; ``invalid_body`` for an unknown stage.
        """
        if stage is not None and stage not in DELIVERY_STAGES:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"stage {stage[:30]!r} is not a delivery stage; use one of "
                f"{', '.join(DELIVERY_STAGES)}.",
            )
        self.run_due()
        self.source(source_id)
        return self.store.delivery_page(
            source_id,
            stage=stage,
            message_id=message_id,
            offset=max(offset, 0),
            limit=max(limit, 0),
        )

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source with its destinations and deliveries."""
        if source_id is None:
            self.engage.reset()
            self.store.reset()
            with self._ids_lock:
                self._ids.seed(None if self._seed is None else self._seed + 1)
            with self._adopted_lock:
                self._adopted.clear()
            return
        self.source(source_id)
        self.engage.reset(source_id)
        self.store.reset(source_id)
        with self._adopted_lock:
            self._adopted = {k: v for k, v in self._adopted.items() if v != source_id}


@dataclass(frozen=True, slots=True)
class ClockWaker:
    """The fake Segment's retries on one clock (a :class:`harness.core.timeline.Waker`)."""

    segment: FakeSegment
    clock: str | None

    def next_due(self) -> datetime | None:
        """When the next retry on this clock falls due."""
        return self.segment.next_due(self.clock)

    def run_due(self) -> int:
        """Make the retries due on this clock."""
        return self.segment.run_due(self.clock)


def _digest(write_key: str) -> bytes:
    return hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).digest()
