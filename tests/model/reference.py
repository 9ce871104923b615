"""A reference model of the fake AB Tasty: the documented rules, written plainly.

This is what the stateful test holds the fake to. It is deliberately naive: an event log
(accounts, connectors, keys, messages, sightings, segments) and functions that recompute
every refresh run from that log whenever asked, with lists and loops, no caches of state
and no code shared with ``harness`` (it imports nothing from it). The rules come from
``../shared/CONTRACT.md`` section 1, ``DOMAIN.md`` and the README's "Choices":

- A local day D of an account that exists in its timezone gets exactly one run, at the first
  instant at or after ``refresh_hour``:00 local time on D; its cutoff is the first instant of D.
  A day the zone skipped (Pacific/Apia, 30 December 2011) gets none. The first run is the
  first one scheduled strictly after the account was created.
- A run takes every accepted message received before its cutoff and not taken earlier.
- Everything happens at an instant; a run scheduled at T happens before any request made at
  T (catch-up runs first). So a run sees a sighting, a connector or a connector deletion only
  when it was made strictly before T, whatever ``seen_at`` says: a visitor seen at 03:00:00
  sharp, or reported with a ``seen_at`` in the past after the run, is matched by the next run.
- A profile is keyed by (connector, anonymousId); its identify traits merge per top-level
  trait by the messages' (timestamp, messageId), the greater winning; ``null`` unsets.
  Group calls make the anonymousId a member; a group's traits (merged the same way, from
  every group call naming it) reach its members as group traits, kept apart from identify
  traits. Nested objects are criteria by their path; each scalar of a list is a value.
- A profile is matched when a visitor was seen with its anonymousId; cohorts are
  (connector, criterion, value) with their matched visitors; the builder shows non-empty
  cohorts of live connectors from the last run; segments test a visitor's activated values.
- A run's ``profiles``, ``matched_profiles`` and ``cohorts`` count the state after it over
  the connectors that existed when it ran (a deleted connector's data is gone from the
  builder, so it is not counted either).
- Values: ``true``, ``1`` and ``"1"`` are three cohorts; ``1`` and ``1.0`` are one number.
  Operators: equals/not_equals compare text (``42`` equals ``"42"``), contains is
  case-insensitive, greater/less compare numbers (JSON numbers, or text that is one) or
  else ISO-8601 dates; a visitor without the trait fails every operator; with several
  values not_equals needs all to differ, the others need one to hold.
- A segment condition names its trait by the key the builder prints (``group.`` before a
  group trait's path, the path joined by dots), and may add ``source`` and/or ``path``
  (docs/traits.md). It means the one shown trait of its connector that fits all it gives;
  none is ``criterion_not_available``, several are ``ambiguous_trait``; the conditions are
  resolved in order and the first that fails decides.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DEDUP_WINDOW = timedelta(hours=24)
MAX_DEPTH = 4
"""Nested trait objects are criteria down to this many levels (README: "up to 4 levels")."""

Criterion = tuple[str, tuple[str, ...]]
"""(source, path): ``("identify", ("company", "name"))``, ``("group", ("plan",))``."""

ValueId = tuple[str, Any]
"""A trait value's identity: ``("bool", True)``, ``("number", 1.0)``, ``("text", "1")``."""


# time ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def first_instant_at_or_after(zone: str, wall: datetime) -> datetime:
    """The first UTC instant whose local wall time in ``zone`` is ``wall`` (naive) or later.

    Scans whole minutes: no zone is more than 14 hours ahead of UTC or 12 behind, so
    the answer lies between ``wall - 14h`` and ``wall + 12h``, and every transition in
    the dates the tests use falls on a whole minute.
    """
    tz = ZoneInfo(zone)
    instant = (wall - timedelta(hours=14)).replace(tzinfo=UTC)
    while instant.astimezone(tz).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def day_exists(zone: str, day: date) -> bool:
    """Whether local ``day`` happened in ``zone`` (Pacific/Apia skipped 2011-12-30)."""
    first = first_instant_at_or_after(zone, datetime(day.year, day.month, day.day))
    return first.astimezone(ZoneInfo(zone)).date() == day


def local_date(instant: datetime, zone: str) -> date:
    """The calendar day of ``instant`` in ``zone``."""
    return instant.astimezone(ZoneInfo(zone)).date()


# records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    alias: str
    timezone: str
    refresh_hour: int
    created_at: datetime


@dataclass
class Connector:
    alias: str
    account: str
    name: str
    created_at: datetime
    deleted_at: datetime | None = None

    def live_at(self, instant: datetime) -> bool:
        """Whether a run at ``instant`` sees it (made before, not deleted before)."""
        return self.created_at < instant and (self.deleted_at is None or self.deleted_at >= instant)


@dataclass
class Key:
    alias: str
    account: str
    live: bool = True


@dataclass(frozen=True)
class Message:
    account: str
    connector: str
    kind: str
    message_id: str
    anonymous_id: str | None
    group_id: str | None
    traits: dict[str, Any]
    timestamp: datetime
    received_at: datetime


@dataclass(frozen=True)
class Sighting:
    account: str
    visitor_id: str
    anonymous_id: str
    seen_at: datetime
    reported_at: datetime


@dataclass(frozen=True)
class Condition:
    connector: str
    criterion: Criterion
    operator: str
    value: Any


@dataclass(frozen=True)
class ConditionRequest:
    """A segment condition as sent: the printed key, and optionally source and path."""

    connector: str
    key: str
    operator: str
    value: Any
    source: str | None = None
    path: tuple[str, ...] | None = None

    def fits(self, criterion: Criterion) -> bool:
        """Whether this request could mean ``criterion``."""
        source, path = criterion
        return (
            printed_key(criterion) == self.key
            and self.source in (None, source)
            and self.path in (None, path)
        )


def printed_key(criterion: Criterion) -> str:
    """The key the builder prints: the path joined by dots, a group trait's under ``group.``."""
    source, path = criterion
    return ("group." if source == "group" else "") + ".".join(path)


@dataclass(frozen=True)
class Segment:
    alias: str
    account: str
    match: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Run:
    """One nightly run as the refresh history reports it."""

    scheduled_for: datetime
    cutoff: datetime
    messages: int
    profiles: int
    matched_profiles: int
    cohorts: int


@dataclass(frozen=True)
class Outcome:
    """What the fake must answer: HTTP status, error code (None on success), body fields."""

    status: int
    code: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Activation:
    """The activated data of one run: per visitor, connector and criterion, the value ids."""

    visitors: dict[str, dict[str, dict[Criterion, list[ValueId]]]]


@dataclass
class Snapshot:
    """An account as its next request would find it: its runs and the last activation."""

    runs: list[Run]
    activation: Activation | None


# values and operators ----------------------------------------------------------------------
def value_id(value: Any) -> ValueId:
    """The identity of a scalar trait value (``true``, ``1`` and ``"1"`` differ)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("text", value)


def as_text(value: Any) -> str:
    """How equals/not_equals/contains read a value: ``true``, ``42``, ``1.5``, the text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")


def as_number(value: Any) -> float | None:
    """A JSON number, or text that is one (``"42"``); booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        return float(value)
    return None


def as_instant(value: Any) -> datetime | None:
    """An ISO-8601 date or date-time (no offset means UTC)."""
    if not isinstance(value, str) or not DATE_TEXT.fullmatch(value):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def satisfies(operator: str, value: Any, target: Any) -> bool:
    """Whether one activated value satisfies the operator against the condition's value."""
    if operator == "exists":
        return True
    if operator == "equals":
        return as_text(value) == as_text(target)
    if operator == "not_equals":
        return as_text(value) != as_text(target)
    if operator == "contains":
        return as_text(target).casefold() in as_text(value).casefold()
    left, right = as_number(value), as_number(target)
    if left is None or right is None:
        left_time, right_time = as_instant(value), as_instant(target)
        if left_time is None or right_time is None:
            return False
        return left_time > right_time if operator == "greater_than" else left_time < right_time
    return left > right if operator == "greater_than" else left < right


def holds(operator: str, values: list[Any], target: Any) -> bool:
    """A condition on a visitor with these values (none: it fails, whatever the operator)."""
    if not values:
        return False
    if operator == "not_equals":
        return all(satisfies(operator, value, target) for value in values)
    return any(satisfies(operator, value, target) for value in values)


def criteria_of(traits: dict[str, Any], source: str) -> list[tuple[Criterion, Any]]:
    """The (criterion, scalar) pairs a merged traits object offers the builder."""
    pairs: list[tuple[Criterion, Any]] = []

    def walk(path: tuple[str, ...], value: Any, depth: int) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            if depth < MAX_DEPTH:
                for key, child in value.items():
                    walk((*path, key), child, depth + 1)
        elif isinstance(value, list):
            for item in value:
                if not isinstance(item, dict | list):
                    walk(path, item, depth)
        else:
            pairs.append(((source, path), value))

    for key, value in traits.items():
        walk((key,), value, 0)
    return pairs


def merged(messages: list[Message]) -> dict[str, Any]:
    """Top-level traits merged by (timestamp, messageId): the greatest wins; null stays null."""
    best: dict[str, tuple[datetime, str, Any]] = {}
    for message in messages:
        for key, value in message.traits.items():
            order = (message.timestamp, message.message_id)
            if key not in best or order > best[key][:2]:
                best[key] = (message.timestamp, message.message_id, value)
    return {key: entry[2] for key, entry in best.items()}


# the model -------------------------------------------------------------------------------
class ReferenceModel:
    """The fake AB Tasty's documented behaviour, as an event log and plain functions of it."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.accounts: list[Account] = []
        self.connectors: list[Connector] = []
        self.keys: list[Key] = []
        self.messages: list[Message] = []
        self.sightings: list[Sighting] = []
        self.segments: list[Segment] = []

    # lookups -----------------------------------------------------------------------------
    def account(self, alias: str) -> Account:
        return next(a for a in self.accounts if a.alias == alias)

    def live_connector(self, account: str) -> Connector | None:
        """The account's Segment connector now, if it has one."""
        for connector in self.connectors:
            if connector.account == account and connector.deleted_at is None:
                return connector
        return None

    def last_connector(self, account: str) -> Connector | None:
        """The connector the account set up last (deleted or not)."""
        made = [c for c in self.connectors if c.account == account]
        return made[-1] if made else None

    def current_key(self, account: str) -> Key | None:
        for key in self.keys:
            if key.account == account and key.live:
                return key
        return None

    def key(self, alias: str) -> Key:
        return next(k for k in self.keys if k.alias == alias)

    def visitors(self, account: str) -> list[str]:
        """Visitor ids the tag reported in the account, first seen first."""
        found: list[str] = []
        for sighting in self.sightings:
            if sighting.account == account and sighting.visitor_id not in found:
                found.append(sighting.visitor_id)
        return found

    # actions -----------------------------------------------------------------------------
    def move_to(self, when: datetime) -> None:
        assert when >= self.now, "the clock never moves back"
        self.now = when

    def create_account(self, alias: str, timezone: str, refresh_hour: int) -> Outcome:
        self.accounts.append(Account(alias, timezone, refresh_hour, self.now))
        return Outcome(201)

    def create_connector(self, account: str, alias: str, name: str) -> Outcome:
        if self.live_connector(account) is not None:
            return Outcome(409, "connector_exists")
        self.connectors.append(Connector(alias, account, name, self.now))
        return Outcome(201)

    def delete_connector(self, account: str) -> Outcome:
        """Delete the connector the account set up last (as a scenario's step does)."""
        connector = self.last_connector(account)
        if connector is None or connector.deleted_at is not None:
            return Outcome(404, "connector_not_found")
        connector.deleted_at = self.now
        return Outcome(204)

    def generate_key(self, account: str, alias: str) -> Outcome:
        if self.current_key(account) is not None:
            return Outcome(409, "api_key_exists")
        self.keys.append(Key(alias, account))
        return Outcome(201)

    def regenerate_key(self, account: str, alias: str) -> Outcome:
        current = self.current_key(account)
        if current is None:
            return Outcome(404, "api_key_not_found")
        current.live = False
        self.keys.append(Key(alias, account))
        return Outcome(201)

    def revoke_key(self, account: str) -> Outcome:
        current = self.current_key(account)
        if current is not None:
            current.live = False
        return Outcome(204)

    def webhook(self, key: str | None, body: dict[str, Any]) -> tuple[Outcome, str | None]:
        """A webhook call with key alias ``key`` (None: no Authorization; unknown: not a key).

        Returns:
            The answer, and the account the message was filed under (None when refused).
        """
        if key is None:
            return Outcome(401, "missing_api_key"), None
        owner = next((k for k in self.keys if k.alias == key and k.live), None)
        if owner is None:
            return Outcome(401, "invalid_api_key"), None
        connector = self.live_connector(owner.account)
        if connector is None:
            return Outcome(403, "no_segment_connector"), None
        kind = body["type"]
        if kind not in ("identify", "group"):
            return Outcome(501, "unsupported_type"), None
        anonymous_id = body.get("anonymousId")
        if anonymous_id is None and body.get("userId") is None:
            return Outcome(400, "missing_identity"), None
        answer: dict[str, Any] = {}
        if anonymous_id is None:
            answer["warning"] = "no_anonymous_id"
        first_arrivals = [
            m.received_at
            for m in self.messages
            if m.account == owner.account and m.message_id == body["messageId"]
        ]
        if first_arrivals and self.now - max(first_arrivals) < DEDUP_WINDOW:
            return Outcome(200, None, {"status": "duplicate", **answer}), owner.account
        self.messages.append(
            Message(
                owner.account,
                connector.alias,
                kind,
                body["messageId"],
                anonymous_id,
                body.get("groupId"),
                body.get("traits") or {},
                datetime.fromisoformat(body["timestamp"]),
                self.now,
            )
        )
        return Outcome(200, None, {"status": "accepted", **answer}), owner.account

    def see(self, account: str, visitor_id: str, anonymous_id: str, seen_at: datetime) -> Outcome:
        visitor = visitor_id.lower()
        new = visitor not in self.visitors(account)
        self.sightings.append(Sighting(account, visitor, anonymous_id, seen_at, self.now))
        return Outcome(201 if new else 200)

    def create_segment(
        self, account: str, alias: str, match: str, requests: tuple[ConditionRequest, ...]
    ) -> Outcome:
        shown = self.builder(account)
        conditions = []
        for request in requests:
            fits = [
                criterion
                for connector, _, traits in shown
                if connector == request.connector
                for criterion in traits
                if request.fits(criterion)
            ]
            if len(fits) > 1:
                return Outcome(400, "ambiguous_trait")
            if not fits:
                return Outcome(400, "criterion_not_available")
            (criterion,) = fits
            conditions.append(
                Condition(request.connector, criterion, request.operator, request.value)
            )
        self.segments.append(Segment(alias, account, match, tuple(conditions)))
        return Outcome(201)

    # the nightly runs --------------------------------------------------------------------
    def scheduled(self, account: str, until: datetime) -> list[tuple[datetime, datetime]]:
        """(scheduled_for, cutoff) of every run after the account's creation, up to ``until``."""
        acc = self.account(account)
        day = local_date(acc.created_at, acc.timezone) - timedelta(days=2)
        last = local_date(until, acc.timezone) + timedelta(days=1)
        runs = []
        while day <= last:
            if day_exists(acc.timezone, day):
                scheduled = first_instant_at_or_after(
                    acc.timezone, datetime(day.year, day.month, day.day, acc.refresh_hour)
                )
                cutoff = first_instant_at_or_after(
                    acc.timezone, datetime(day.year, day.month, day.day)
                )
                if acc.created_at < scheduled <= until:
                    runs.append((scheduled, cutoff))
            day += timedelta(days=1)
        return runs

    def next_run(self, account: str) -> datetime:
        """When the account's next run is due (the first one after now)."""
        horizon = self.now + timedelta(days=3)
        return next(s for s, _ in self.scheduled(account, horizon) if s > self.now)

    def next_midnight(self, account: str) -> datetime:
        """The first instant of the account's next local day (the next run's cutoff)."""
        horizon = self.now + timedelta(days=3)
        return next(c for _, c in self.scheduled(account, horizon) if c > self.now)

    def _run(
        self, account: str, scheduled: datetime, cutoff: datetime
    ) -> tuple[int, int, int, Activation]:
        """Profiles, matched profiles, cohorts and activation right after one run."""
        connectors = [
            c.alias for c in self.connectors if c.account == account and c.live_at(scheduled)
        ]
        taken = [m for m in self.messages if m.account == account and m.received_at < cutoff]
        seen: dict[str, list[str]] = {}  # anonymousId -> visitors
        for sighting in self.sightings:
            if sighting.account == account and sighting.reported_at < scheduled:
                assert sighting.seen_at <= scheduled
                visitors = seen.setdefault(sighting.anonymous_id, [])
                if sighting.visitor_id not in visitors:
                    visitors.append(sighting.visitor_id)
        profiles = 0
        matched = 0
        cohorts: list[tuple[str, Criterion, ValueId]] = []
        activation = Activation({})
        for connector in connectors:
            mine = [m for m in taken if m.connector == connector]
            anonymous_ids: list[str] = []
            for message in mine:
                if message.anonymous_id is not None and message.anonymous_id not in anonymous_ids:
                    anonymous_ids.append(message.anonymous_id)
            profiles += len(anonymous_ids)
            for anonymous_id in anonymous_ids:
                if anonymous_id not in seen:
                    continue
                matched += 1
                identifies = [
                    m for m in mine if m.kind == "identify" and m.anonymous_id == anonymous_id
                ]
                pairs = criteria_of(merged(identifies), "identify")
                group_ids = []
                for m in mine:
                    joins = m.kind == "group" and m.anonymous_id == anonymous_id
                    if joins and m.group_id not in group_ids:
                        group_ids.append(m.group_id)
                for group_id in group_ids:
                    calls = [m for m in mine if m.kind == "group" and m.group_id == group_id]
                    pairs += criteria_of(merged(calls), "group")
                for criterion, value in pairs:
                    identity = value_id(value)
                    if (connector, criterion, identity) not in cohorts:
                        cohorts.append((connector, criterion, identity))
                    for visitor in seen[anonymous_id]:
                        by_criterion = activation.visitors.setdefault(visitor, {}).setdefault(
                            connector, {}
                        )
                        values = by_criterion.setdefault(criterion, [])
                        if identity not in values:
                            values.append(identity)
        return profiles, matched, len(cohorts), activation

    def snapshot(self, account: str) -> Snapshot:
        """Every run due by now, recomputed from the event log, and the last activation."""
        runs: list[Run] = []
        activation = None
        previous_cutoff: datetime | None = None
        for scheduled, cutoff in self.scheduled(account, self.now):
            messages = [
                m
                for m in self.messages
                if m.account == account
                and m.received_at < cutoff
                and (previous_cutoff is None or m.received_at >= previous_cutoff)
            ]
            profiles, matched, cohorts, activation = self._run(account, scheduled, cutoff)
            runs.append(Run(scheduled, cutoff, len(messages), profiles, matched, cohorts))
            previous_cutoff = cutoff
        return Snapshot(runs, activation)

    # what the fake shows -----------------------------------------------------------------
    def builder(
        self, account: str, snapshot: Snapshot | None = None
    ) -> list[tuple[str, str, dict[Criterion, dict[ValueId, int]]]]:
        """EXTERNAL DATA: per live connector, its criteria with non-empty cohorts' sizes."""
        snapshot = snapshot or self.snapshot(account)
        items = []
        for connector in self.connectors:
            if connector.account != account or connector.deleted_at is not None:
                continue
            traits: dict[Criterion, dict[ValueId, int]] = {}
            if snapshot.activation is not None:
                for by_connector in snapshot.activation.visitors.values():
                    for criterion, values in by_connector.get(connector.alias, {}).items():
                        for identity in values:
                            counts = traits.setdefault(criterion, {})
                            counts[identity] = counts.get(identity, 0) + 1
            items.append((connector.alias, connector.name, traits))
        return items

    def visitor_segments(
        self, account: str, visitor_id: str, snapshot: Snapshot | None = None
    ) -> list[str]:
        """The aliases of the segments the visitor is in now, oldest first."""
        snapshot = snapshot or self.snapshot(account)
        live = [c.alias for c in self.connectors if c.account == account and c.deleted_at is None]
        activated = (
            snapshot.activation.visitors.get(visitor_id.lower(), {})
            if snapshot.activation is not None
            else {}
        )
        inside = []
        for segment in self.segments:
            if segment.account != account:
                continue
            results = []
            for condition in segment.conditions:
                ids = (
                    activated.get(condition.connector, {}).get(condition.criterion, [])
                    if condition.connector in live
                    else []
                )
                values = [value for _, value in ids]
                results.append(holds(condition.operator, values, condition.value))
            if all(results) if segment.match == "all" else any(results):
                inside.append(segment.alias)
        return inside
