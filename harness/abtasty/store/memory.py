"""The in-memory store: the default, and the fastest."""

from __future__ import annotations

import bisect
import itertools
import sys
import threading
from array import array
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from harness.abtasty.store.base import COHORT_CHANGE_RETENTION, MESSAGE_RETENTION


@dataclass
class _Tenant:
    account: Account
    connectors: dict[str, Connector] = field(default_factory=dict)
    api_key: ApiKeyRecord | None = None
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    pending: dict[int, None] = field(default_factory=dict)  # insertion-ordered set
    first_arrival: dict[str, datetime] = field(default_factory=dict)  # messageId -> first arrival
    # The dedup index's entries in arrival order, consumed from ``arrival_head``: a dict
    # deleted from the front keeps its dead slots there until it resizes, and finding its
    # first live entry walked them all on every message (quadratic after a burst expired).
    arrival_ids: list[str] = field(default_factory=list)
    arrival_times: list[datetime] = field(default_factory=list)
    arrival_head: int = 0
    # visitor -> its earliest sighting per anonymousId: the Sighting itself while there is
    # one (most visitors: a dict of one costs 232 bytes), a dict anon -> Sighting beyond.
    sightings: dict[str, Sighting | dict[str, Sighting]] = field(default_factory=dict)
    profiles: dict[tuple[str, str], Profile] = field(default_factory=dict)
    groups: dict[tuple[str, str], GroupProfile] = field(default_factory=dict)
    refreshes: list[RefreshRun] = field(default_factory=list)
    changes: list[CohortChange] = field(default_factory=list)
    activation: Activation | None = None
    segments: dict[str, Segment] = field(default_factory=dict)
    input_version: int = 0
    # Every sighting change in order, with the input version it bumped to: the
    # incremental night asks for the ones after a version (a bisection).
    sighting_log: list[Sighting] = field(default_factory=list)
    sighting_versions: array[int] = field(default_factory=lambda: array("q"))


def _sighting_of(seen: Sighting | dict[str, Sighting] | None, anonymous_id: str) -> Sighting | None:
    """A visitor's sighting of ``anonymous_id`` in its stored form, if any."""
    if seen is None:
        return None
    if isinstance(seen, dict):
        return seen.get(anonymous_id)
    return seen if seen.anonymous_id == anonymous_id else None


def _records(seen: Sighting | dict[str, Sighting] | None) -> Sequence[Sighting]:
    """A visitor's sightings, whatever their stored form."""
    if seen is None:
        return ()
    return list(seen.values()) if isinstance(seen, dict) else (seen,)


class MemoryStore:
    """Keeps every tenant in process memory; safe to share between threads."""

    def __init__(self) -> None:
        self._tenants: dict[str, _Tenant] = {}
        self._keys: dict[bytes, ApiKeyRecord] = {}
        self._key_version = 0
        self._seq = 0
        self._lock = threading.RLock()

    def key_version(self) -> int:
        """Moved by every key put, removed or reset (see :class:`~.base.KeyCounter`)."""
        return self._key_version

    def _tenant(self, account_id: str) -> _Tenant | None:
        return self._tenants.get(account_id)

    def _require(self, account_id: str) -> _Tenant:
        tenant = self._tenants.get(account_id)
        if tenant is None:
            raise KeyError(account_id)
        return tenant

    # accounts and setup
    def add_account(self, account: Account) -> None:
        """Keep a new account."""
        with self._lock:
            self._tenants[account.id] = _Tenant(account)

    def input_version(self, account_id: str) -> int:
        """The account's count of changes to what the refresh reads."""
        tenant = self._tenant(account_id)
        return tenant.input_version if tenant else 0

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        tenant = self._tenant(account_id)
        return tenant.account if tenant else None

    def accounts(self, offset: int = 0, limit: int = 100) -> list[Account]:
        """A page of accounts, oldest first."""
        with self._lock:
            tenants = list(itertools.islice(self._tenants.values(), offset, offset + limit))
        return [tenant.account for tenant in tenants]

    def account_count(self) -> int:
        """How many accounts there are."""
        return len(self._tenants)

    def add_connector(self, connector: Connector) -> None:
        """Keep a new connector."""
        with self._lock:
            tenant = self._require(connector.account_id)
            tenant.connectors[connector.id] = connector
            tenant.input_version += 1

    def connectors(self, account_id: str) -> list[Connector]:
        """The account's connectors, oldest first."""
        tenant = self._tenant(account_id)
        return list(tenant.connectors.values()) if tenant else []

    def remove_connector(self, account_id: str, connector_id: str) -> bool:
        """Remove a connector."""
        with self._lock:
            tenant = self._tenant(account_id)
            if tenant is None or tenant.connectors.pop(connector_id, None) is None:
                return False
            tenant.input_version += 1
            return True

    def put_api_key(self, record: ApiKeyRecord) -> None:
        """Set the account's key, replacing the old one."""
        with self._lock:
            tenant = self._require(record.account_id)
            if tenant.api_key is not None:
                self._keys.pop(tenant.api_key.digest, None)
            tenant.api_key = record
            tenant.input_version += 1
            self._keys[record.digest] = record
            self._key_version += 1

    def get_api_key(self, account_id: str) -> ApiKeyRecord | None:
        """The account's key record."""
        tenant = self._tenant(account_id)
        return tenant.api_key if tenant else None

    def find_api_key(self, digest: bytes) -> ApiKeyRecord | None:
        """The live key record with this digest."""
        return self._keys.get(digest)

    def remove_api_key(self, account_id: str) -> bool:
        """Revoke the account's key."""
        with self._lock:
            tenant = self._tenant(account_id)
            if tenant is None or tenant.api_key is None:
                return False
            self._keys.pop(tenant.api_key.digest, None)
            tenant.api_key = None
            tenant.input_version += 1
            self._key_version += 1
            return True

    # messages
    def add_message(self, message: StoredMessage, dedup_window: timedelta) -> int | None:
        """Store a message unless it is a duplicate within the window."""
        message_id, received = message.message_id, message.received_at
        with self._lock:
            tenant = self._tenants.get(message.account_id)
            if tenant is None:
                raise KeyError(message.account_id)
            arrivals = tenant.first_arrival
            first = arrivals.get(message_id)
            if first is not None:
                if received - first < dedup_window:
                    return None
                del arrivals[message_id]  # re-inserted at the back below
            self._seq += 1
            seq = message.seq = self._seq  # the store owns the message it was given
            if message.anonymous_id is not None:
                # One string per anonymousId, shared with its sightings and other messages
                # (a profile's messages and its visitor's sighting: 60 bytes each).
                message.anonymous_id = sys.intern(message.anonymous_id)
            tenant.messages[seq] = message
            tenant.pending[seq] = None
            tenant.input_version += 1
            arrivals[message_id] = received
            tenant.arrival_ids.append(message_id)
            tenant.arrival_times.append(received)
            # Most messages find nothing to forget: look at the oldest entry before walking.
            if received - tenant.arrival_times[tenant.arrival_head] >= dedup_window:
                self._forget_old_arrivals(tenant, received - dedup_window)
            return seq

    @staticmethod
    def _forget_old_arrivals(tenant: _Tenant, horizon: datetime) -> None:
        # Keep the dedup index bounded: entries are queued in arrival order, so the oldest
        # sit at the head. An id stored again later has a newer entry further back.
        ids, times, arrivals = tenant.arrival_ids, tenant.arrival_times, tenant.first_arrival
        head, end = tenant.arrival_head, len(ids)
        while head < end and times[head] <= horizon:
            message_id = ids[head]
            if arrivals.get(message_id) == times[head]:  # not stored again since
                del arrivals[message_id]
            head += 1
        if head >= 4096 and head * 2 >= end:  # drop the consumed half: amortised O(1)
            del ids[:head], times[:head]
            head = 0
        tenant.arrival_head = head

    def pending_messages(self, account_id: str, cutoff: datetime) -> list[StoredMessage]:
        """Untaken messages received before the cutoff, in arrival order."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        found = []
        for seq in tenant.pending:
            message = tenant.messages[seq]
            if message.received_at < cutoff:
                found.append(message)
        return found

    def messages_for(
        self, account_id: str, anonymous_ids: Collection[str]
    ) -> list[tuple[StoredMessage, bool]]:
        """Messages for these anonymousIds, with whether a refresh took each."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        wanted = set(anonymous_ids)
        return [
            (message, seq not in tenant.pending)
            for seq, message in tenant.messages.items()
            if message.anonymous_id in wanted
        ]

    # visitors
    def add_sighting(self, sighting: Sighting) -> bool:
        """Record a sighting; True when the visitor is new."""
        with self._lock:
            tenant = self._require(sighting.account_id)
            visitor = sighting.visitor_id
            seen = tenant.sightings.get(visitor)
            created = seen is None
            earlier = _sighting_of(seen, sighting.anonymous_id)
            if earlier is None or sighting.seen_at < earlier.seen_at:
                anonymous_id = sys.intern(sighting.anonymous_id)  # shared with its messages
                if anonymous_id is not sighting.anonymous_id:
                    sighting = Sighting(
                        sighting.account_id, sighting.visitor_id, anonymous_id, sighting.seen_at
                    )
                if seen is None or seen is earlier:  # its first, or its only one moved earlier
                    tenant.sightings[visitor] = sighting
                elif isinstance(seen, dict):
                    seen[anonymous_id] = sighting
                else:  # a second anonymousId for this visitor
                    tenant.sightings[visitor] = {seen.anonymous_id: seen, anonymous_id: sighting}
                tenant.input_version += 1
                tenant.sighting_log.append(sighting)
                tenant.sighting_versions.append(tenant.input_version)
            return created

    def sightings_since(self, account_id: str, version: int) -> list[Sighting]:
        """The sightings changed after input version ``version``, as they stand now."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        with self._lock:
            start = bisect.bisect_right(tenant.sighting_versions, version)
            changed = tenant.sighting_log[start:]
        sightings = tenant.sightings
        # A pair moved earlier twice is in the log twice: only its current record counts.
        return [s for s in changed if _sighting_of(sightings[s.visitor_id], s.anonymous_id) is s]

    def visitor_sightings(self, account_id: str, visitor_id: str) -> list[Sighting]:
        """The visitor's sightings, one per anonymousId."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        return sorted(_records(tenant.sightings.get(visitor_id)), key=lambda s: s.seen_at)

    def sightings(self, account_id: str) -> list[Sighting]:
        """Every sighting in the account."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        return [s for seen in tenant.sightings.values() for s in _records(seen)]

    # nightly refresh
    def profiles(self, account_id: str) -> list[Profile]:
        """Every profile (shared records: never edited, replaced by commit_refresh)."""
        tenant = self._tenant(account_id)
        return list(tenant.profiles.values()) if tenant else []

    def groups(self, account_id: str) -> list[GroupProfile]:
        """Every group profile (shared records, as for profiles)."""
        tenant = self._tenant(account_id)
        return list(tenant.groups.values()) if tenant else []

    def commit_refresh(
        self,
        run: RefreshRun,
        taken: Sequence[int],
        profiles: Sequence[Profile],
        groups: Sequence[GroupProfile],
        activation: Activation | None,
        changes: Sequence[CohortChange] = (),
    ) -> bool:
        """Apply one refresh, once."""
        with self._lock:
            tenant = self._require(run.account_id)
            if tenant.refreshes and tenant.refreshes[-1].scheduled_for >= run.scheduled_for:
                return False
            for seq in taken:
                tenant.pending.pop(seq, None)
            horizon = run.cutoff - MESSAGE_RETENTION
            expired = []
            for seq, message in tenant.messages.items():
                if message.received_at >= horizon:
                    break  # messages are kept in arrival order: the rest are younger
                if seq not in tenant.pending:
                    expired.append(seq)
            for seq in expired:
                del tenant.messages[seq]
            for profile in profiles:  # the store takes ownership of what it is given
                tenant.profiles[(profile.connector_id, profile.anonymous_id)] = profile
            for group in groups:
                tenant.groups[(group.connector_id, group.group_id)] = group
            tenant.refreshes.append(run)
            if activation is not None:
                tenant.activation = activation
            change_horizon = run.cutoff - COHORT_CHANGE_RETENTION
            if tenant.changes and tenant.changes[0].scheduled_for < change_horizon:
                tenant.changes = [c for c in tenant.changes if c.scheduled_for >= change_horizon]
            tenant.changes.extend(changes)
            return True

    def last_refresh(self, account_id: str) -> RefreshRun | None:
        """The latest run."""
        tenant = self._tenant(account_id)
        return tenant.refreshes[-1] if tenant and tenant.refreshes else None

    def refreshes(self, account_id: str) -> list[RefreshRun]:
        """The account's runs, oldest first."""
        tenant = self._tenant(account_id)
        return list(tenant.refreshes) if tenant else []

    def activation(self, account_id: str) -> Activation | None:
        """The latest activated data."""
        tenant = self._tenant(account_id)
        return tenant.activation if tenant else None

    def cohort_changes(
        self,
        account_id: str,
        *,
        scheduled_for: datetime | None = None,
        visitor_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[CohortChange]:
        """A page of the kept cohort changes, in commit order."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        found = (
            change
            for change in tenant.changes
            if (scheduled_for is None or change.scheduled_for == scheduled_for)
            and (visitor_id is None or change.visitor_id == visitor_id)
        )
        return list(itertools.islice(found, offset, offset + limit))

    # segments
    def add_segment(self, segment: Segment) -> None:
        """Keep a new segment."""
        with self._lock:
            self._require(segment.account_id).segments[segment.id] = segment

    def get_segment(self, account_id: str, segment_id: str) -> Segment | None:
        """The segment, if the account has it."""
        tenant = self._tenant(account_id)
        return tenant.segments.get(segment_id) if tenant else None

    def segments(self, account_id: str) -> list[Segment]:
        """The account's segments, oldest first."""
        tenant = self._tenant(account_id)
        return list(tenant.segments.values()) if tenant else []

    # control
    def reset(self, account_id: str | None = None) -> None:
        """Forget everything, or one account."""
        with self._lock:
            self._key_version += 1
            if account_id is None:
                self._tenants.clear()
                self._keys.clear()
                return
            tenant = self._tenants.pop(account_id, None)
            if tenant is not None and tenant.api_key is not None:
                self._keys.pop(tenant.api_key.digest, None)

    # lifetime
    def latest_instant(self) -> datetime | None:
        """The latest time anything stored was recorded at (None when empty)."""
        with self._lock:
            found = [
                instant
                for tenant in self._tenants.values()
                for instant in (
                    tenant.account.created_at,
                    *(message.received_at for message in tenant.messages.values()),
                    *(
                        sighting.seen_at
                        for by_anon in tenant.sightings.values()
                        for sighting in _records(by_anon)
                    ),
                    *(run.scheduled_for for run in tenant.refreshes),
                    *(segment.created_at for segment in tenant.segments.values()),
                )
            ]
        return max(found, default=None)

    def close(self) -> None:
        """Nothing to release: the state lives as long as the object."""
