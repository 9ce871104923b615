"""Segment Engage: audiences and computed traits, sent to a source's destinations.

Engage computes audiences (who is in, who is out) and computed traits (a value per user or
per account) and syncs each change to the event destinations connected to it, AB Tasty
among them, as ordinary calls:

- an audience member who enters: ``identify`` with ``{"<audience_key>": true}``; who exits:
  the same with ``false``;
- a user-level computed trait: ``identify`` with ``{"<trait_key>": value}``;
- an account-level computed trait: one ``group`` call per member of the account, with
  ``{"<trait_key>": value}`` as the group's traits.

Every such message carries ``context.personas`` (the computation's class, key and id, the
space) and goes through the same delivery as a Tracking API call: destinations, the
``integrations`` object, retries and faults.

In the fake, an Engage space is bound to one source (``space_id`` is derived from it): its
computations are sent to that source's destinations. Sources: segment-docs,
src/engage/using-engage-data.md and src/engage/faqs.md.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from harness.core.clock import Clock, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.protocol import anonymous_id_problem

ComputationClass = Literal["audience", "computed_trait"]
Level = Literal["user", "account"]

KEY_PATTERN = re.compile(r"^[a-z0-9_]{1,100}$")
ENGAGE_LIBRARY = {"name": "Segment Engage", "version": "fake"}


@dataclass(frozen=True, slots=True)
class Computation:
    """An audience or a computed trait of an Engage space.

    Attributes:
        id: ``aud_…`` or ``ct_…``.
        source_id: The source whose destinations receive its changes.
        computation_class: ``audience`` or ``computed_trait``.
        key: The trait name destinations see; immutable once created.
        name: A display name.
        level: ``user`` (identify) or ``account`` (group); audiences are user level.
        created_at: When it was created.
        deleted_at: When it was deleted, if it was.
    """

    id: str
    source_id: str
    computation_class: ComputationClass
    key: str
    name: str
    level: Level
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def space_id(self) -> str:
        """The Engage space this computation belongs to (one per source in the fake)."""
        return space_of(self.source_id)


@dataclass(frozen=True, slots=True)
class Created:
    """A new computation, and the warning Segment would show about its key, if any."""

    computation: Computation
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one membership or value change sent: the messageIds (none when nothing changed)."""

    message_ids: tuple[str, ...]

    @property
    def sent(self) -> bool:
        """Whether anything was sent (entering an audience twice sends nothing)."""
        return bool(self.message_ids)


def space_of(source_id: str) -> str:
    """The id of the Engage space bound to a source."""
    return f"spa_{source_id.removeprefix('src_')}"


COMPUTATION_COLUMNS = "id, source_id, computation_class, key, name, level, created_at, deleted_at"
"""The columns of ``engage_computations`` (SQLite and PostgreSQL), in a computation's field order."""


def _same(when: Any) -> Any:
    return when


def new_computation_row(
    computation: Computation, instant: Callable[[datetime], Any] = _same
) -> tuple[Any, ...]:
    """A new computation's columns but ``deleted_at`` (a store writes NULL there).

    Args:
        computation: The computation to keep.
        instant: How the store keeps a time (unchanged by default).
    """
    return (
        computation.id,
        computation.source_id,
        computation.computation_class,
        computation.key,
        computation.name,
        computation.level,
        instant(computation.created_at),
    )


def computation_of(row: Any, instant: Callable[[Any], datetime] = _same) -> Computation:
    """The computation in a row of :data:`COMPUTATION_COLUMNS`.

    Args:
        row: The row's values.
        instant: How the store's time is read back (unchanged by default).
    """
    deleted_at = instant(row[7]) if row[7] is not None else None
    return Computation(row[0], row[1], row[2], row[3], row[4], row[5], instant(row[6]), deleted_at)


class EngageStore(Protocol):
    """Where an Engage space keeps its computations and each subject's current state.

    A subject is an anonymousId (user level) or a groupId (account level). States are JSON
    values: ``True``/``False`` for audiences, any value for computed traits. Each method is
    atomic, so workers sharing a store never both send the same change.
    """

    def add(self, computation: Computation) -> bool:
        """Keep a new computation; False (and nothing kept) when a live one has its key."""

    def get(self, computation_id: str) -> Computation | None:
        """The computation, deleted ones included."""

    def mark_deleted(self, computation_id: str, at: datetime) -> None:
        """Mark a computation deleted."""

    def computations(self, source_id: str) -> list[Computation]:
        """The source's computations, deleted ones included, oldest first."""

    def change_state(
        self, computation_id: str, subject: str, value: Any, *, only_if_known: bool
    ) -> bool:
        """Set the subject's state to ``value`` unless it already is (same JSON, same type),
        or, with ``only_if_known``, unless the subject has no state yet; True when set."""

    def states(self, computation_id: str) -> dict[str, Any]:
        """Every subject's state, in the order first set."""

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source's computations."""


_json = msgspec.json.Encoder()


def same_state(was: Any, value: Any) -> bool:
    """Whether two states are the same JSON value (``true``, ``1`` and ``1.0`` differ)."""
    return _json.encode(was) == _json.encode(value)


class MemoryEngageStore:
    """An :class:`EngageStore` in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._computations: dict[str, Computation] = {}
        self._states: dict[str, dict[str, Any]] = {}

    def add(self, computation: Computation) -> bool:
        with self._lock:
            if any(
                c.source_id == computation.source_id
                and c.key == computation.key
                and c.deleted_at is None
                for c in self._computations.values()
            ):
                return False
            self._computations[computation.id] = computation
            self._states[computation.id] = {}
            return True

    def get(self, computation_id: str) -> Computation | None:
        return self._computations.get(computation_id)

    def mark_deleted(self, computation_id: str, at: datetime) -> None:
        with self._lock:
            found = self._computations.get(computation_id)
            if found is not None and found.deleted_at is None:
                self._computations[computation_id] = replace(found, deleted_at=at)

    def computations(self, source_id: str) -> list[Computation]:
        return [c for c in self._computations.values() if c.source_id == source_id]

    def change_state(
        self, computation_id: str, subject: str, value: Any, *, only_if_known: bool
    ) -> bool:
        with self._lock:
            states = self._states.setdefault(computation_id, {})
            if subject in states:
                if same_state(states[subject], value):
                    return False
            elif only_if_known:
                return False
            states[subject] = value
            return True

    def states(self, computation_id: str) -> dict[str, Any]:
        return dict(self._states.get(computation_id, {}))

    def reset(self, source_id: str | None = None) -> None:
        with self._lock:
            gone = [
                c.id
                for c in self._computations.values()
                if source_id is None or c.source_id == source_id
            ]
            for computation_id in gone:
                del self._computations[computation_id]
                self._states.pop(computation_id, None)


Sender = Callable[[str, list[dict[str, Any]]], None]
"""Sends messages as the source (by id) would, through Segment's ingest and delivery."""


class Engage:
    """Engage spaces: audiences and computed traits whose changes reach destinations.

    Args:
        clock: The shared clock; each change is sent at its present.
        send: Hands messages to the fake Segment as the given source's.
        new_message_id: Draws messageIds.
        store: Where computations and states live; in memory by default.
    """

    def __init__(
        self,
        clock: Clock,
        send: Sender,
        new_message_id: Callable[[], str],
        store: EngageStore | None = None,
    ) -> None:
        self.clock = clock
        self._send = send
        self._new_message_id = new_message_id
        self.store: EngageStore = store if store is not None else MemoryEngageStore()

    # definitions -----------------------------------------------------------------------
    def create_audience(self, source_id: str, key: str, name: str | None = None) -> Created:
        """A new audience; its key names the boolean trait destinations receive.

        Raises:
            HarnessError: ``invalid_body`` for a key that is not lower-case letters, digits
                and underscores (1 to 100); ``computation_key_exists`` when a live
                computation of the space uses it.
        """
        return self._create(source_id, "audience", key, name, "user")

    def create_computed_trait(
        self, source_id: str, key: str, level: str = "user", name: str | None = None
    ) -> Created:
        """A new computed trait, sent as identify (``user`` level) or group (``account``).

        Raises:
            HarnessError: as :meth:`create_audience`; ``invalid_body`` for another level.
        """
        if level not in ("user", "account"):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"level {str(level)[:30]!r} is not a computed trait level; use 'user' or 'account'.",
            )
        return self._create(source_id, "computed_trait", key, name, level)  # type: ignore[arg-type]

    def _create(
        self,
        source_id: str,
        computation_class: ComputationClass,
        key: str,
        name: str | None,
        level: Level,
    ) -> Created:
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"key {str(key)[:40]!r} is not an Engage key: use 1 to 100 lower-case letters, "
                "digits and underscores, e.g. 'high_value_users'.",
            )
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise HarnessError(
                ErrorCode.INVALID_BODY, "name must be text of at most 200 characters."
            )
        same_key = [c for c in self.store.computations(source_id) if c.key == key]
        prefix = "aud" if computation_class == "audience" else "ct"
        computation = Computation(
            f"{prefix}_{secrets.token_hex(6)}",
            source_id,
            computation_class,
            key,
            name or key,
            level,
            self.clock.now(),
        )
        if not self.store.add(computation):
            live = [
                c
                for c in self.store.computations(source_id)
                if c.key == key and c.deleted_at is None
            ]
            raise HarnessError(
                ErrorCode.COMPUTATION_KEY_EXISTS,
                f"The key {key!r} is used by {live[0].id if live else 'another computation'} in "
                "this space; keys cannot be changed or shared: choose another key.",
            )
        warning = None
        if same_key:
            warning = (
                f"The key {key!r} belonged to a deleted computation ({same_key[-1].id}); "
                "destinations that still hold it will mix the two: Segment advises a new key."
            )
        return Created(computation, warning)

    def computation(
        self, source_id: str, computation_id: str, computation_class: ComputationClass
    ) -> Computation:
        """A live computation of the source.

        Raises:
            HarnessError: ``audience_not_found`` or ``computed_trait_not_found``.
        """
        found = self.store.get(computation_id)
        if (
            found is None
            or found.source_id != source_id
            or found.computation_class != computation_class
            or found.deleted_at is not None
        ):
            what = "audience" if computation_class == "audience" else "computed trait"
            raise HarnessError(
                ErrorCode.AUDIENCE_NOT_FOUND
                if computation_class == "audience"
                else ErrorCode.COMPUTED_TRAIT_NOT_FOUND,
                f"There is no {what} {computation_id[:40]!r} on source {source_id[:40]!r}.",
            )
        return found

    def computations(self, source_id: str) -> list[Computation]:
        """The source's live computations, oldest first."""
        return [c for c in self.store.computations(source_id) if c.deleted_at is None]

    def delete(
        self, source_id: str, computation_id: str, computation_class: ComputationClass
    ) -> None:
        """Delete a computation. Destinations keep what they were sent (Segment sends no exits)."""
        self.computation(source_id, computation_id, computation_class)
        self.store.mark_deleted(computation_id, self.clock.now())

    def members(self, source_id: str, audience_id: str) -> list[str]:
        """The anonymousIds in the audience now, in the order they first entered."""
        self.computation(source_id, audience_id, "audience")
        return [s for s, inside in self.store.states(audience_id).items() if inside is True]

    def values(self, source_id: str, computed_trait_id: str) -> dict[str, Any]:
        """Each subject's current value of a computed trait."""
        self.computation(source_id, computed_trait_id, "computed_trait")
        return self.store.states(computed_trait_id)

    # changes -----------------------------------------------------------------------------
    def enter(
        self, source_id: str, audience_id: str, anonymous_id: str, user_id: str | None = None
    ) -> Change:
        """The user enters the audience: an identify with ``{key: true}`` (once per entry)."""
        return self._membership(source_id, audience_id, anonymous_id, user_id, True)

    def exit(
        self, source_id: str, audience_id: str, anonymous_id: str, user_id: str | None = None
    ) -> Change:
        """The user exits the audience: an identify with ``{key: false}`` (only a member exits)."""
        return self._membership(source_id, audience_id, anonymous_id, user_id, False)

    def _membership(
        self,
        source_id: str,
        audience_id: str,
        anonymous_id: str,
        user_id: str | None,
        inside: bool,
    ) -> Change:
        audience = self.computation(source_id, audience_id, "audience")
        _check_id("anonymous_id", anonymous_id)
        if not self.store.change_state(audience_id, anonymous_id, inside, only_if_known=not inside):
            return Change(())
        message = self._message(audience, "identify", anonymous_id, user_id, {audience.key: inside})
        self._send(source_id, [message])
        return Change((message["messageId"],))

    def set_value(
        self,
        source_id: str,
        computed_trait_id: str,
        value: Any,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        members: Iterable[str] = (),
    ) -> Change:
        """A computed trait takes a value: for a user (identify) or an account (group calls).

        An account-level value goes to each member of the account as a group call with the
        account's ``groupId``; an unchanged value sends nothing.

        Raises:
            HarnessError: ``invalid_body`` when the identity does not fit the trait's level.
        """
        trait = self.computation(source_id, computed_trait_id, "computed_trait")
        if trait.level == "user":
            if anonymous_id is None or group_id is not None:
                raise HarnessError(
                    ErrorCode.INVALID_BODY,
                    f"{trait.key!r} is a user-level computed trait: give anonymous_id (and "
                    "optionally user_id), not group_id.",
                )
            _check_id("anonymous_id", anonymous_id)
            subject, targets = anonymous_id, [anonymous_id]
        else:
            targets = list(members)
            if not isinstance(group_id, str) or not group_id or not targets:
                raise HarnessError(
                    ErrorCode.INVALID_BODY,
                    f"{trait.key!r} is an account-level computed trait: give group_id and the "
                    "anonymousIds of the account's members (members).",
                )
            for member in targets:
                _check_id("members", member)
            subject = group_id
        if not self.store.change_state(computed_trait_id, subject, value, only_if_known=False):
            return Change(())
        if trait.level == "user":
            messages = [self._message(trait, "identify", subject, user_id, {trait.key: value})]
        else:
            messages = [
                self._message(trait, "group", member, None, {trait.key: value}, group_id=subject)
                for member in targets
            ]
        self._send(source_id, messages)
        return Change(tuple(m["messageId"] for m in messages))

    def _message(
        self,
        computation: Computation,
        kind: str,
        anonymous_id: str,
        user_id: str | None,
        traits: dict[str, Any],
        group_id: str | None = None,
    ) -> dict[str, Any]:
        now = format_instant(self.clock.now())
        message: dict[str, Any] = {
            "type": kind,
            "messageId": f"engage-{self._new_message_id()}",
            "anonymousId": anonymous_id,
            "traits": traits,
            "timestamp": now,
            "context": {
                "library": dict(ENGAGE_LIBRARY),
                "personas": {
                    "computation_class": computation.computation_class,
                    "computation_key": computation.key,
                    "computation_id": computation.id,
                    "space_id": computation.space_id,
                    "namespace": computation.space_id,
                },
            },
            "integrations": {"All": True},
        }
        if user_id is not None:
            message["userId"] = user_id
        if group_id is not None:
            message["groupId"] = group_id
        return message

    def reset(self, source_id: str | None = None) -> None:
        """Forget every computation, or one source's."""
        self.store.reset(source_id)


def _check_id(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise HarnessError(ErrorCode.INVALID_BODY, f"{field} must be an anonymousId (text).")
    problem = anonymous_id_problem(value, field)
    if problem:
        raise HarnessError(ErrorCode.INVALID_BODY, problem)
