"""Segment Engage over HTTP: audiences and computed traits of the space bound to a source.

Routes live under ``/_segment/sources/{source_id}/`` beside the source's destinations;
docs/contract.md lists them with their codes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from harness.core.clock import format_instant
from harness.segment import FakeSegment
from harness.segment.engage import Change, Computation, ComputationClass

Segment = NamedDependency[FakeSegment]
BASE = "/_segment/sources/{source_id:str}"
TAGS = ["Segment Engage"]


class AudienceIn(msgspec.Struct):
    """Create an audience: its key is the boolean trait destinations receive."""

    key: str
    name: str | None = None


class ComputedTraitIn(msgspec.Struct):
    """Create a computed trait, sent as identify (``user``) or group (``account``) calls."""

    key: str
    level: str = "user"
    name: str | None = None


class ComputationOut(msgspec.Struct):
    """An audience or a computed trait; ``warning`` when its key was a deleted one's."""

    id: str
    source_id: str
    space_id: str
    computation_class: str
    key: str
    name: str
    level: str
    created_at: str
    warning: str | None = None


class ComputationsOut(msgspec.Struct):
    """The live audiences and computed traits of a source's space, oldest first."""

    audiences: list[ComputationOut]
    computed_traits: list[ComputationOut]


class MemberIn(msgspec.Struct):
    """A user entering or exiting an audience."""

    anonymous_id: str
    user_id: str | None = None


class ValueIn(msgspec.Struct):
    """A computed trait's new value, for a user or for an account and its members."""

    value: Any
    anonymous_id: str | None = None
    user_id: str | None = None
    group_id: str | None = None
    members: list[str] = msgspec.field(default_factory=list)


class ChangeOut(msgspec.Struct):
    """What the change sent: nothing when the state did not change."""

    sent: bool
    message_ids: list[str]


class MembersOut(msgspec.Struct):
    """The audience's members now (anonymousIds, in the order they first entered)."""

    members: list[str]


def computation_out(computation: Computation, warning: str | None = None) -> ComputationOut:
    """The wire form of a computation."""
    return ComputationOut(
        computation.id,
        computation.source_id,
        computation.space_id,
        computation.computation_class,
        computation.key,
        computation.name,
        computation.level,
        format_instant(computation.created_at),
        warning,
    )


def _change_out(change: Change) -> ChangeOut:
    return ChangeOut(change.sent, list(change.message_ids))


@post(f"{BASE}/audiences", status_code=201, sync_to_thread=False, tags=TAGS)
def create_audience(
    source_id: FromPath[str], data: JSONBody[AudienceIn], segment: Segment
) -> ComputationOut:
    """Create an audience; reusing a deleted audience's key is allowed, with a warning."""
    segment.source(source_id)
    created = segment.engage.create_audience(source_id, data.key, data.name)
    return computation_out(created.computation, created.warning)


@post(f"{BASE}/computed-traits", status_code=201, sync_to_thread=False, tags=TAGS)
def create_computed_trait(
    source_id: FromPath[str], data: JSONBody[ComputedTraitIn], segment: Segment
) -> ComputationOut:
    """Create a computed trait (``level``: ``user`` or ``account``)."""
    segment.source(source_id)
    created = segment.engage.create_computed_trait(source_id, data.key, data.level, data.name)
    return computation_out(created.computation, created.warning)


@get(f"{BASE}/engage", sync_to_thread=False, tags=TAGS)
def list_computations(source_id: FromPath[str], segment: Segment) -> ComputationsOut:
    """The live audiences and computed traits of the source's space."""
    segment.source(source_id)
    live = segment.engage.computations(source_id)
    return ComputationsOut(
        [computation_out(c) for c in live if c.computation_class == "audience"],
        [computation_out(c) for c in live if c.computation_class == "computed_trait"],
    )


def _delete(
    source_id: str, computation_id: str, kind: ComputationClass, segment: FakeSegment
) -> None:
    segment.source(source_id)
    segment.engage.delete(source_id, computation_id, kind)


@delete(f"{BASE}/audiences/{{audience_id:str}}", sync_to_thread=False, tags=TAGS)
def delete_audience(source_id: FromPath[str], audience_id: FromPath[str], segment: Segment) -> None:
    """Delete an audience; destinations keep what they were sent (no exits are sent)."""
    _delete(source_id, audience_id, "audience", segment)


@delete(f"{BASE}/computed-traits/{{trait_id:str}}", sync_to_thread=False, tags=TAGS)
def delete_computed_trait(
    source_id: FromPath[str], trait_id: FromPath[str], segment: Segment
) -> None:
    """Delete a computed trait; destinations keep the values they were sent."""
    _delete(source_id, trait_id, "computed_trait", segment)


@get(f"{BASE}/audiences/{{audience_id:str}}/members", sync_to_thread=False, tags=TAGS)
def audience_members(
    source_id: FromPath[str], audience_id: FromPath[str], segment: Segment
) -> MembersOut:
    """Who is in the audience now."""
    segment.source(source_id)
    return MembersOut(segment.engage.members(source_id, audience_id))


@post(
    f"{BASE}/audiences/{{audience_id:str}}/enter", status_code=200, sync_to_thread=False, tags=TAGS
)
def enter_audience(
    source_id: FromPath[str], audience_id: FromPath[str], data: JSONBody[MemberIn], segment: Segment
) -> ChangeOut:
    """The user enters: an identify with ``{key: true}`` goes to the destinations."""
    segment.source(source_id)
    return _change_out(
        segment.engage.enter(source_id, audience_id, data.anonymous_id, data.user_id)
    )


@post(
    f"{BASE}/audiences/{{audience_id:str}}/exit", status_code=200, sync_to_thread=False, tags=TAGS
)
def exit_audience(
    source_id: FromPath[str], audience_id: FromPath[str], data: JSONBody[MemberIn], segment: Segment
) -> ChangeOut:
    """The user exits: an identify with ``{key: false}`` (nothing for a non-member)."""
    segment.source(source_id)
    return _change_out(segment.engage.exit(source_id, audience_id, data.anonymous_id, data.user_id))


@post(
    f"{BASE}/computed-traits/{{trait_id:str}}/values",
    status_code=200,
    sync_to_thread=False,
    tags=TAGS,
)
def set_computed_value(
    source_id: FromPath[str], trait_id: FromPath[str], data: JSONBody[ValueIn], segment: Segment
) -> ChangeOut:
    """A computed trait takes a value, for a user or for an account's members."""
    segment.source(source_id)
    change = segment.engage.set_value(
        source_id,
        trait_id,
        data.value,
        anonymous_id=data.anonymous_id,
        user_id=data.user_id,
        group_id=data.group_id,
        members=data.members,
    )
    return _change_out(change)


ENGAGE_ROUTES = [
    create_audience,
    create_computed_trait,
    list_computations,
    delete_audience,
    delete_computed_trait,
    audience_members,
    enter_audience,
    exit_audience,
    set_computed_value,
]
