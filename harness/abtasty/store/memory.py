"""The in-memory store: the default, and the fastest."""

from __future__ import annotations

import bisect
import itertools
import sys
import threading
from array import array
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from harness.abtasty.records import (
    Account,
    Activation,
    ApiKeyRecord,
    CohortChange,
    Connector,
    FoldRow,
    GroupProfile,
    MessageBatch,
    MessageType,
    Profile,
    RefreshRun,
    Segment,
    Sighting,
    StoredMessage,
)
from harness.abtasty.store.base import COHORT_CHANGE_RETENTION, MESSAGE_RETENTION

_TYPES: tuple[MessageType, MessageType] = ("identify", "group")
_TAKEN, _PENDING, _EXPIRED = 0, 1, 2
"""A stored message's state, one byte each: a refresh took it, it waits, retention dropped it."""
_COMPACT_AT = 4_096
"""Expired messages at the front are cut from the columns once there are this many (and
they are at least half of them): each cut copies what is left, so it is amortised."""
_encode_into = msgspec.json.Encoder().encode_into
_decode_traits = msgspec.json.Decoder(dict[str, Any]).decode
_decode_traits_list = msgspec.json.Decoder(list[dict[str, Any]]).decode
_DECODED_AT_ONCE = 4_096
"""The fold decodes a run of messages' traits in one call: one JSON array of this many."""


class _Columns:
    """A tenant's stored messages, one column per field, in arrival order.

    A message is a position, not an object: a record and three index entries per
    message cost 264 bytes before its contents (docs/benchmarks.md). Traits are kept as
    JSON text, one after another in ``traits_text`` and each followed by a comma, message
    ``i``'s from ``traits_bounds[i]`` to ``traits_bounds[i + 1] - 1`` (offsets counted from
    ``text_base``): 27 bytes for ``{"plan":"free","visits":3}`` where the decoded object
    took 237 and a bytes object 66. A run of messages' traits reads as one JSON array.
    Positions are relative to the columns' front; ``base`` counts the messages cut from
    it, so ``base + position`` never changes. A cut makes new lists, so a batch handed out
    before it keeps reading the ones it was given.
    """

    __slots__ = (
        "anonymous_ids",
        "arrival",
        "base",
        "connector_names",
        "connector_ordinals",
        "connectors",
        "engage",
        "first_pending",
        "front",
        "group_ids",
        "message_ids",
        "received",
        "received_sorted",
        "scratch",
        "seqs",
        "state",
        "text_base",
        "timestamps",
        "traits_bounds",
        "traits_text",
        "types",
        "user_ids",
    )

    def __init__(self) -> None:
        self.seqs = array("q")
        self.message_ids: list[str] = []
        self.types = bytearray()
        self.anonymous_ids: list[str | None] = []
        self.connectors = array("H")  # each message's connector, as an ordinal
        self.connector_names: list[str] = []  # ordinal -> connector id
        self.connector_ordinals: dict[str, int] = {}
        self.user_ids: list[str | None] = []
        self.group_ids: list[str | None] = []
        self.engage: dict[int, str] = {}  # base + position -> Engage's marker (few have one)
        self.traits_text = bytearray()
        # One message's traits are encoded here, then copied on: encoding straight onto the
        # end of traits_text let msgspec grow it by half each time (measured: 1.63 bytes
        # held a byte of text, against 1.09 when the bytearray grows itself).
        self.scratch = bytearray()
        self.traits_bounds = array("Q", [0])
        self.text_base = 0
        self.timestamps: list[datetime] = []
        self.received: list[datetime] = []
        self.state = bytearray()
        self.base = 0
        self.first_pending = 0  # no message before this position is pending
        self.front = 0  # the messages before this position are expired
        # The dedup index's queue is the columns themselves: the next message (absolute
        # position) whose first-arrival entry may be forgotten.
        self.arrival = 0
        self.received_sorted = True  # arrival order is received order (no clock moved back)

    def __len__(self) -> int:
        return len(self.state)

    def append(self, message: StoredMessage, anonymous_id: str | None) -> None:
        """Add a message at the back (its traits first: nothing changes if they do not encode)."""
        scratch, text = self.scratch, self.traits_text
        _encode_into(message.traits, scratch)  # nothing is stored if the traits do not encode
        text += scratch
        text.append(0x2C)  # a comma: a run of traits reads as a JSON array
        self.traits_bounds.append(self.text_base + len(text))
        received = message.received_at
        if self.received_sorted and self.received and received < self.received[-1]:
            self.received_sorted = False
        self.seqs.append(message.seq)
        self.message_ids.append(message.message_id)
        self.types.append(message.type == "group")
        self.anonymous_ids.append(anonymous_id)
        self.connectors.append(self.connector_ordinal(message.connector_id))
        self.user_ids.append(message.user_id)
        self.group_ids.append(message.group_id)
        if message.engage is not None:
            self.engage[self.base + len(self.state)] = message.engage
        self.timestamps.append(message.timestamp)
        self.received.append(received)
        self.state.append(_PENDING)

    def connector_ordinal(self, connector_id: str) -> int:
        """The connector's ordinal in this tenant's columns (a new one for a new connector)."""
        ordinal = self.connector_ordinals.get(connector_id)
        if ordinal is None:
            ordinal = self.connector_ordinals[connector_id] = len(self.connector_names)
            self.connector_names.append(connector_id)
            if ordinal > 0xFFFF and self.connectors.typecode == "H":
                self.connectors = array("L", self.connectors)  # more than 65,536 connectors
        return ordinal

    def traits(self, position: int) -> dict[str, Any]:
        """Message ``position``'s traits, decoded."""
        bounds, base = self.traits_bounds, self.text_base
        return _decode_traits(
            self.traits_text[bounds[position] - base : bounds[position + 1] - base - 1]
        )

    def traits_run(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        """The traits of the messages from ``start`` to ``stop``, decoded a run at a time."""
        bounds, base, text = self.traits_bounds, self.text_base, self.traits_text

        def decode(first: int) -> list[dict[str, Any]]:
            last = min(first + _DECODED_AT_ONCE, stop)
            return _decode_traits_list(
                b"[" + text[bounds[first] - base : bounds[last] - base - 1] + b"]"
            )

        # chained in C: no Python frame per message
        return itertools.chain.from_iterable(map(decode, range(start, stop, _DECODED_AT_ONCE)))

    def record(self, account_id: str, position: int) -> StoredMessage:
        return StoredMessage(
            account_id,
            self.connector_names[self.connectors[position]],
            self.message_ids[position],
            _TYPES[self.types[position]],
            self.anonymous_ids[position],
            self.user_ids[position],
            self.group_ids[position],
            self.traits(position),
            self.timestamps[position],
            self.received[position],
            self.seqs[position],
            self.engage.get(self.base + position),
        )

    def snapshot(self) -> _Columns:
        """The same lists under another name (a cut replaces this object's, not these)."""
        copy = _Columns.__new__(_Columns)
        for name in _Columns.__slots__:
            setattr(copy, name, getattr(self, name))
        return copy

    def cut_front(self, count: int) -> None:
        """Drop the first ``count`` positions (expired messages) from every column."""
        for name in (
            "seqs",
            "message_ids",
            "types",
            "anonymous_ids",
            "connectors",
            "user_ids",
            "group_ids",
            "timestamps",
            "received",
            "state",
        ):
            setattr(self, name, getattr(self, name)[count:])
        self.traits_bounds = self.traits_bounds[count:]
        start = self.traits_bounds[0]
        self.traits_text = self.traits_text[start - self.text_base :]
        self.text_base = start
        self.base += count
        if self.engage:
            self.engage = {key: value for key, value in self.engage.items() if key >= self.base}
        self.first_pending = max(self.first_pending - count, 0)
        self.front = max(self.front - count, 0)
        self.arrival = max(self.arrival, self.base)


class _PendingBatch(MessageBatch):
    """The messages a refresh takes, as positions in a tenant's columns."""

    def __init__(self, account_id: str, columns: _Columns, positions: range | array[int]) -> None:
        self._account_id = account_id
        self._columns = columns
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    def message(self, index: int) -> StoredMessage:
        return self._columns.record(self._account_id, self._positions[index])

    def fold_rows(self) -> Iterator[FoldRow]:
        columns, positions = self._columns, self._positions
        traits: Iterator[dict[str, Any]]
        if isinstance(positions, range):
            start, stop = positions.start, positions.stop

            def column(values: Sequence[Any]) -> Iterator[Any]:
                # A list's, array's or bytearray's iterator starts at an index in O(1):
                # islice(values, start, stop) stepped over the `start` taken messages one
                # by one (a 1% night after a million profiles spent most of its fold there).
                iterator: Any = iter(values)
                iterator.__setstate__(start)
                return itertools.islice(iterator, stop - start)

            traits = columns.traits_run(start, stop)
        else:

            def column(values: Sequence[Any]) -> Iterator[Any]:
                return map(values.__getitem__, positions)

            traits = map(columns.traits, positions)
        return zip(
            map(columns.connector_names.__getitem__, column(columns.connectors)),
            column(columns.anonymous_ids),
            map(_TYPES.__getitem__, column(columns.types)),
            column(columns.group_ids),
            traits,
            column(columns.timestamps),
            column(columns.message_ids),
            strict=True,
        )

    def seqs(self) -> Sequence[int]:
        positions, seqs = self._positions, self._columns.seqs
        if isinstance(positions, range):
            return seqs[positions.start : positions.stop]
        return array("q", map(seqs.__getitem__, positions))


@dataclass
class _Tenant:
    account: Account
    connectors: dict[str, Connector] = field(default_factory=dict)
    api_key: ApiKeyRecord | None = None
    columns: _Columns = field(default_factory=_Columns)
    first_arrival: dict[str, datetime] = field(default_factory=dict)  # messageId -> first arrival
    # visitor -> its earliest sighting per anonymousId: the Sighting itself while there is
    # one (most visitors: a dict of one costs 232 bytes), a dict anon -> Sighting beyond.
    sightings: dict[str, Sighting | dict[str, Sighting]] = field(default_factory=dict)
    # connector -> anonymousId -> profile: no key tuple a profile (56 bytes, and a tracked
    # object each for the collector to walk after every night that replaced it)
    profiles: dict[str, dict[str, Profile]] = field(default_factory=dict)
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
            anonymous_id = message.anonymous_id
            if anonymous_id is not None:
                # One string per anonymousId, shared with its sightings and other messages
                # (a profile's messages and its visitor's sighting: 60 bytes each).
                anonymous_id = sys.intern(anonymous_id)
            columns = tenant.columns
            columns.append(message, anonymous_id)
            tenant.input_version += 1
            arrivals[message_id] = received
            # Most messages find nothing to forget: look at the oldest entry before walking.
            oldest = columns.received[columns.arrival - columns.base]
            if received - oldest >= dedup_window:
                self._forget_old_arrivals(tenant, received - dedup_window)
            return seq

    @staticmethod
    def _forget_old_arrivals(tenant: _Tenant, horizon: datetime) -> None:
        # Keep the dedup index bounded: the columns are in arrival order, so the oldest
        # entries come first. An id stored again later has a newer entry further back.
        columns, arrivals = tenant.columns, tenant.first_arrival
        ids, times, base = columns.message_ids, columns.received, columns.base
        position, end = columns.arrival - base, len(ids)
        while position < end and times[position] <= horizon:
            message_id = ids[position]
            if arrivals.get(message_id) == times[position]:  # not stored again since
                del arrivals[message_id]
            position += 1
        columns.arrival = base + position

    def pending_messages(self, account_id: str, cutoff: datetime) -> MessageBatch:
        """Untaken messages received before the cutoff, in arrival order."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return _PendingBatch(account_id, _Columns(), range(0))
        with self._lock:
            columns = tenant.columns
            state, received = columns.state, columns.received
            start = state.find(_PENDING, columns.first_pending)
            if start < 0:
                columns.first_pending = len(state)
                return _PendingBatch(account_id, columns.snapshot(), range(0))
            columns.first_pending = start
            if columns.received_sorted:
                stop = bisect.bisect_left(received, cutoff, start)
                if state.find(_TAKEN, start, stop) < 0 and state.find(_EXPIRED, start, stop) < 0:
                    return _PendingBatch(account_id, columns.snapshot(), range(start, stop))
            else:
                stop = len(state)
            positions = array(
                "q",
                (
                    position
                    for position in range(start, stop)
                    if state[position] == _PENDING and received[position] < cutoff
                ),
            )
            return _PendingBatch(account_id, columns.snapshot(), positions)

    def messages_for(
        self, account_id: str, anonymous_ids: Collection[str]
    ) -> list[tuple[StoredMessage, bool]]:
        """Messages for these anonymousIds, with whether a refresh took each."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        wanted = set(anonymous_ids)
        with self._lock:
            columns = tenant.columns.snapshot()
            state = bytes(columns.state)
        return [
            (columns.record(account_id, position), state[position] == _TAKEN)
            for position, anonymous_id in enumerate(columns.anonymous_ids[: len(state)])
            if anonymous_id in wanted and state[position] != _EXPIRED
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
        with self._lock:  # a sighting may be added meanwhile
            return [s for seen in tenant.sightings.values() for s in _records(seen)]

    # nightly refresh
    def profiles(self, account_id: str) -> list[Profile]:
        """Every profile (shared records: never edited, replaced by commit_refresh)."""
        tenant = self._tenant(account_id)
        if tenant is None:
            return []
        with self._lock:  # a commit may add a connector or a profile meanwhile
            return [profile for by_anon in tenant.profiles.values() for profile in by_anon.values()]

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
            self._take(tenant.columns, taken)
            self._expire(tenant, run.cutoff - MESSAGE_RETENTION)
            by_connector = tenant.profiles
            for profile in profiles:  # the store takes ownership of what it is given
                by_anon = by_connector.get(profile.connector_id)
                if by_anon is None:
                    by_anon = by_connector[profile.connector_id] = {}
                by_anon[profile.anonymous_id] = profile
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

    @staticmethod
    def _take(columns: _Columns, taken: Sequence[int]) -> None:
        """Mark the messages with these sequence numbers (ascending) as taken."""
        if not taken:
            return
        seqs, state = columns.seqs, columns.state
        first = bisect.bisect_left(seqs, taken[0])
        stop = first + len(taken)
        wanted = taken if isinstance(taken, array) else array("q", taken)
        if seqs[first:stop] == wanted and state.find(_EXPIRED, first, stop) < 0:
            state[first:stop] = bytes(stop - first)  # a night's messages are one run: in C
            return
        position, end = first, len(seqs)
        for seq in taken:
            position = bisect.bisect_left(seqs, seq, position, end)
            if position < end and seqs[position] == seq and state[position] == _PENDING:
                state[position] = _TAKEN

    @staticmethod
    def _expire(tenant: _Tenant, horizon: datetime) -> None:
        """Drop the taken messages received before ``horizon``, oldest first."""
        columns = tenant.columns
        state, received = columns.state, columns.received
        position, end = columns.front, len(state)
        while position < end and received[position] < horizon:
            if state[position] == _TAKEN:
                state[position] = _EXPIRED
            position += 1  # kept in arrival order: the rest are younger
        front = columns.front
        while front < end and state[front] == _EXPIRED:
            front += 1
        columns.front = front
        if front >= _COMPACT_AT and front * 2 >= end:
            # A message dropped by retention (a week) left the dedup index (a day) long
            # ago; only a clock moved far back leaves its entry, and it goes with it.
            ids, arrivals = columns.message_ids, tenant.first_arrival
            for position in range(columns.arrival - columns.base, front):
                if arrivals.get(ids[position]) == received[position]:
                    del arrivals[ids[position]]
            columns.cut_front(front)

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
                    *itertools.compress(
                        tenant.columns.received, map(_EXPIRED.__ne__, tenant.columns.state)
                    ),
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
