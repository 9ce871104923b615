"""The inspector's views: what each page shows, built only from the services' public APIs.

Every page is one of these structs: the HTML template renders it and the ``.json`` form of
the page is the same struct encoded, so the two can never disagree. Instants are already
formatted (ISO-8601 UTC with ``Z``) and secrets already masked.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from harness.abtasty import AbTasty
from harness.abtasty.records import Account, JsonValue, TraitKey, natural_trait_key
from harness.abtasty.service import COHORT_CHANGES_KEPT_PER_RUN
from harness.core.clock import Clock, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError, mask_secret
from harness.core.timeline import Waker
from harness.http.inspector import chart
from harness.http.inspector.events import Event, EventFeed, EventFilter
from harness.http.journal import RequestJournal, entry_json, mask_document
from harness.segment import FakeSegment

PER_PAGE = 50
MAX_PER_PAGE = 500
CATCH_UP_AFTER_SECONDS = 60
"""A run made more than this long after its scheduled time is marked as a catch-up run."""
TIMELINE_RUNS = 60
"""The refresh chart shows at most this many of the latest runs."""
VALUES_PER_TRAIT = 20
"""The builder shows this many values of each trait; a trait's further values are paged."""


@dataclass(frozen=True)
class InspectorContext:
    """What the inspector reads: the two services, their journals and the shared clock.

    Args:
        abtasty: The fake AB Tasty.
        segment: The fake Segment, when it is served beside it.
        journals: Request journals by fake (``abtasty``, ``segment``).
        clock: The shared clock.
        wakers: Work on the clock that a move must not skip (as the control plane uses).
        tenant_wakers: Work on a tenant clock (by name) that moving it must not skip.
    """

    abtasty: AbTasty
    segment: FakeSegment | None
    journals: Mapping[str, RequestJournal]
    clock: Clock
    wakers: Sequence[Waker] = ()
    tenant_wakers: Callable[[str], Sequence[Waker]] | None = None

    def clock_named(self, name: str) -> Clock:
        """The clock called ``name`` (``""``: the global clock).

        Raises:
            HarnessError: ``clock_not_found``.
        """
        return self.abtasty.clocks.clock(name) if name else self.clock

    def wakers_of(self, name: str) -> Sequence[Waker]:
        """What moving the clock called ``name`` must not skip."""
        if not name:
            return self.wakers
        return self.tenant_wakers(name) if self.tenant_wakers is not None else ()

    def feed(self) -> EventFeed:
        """The live event feed over both journals."""
        return EventFeed(self.journals, self.source_accounts())

    def source_accounts(self) -> dict[str, str]:
        """Which AB Tasty account each Segment source delivers to (by its destinations' keys)."""
        if self.segment is None:
            return {}
        found = {}
        for source in self.segment.sources():
            for destination in self.segment.destinations(source.id):
                header = "Basic " + base64.b64encode(f"{destination.api_key}:".encode()).decode()
                account_id = self.abtasty.key_owner(header)
                if account_id is not None:
                    found[source.id] = account_id
                    break
        return found


class Pager(msgspec.Struct, frozen=True):
    """Where a page of a long list sits."""

    page: int
    per_page: int
    total: int
    pages: int

    @classmethod
    def of(cls, page: int, per_page: int, total: int) -> Pager:
        """A pager for ``total`` items."""
        return cls(page, per_page, total, max(1, math.ceil(total / per_page)))

    @property
    def offset(self) -> int:
        """Items before this page."""
        return (self.page - 1) * self.per_page


def paging(
    page: int | None,
    per_page: int | None,
    *,
    default: int = PER_PAGE,
    names: tuple[str, str] = ("page", "per_page"),
) -> tuple[int, int]:
    """Checked (page, per_page) from a query (``names`` are the query's names for them).

    Raises:
        HarnessError: ``invalid_body`` for a page below 1 or a page size outside 1-500.
    """
    page = 1 if page is None else page
    per_page = default if per_page is None else per_page
    if page < 1:
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"{names[0]} is {page}; pages are numbered from 1."
        )
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"{names[1]} is {per_page}; give 1 to {MAX_PER_PAGE}."
        )
    return page, per_page


def _at(when: datetime | None) -> str | None:
    return None if when is None else format_instant(when)


def _show(value: JsonValue) -> str:
    return msgspec.json.encode(value).decode() if not isinstance(value, str) else value


# the clock ---------------------------------------------------------------------------------
class ClockView(msgspec.Struct, frozen=True):
    """A clock: the shared (global) one, or a tenant's own.

    Attributes:
        name: The tenant clock's name; empty for the global clock.
    """

    now: str
    mode: str
    name: str = ""


def clock_view(ctx: InspectorContext, name: str = "") -> ClockView:
    """A clock's time and mode (the global clock by default; tenant clocks are manual)."""
    clock = ctx.clock_named(name)
    return ClockView(format_instant(clock.now()), clock.mode, name)


CLOCKS_PER_PAGE = 50
"""The clock page shows this many tenant clocks per page (by name)."""
ACCOUNTS_PER_CLOCK = 20
"""Each tenant clock shows this many of its accounts; a clock's further accounts are paged."""
ACCOUNTS_SCANNED_AT_ONCE = 1_000
"""The clock page reads every account, this many at a time, to find each clock's accounts."""
JUMPS_SHOWN = 20


class JumpRow(msgspec.Struct, frozen=True):
    """An account's next refresh, to move its clock to."""

    account_id: str
    account_name: str
    at: str
    clock: str


class TenantClockRow(msgspec.Struct, frozen=True):
    """A tenant's own clock, and who follows it.

    Attributes:
        accounts: (id, name) of one page of the accounts bound to it, oldest first (the
            first unless this clock's page was asked for).
        accounts_pager: Where that page sits among all its accounts.
        sources: (id, name) of the Segment sources bound to it.
    """

    name: str
    now: str
    mode: str
    accounts: list[tuple[str, str]]
    accounts_pager: Pager
    sources: list[tuple[str, str]]


class ClocksView(msgspec.Struct, frozen=True):
    """The clock page: the global clock, tenant clocks (paged), and accounts' next refreshes.

    Attributes:
        tenants: One page of the tenant clocks, by name.
        pager: Where that page sits among every tenant clock.
        refreshes: The next refresh of the first accounts, to jump to.
    """

    clock: ClockView
    tenants: list[TenantClockRow]
    pager: Pager
    refreshes: list[JumpRow]


def clocks_view(
    ctx: InspectorContext,
    page: int = 1,
    per_page: int = CLOCKS_PER_PAGE,
    clock: str | None = None,
    accounts_page: int = 1,
    accounts_per_page: int = ACCOUNTS_PER_CLOCK,
) -> ClocksView:
    """The global clock, one page of tenant clocks with their accounts and sources, and jumps.

    Every account is read (``ACCOUNTS_SCANNED_AT_ONCE`` at a time) to find the accounts of
    the tenant clocks on the page; each shows its first ``accounts_per_page`` accounts, and
    the clock named ``clock`` shows page ``accounts_page`` of them instead.
    """
    service = ctx.abtasty
    named = service.clocks.named()
    pager = Pager.of(page, per_page, len(named))
    shown = named[pager.offset : pager.offset + per_page]
    account_pagers: dict[str, Pager] = {}
    wanted: dict[str, tuple[int, int]] = {}
    for name, _ in shown:
        first = (accounts_page - 1) * accounts_per_page if name == clock else 0
        wanted[name] = (first, first + accounts_per_page)
    counts = dict.fromkeys(wanted, 0)
    by_clock: dict[str, list[tuple[str, str]]] = {name: [] for name in wanted}
    jumps_from: list[Account] = []
    offset = 0
    while True:
        batch = service.accounts(offset, ACCOUNTS_SCANNED_AT_ONCE)
        if offset == 0:
            jumps_from = batch[:JUMPS_SHOWN]
        for account in batch:
            bound = account.clock
            if bound and bound in wanted:
                seen = counts[bound]
                low, high = wanted[bound]
                if low <= seen < high:
                    by_clock[bound].append((account.id, account.name))
                counts[bound] = seen + 1
        if len(batch) < ACCOUNTS_SCANNED_AT_ONCE:
            break
        offset += len(batch)
    for name, _ in shown:
        first = wanted[name][0]
        account_pagers[name] = Pager.of(
            first // accounts_per_page + 1, accounts_per_page, counts[name]
        )
    sources: dict[str, list[tuple[str, str]]] = {}
    if ctx.segment is not None:
        for source in ctx.segment.sources():
            if source.clock in wanted:
                sources.setdefault(source.clock, []).append((source.id, source.name))
    tenants = [
        TenantClockRow(
            name,
            format_instant(now),
            "manual",
            by_clock[name],
            account_pagers[name],
            sources.get(name, []),
        )
        for name, now in shown
    ]
    jumps = [
        JumpRow(
            a.id,
            a.name,
            format_instant(service.next_refresh(a.id).scheduled_for),
            a.clock or "",
        )
        for a in jumps_from
    ]
    return ClocksView(clock_view(ctx), tenants, pager, jumps)


# home: accounts and sources ---------------------------------------------------------------
class AccountRow(msgspec.Struct, frozen=True):
    """One account in the list."""

    id: str
    name: str
    timezone: str
    refresh_hour: int
    created_at: str
    connectors: int
    last_refresh: str | None
    next_refresh: str
    clock: str = ""
    """The tenant clock it runs on; empty for the global clock."""


class DestinationRow(msgspec.Struct, frozen=True):
    """A destination of a source (its API key masked)."""

    id: str
    endpoint: str
    api_key: str
    account_id: str | None


class SourceRow(msgspec.Struct, frozen=True):
    """One Segment source."""

    id: str
    name: str
    write_key: str
    destinations: list[DestinationRow]
    clock: str = ""
    """The tenant clock its deliveries run on; empty for the global clock."""


class HomeView(msgspec.Struct, frozen=True):
    """The inspector's front page: accounts (paged), Segment sources and the clock."""

    clock: ClockView
    accounts: list[AccountRow]
    pager: Pager
    sources: list[SourceRow]
    segment_served: bool


def _account_row(ctx: InspectorContext, account: Account) -> AccountRow:
    service = ctx.abtasty
    runs = service.refreshes(account.id)
    return AccountRow(
        account.id,
        account.name,
        account.timezone,
        account.refresh_hour,
        format_instant(account.created_at),
        len(service.connectors(account.id)),
        _at(runs[-1].scheduled_for) if runs else None,
        format_instant(service.next_refresh(account.id).scheduled_for),
        account.clock or "",
    )


def home_view(ctx: InspectorContext, page: int, per_page: int) -> HomeView:
    """Accounts (one page), every source with its destinations, and the clock."""
    service = ctx.abtasty
    pager = Pager.of(page, per_page, service.account_count())
    accounts = [_account_row(ctx, a) for a in service.accounts(pager.offset, per_page)]
    sources = []
    if ctx.segment is not None:
        owners = ctx.source_accounts()
        for source in ctx.segment.sources():
            destinations = [
                DestinationRow(
                    d.id,
                    ctx.segment.endpoint_of(d),
                    mask_secret(d.api_key),
                    owners.get(source.id),
                )
                for d in ctx.segment.destinations(source.id)
            ]
            sources.append(
                SourceRow(
                    source.id,
                    source.name,
                    "****" + source.write_key_last4,
                    destinations,
                    source.clock or "",
                )
            )
    return HomeView(clock_view(ctx), accounts, pager, sources, ctx.segment is not None)


def trait_note(key: TraitKey) -> str:
    """What the printed key leaves out: ``identify ["group.plan"]`` when it reads as another trait.

    Empty when the printed key alone names the trait (dots nest, ``group.`` means a group
    trait); see docs/traits.md.
    """
    if natural_trait_key(key.label) == key:
        return ""
    return f"{key.source} {json.dumps(list(key.path), ensure_ascii=False)}"


def _trait_order(key: TraitKey) -> tuple[str, str, tuple[str, ...]]:
    """Traits are listed by printed key, then source, then path, as the builder lists them."""
    return (key.label, key.source, key.path)


# the segment builder ----------------------------------------------------------------------
class BuilderValue(msgspec.Struct, frozen=True):
    """A value under a trait, and the matched visitors in its cohort."""

    value: JsonValue
    label: str
    visitors: int


class BuilderTrait(msgspec.Struct, frozen=True):
    """A trait shown under a connector, with one page of its values.

    Attributes:
        id: Names the trait in a query (``?trait=<id>&values_page=2``): JSON of the
            connector id, source and path.
        key: The key the builder prints.
        values: One page of its values (the first unless this trait's page was asked for).
        values_pager: Where that page sits among all its values.
        note: Its source and path when the printed key alone would read as another trait
            (see docs/traits.md); empty otherwise.
    """

    id: str
    key: str
    values: list[BuilderValue]
    values_pager: Pager
    source: str
    note: str


class BuilderItem(msgspec.Struct, frozen=True):
    """One connector's item under EXTERNAL DATA."""

    connector_id: str
    connector_name: str
    integration: str
    traits: list[BuilderTrait]


class HiddenRow(msgspec.Struct, frozen=True):
    """A cohort the builder hides, and why."""

    connector_id: str
    trait: str
    value: JsonValue
    label: str
    reason: str
    profiles: int
    explanation: str
    note: str


class BuilderView(msgspec.Struct, frozen=True):
    """The segment builder as AB Tasty shows it, and the cohorts it hides."""

    account: AccountRow
    group: str
    items: list[BuilderItem]
    hidden: list[HiddenRow]
    hidden_pager: Pager


def trait_id(connector_id: str, key: TraitKey) -> str:
    """The id of a connector's trait in a query: compact JSON ``[connector, source, path]``."""
    return json.dumps([connector_id, key.source, list(key.path)], separators=(",", ":"))


def builder_view(
    ctx: InspectorContext,
    account_id: str,
    page: int,
    per_page: int,
    trait: str | None = None,
    values_page: int = 1,
    values_per_page: int = VALUES_PER_TRAIT,
) -> BuilderView:
    """EXTERNAL DATA as the builder shows it; hidden empty cohorts (one page) apart.

    Each trait shows its first ``values_per_page`` values; the trait named by ``trait``
    (see :func:`trait_id`) shows page ``values_page`` of its values instead.
    """
    service = ctx.abtasty
    account = _account_row(ctx, service.account(account_id))
    items = []
    for item in service.criteria(account.id):
        traits = []
        for criterion in item.traits:
            ident = trait_id(item.connector_id, criterion.trait)
            pager = Pager.of(
                values_page if ident == trait else 1, values_per_page, len(criterion.values)
            )
            shown = criterion.values[pager.offset : pager.offset + values_per_page]
            traits.append(
                BuilderTrait(
                    ident,
                    criterion.key,
                    [BuilderValue(v.value, _show(v.value), v.visitors) for v in shown],
                    pager,
                    criterion.source,
                    trait_note(criterion.trait),
                )
            )
        items.append(BuilderItem(item.connector_id, item.connector_name, item.integration, traits))
    hidden = service.hidden_cohorts(account.id)
    pager = Pager.of(page, per_page, len(hidden))
    rows = [
        HiddenRow(
            h.connector_id,
            h.trait,
            h.value,
            _show(h.value),
            h.reason,
            h.profiles,
            h.explanation,
            trait_note(h.key),
        )
        for h in hidden[pager.offset : pager.offset + per_page]
    ]
    return BuilderView(account, "EXTERNAL DATA", items, rows, pager)


# the refresh timeline ---------------------------------------------------------------------
class RunRow(msgspec.Struct, frozen=True):
    """One nightly refresh run."""

    scheduled_for: str
    cutoff: str
    ran_at: str | None
    catch_up: bool
    late_seconds: float
    messages: int
    profiles: int
    matched_profiles: int
    cohorts: int
    entered: int
    left: int


class ChangeRow(msgspec.Struct, frozen=True):
    """A visitor entering or leaving a cohort at a run."""

    scheduled_for: str
    visitor_id: str
    connector_id: str
    trait: str
    value: JsonValue
    label: str
    change: str
    note: str


class TimelineView(msgspec.Struct, frozen=True):
    """The refresh runs over simulated days, and who entered which cohort when."""

    account: AccountRow
    now: str
    next_refresh: str
    runs: list[RunRow]
    run_pager: Pager
    chart_svg: str
    selected: str | None
    changes: list[ChangeRow]
    changes_pager: Pager


def timeline_view(
    ctx: InspectorContext,
    account_id: str,
    run: datetime | None,
    page: int,
    per_page: int,
    runs_page: int = 1,
) -> TimelineView:
    """The runs (newest first, paged), a chart of the latest ones, and one run's changes."""
    service = ctx.abtasty
    account = service.account(account_id)
    row = _account_row(ctx, account)
    history = service.refreshes(account.id)
    now = service.clock_for(account.id).now()  # the account's own present: its tenant clock
    next_run = service.next_refresh(account.id).scheduled_for
    rows = []
    for r in history:
        late = (r.ran_at - r.scheduled_for).total_seconds() if r.ran_at is not None else 0.0
        rows.append(
            RunRow(
                format_instant(r.scheduled_for),
                format_instant(r.cutoff),
                _at(r.ran_at),
                late > CATCH_UP_AFTER_SECONDS,
                late,
                r.messages,
                r.profiles,
                r.matched_profiles,
                r.cohorts,
                r.entered,
                r.left,
            )
        )
    svg = chart.refresh_chart(history[-TIMELINE_RUNS:], now, next_run, CATCH_UP_AFTER_SECONDS)
    newest_first = rows[::-1]
    run_pager = Pager.of(runs_page, PER_PAGE, len(rows))
    selected = run if run is not None else (history[-1].scheduled_for if history else None)
    changes: list[ChangeRow] = []
    total = 0
    if selected is not None:
        chosen = next((r for r in history if r.scheduled_for == selected), None)
        if chosen is None:
            raise HarnessError(
                ErrorCode.NOT_FOUND,
                f"The account has no refresh run scheduled for {format_instant(selected)}.",
            )
        total = chosen.entered + chosen.left
        found = service.cohort_changes(
            account.id, scheduled_for=selected, offset=(page - 1) * per_page, limit=per_page
        )
        changes = [
            ChangeRow(
                format_instant(c.scheduled_for),
                c.visitor_id,
                c.connector_id,
                c.trait,
                c.value,
                _show(c.value),
                c.change,
                trait_note(c.key),
            )
            for c in found
        ]
    kept = min(total, COHORT_CHANGES_KEPT_PER_RUN)
    return TimelineView(
        row,
        format_instant(now),
        format_instant(next_run),
        newest_first[run_pager.offset : run_pager.offset + PER_PAGE],
        run_pager,
        svg,
        _at(selected),
        changes,
        Pager.of(page, per_page, kept),
    )


# visitors ---------------------------------------------------------------------------------
class VisitorRow(msgspec.Struct, frozen=True):
    """A visitor in the account's list."""

    visitor_id: str
    anonymous_ids: int
    first_seen: str
    last_seen: str


class VisitorsView(msgspec.Struct, frozen=True):
    """The visitors the tag reported, searchable by id prefix."""

    account: AccountRow
    prefix: str
    visitors: list[VisitorRow]
    pager: Pager


def visitors_view(
    ctx: InspectorContext, account_id: str, prefix: str, page: int, per_page: int
) -> VisitorsView:
    """One page of the account's visitors."""
    service = ctx.abtasty
    row = _account_row(ctx, service.account(account_id))
    found, total = service.visitors(
        row.id, prefix=prefix, offset=(page - 1) * per_page, limit=per_page
    )
    return VisitorsView(
        row,
        prefix,
        [
            VisitorRow(
                v.visitor_id, v.anonymous_ids, format_instant(v.first_seen), _at(v.last_seen) or ""
            )
            for v in found
        ],
        Pager.of(page, per_page, total),
    )


class SightingRow(msgspec.Struct, frozen=True):
    """The tag read an anonymousId on the visitor."""

    anonymous_id: str
    seen_at: str
    matched_connectors: list[str]


class TraitRow(msgspec.Struct, frozen=True):
    """An activated trait of the visitor.

    Attributes:
        key: The key the builder prints.
        note: Its source and path when the printed key alone would read as another trait;
            empty otherwise.
    """

    connector_id: str
    key: str
    values: list[str]
    source: str
    note: str


class MessageRow(msgspec.Struct, frozen=True):
    """A message that carries one of the visitor's anonymousIds."""

    message_id: str
    type: str
    anonymous_id: str | None
    received_at: str
    timestamp: str
    traits: str
    activated: bool


class SegmentRow(msgspec.Struct, frozen=True):
    """A segment of the account, whether the visitor is in it, and why."""

    id: str
    name: str
    matches: bool
    reasons: list[str]


class VisitorView(msgspec.Struct, frozen=True):
    """One visitor: sightings, matched profiles, activated traits, segments, explanations."""

    account: AccountRow
    visitor_id: str
    last_refresh: str | None
    next_refresh: str
    sightings: list[SightingRow]
    traits: list[TraitRow]
    segments: list[SegmentRow]
    messages: list[MessageRow]
    changes: list[ChangeRow]


def visitor_view(ctx: InspectorContext, account_id: str, visitor_id: str) -> VisitorView:
    """Everything about one visitor, with every segment explained."""
    service = ctx.abtasty
    row = _account_row(ctx, service.account(account_id))
    report = service.visitor(row.id, visitor_id)
    matched: dict[str, list[str]] = {}
    for connector_id, anonymous_id in report.matched:
        matched.setdefault(anonymous_id, []).append(connector_id)
    segments = []
    for segment in service.segments(row.id):
        explanation = service.explain(row.id, segment.id, report.visitor_id)
        segments.append(
            SegmentRow(segment.id, segment.name, explanation.matches, list(explanation.reasons))
        )
    changes = service.cohort_changes(row.id, visitor_id=report.visitor_id, limit=MAX_PER_PAGE)
    return VisitorView(
        row,
        report.visitor_id,
        _at(report.last_refresh),
        format_instant(report.next_refresh),
        [
            SightingRow(s.anonymous_id, format_instant(s.seen_at), matched.get(s.anonymous_id, []))
            for s in report.sightings
        ],
        [
            TraitRow(
                connector_id, key.label, [_show(v) for v in values], key.source, trait_note(key)
            )
            for connector_id, by_key in report.traits.items()
            for key, values in sorted(by_key.items(), key=lambda kv: _trait_order(kv[0]))
        ],
        segments,
        [
            MessageRow(
                m.message_id,
                m.type,
                m.anonymous_id,
                format_instant(m.received_at),
                format_instant(m.timestamp),
                msgspec.json.encode(m.traits).decode(),
                taken,
            )
            for m, taken in reversed(report.messages)
        ],
        [
            ChangeRow(
                format_instant(c.scheduled_for),
                c.visitor_id,
                c.connector_id,
                c.trait,
                c.value,
                _show(c.value),
                c.change,
                trait_note(c.key),
            )
            for c in changes
        ],
    )


# Segment: delivery overview and attempts ---------------------------------------------------
FUNNEL = (
    ("received", "Received"),
    ("failed_on_ingest", "Failed on ingest"),
    ("filtered_at_destination", "Filtered at destination"),
    ("failed_delivery", "Failed delivery"),
    ("delivered", "Delivered"),
)


class FunnelStep(msgspec.Struct, frozen=True):
    """One stage of the delivery overview's funnel."""

    stage: str
    label: str
    count: int
    share: float


class DeliveryRow(msgspec.Struct, frozen=True):
    """A message on its way to a destination."""

    message_id: str | None
    type: str | None
    destination_id: str | None
    stage: str
    attempts: int
    last_status: int | None
    received_at: str | None
    next_attempt_at: str | None


class SourceView(msgspec.Struct, frozen=True):
    """A Segment source's delivery overview: the funnel and its messages, newest first."""

    source: SourceRow
    funnel: list[FunnelStep]
    retrying: int
    stage: str | None
    messages: list[DeliveryRow]
    pager: Pager


def _segment(ctx: InspectorContext) -> FakeSegment:
    if ctx.segment is None:
        raise HarnessError(
            ErrorCode.NOT_FOUND,
            "No fake Segment is served beside this fake AB Tasty (harness serve is).",
        )
    return ctx.segment


def _source_row(ctx: InspectorContext, source_id: str) -> SourceRow:
    segment = _segment(ctx)
    source = segment.source(source_id)
    owner = ctx.source_accounts().get(source.id)
    return SourceRow(
        source.id,
        source.name,
        "****" + source.write_key_last4,
        [
            DestinationRow(d.id, segment.endpoint_of(d), mask_secret(d.api_key), owner)
            for d in segment.destinations(source.id)
        ],
        source.clock or "",
    )


def source_view(
    ctx: InspectorContext, source_id: str, stage: str | None, page: int, per_page: int
) -> SourceView:
    """The funnel and one page of the source's messages."""
    segment = _segment(ctx)
    row = _source_row(ctx, source_id)
    found = segment.deliveries(row.id, stage=stage, offset=(page - 1) * per_page, limit=per_page)
    received = max(found.stages["received"], 1)
    funnel = [
        FunnelStep(stage_name, label, found.stages[stage_name], found.stages[stage_name] / received)
        for stage_name, label in FUNNEL
    ]
    return SourceView(
        row,
        funnel,
        found.retrying,
        stage,
        [
            DeliveryRow(
                r.message_id,
                r.type,
                r.destination_id,
                r.stage,
                r.attempts,
                r.last_status,
                _at(r.received_at),
                _at(r.next_attempt_at),
            )
            for r in found.messages
        ],
        Pager.of(page, per_page, found.total),
    )


class AttemptRow(msgspec.Struct, frozen=True):
    """One delivery attempt."""

    at: str
    status: int | None
    outcome: str
    detail: str
    next_attempt_at: str | None


class DestinationDelivery(msgspec.Struct, frozen=True):
    """One message's way to one destination, attempt by attempt."""

    destination_id: str | None
    stage: str
    received_at: str | None
    next_attempt_at: str | None
    attempts: list[AttemptRow]
    timeline_svg: str


class MessageView(msgspec.Struct, frozen=True):
    """A message's delivery to each destination, with its attempts on a timeline."""

    source: SourceRow
    message_id: str
    type: str | None
    payload: Any
    deliveries: list[DestinationDelivery]


def message_view(ctx: InspectorContext, source_id: str, message_id: str) -> MessageView:
    """Every destination's attempts for one message."""
    segment = _segment(ctx)
    row = _source_row(ctx, source_id)
    found = segment.deliveries(row.id, message_id=message_id, limit=MAX_PER_PAGE)
    if not found.messages:
        raise HarnessError(
            ErrorCode.NOT_FOUND,
            f"Source {row.id} has no message {message_id[:60]!r} in its overview.",
        )
    records = found.messages[::-1]
    first = records[0]
    payload: Any = None
    if first.payload:
        payload = mask_document(msgspec.json.decode(first.payload))
    now = ctx.clock.now()
    deliveries = [
        DestinationDelivery(
            r.destination_id,
            r.stage,
            _at(r.received_at),
            _at(r.next_attempt_at),
            [
                AttemptRow(
                    format_instant(a.at), a.status, a.outcome, a.detail, _at(a.next_attempt_at)
                )
                for a in r.history
            ],
            chart.attempts_chart(r.received_at, r.history, r.next_attempt_at, now),
        )
        for r in records
    ]
    return MessageView(row, message_id, first.type, payload, deliveries)


# the live event stream and the journal -----------------------------------------------------
class EventsView(msgspec.Struct, frozen=True):
    """The latest events reaching both fakes, newest first (the live stream continues it)."""

    events: list[Event]
    type: str
    account: str
    cursor: str
    accounts: list[tuple[str, str]]
    types: list[str]


def events_view(ctx: InspectorContext, filters: EventFilter, limit: int) -> EventsView:
    """The newest ``limit`` events matching the filters."""
    feed = ctx.feed()
    events, cursor = feed.latest(filters, limit)
    accounts = [(a.id, a.name) for a in ctx.abtasty.accounts(0, MAX_PER_PAGE)]
    return EventsView(
        events,
        filters.type or "",
        filters.account or "",
        cursor,
        accounts,
        list(EventFilter.TYPES),
    )


class JournalRow(msgspec.Struct, frozen=True):
    """A request one of the fakes answered."""

    fake: str
    seq: int
    at: str
    method: str
    path: str
    status: int
    account_id: str | None
    headers: dict[str, str]
    body: Any
    response: Any
    clock: str = ""
    """The tenant clock ``at`` was read from; empty for the global clock."""


class JournalView(msgspec.Struct, frozen=True):
    """The request journals of both fakes, newest first, filtered and paged."""

    requests: list[JournalRow]
    pager: Pager
    fake: str
    method: str
    status: str
    account: str
    path: str


def journal_view(
    ctx: InspectorContext,
    *,
    fake: str,
    method: str,
    status: str,
    account: str,
    path: str,
    page: int,
    per_page: int,
) -> JournalView:
    """Both journals merged newest first, filtered by fake, method, status class, account, path.

    Raises:
        HarnessError: ``invalid_body`` for an unknown fake or status class.
    """
    if fake and fake not in ctx.journals:
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"fake {fake[:20]!r} is not one of {', '.join(ctx.journals)}."
        )
    if status and status not in ("2xx", "3xx", "4xx", "5xx"):
        raise HarnessError(
            ErrorCode.INVALID_BODY, f"status {status[:10]!r}: use 2xx, 3xx, 4xx or 5xx."
        )
    matching = []
    for name, journal in ctx.journals.items():
        if fake and name != fake:
            continue
        for entry in journal.entries():
            if method and entry.method != method.upper():
                continue
            if status and entry.status // 100 != int(status[0]):
                continue
            if account and entry.account_id != account:
                continue
            if path and path not in entry.path:
                continue
            matching.append((name, entry))
    matching.sort(key=lambda pair: (pair[1].at, pair[1].seq), reverse=True)
    pager = Pager.of(page, per_page, len(matching))
    rows = []
    clock_of = _tenant_clocks(ctx)
    for name, entry in matching[pager.offset : pager.offset + per_page]:
        wire = entry_json(entry)
        rows.append(
            JournalRow(
                name,
                entry.seq,
                wire["at"],
                wire["method"],
                wire["path"],
                wire["status"],
                wire["account_id"],
                wire["headers"],
                wire["body"],
                wire["response"],
                clock_of(name, entry.account_id),
            )
        )
    return JournalView(rows, pager, fake, method, status, account, path)


def _tenant_clocks(ctx: InspectorContext) -> Callable[[str, str | None], str]:
    """The name of the tenant clock a journal entry's tenant runs on (empty: the global one).

    An AB Tasty entry's tenant is an account, a Segment entry's a source; a tenant reset
    since shows no clock name.
    """
    known: dict[tuple[str, str], str] = {}

    def clock_of(fake: str, tenant: str | None) -> str:
        if tenant is None:
            return ""
        found = known.get((fake, tenant))
        if found is None:
            found = ""
            if fake == "segment" and ctx.segment is not None:
                source = ctx.segment.store.get_source(tenant)
                found = (source.clock or "") if source is not None else ""
            elif fake != "segment":
                account = ctx.abtasty.store.get_account(tenant)
                found = (account.clock or "") if account is not None else ""
            known[(fake, tenant)] = found
        return found

    return clock_of
