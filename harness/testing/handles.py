"""Handles that let a test speak the integration's language: an account, a Segment source.

They work on an in-process :class:`~harness.runtime.stack.Harness` through the domain API (no
HTTP, so a test costs microseconds); the pytest plugin hands them out as fixtures.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from harness.abtasty import AbTasty
from harness.abtasty.records import Account, Connector, RefreshRun
from harness.abtasty.segments import ConditionRequest
from harness.abtasty.service import Explanation
from harness.core.clock import parse_instant
from harness.core.protocol import basic_authorization
from harness.core.timeline import advance_clock
from harness.runtime.stack import Harness
from harness.segment.engage import Computation
from harness.segment.scripted_faults import Outage
from harness.segment.service import Overview, Source

_message_ids = itertools.count(1)


def instant(when: str | datetime) -> datetime:
    """An instant from ISO-8601 text (``Z`` allowed) or a datetime."""
    return parse_instant(when) if isinstance(when, str) else when


def basic_auth(secret: str) -> str:
    """``Basic base64("<secret>:")``: how Segment sends an API key or a write key."""
    return basic_authorization(secret)


def segment_message(
    kind: str = "identify",
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    traits: dict[str, Any] | None = None,
    timestamp: str | None = None,
    message_id: str | None = None,
    group_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Segment Spec message as the AB Tasty destination receives it (unique messageId by default)."""
    body: dict[str, Any] = {"type": kind, "messageId": message_id or f"msg-{next(_message_ids)}"}
    for name, value in (("anonymousId", anonymous_id), ("userId", user_id), ("groupId", group_id)):
        if value is not None:
            body[name] = value
    if traits is not None:
        body["traits"] = traits
    if timestamp is not None:
        body["timestamp"] = timestamp
    body.update(extra)
    return body


class ClockControl:
    """The shared manual clock, in a time-machine vocabulary: ``move_to``, ``advance``, ``now``.

    Moves never skip work that falls due on the way (Segment retries, held deliveries).
    """

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def now(self) -> datetime:
        """The current simulated time."""
        return self.harness.clock.now()

    def move_to(self, when: str | datetime) -> None:
        """Move to an instant (never backwards)."""
        self.harness.move_to(instant(when))

    def advance(self, seconds: float | str) -> None:
        """Move forward by seconds, or by a duration like ``"7h"`` or ``"1h30m"``."""
        if isinstance(seconds, str):
            from harness.scenarios.model import parse_duration

            seconds = parse_duration(seconds).total_seconds()
        advance_clock(self.harness.clock, seconds, self.harness.wakers)


@dataclass
class AccountHandle:
    """One AB Tasty account wired for Segment: its connector and its API key.

    Attributes:
        sent: Every message delivered through :meth:`send`, in order.
    """

    harness: Harness
    account: Account
    connector: Connector
    api_key: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls, harness: Harness, name: str = "Shop", timezone: str = "UTC", refresh_hour: int = 3
    ) -> AccountHandle:
        """An account with a Segment pull connector and a generated API key."""
        service = harness.abtasty
        account = service.create_account(name, timezone, refresh_hour)
        connector = service.create_segment_connector(account.id, "Segment")
        return cls(harness, account, connector, service.generate_api_key(account.id))

    @property
    def service(self) -> AbTasty:
        """The fake AB Tasty."""
        return self.harness.abtasty

    @property
    def clock(self) -> Any:
        """The shared clock."""
        return self.harness.clock

    @property
    def id(self) -> str:
        """The account id."""
        return self.account.id

    @property
    def auth(self) -> str:
        """The Authorization header Segment sends with this account's key."""
        return basic_auth(self.api_key)

    def at(self, when: str | datetime) -> None:
        """Move the shared clock to an instant."""
        self.harness.move_to(instant(when))

    def send(self, body: dict[str, Any]) -> str:
        """Deliver one message through the webhook as Segment would; returns the receipt status."""
        self.sent.append(body)
        return self.service.receive(self.auth, msgspec.json.encode(body)).status

    def identify(self, anonymous_id: str | None = "anon-1", **traits: Any) -> str:
        """Deliver an identify call with ``traits``."""
        return self.send(segment_message("identify", anonymous_id=anonymous_id, traits=traits))

    def group(self, group_id: str, anonymous_id: str | None = "anon-1", **traits: Any) -> str:
        """Deliver a group call with the group's ``traits``."""
        return self.send(
            segment_message("group", anonymous_id=anonymous_id, group_id=group_id, traits=traits)
        )

    def see(
        self, visitor_id: str, anonymous_id: str = "anon-1", seen_at: str | None = None
    ) -> bool:
        """The tag sees ``anonymous_id`` on visitor ``visitor_id``; True for a new visitor."""
        when = instant(seen_at) if seen_at else None
        return self.service.record_sighting(self.account.id, visitor_id, anonymous_id, when)

    def shown(self) -> dict[str, dict[Any, int]]:
        """EXTERNAL DATA for this account's connector: trait -> value -> visitors.

        A trait is named by the key the builder prints (``plan``, ``group.plan``,
        ``company.name``) when that key read plainly means it: dots nest, ``group.`` means a
        group trait. A trait the plain reading would mistake gets its source and path too:
        ``company.name (identify ["company.name"])`` for a literal dotted key,
        ``group.plan (identify ["group.plan"])`` for an identify trait of that name.
        """
        items = self.service.criteria(self.account.id)
        item = next(i for i in items if i.connector_id == self.connector.id)
        return {
            trait.trait.name: {v.value: v.visitors for v in trait.values} for trait in item.traits
        }

    def segment(
        self,
        trait: str | None,
        operator: str,
        value: Any = None,
        match: str = "all",
        *,
        source: str | None = None,
        path: Sequence[str] | None = None,
    ) -> str:
        """Create a one-condition segment on this connector's trait; returns its id.

        ``trait`` is the key the builder prints; ``source`` and ``path`` say which of two
        traits printed alike (see :meth:`shown`).
        """
        condition = ConditionRequest(self.connector.id, trait, operator, value, source, path)
        named = trait if trait is not None else ".".join(str(part) for part in path or ())
        return self.service.create_segment(
            self.account.id, f"{named} {operator}", match, [condition]
        ).id

    def segments_of(self, visitor_id: str) -> list[str]:
        """The segments the visitor is in now."""
        return self.service.visitor_segments(self.account.id, visitor_id)

    def explain(self, segment_id: str, visitor_id: str) -> Explanation:
        """Why the visitor is or is not in the segment."""
        return self.service.explain(self.account.id, segment_id, visitor_id)

    def refreshes(self) -> list[RefreshRun]:
        """The nightly refreshes that ran, oldest first."""
        return self.service.refreshes(self.account.id)


@dataclass
class SourceHandle:
    """A Segment source whose AB Tasty destination is an account of the same harness."""

    harness: Harness
    source: Source
    write_key: str
    destination_id: str

    @classmethod
    def create(cls, harness: Harness, account: AccountHandle, name: str = "web") -> SourceHandle:
        """A source with an AB Tasty destination carrying the account's API key."""
        source, write_key = harness.segment.create_source(name)
        destination = harness.segment.add_destination(source.id, account.api_key)
        return cls(harness, source, write_key, destination.id)

    @property
    def source_id(self) -> str:
        """The source's id (as the delivery overview route names it)."""
        return self.source.id

    def call(self, kind: str, **fields: Any) -> None:
        """One Tracking API call (``identify``, ``group``, ``track``, ``page``, ...), camelCase fields."""
        self.harness.segment.ingest(kind, basic_auth(self.write_key), msgspec.json.encode(fields))

    def identify(self, anonymous_id: str | None = "anon-1", **traits: Any) -> None:
        """identify through the Tracking API."""
        self.call("identify", anonymousId=anonymous_id, traits=traits)

    def group(self, group_id: str, anonymous_id: str | None = "anon-1", **traits: Any) -> None:
        """group through the Tracking API."""
        self.call("group", anonymousId=anonymous_id, groupId=group_id, traits=traits)

    def track(self, event: str, anonymous_id: str | None = "anon-1", **properties: Any) -> None:
        """track through the Tracking API (filtered at the AB Tasty destination)."""
        self.call("track", anonymousId=anonymous_id, event=event, properties=properties)

    def outage(self, until: str | datetime, status: int | None = 503) -> None:
        """Every delivery fails with ``status`` (None: timeout) until ``until``."""
        self.harness.faults.outage = Outage(status, instant(until))

    def overview(self) -> Overview:
        """The delivery overview."""
        return self.harness.segment.overview(self.source.id)

    def stages(self) -> dict[str, int]:
        """Counts per delivery stage."""
        return self.overview().stages

    def audience(self, key: str, name: str | None = None) -> AudienceHandle:
        """A new Engage audience of this source's space (its key: the trait AB Tasty sees)."""
        created = self.harness.segment.engage.create_audience(self.source.id, key, name)
        return AudienceHandle(self, created.computation, created.warning)

    def computed_trait(self, key: str, level: str = "user") -> ComputedTraitHandle:
        """A new Engage computed trait: ``user`` level (identify) or ``account`` level (group)."""
        created = self.harness.segment.engage.create_computed_trait(self.source.id, key, level)
        return ComputedTraitHandle(self, created.computation, created.warning)


@dataclass
class AudienceHandle:
    """An Engage audience: members enter and exit at the clock's present."""

    source: SourceHandle
    computation: Computation
    warning: str | None = None

    @property
    def id(self) -> str:
        """The audience id."""
        return self.computation.id

    @property
    def key(self) -> str:
        """The audience key (the boolean trait destinations receive)."""
        return self.computation.key

    def enter(self, anonymous_id: str, user_id: str | None = None) -> bool:
        """The user enters (identify ``{key: true}``); False when already a member."""
        engage = self.source.harness.segment.engage
        return engage.enter(self.source.source.id, self.id, anonymous_id, user_id).sent

    def exit(self, anonymous_id: str, user_id: str | None = None) -> bool:
        """The user exits (identify ``{key: false}``); False when not a member."""
        engage = self.source.harness.segment.engage
        return engage.exit(self.source.source.id, self.id, anonymous_id, user_id).sent

    def members(self) -> list[str]:
        """The anonymousIds in the audience now."""
        return self.source.harness.segment.engage.members(self.source.source.id, self.id)

    def delete(self) -> None:
        """Delete the audience (destinations keep what they were sent)."""
        self.source.harness.segment.engage.delete(self.source.source.id, self.id, "audience")


@dataclass
class ComputedTraitHandle:
    """An Engage computed trait: values set at the clock's present."""

    source: SourceHandle
    computation: Computation
    warning: str | None = None

    @property
    def id(self) -> str:
        """The computed trait id."""
        return self.computation.id

    def set(self, anonymous_id: str, value: Any, user_id: str | None = None) -> bool:
        """A user-level value (identify); False when unchanged."""
        engage = self.source.harness.segment.engage
        return engage.set_value(
            self.source.source.id, self.id, value, anonymous_id=anonymous_id, user_id=user_id
        ).sent

    def set_for_account(self, group_id: str, value: Any, members: list[str]) -> bool:
        """An account-level value: a group call for each member; False when unchanged."""
        engage = self.source.harness.segment.engage
        return engage.set_value(
            self.source.source.id, self.id, value, group_id=group_id, members=members
        ).sent
