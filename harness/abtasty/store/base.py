"""The store contract.

Every backend (memory, SQLite) implements this protocol and passes the one contract
suite in ``tests/abtasty/store``. The contract, beyond the signatures:

- Records go in and come out as values: a store takes ownership of the records it is
  given, and the records it hands out are never edited by anyone; a caller changes state
  only through a method (the refresh copies a profile before changing it). Nothing relies
  on a live object reference across calls, so a store shared by processes fits.
- Every method is atomic: a method that returns has fully applied its change, and a
  durable backend has committed it (a 2xx answer relies on this).
- Lists come back oldest first (by creation or arrival).
- Everything is scoped by account id; nothing returns another tenant's records.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from harness.abtasty.records import (
    Account,
    Activation,
    ApiKeyRecord,
    CohortChange,
    Connector,
    GroupProfile,
    Profile,
    RefreshRun,
    Segment,
    Sighting,
    StoredMessage,
)

MESSAGE_RETENTION = timedelta(days=7)
"""How long a message a refresh has taken is kept (for explanations) before it is dropped."""

COHORT_CHANGE_RETENTION = timedelta(days=31)
"""How long the record of who entered or left which cohort is kept, from the run's cutoff."""


@runtime_checkable
class KeyCounter(Protocol):
    """A store that only this process writes, counting every change to its API keys.

    What such a store says about a key may be remembered until the count moves. A store
    other processes share (SQLite, PostgreSQL) is no KeyCounter: a key revoked through one
    worker must be refused by every other at once, so each call asks the store.
    """

    def key_version(self) -> int:
        """A counter moved by every key put, removed or reset (never by anything else)."""
        ...


class Store(Protocol):
    """Persistence for the fake AB Tasty's domain."""

    # accounts and setup
    def add_account(self, account: Account) -> None:
        """Keep a new account."""
        ...

    def input_version(self, account_id: str) -> int:
        """A counter of the changes to what the nightly refresh reads, for one account.

        Bumped in the same atomic step as every such change: a message stored (not a
        duplicate), a sighting that is new or moves a pair's first sighting earlier, a
        connector added or removed, the API key set or removed. The refresh's own writes
        (``commit_refresh``) do not bump it. Equal versions mean equal inputs, so a night
        may reuse the previous night's result; 0 for an account nothing happened to.
        """
        ...

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None when there is no such account."""
        ...

    def accounts(self, offset: int = 0, limit: int = 100) -> list[Account]:
        """A page of every account, oldest first: ``limit`` of them after the first ``offset``."""
        ...

    def account_count(self) -> int:
        """How many accounts there are."""
        ...

    def add_connector(self, connector: Connector) -> None:
        """Keep a new connector."""
        ...

    def connectors(self, account_id: str) -> list[Connector]:
        """The account's connectors, oldest first."""
        ...

    def remove_connector(self, account_id: str, connector_id: str) -> bool:
        """Remove a connector; False when the account has no such connector."""
        ...

    def put_api_key(self, record: ApiKeyRecord) -> None:
        """Set the account's API key, replacing any previous one (which stops working)."""
        ...

    def get_api_key(self, account_id: str) -> ApiKeyRecord | None:
        """The account's API key record, if it has one."""
        ...

    def find_api_key(self, digest: bytes) -> ApiKeyRecord | None:
        """The live key record whose digest is ``digest``, in any account."""
        ...

    def remove_api_key(self, account_id: str) -> bool:
        """Revoke the account's API key; False when there was none."""
        ...

    # messages
    def add_message(self, message: StoredMessage, dedup_window: timedelta) -> int | None:
        """Store a message unless its messageId was first stored within ``dedup_window``.

        The window is measured from the first arrival of the stored copy, at
        ``message.received_at``; a duplicate does not extend it.

        Returns:
            The stored copy's sequence number, or None for a duplicate.
        """
        ...

    def pending_messages(self, account_id: str, cutoff: datetime) -> Sequence[StoredMessage]:
        """Messages received before ``cutoff`` that no refresh has taken, in arrival order.

        A list, or a :class:`~harness.abtasty.records.MessageBatch` from a store that keeps
        messages column by column (the refresh reads its columns, not records).
        """
        ...

    def messages_for(
        self, account_id: str, anonymous_ids: Collection[str]
    ) -> list[tuple[StoredMessage, bool]]:
        """Messages carrying one of ``anonymous_ids``, each with whether a refresh took it."""
        ...

    # visitors
    def add_sighting(self, sighting: Sighting) -> bool:
        """Record that the tag saw an anonymousId on a visitor.

        Only the earliest sighting of each (visitor, anonymousId) pair is kept.

        Returns:
            True when the visitor id is new to the account.
        """
        ...

    def sightings_since(self, account_id: str, version: int) -> list[Sighting]:
        """The sightings that changed after the account's input version was ``version``.

        Every sighting recorded, or moved earlier, by a change that bumped
        :meth:`input_version` past ``version`` is in the list (as it stands now); a
        backend may return more, up to every sighting (the refresh takes a superset in
        its stride). An incremental night reads only these.
        """
        ...

    def visitor_sightings(self, account_id: str, visitor_id: str) -> list[Sighting]:
        """The visitor's sightings, one per anonymousId (earliest), oldest first."""
        ...

    def sightings(self, account_id: str) -> list[Sighting]:
        """Every sighting in the account."""
        ...

    # nightly refresh
    def profiles(self, account_id: str) -> list[Profile]:
        """Every profile of the account (copies)."""
        ...

    def groups(self, account_id: str) -> list[GroupProfile]:
        """Every group profile of the account (copies)."""
        ...

    def commit_refresh(
        self,
        run: RefreshRun,
        taken: Sequence[int],
        profiles: Sequence[Profile],
        groups: Sequence[GroupProfile],
        activation: Activation | None,
        changes: Sequence[CohortChange] = (),
    ) -> bool:
        """Apply one refresh atomically, once: False when the account already has this run.

        Several workers may compute the same night; the first to commit it wins and the
        others change nothing (their run is the same night, already applied).

        Marks the ``taken`` messages, replaces the given profiles and groups, records the
        run and makes ``activation`` the account's activated data (None keeps the current
        one: a night on which nothing changed), and keeps the run's cohort ``changes``.
        Taken messages received more than ``MESSAGE_RETENTION`` before the run's cutoff are
        dropped: their traits live on in the profiles, and a long-running fake must not grow
        without bound; cohort changes of runs scheduled more than
        ``COHORT_CHANGE_RETENTION`` before the cutoff are dropped likewise.

        Returns:
            True when this call applied the run.
        """
        ...

    def cohort_changes(
        self,
        account_id: str,
        *,
        scheduled_for: datetime | None = None,
        visitor_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[CohortChange]:
        """A page of the account's kept cohort changes, in the order they were committed.

        Args:
            account_id: The account.
            scheduled_for: Only the changes of the run scheduled for this instant.
            visitor_id: Only this visitor's changes.
            offset: How many matching changes to skip.
            limit: At most this many.
        """
        ...

    def last_refresh(self, account_id: str) -> RefreshRun | None:
        """The account's latest refresh run, if any (without loading the whole history)."""
        ...

    def refreshes(self, account_id: str) -> list[RefreshRun]:
        """The account's refresh runs, oldest first."""
        ...

    def activation(self, account_id: str) -> Activation | None:
        """The activated data of the latest refresh, if any has run."""
        ...

    # segments
    def add_segment(self, segment: Segment) -> None:
        """Keep a new segment."""
        ...

    def get_segment(self, account_id: str, segment_id: str) -> Segment | None:
        """The segment, if the account has it."""
        ...

    def segments(self, account_id: str) -> list[Segment]:
        """The account's segments, oldest first."""
        ...

    # control
    def reset(self, account_id: str | None = None) -> None:
        """Forget everything, or everything about one account."""
        ...

    def latest_instant(self) -> datetime | None:
        """The latest time anything stored was recorded at (None when empty).

        A manual clock started over a kept store resumes from here, so time never goes back.
        """
        ...

    def close(self) -> None:
        """Release what the backend holds (a connection, a file); the store is unusable after."""
        ...
