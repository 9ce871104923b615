"""Profiles, cohorts and activation: what the nightly refresh computes.

A profile is keyed by anonymousId. Traits merge by the messages' ``timestamp`` (ties broken
by messageId), not by arrival, so a late, older message never overwrites a newer value and
the result is the same for any delivery order.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.abtasty.records import (
    Activation,
    CohortChange,
    GroupProfile,
    JsonValue,
    Profile,
    Sighting,
    StoredMessage,
    TraitKey,
    TraitSource,
    TraitValue,
    VisitorTraits,
)

MAX_TRAIT_DEPTH = 4
"""Nested trait objects are offered as criteria down to this depth (``address.geo.lat``)."""


_trait_value = functools.partial(tuple.__new__, TraitValue)
"""TraitValue(value, timestamp, message_id) without the named tuple's Python-level __new__:
the refresh makes one per merged trait."""


def merge_traits(
    target: dict[str, TraitValue], traits: dict[str, Any], timestamp: datetime, message_id: str
) -> None:
    """Merge top-level ``traits`` into ``target``; a value only replaces an older one."""
    for key, value in traits.items():
        current = target.get(key)
        if (
            current is None
            or timestamp > current.timestamp
            or (timestamp == current.timestamp and message_id > current.message_id)
        ):
            target[key] = _trait_value((value, timestamp, message_id))


def fold_messages(
    messages: Iterable[StoredMessage],
    profiles: dict[tuple[str, str], Profile],
    groups: dict[tuple[str, str], GroupProfile],
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Fold identify and group messages into the ``profiles`` and ``groups`` maps.

    Copy-on-write: a profile or group is copied the first time a message changes it, and
    the copy replaces it in the map, so the records a store handed out are never edited.

    Returns:
        The keys of the profiles and of the groups that changed.
    """
    changed_profiles: set[tuple[str, str]] = set()
    changed_groups: set[tuple[str, str]] = set()
    for message in messages:
        when = message.timestamp
        connector = message.connector_id
        profile = None
        if message.anonymous_id is not None:
            key = (connector, message.anonymous_id)
            profile = profiles.get(key)
            if key not in changed_profiles:
                if profile is None:
                    profile = Profile(connector, message.anonymous_id)
                else:
                    profile = Profile(
                        connector, profile.anonymous_id, dict(profile.traits), set(profile.groups)
                    )
                profiles[key] = profile
                changed_profiles.add(key)
        if message.type == "identify":
            if profile is not None:
                merge_traits(profile.traits, message.traits, when, message.message_id)
        elif message.group_id is not None:
            group_key = (connector, message.group_id)
            group = groups.get(group_key)
            if group_key not in changed_groups:
                traits = dict(group.traits) if group is not None else {}
                group = groups[group_key] = GroupProfile(connector, message.group_id, traits)
                changed_groups.add(group_key)
            assert group is not None
            merge_traits(group.traits, message.traits, when, message.message_id)
            if profile is not None:
                profile.groups.add(message.group_id)
    return changed_profiles, changed_groups


_trait_key = functools.partial(tuple.__new__, TraitKey)
_TOP_KEYS: dict[TraitSource, dict[str, TraitKey]] = {"identify": {}, "group": {}}
_TOP_KEYS_KEPT = 100_000


def top_key(source: TraitSource, name: str) -> TraitKey:
    """The key of top-level trait ``name`` (shared objects: the refresh makes one per trait)."""
    known = _TOP_KEYS[source]
    key = known.get(name)
    if key is None:
        if len(known) >= _TOP_KEYS_KEPT:
            known.clear()
        key = known[name] = _trait_key((source, (name,)))
    return key


def _flatten(
    source: TraitSource, path: tuple[str, ...], value: JsonValue, depth: int
) -> Iterator[tuple[TraitKey, JsonValue]]:
    if value is None:
        return
    if isinstance(value, dict):
        if depth >= MAX_TRAIT_DEPTH:
            return
        for child, child_value in value.items():
            yield from _flatten(source, (*path, child), child_value, depth + 1)
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, list):
                yield from _flatten(source, path, item, depth + 1)
    elif len(path) == 1:
        yield top_key(source, path[0]), value
    else:
        yield _trait_key((source, path)), value


def flatten_values(
    values: dict[str, JsonValue], source: TraitSource = "identify"
) -> list[tuple[TraitKey, JsonValue]]:
    """The (trait, scalar value) pairs that a traits object offers to the segment builder.

    A nested object gives one path element per level (``company`` then ``name``): the
    builder prints it ``company.name`` but it stays apart from a literal key
    ``"company.name"`` (a path of one element). Each scalar of a list is a value of its
    own; null means "no value".
    """
    pairs: list[tuple[TraitKey, JsonValue]] = []
    for key, value in values.items():
        pairs.extend(_flatten(source, (key,), value, 0))
    return pairs


def flatten_traits(
    traits: dict[str, TraitValue], source: TraitSource = "identify"
) -> list[tuple[TraitKey, JsonValue]]:
    """:func:`flatten_values` over a profile's (or a group's) merged traits."""
    pairs: list[tuple[TraitKey, JsonValue]] = []
    for key, trait in traits.items():
        value = trait[0]
        if value.__class__ in _SCALARS:  # the common case, without a generator
            pairs.append((top_key(source, key), value))
        elif value is not None:
            pairs.extend(_flatten(source, (key,), value, 0))
    return pairs


_SCALARS = frozenset({str, int, float, bool})


def value_key(value: JsonValue) -> tuple[str, JsonValue]:
    """A hashable identity for a trait value that keeps ``true``, ``1`` and ``"1"`` apart."""
    kind = value.__class__
    if kind is str:
        return ("s", value)
    if kind is bool:
        return ("b", value)
    return ("n", value) if kind is int or kind is float else ("s", value)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    """The activated data of one run and the counts the refresh history reports."""

    activation: Activation
    matched_profiles: int
    cohorts: int


def activate(
    account_id: str,
    scheduled_for: datetime,
    profiles: Iterable[Profile],
    groups: Iterable[GroupProfile],
    sightings: Iterable[Sighting],
) -> ActivationResult:
    """Match profiles to visitors seen by ``scheduled_for`` and fill the cohorts.

    A profile is matched when a visitor was seen with its anonymousId by the time of the
    run; only matched profiles put visitors in cohorts, so no cohort is ever empty.
    """
    visitors_by_anonymous_id: dict[str, list[str]] = defaultdict(list)
    for sighting in sightings:
        if sighting.seen_at <= scheduled_for:
            visitors_by_anonymous_id[sighting.anonymous_id].append(sighting.visitor_id)
    group_pairs = {
        (group.connector_id, group.group_id): flatten_traits(group.traits, "group")
        for group in groups
    }
    visitors: dict[str, VisitorTraits] = {}
    cohorts: set[tuple[str, TraitKey, tuple[str, JsonValue]]] = set()
    matched: set[tuple[str, str]] = set()
    for profile in profiles:
        visitor_ids = visitors_by_anonymous_id.get(profile.anonymous_id)
        if not visitor_ids:
            continue
        connector = profile.connector_id
        matched.add((connector, profile.anonymous_id))
        pairs = flatten_traits(profile.traits)
        for group_id in sorted(profile.groups):
            pairs.extend(group_pairs.get((connector, group_id), ()))
        grouped: dict[TraitKey, tuple[JsonValue, ...]] = {}
        for key, value in pairs:
            identity = value_key(value)
            cohorts.add((connector, key, identity))
            known = grouped.get(key)
            if known is None:
                grouped[key] = (value,)
            elif all(value_key(other) != identity for other in known):
                grouped[key] = (*known, value)
        for visitor_id in visitor_ids:
            by_connector = visitors.get(visitor_id)
            if by_connector is None:
                visitors[visitor_id] = {connector: dict(grouped)}
                continue
            # A visitor with several profiles (a shared device): merge, keeping values distinct.
            target = by_connector.setdefault(connector, {})
            for key, values in grouped.items():
                known = target.get(key)
                if known is None:
                    target[key] = values
                else:
                    identities = {value_key(other) for other in known}
                    target[key] = known + tuple(v for v in values if value_key(v) not in identities)
    activation = Activation(account_id, scheduled_for, visitors, frozenset(matched))
    return ActivationResult(activation, len(matched), len(cohorts))


CohortKey = tuple[str, TraitKey, tuple[str, JsonValue]]
"""(connector id, trait, value identity): one cohort."""


def _memberships(traits: VisitorTraits | None) -> dict[CohortKey, JsonValue]:
    if not traits:
        return {}
    return {
        (connector, key, value_key(value)): value
        for connector, by_key in traits.items()
        for key, values in by_key.items()
        for value in values
    }


@dataclass(frozen=True, slots=True)
class CohortDiff:
    """Who entered and left which cohort between two activations.

    Attributes:
        changes: The first ``keep`` changes, visitor by visitor (each visitor's sorted).
        entered: How many (visitor, cohort) memberships were added, kept or not.
        left: How many were removed.
    """

    changes: list[CohortChange]
    entered: int
    left: int


def diff_cohorts(before: Activation | None, after: Activation, keep: int) -> CohortDiff:
    """Compare a run's activated data with the previous run's.

    Visitors whose traits did not change cost one dict comparison, so a night on which
    few visitors changed is cheap however large the account.
    """
    old = before.visitors if before is not None else {}
    new = after.visitors
    changes: list[CohortChange] = []
    entered = left = 0

    def record(visitor_id: str, was: VisitorTraits | None, now: VisitorTraits | None) -> None:
        nonlocal entered, left
        previous, current = _memberships(was), _memberships(now)
        came = [key for key in current if key not in previous]
        went = [key for key in previous if key not in current]
        entered += len(came)
        left += len(went)
        if len(changes) >= keep:
            return
        found = [(key, current[key], "entered") for key in came]
        found += [(key, previous[key], "left") for key in went]
        found.sort(key=lambda item: (item[0][0], item[0][1], item[0][2][0], str(item[0][2][1])))
        for (connector, trait, _), value, change in found[: keep - len(changes)]:
            changes.append(
                CohortChange(
                    after.account_id,
                    after.scheduled_for,
                    visitor_id,
                    connector,
                    trait.label,
                    value,
                    "entered" if change == "entered" else "left",
                    trait.source,
                    trait.path,
                )
            )

    for visitor_id, traits in new.items():
        was = old.get(visitor_id)
        if was != traits:
            record(visitor_id, was, traits)
    for visitor_id, was in old.items():
        if visitor_id not in new:
            record(visitor_id, was, None)
    return CohortDiff(changes, entered, left)
