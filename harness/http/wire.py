"""Request and response bodies on the wire (documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec

from harness.abtasty.records import Account, Connector, RefreshRun, Segment, TraitSource
from harness.core.clock import format_instant
from harness.core.codes import ErrorCode


class AccountIn(msgspec.Struct, forbid_unknown_fields=False):
    """Create an account."""

    name: str
    timezone: str = "UTC"
    refresh_hour: int = 3
    clock: str | None = None
    """A tenant clock (``PUT /_harness/clocks/{name}``) to run on instead of the global one."""

    field_codes: ClassVar[dict[str, ErrorCode]] = {"timezone": ErrorCode.INVALID_TIMEZONE}


class AccountOut(msgspec.Struct, omit_defaults=True):
    """An account (``clock`` only when it runs on a tenant clock)."""

    id: str
    name: str
    timezone: str
    refresh_hour: int
    clock: str | None = None

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        """The wire form of an account."""
        return cls(account.id, account.name, account.timezone, account.refresh_hour, account.clock)


class ConnectorIn(msgspec.Struct):
    """Set up a Segment pull connector."""

    name: str

    field_codes: ClassVar[dict[str, ErrorCode]] = {"name": ErrorCode.INVALID_NAME}


class ConnectorOut(msgspec.Struct):
    """A connector in the Integration Hub."""

    id: str
    name: str
    integration: str
    direction: str
    created_at: str

    @classmethod
    def of(cls, connector: Connector) -> ConnectorOut:
        """The wire form of a connector."""
        return cls(
            connector.id,
            connector.name,
            connector.integration,
            connector.direction,
            format_instant(connector.created_at),
        )


class ConnectorsOut(msgspec.Struct):
    """The account's connectors, oldest first."""

    connectors: list[ConnectorOut]


class ApiKeyOut(msgspec.Struct):
    """A newly generated API key: the only time it is shown whole."""

    api_key: str


class ApiKeyStatusOut(msgspec.Struct):
    """Whether the account has an API key (never the key itself)."""

    exists: bool
    created_at: str | None
    last4: str | None


class WebhookOut(msgspec.Struct, omit_defaults=True):
    """The webhook's acknowledgement."""

    status: Literal["accepted", "duplicate"]
    warning: str | None = None


class VisitorIn(msgspec.Struct):
    """The tag read Segment's anonymousId in a visitor's browser."""

    visitor_id: str
    segment_anonymous_id: str
    seen_at: str | None = None

    field_codes: ClassVar[dict[str, ErrorCode]] = {"visitor_id": ErrorCode.INVALID_VISITOR_ID}


class VisitorOut(msgspec.Struct):
    """A recorded sighting."""

    visitor_id: str
    segment_anonymous_id: str
    created: bool


class RefreshOut(msgspec.Struct):
    """One nightly refresh run."""

    scheduled_for: str
    cutoff: str
    messages: int
    profiles: int
    matched_profiles: int
    cohorts: int

    @classmethod
    def of(cls, run: RefreshRun) -> RefreshOut:
        """The wire form of a run."""
        return cls(
            format_instant(run.scheduled_for),
            format_instant(run.cutoff),
            run.messages,
            run.profiles,
            run.matched_profiles,
            run.cohorts,
        )


class RefreshesOut(msgspec.Struct):
    """The account's refresh runs, oldest first, and when the next one is due."""

    refreshes: list[RefreshOut]
    next_refresh_at: str


class ValueOut(msgspec.Struct):
    """A trait value and its cohort's size."""

    value: Any
    visitors: int


class TraitOut(msgspec.Struct):
    """A trait with at least one non-empty cohort.

    ``key`` is what the builder prints; ``source`` and ``path`` say which trait it is, so two
    traits printed alike stay apart: an identify trait literally named ``group.plan``
    (``source: identify, path: ["group.plan"]``) and the group trait ``plan`` (``source:
    group, path: ["plan"]``); a literal key ``company.name`` (``path: ["company.name"]``) and
    a nested ``company: {name}`` (``path: ["company", "name"]``).
    """

    key: str
    source: Annotated[
        TraitSource, msgspec.Meta(description="identify: from identify calls; group: a group's")
    ]
    path: Annotated[
        list[str],
        msgspec.Meta(description="the trait's keys from the top of its traits object"),
    ]
    values: list[ValueOut]


class CriteriaItemOut(msgspec.Struct):
    """One connector's item in the EXTERNAL DATA group."""

    connector_id: str
    connector_name: str
    integration: str
    traits: list[TraitOut]


class CriteriaGroupOut(msgspec.Struct):
    """A criteria group of the segment builder."""

    name: str
    items: list[CriteriaItemOut]


class CriteriaOut(msgspec.Struct):
    """The segment builder's criteria."""

    groups: list[CriteriaGroupOut]


class ConditionIn(msgspec.Struct):
    """A segment condition on a trait the builder shows.

    ``trait`` is the key the builder prints. When two shown traits print alike, add
    ``source`` and/or ``path`` (as the builder gives them) to say which; ``trait`` may then
    be left out.
    """

    connector_id: str
    operator: str
    trait: str | None = None
    value: Any = None
    source: Annotated[
        TraitSource | None,
        msgspec.Meta(description="identify or group, as the builder gives it"),
    ] = None
    path: Annotated[
        list[str] | None,
        msgspec.Meta(description="the trait's path, as the builder gives it"),
    ] = None


class ConditionOut(msgspec.Struct):
    """A segment condition, with the trait it was resolved to."""

    connector_id: str
    trait: str
    source: TraitSource
    path: list[str]
    operator: str
    value: Any = None


class SegmentIn(msgspec.Struct):
    """Create a segment."""

    name: str
    conditions: list[ConditionIn]
    match: str = "all"


class SegmentOut(msgspec.Struct):
    """A segment."""

    id: str
    name: str
    match: str
    conditions: list[ConditionOut]
    created_at: str

    @classmethod
    def of(cls, segment: Segment) -> SegmentOut:
        """The wire form of a segment."""
        return cls(
            segment.id,
            segment.name,
            segment.match,
            [
                ConditionOut(
                    c.connector_id,
                    c.trait,
                    c.key.source,
                    list(c.key.path),
                    c.operator,
                    c.value,
                )
                for c in segment.conditions
            ],
            format_instant(segment.created_at),
        )


class VisitorSegmentsOut(msgspec.Struct):
    """The segments a visitor is in now."""

    segments: list[str]


class ExplainOut(msgspec.Struct):
    """Why a visitor is or is not in a segment."""

    matches: bool
    reasons: list[str]


class ClockOut(msgspec.Struct):
    """The shared clock."""

    now: str
    mode: str


class NamedClockOut(msgspec.Struct):
    """A tenant's own manual clock."""

    name: str
    now: str
    mode: str


class ClocksOut(msgspec.Struct):
    """Every tenant clock, by name."""

    clocks: list[NamedClockOut]


class ClockIn(msgspec.Struct):
    """Set the manual clock."""

    now: str


class AdvanceIn(msgspec.Struct):
    """Move the manual clock forward."""

    seconds: float


class HealthOut(msgspec.Struct):
    """Liveness."""

    status: str


class ResetOut(msgspec.Struct):
    """What a reset cleared."""

    reset: str


class SuccessOut(msgspec.Struct):
    """The Tracking API's acknowledgement."""

    success: bool


class SourceIn(msgspec.Struct):
    """Create a source."""

    name: str
    clock: str | None = None
    """A tenant clock (``PUT /_harness/clocks/{name}``) to run on instead of the global one."""


class SourceOut(msgspec.Struct):
    """A new source; the only time its write key is shown whole."""

    id: str
    name: str
    write_key: str


class DestinationIn(msgspec.Struct):
    """Connect an AB Tasty destination."""

    api_key: str
    type: str = "ab_tasty"
    endpoint: str | None = None


class DestinationOut(msgspec.Struct):
    """A destination (its API key shown only by its last 4 characters)."""

    id: str
    source_id: str
    type: str
    name: str
    endpoint: str
    api_key_last4: str


class DeliveryOut(msgspec.Struct):
    """One message's delivery state for one destination."""

    message_id: str | None
    type: str | None
    destination_id: str | None
    stage: str
    attempts: int
    last_status: int | None
    last_body: str | None
    next_attempt_at: str | None


class OverviewOut(msgspec.Struct):
    """A source's delivery overview."""

    stages: dict[str, int]
    messages: list[DeliveryOut]


class OutageIn(msgspec.Struct):
    """Every delivery attempt fails until ``until``: with ``status``, or a timeout when null."""

    until: str
    status: int | None = 503


class FaultsIn(msgspec.Struct, forbid_unknown_fields=True):
    """Scripted delivery faults (each field left out keeps its current setting)."""

    outage: OutageIn | None = None
    duplicate_next: int | None = None
    hold_next: int | None = None
    hold_seconds: float | None = None


class FaultsOut(msgspec.Struct):
    """The delivery faults in force."""

    outage_status: int | None
    outage_until: str | None
    duplicate_next: int
    hold_next: int
    hold_seconds: float
    held: int
