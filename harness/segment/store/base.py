"""The fake Segment's store contract.

Every backend (memory, SQLite, PostgreSQL) implements this protocol and passes the one
contract suite in ``tests/segment/store``. Beyond the signatures:

- Records go in and come out as values: the store keeps copies, and what it hands out is
  the caller's to change (a claimed delivery is changed, then saved through its claim).
- Every method is atomic and, on a durable backend, committed when it returns: the
  Tracking API's 200 relies on :meth:`SegmentStore.receive` having committed.
- A delivery attempt is made by one process at a time: :meth:`SegmentStore.claim` and
  :meth:`SegmentStore.claim_due` hold a record until their block ends; a record held by a
  process that died is free again (at once for SQLite and PostgreSQL).
- Lists come back oldest first; everything is scoped by source id.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from harness.segment.records import DeliveryPage, DeliveryRecord, Destination, Source


class DeliveryClaim(Protocol):
    """A delivery held by this process while it makes one attempt."""

    record: DeliveryRecord
    """A copy of the stored record, to change with the attempt's outcome."""

    def save(self, record: DeliveryRecord) -> None:
        """Keep ``record`` as the outcome; it is committed when the claim's block ends."""
        ...


class SegmentStore(Protocol):
    """Persistence for the fake Segment's workspace."""

    def add_source(self, source: Source) -> None:
        """Keep a new source (with nothing received yet)."""
        ...

    def get_source(self, source_id: str) -> Source | None:
        """The source, or None."""
        ...

    def find_source(self, digest: bytes) -> Source | None:
        """The source whose write key has this SHA-256 digest, or None."""
        ...

    def add_destination(self, destination: Destination) -> None:
        """Keep a new destination on an existing source."""
        ...

    def get_destination(self, destination_id: str) -> Destination | None:
        """The destination, or None (also once its source was reset)."""
        ...

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        ...

    def receive(
        self, source_id: str, received: int, records: Sequence[DeliveryRecord]
    ) -> list[int]:
        """Count ``received`` arrivals on the source and keep ``records``, in one transaction.

        A record in stage ``retrying`` with no attempt yet is due at ``next_attempt_at`` and
        held for this process, which makes the first attempt at once through :meth:`claim`
        (so its outcome is known when the Tracking API answers). Should this process die
        first, the hold dies with it and any process's :meth:`claim_due` makes the attempt.

        Returns:
            The ids given to ``records``, in order.
        """
        ...

    def claim(self, record_id: int) -> AbstractContextManager[DeliveryClaim | None]:
        """Hold a record received by this process for its first attempt.

        Yields None when the record no longer awaits that attempt (another process made it
        after this one let go of it, or the source was reset). Another holder is waited
        for, never overtaken.
        """
        ...

    def claim_due(
        self, clock: str | None, now: datetime
    ) -> AbstractContextManager[DeliveryClaim | None]:
        """Hold the earliest attempt due by ``now`` among sources on ``clock``.

        Records held by other processes are skipped, never waited for; yields None when
        nothing else is due.
        """
        ...

    def next_due(self, clock: str | None) -> datetime | None:
        """When the next attempt on ``clock`` (None: the global clock) falls due, if any."""
        ...

    def overview(self, source_id: str) -> tuple[int, list[DeliveryRecord]]:
        """How many messages the source received, and its delivery records, oldest first."""
        ...

    def sources(self) -> list[Source]:
        """Every source, oldest first."""
        ...

    def delivery_page(
        self,
        source_id: str,
        *,
        stage: str | None = None,
        message_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DeliveryPage:
        """The source's counts per stage and a page of its records, newest first.

        Args:
            source_id: The source (an unknown one has nothing).
            stage: Only records in this stage.
            message_id: Only this message's records.
            offset: Matching records to skip.
            limit: At most this many.
        """
        ...

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source with its destinations and deliveries."""
        ...

    def close(self) -> None:
        """Release connections and files (a no-op in memory)."""
        ...
