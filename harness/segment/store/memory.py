"""The fake Segment's in-memory store: the default, for one process."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from harness.segment.records import STAGES, DeliveryPage, DeliveryRecord, Destination, Source


@dataclass(slots=True)
class MemoryClaim:
    """A record held by this process (see :class:`harness.segment.store.base.DeliveryClaim`)."""

    record: DeliveryRecord
    saved: DeliveryRecord | None = None

    def save(self, record: DeliveryRecord) -> None:
        """Keep ``record`` as the outcome when the claim ends."""
        self.saved = record


@dataclass
class _Source:
    source: Source
    received: int = 0
    destinations: list[str] = field(default_factory=list)
    records: list[int] = field(default_factory=list)


class MemorySegmentStore:
    """Keeps the workspace in process memory; safe to share between threads."""

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self._by_digest: dict[bytes, str] = {}
        self._destinations: dict[str, Destination] = {}
        self._records: dict[int, DeliveryRecord] = {}
        self._due: dict[str | None, list[tuple[datetime, int]]] = {}  # clock -> heap
        self._held: set[int] = set()
        self._fresh: set[int] = set()  # first attempts held for the process that received them
        self._seq = 0
        self._lock = threading.RLock()
        self._released = threading.Condition(self._lock)

    def add_source(self, source: Source) -> None:
        """Keep a new source."""
        with self._lock:
            self._sources[source.id] = _Source(source)
            self._by_digest[source.write_key_digest] = source.id

    def get_source(self, source_id: str) -> Source | None:
        """The source, or None."""
        entry = self._sources.get(source_id)
        return entry.source if entry else None

    def find_source(self, digest: bytes) -> Source | None:
        """The source with this write key digest."""
        return self.get_source(self._by_digest.get(digest, ""))

    def add_destination(self, destination: Destination) -> None:
        """Keep a new destination."""
        with self._lock:
            self._sources[destination.source_id].destinations.append(destination.id)
            self._destinations[destination.id] = destination

    def get_destination(self, destination_id: str) -> Destination | None:
        """The destination, or None."""
        return self._destinations.get(destination_id)

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        with self._lock:
            entry = self._sources.get(source_id)
            return [self._destinations[d] for d in entry.destinations] if entry else []

    def receive(
        self, source_id: str, received: int, records: Sequence[DeliveryRecord]
    ) -> list[int]:
        """Count arrivals and keep records."""
        with self._lock:
            entry = self._sources[source_id]
            entry.received += received
            ids = []
            for record in records:
                self._seq += 1
                kept = replace(record, id=self._seq)
                self._records[kept.id] = kept
                entry.records.append(kept.id)
                self._index(entry.source.clock, kept)
                if kept.stage == "retrying" and kept.attempts == 0:
                    self._held.add(kept.id)
                    self._fresh.add(kept.id)
                ids.append(kept.id)
            return ids

    def _index(self, clock: str | None, record: DeliveryRecord) -> None:
        if record.stage == "retrying" and record.next_attempt_at is not None:
            heapq.heappush(self._due.setdefault(clock, []), (record.next_attempt_at, record.id))

    def _is_due_at(self, record_id: int, due: datetime) -> bool:
        record = self._records.get(record_id)
        return record is not None and record.stage == "retrying" and record.next_attempt_at == due

    @contextmanager
    def _holding(self, claim: MemoryClaim) -> Iterator[MemoryClaim]:
        # The caller put the record's id in self._held and built the claim under the lock.
        record_id = claim.record.id
        try:
            yield claim
        finally:
            with self._lock:
                self._held.discard(record_id)
                if claim.saved is not None and record_id in self._records:
                    saved = replace(claim.saved, id=record_id)
                    self._records[record_id] = saved
                    self._index(self._sources[saved.source_id].source.clock, saved)
                self._released.notify_all()

    @contextmanager
    def claim(self, record_id: int) -> Iterator[MemoryClaim | None]:
        """Hold a fresh record for its first attempt (None once attempted or gone)."""
        with self._lock:
            if record_id in self._fresh:
                self._fresh.discard(record_id)
                self._held.discard(record_id)
            while record_id in self._held:
                self._released.wait()
            record = self._records.get(record_id)
            claim = None
            if record is not None and record.stage == "retrying" and record.attempts == 0:
                claim = MemoryClaim(replace(record))
                self._held.add(record_id)
        if claim is None:
            yield None
            return
        with self._holding(claim) as held:
            yield held

    @contextmanager
    def claim_due(self, clock: str | None, now: datetime) -> Iterator[MemoryClaim | None]:
        """Hold the earliest attempt due by ``now`` on ``clock``."""
        claim = None
        with self._lock:
            heap = self._due.get(clock, [])
            skipped = []
            while heap and heap[0][0] <= now:
                due, record_id = heapq.heappop(heap)
                if not self._is_due_at(record_id, due):
                    continue  # made, reset or moved since it was indexed
                if record_id in self._held:
                    skipped.append((due, record_id))
                    continue
                claim = MemoryClaim(replace(self._records[record_id]))
                self._held.add(record_id)
                heapq.heappush(heap, (due, record_id))  # until the attempt's outcome is saved
                break
            for item in skipped:
                heapq.heappush(heap, item)
        if claim is None:
            yield None
            return
        with self._holding(claim) as held:
            yield held

    def next_due(self, clock: str | None) -> datetime | None:
        """When the next attempt on ``clock`` falls due."""
        with self._lock:
            heap = self._due.get(clock, [])
            while heap and not self._is_due_at(heap[0][1], heap[0][0]):
                heapq.heappop(heap)
            return heap[0][0] if heap else None

    def overview(self, source_id: str) -> tuple[int, list[DeliveryRecord]]:
        """Arrivals and delivery records, oldest first."""
        with self._lock:
            entry = self._sources.get(source_id)
            if entry is None:
                return 0, []
            return entry.received, [replace(self._records[r]) for r in entry.records]

    def sources(self) -> list[Source]:
        """Every source, oldest first."""
        with self._lock:
            return [entry.source for entry in self._sources.values()]

    def delivery_page(
        self,
        source_id: str,
        *,
        stage: str | None = None,
        message_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DeliveryPage:
        """Counts per stage and a page of records, newest first."""
        stages = dict.fromkeys(STAGES, 0)
        retrying = 0
        page: list[DeliveryRecord] = []
        total = 0
        with self._lock:
            entry = self._sources.get(source_id)
            if entry is None:
                return DeliveryPage(stages, 0, [], 0)
            stages["received"] = entry.received
            records = self._records
            for record_id in reversed(entry.records):
                record = records[record_id]
                kind = record.stage
                if kind == "retrying":
                    retrying += 1
                else:
                    stages[kind] += 1
                if (stage is None or kind == stage) and (
                    message_id is None or record.message_id == message_id
                ):
                    if offset <= total < offset + limit:
                        page.append(replace(record))
                    total += 1
        return DeliveryPage(stages, retrying, page, total)

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source."""
        with self._lock:
            if source_id is None:
                self._sources.clear()
                self._by_digest.clear()
                self._destinations.clear()
                self._records.clear()
                self._due.clear()
                self._fresh.clear()
                return
            entry = self._sources.pop(source_id, None)
            if entry is None:
                return
            self._by_digest.pop(entry.source.write_key_digest, None)
            for destination_id in entry.destinations:
                self._destinations.pop(destination_id, None)
            for record_id in entry.records:
                self._records.pop(record_id, None)
                self._fresh.discard(record_id)

    def close(self) -> None:
        """Nothing to release."""
