"""Plain records that the domain works with and every store keeps.

They depend on nothing, so a store implementation never needs to import the domain.
Records are values: a store hands out copies (or immutable objects), never live state.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, overload

import msgspec

JsonValue = Any
"""Any value that JSON can carry (traits may hold nested objects and lists)."""

MessageType = Literal["identify", "group"]
MatchMode = Literal["all", "any"]
Operator = Literal["equals", "not_equals", "contains", "exists", "greater_than", "less_than"]
OPERATORS: tuple[Operator, ...] = (
    "equals",
    "not_equals",
    "contains",
    "exists",
    "greater_than",
    "less_than",
)
TraitSource = Literal["identify", "group"]
TRAIT_SOURCES: tuple[TraitSource, ...] = ("identify", "group")
GROUP_LABEL_PREFIX = "group."
"""The builder prints a group trait ``plan`` as ``group.plan``."""


class TraitKey(NamedTuple):
    """Which trait a criterion is: where it comes from, and its path in that traits object.

    Group traits and identify traits are kept apart by ``source``, never by a prefix: an
    identify trait literally named ``group.plan`` is ``("identify", ("group.plan",))``, the
    group trait ``plan`` is ``("group", ("plan",))``. A nested object gives one element per
    level (``{"company": {"name": ...}}`` is ``("identify", ("company", "name"))``), so a
    literal dotted key (``("identify", ("company.name",))``) stays a trait of its own.
    """

    source: TraitSource
    path: tuple[str, ...]

    @property
    def label(self) -> str:
        """The key the segment builder prints: the path joined by dots, group ones as ``group.*``."""
        joined = ".".join(self.path)
        return GROUP_LABEL_PREFIX + joined if self.source == "group" else joined

    @property
    def name(self) -> str:
        """A name no other trait has: the label, qualified when the label alone reads otherwise.

        ``company.name`` for the nested trait, ``company.name (identify ["company.name"])``
        for the literal key; ``group.plan`` for the group trait, ``group.plan (identify
        ["group.plan"])`` for an identify trait of that literal name.
        """
        label = self.label
        if natural_trait_key(label) == self:
            return label
        return f"{label} ({self.source} {json.dumps(list(self.path), ensure_ascii=False)})"


def natural_trait_key(label: str) -> TraitKey:
    """How a printed key reads without more to go on: ``group.`` means a group trait, dots nest.

    Used for a condition that names a trait only by its printed key, and for data stored
    before traits carried their source and path.
    """
    if label.startswith(GROUP_LABEL_PREFIX):
        return TraitKey("group", tuple(label[len(GROUP_LABEL_PREFIX) :].split(".")))
    return TraitKey("identify", tuple(label.split(".")))


@dataclass(frozen=True, slots=True)
class Account:
    """An AB Tasty account: a tenant of the fake.

    ``clock`` names the tenant clock it runs on (None: the global clock).
    """

    id: str
    name: str
    timezone: str
    refresh_hour: int
    created_at: datetime
    clock: str | None = None


@dataclass(frozen=True, slots=True)
class Connector:
    """A Segment pull connector (Integration Hub > Pull > Segment > Setup connector)."""

    id: str
    account_id: str
    name: str
    created_at: datetime
    integration: str = "segment"
    direction: str = "pull"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An account's API key, kept only as a SHA-256 digest and its last 4 characters."""

    account_id: str
    digest: bytes
    last4: str
    created_at: datetime


class StoredMessage(msgspec.Struct, gc=False):
    """An identify or group call accepted by the webhook.

    A msgspec Struct the cyclic garbage collector does not track (it holds only strings,
    datetimes and decoded JSON, which cannot refer back to it): a store keeps one per
    message, and the collector walking them all again and again took a third of in-process
    ingest (docs/benchmarks.md).

    ``seq`` is assigned by the store and identifies this stored copy. A store takes
    ownership of the message it is given (it stamps ``seq`` on it): hand it a new object.
    """

    account_id: str
    connector_id: str
    message_id: str
    type: MessageType
    anonymous_id: str | None
    user_id: str | None
    group_id: str | None
    traits: dict[str, JsonValue]
    timestamp: datetime
    received_at: datetime
    seq: int = 0
    engage: str | None = None
    """``<computation_class>:<key>`` when Segment Engage sent it (from ``context.personas``)."""


FoldRow = tuple[str, str | None, MessageType, str | None, dict[str, JsonValue], datetime, str]
"""What the refresh reads of a message: (connector id, anonymousId, type, groupId, traits,
timestamp, messageId)."""


class MessageBatch(Sequence[StoredMessage]):
    """Messages a store keeps column by column, handed out without a record per message.

    It reads as a sequence of :class:`StoredMessage` (each made when asked for), and
    offers the refresh the two things it needs at scale without making them: the fold's
    rows and the messages' sequence numbers. A store that keeps records hands out a
    plain list instead; :func:`fold_rows` and :func:`message_seqs` take either.
    """

    @abstractmethod
    def fold_rows(self) -> Iterator[FoldRow]:
        """The messages as the fold reads them, in order."""

    @abstractmethod
    def seqs(self) -> Sequence[int]:
        """The messages' sequence numbers, in order."""

    @abstractmethod
    def message(self, index: int) -> StoredMessage:
        """The message at ``index`` (0 <= index < len), as a record."""

    @overload
    def __getitem__(self, index: int) -> StoredMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[StoredMessage]: ...

    def __getitem__(self, index: int | slice) -> StoredMessage | list[StoredMessage]:
        if isinstance(index, slice):
            return [self.message(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.message(index)

    def __iter__(self) -> Iterator[StoredMessage]:
        return map(self.message, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mutable-looking sequence, like a list


def fold_rows(messages: Iterable[StoredMessage]) -> Iterator[FoldRow]:
    """The fold's rows of ``messages``, from their columns when a store kept them so."""
    if isinstance(messages, MessageBatch):
        return messages.fold_rows()
    return (
        (m.connector_id, m.anonymous_id, m.type, m.group_id, m.traits, m.timestamp, m.message_id)
        for m in messages
    )


def message_seqs(messages: Sequence[StoredMessage]) -> Sequence[int]:
    """The sequence numbers of ``messages``, in order (from their columns when kept so)."""
    if isinstance(messages, MessageBatch):
        return messages.seqs()
    return [m.seq for m in messages]


class Sighting(msgspec.Struct, frozen=True, gc=False):
    """The AB Tasty tag saw Segment's anonymousId in the browser of a visitor.

    A Struct the cyclic collector does not track (strings and a datetime cannot refer
    back to it): a store keeps one per visitor and anonymousId.
    """

    account_id: str
    visitor_id: str
    anonymous_id: str
    seen_at: datetime


class TraitValue(msgspec.Struct, frozen=True, gc=False):
    """One trait's value and the message that set it; the newest (timestamp, messageId) wins.

    The refresh makes one per merged trait and keeps one per profile trait: a Struct the
    cyclic collector does not track (a JSON value cannot refer back to it), 40 bytes
    where a named tuple took 64 and was walked by every full collection.
    """

    value: JsonValue
    timestamp: datetime
    message_id: str

    @property
    def order(self) -> tuple[datetime, str]:
        """The key that decides which of two values is newer, whatever the arrival order."""
        return (self.timestamp, self.message_id)


class Profile(msgspec.Struct, gc=False):
    """What Segment told AB Tasty about one anonymousId, through one connector.

    Untracked by the cyclic collector, as :class:`TraitValue` (nothing in it refers back).
    """

    connector_id: str
    anonymous_id: str
    traits: dict[str, TraitValue] = msgspec.field(default_factory=dict)
    groups: frozenset[str] = frozenset()
    """Immutable, so a copied profile shares its groups until one is added (most have none)."""


class GroupProfile(msgspec.Struct, gc=False):
    """The traits of one group (a company, say); they reach its members as ``group.<trait>``."""

    connector_id: str
    group_id: str
    traits: dict[str, TraitValue] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefreshRun:
    """One nightly audience refresh: what it took and the state after it.

    Attributes:
        ran_at: When the fake actually ran it (by its clock). Runs are computed lazily, so
            a run made well after ``scheduled_for`` is a catch-up run.
        entered: How many (visitor, cohort) memberships this run added.
        left: How many it removed.
        input_version: The store's :meth:`input_version` of the account when the run read
            what it reads (messages, sightings, ...); -1 when unknown. The next run may
            reuse this run's result only while the version is unchanged.
    """

    account_id: str
    scheduled_for: datetime
    cutoff: datetime
    messages: int
    profiles: int
    matched_profiles: int
    cohorts: int
    ran_at: datetime | None = None
    entered: int = 0
    left: int = 0
    input_version: int = -1


CohortChangeKind = Literal["entered", "left"]


@dataclass(frozen=True, slots=True)
class CohortChange:
    """A visitor entered or left a cohort (connector, trait, value) at a refresh run.

    Attributes:
        trait: The trait's key as the builder prints it; ``source`` and ``path`` say which
            trait it is (see :class:`TraitKey`).
    """

    account_id: str
    scheduled_for: datetime
    visitor_id: str
    connector_id: str
    trait: str
    value: JsonValue
    change: CohortChangeKind
    source: TraitSource = "identify"
    path: tuple[str, ...] = ()

    @property
    def key(self) -> TraitKey:
        """The trait, structurally."""
        return TraitKey(self.source, self.path) if self.path else natural_trait_key(self.trait)


VisitorTraits = dict[str, dict[TraitKey, tuple[JsonValue, ...]]]
"""connector id -> trait -> the activated values (several on a shared device or list trait)."""


@dataclass(frozen=True, slots=True)
class Activation:
    """The activated audience data after a refresh: what the segment builder and segments use.

    Attributes:
        visitors: visitor id -> that visitor's activated traits.
        matched: (connector id, anonymousId) of every matched profile.
    """

    account_id: str
    scheduled_for: datetime
    visitors: Mapping[str, VisitorTraits]
    matched: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Condition:
    """One criterion of a segment, as dragged in from EXTERNAL DATA.

    Attributes:
        trait: The trait's key as the builder prints it.
        source: Identify or group trait; with ``path``, which trait it is (:class:`TraitKey`).
        path: The trait's path in its traits object; empty only for a condition stored
            before conditions carried it (then ``trait`` is read as :func:`natural_trait_key`).
    """

    connector_id: str
    trait: str
    operator: Operator
    value: JsonValue = None
    source: TraitSource = "identify"
    path: tuple[str, ...] = ()

    @property
    def key(self) -> TraitKey:
        """The trait the condition tests, structurally."""
        return TraitKey(self.source, self.path) if self.path else natural_trait_key(self.trait)


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment built in the segment builder."""

    id: str
    account_id: str
    name: str
    match: MatchMode
    conditions: tuple[Condition, ...]
    created_at: datetime
