"""Profiles, cohorts and activation: what the nightly refresh computes.

A profile is keyed by anonymousId. Traits merge by the messages' ``timestamp`` (ties broken
by messageId), not by arrival, so a late, older message never overwrites a newer value and
the result is the same for any delivery order.
"""

from __future__ import annotations

import functools
import heapq
import json
from collections import ChainMap
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from harness.abtasty.records import (
    Activation,
    CohortChange,
    GroupProfile,
    JsonValue,
    Profile,
    RefreshRun,
    Sighting,
    StoredMessage,
    TraitKey,
    TraitSource,
    TraitValue,
    VisitorTraits,
    fold_rows,
)

MAX_TRAIT_DEPTH = 4
"""Nested trait objects are offered as criteria down to this depth (``address.geo.lat``)."""


def fold_messages(
    messages: Iterable[StoredMessage],
    profiles: dict[tuple[str, str], Profile],
    groups: dict[tuple[str, str], GroupProfile],
    replaced: dict[tuple[str, str], Profile | None] | None = None,
    replaced_groups: dict[tuple[str, str], GroupProfile | None] | None = None,
) -> tuple[Collection[tuple[str, str]], Collection[tuple[str, str]]]:
    """Fold identify and group messages into the ``profiles`` and ``groups`` maps.

    Copy-on-write: a profile or group is copied the first time a message changes it, and
    the copy replaces it in the map, so the records a store handed out are never edited.
    A trait is replaced only by a newer (timestamp, messageId); on a tie the first folded
    (the earlier arrival, or the value a previous night kept) stays.

    Args:
        messages: The messages, in arrival order.
        profiles: (connector, anonymousId) -> profile; changed in place.
        groups: (connector, groupId) -> group profile; changed in place.
        replaced: Filled with each changed profile's record before the fold (None: new).
        replaced_groups: The same for the groups.

    Returns:
        The keys of the profiles and of the groups that changed, in the order first changed.
    """
    # The hot loop of the refresh (one pass per message): each trait merged inline, and one
    # dict lookup finds a profile already copied this night.
    fresh: dict[tuple[str, str], Profile] = {}
    fresh_groups: dict[tuple[str, str], GroupProfile] = {}
    fresh_get, fresh_groups_get = fresh.get, fresh_groups.get
    profiles_get, groups_get = profiles.get, groups.get
    make = TraitValue
    for connector, anonymous_id, kind, group_id, traits, when, message_id in fold_rows(messages):
        profile = None
        if anonymous_id is not None:
            key = (connector, anonymous_id)
            profile = fresh_get(key)
            if profile is None:
                old = profiles_get(key)
                if replaced is not None:
                    replaced[key] = old
                if old is None:
                    profile = Profile(connector, anonymous_id)
                else:
                    profile = Profile(connector, old.anonymous_id, dict(old.traits), old.groups)
                profiles[key] = fresh[key] = profile
        if kind == "identify":
            if profile is None:
                continue
            target = profile.traits
        else:
            if group_id is None:
                continue
            group_key = (connector, group_id)
            group = fresh_groups_get(group_key)
            if group is None:
                old_group = groups_get(group_key)
                if replaced_groups is not None:
                    replaced_groups[group_key] = old_group
                kept = dict(old_group.traits) if old_group is not None else {}
                group = GroupProfile(connector, group_id, kept)
                groups[group_key] = fresh_groups[group_key] = group
            if profile is not None and group_id not in profile.groups:
                profile.groups = profile.groups | {group_id}
            target = group.traits
        target_get = target.get
        for name, value in traits.items():
            current = target_get(name)
            if (
                current is None
                or when > current.timestamp
                or (when == current.timestamp and message_id > current.message_id)
            ):
                target[name] = make(value, when, message_id)
    return fresh.keys(), fresh_groups.keys()


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
        value = trait.value
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


ValueOrder = tuple[int, int | float, str]


def value_order(value: JsonValue) -> ValueOrder:
    """Where a trait value sorts among a trait's values (the segment builder's order).

    Numbers first, by value (``2`` before ``9`` before ``10``; ``1`` and ``1.0`` are one
    cohort), a NaN after every number; then strings by code point; then ``false`` and
    ``true``; then anything else by its JSON text. The order is total, so a trait's values
    page the same way every time (docs/traits.md).
    """
    kind = value.__class__
    if kind is int or kind is float:
        return (0, value, "") if value == value else (1, 0, "")
    if kind is str:
        return (2, 0, value)
    if kind is bool:
        return (3, int(value), "")
    return (4, 0, json.dumps(value, sort_keys=True, default=str))


@dataclass(frozen=True, slots=True)
class ActivationResult:
    """The activated data of one run and the counts the refresh history reports."""

    activation: Activation
    matched_profiles: int
    cohorts: int


ProfileKey = tuple[str, str]
"""(connector id, anonymousId) of a profile, or (connector id, groupId) of a group."""

Grouped = dict[TraitKey, tuple[JsonValue, ...]]
"""One profile's activated traits: trait -> its distinct values (its groups' included)."""


Ids = str | tuple[str, ...]
"""One id as itself, several as a tuple (see :func:`_ids`)."""


def _ids(ids: Ids) -> tuple[str, ...]:
    return (ids,) if ids.__class__ is str else ids  # type: ignore[return-value]


@dataclass(slots=True)
class NightState:
    """What a refresh leaves behind so the next night recomputes only what changed.

    Everything here is derived from the store's state right after ``run`` (the profiles
    and groups are the very records the store keeps, never edited); a night that finds
    the store's last run equal to ``run`` and the same live connectors may advance this
    state with :func:`advance_night` instead of recomputing every visitor.

    Attributes:
        run: The run this state is the result of.
        version: The store's input version read before the sightings this state knows.
        live: The live connectors the run counted.
        profiles: Every profile, live connector or not, in the store's order.
        groups: Every group profile.
        group_pairs: (connector, group) -> its flattened group traits.
        members: (connector, group) -> the anonymousIds of its member profiles.
        visitors_of: anonymousId -> the visitors seen with it by the run (one visitor is
            kept as a plain string: most have one, and a million tuples weigh 48 MB).
        anonymous_ids_of: visitor -> the anonymousIds it was seen with by the run (alike).
        deferred: Sightings read but seen after the run: they count from a later night.
        cohorts: (connector, trait, value) -> how many matched profiles hold it.
        live_profiles: How many profiles of live connectors there are.
        activation: The run's activated data.
    """

    run: RefreshRun | None
    version: int
    live: frozenset[str]
    profiles: dict[ProfileKey, Profile]
    groups: dict[ProfileKey, GroupProfile]
    group_pairs: dict[ProfileKey, list[tuple[TraitKey, JsonValue]]]
    members: dict[ProfileKey, set[str]]
    visitors_of: dict[str, Ids]
    anonymous_ids_of: dict[str, Ids]
    deferred: dict[tuple[str, str], datetime]
    cohorts: CohortCount
    live_profiles: int
    activation: Activation


_KINDS: dict[type, str] = {str: "s", bool: "b", int: "n", float: "n"}


def _add_value(grouped: Grouped, key: TraitKey, value: JsonValue) -> None:
    known = grouped.get(key)
    if known is None:
        grouped[key] = (value,)
        return
    identity = value_key(value)
    if all(value_key(other) != identity for other in known):
        grouped[key] = (*known, value)


def profile_traits(
    profile: Profile, group_pairs: Mapping[ProfileKey, list[tuple[TraitKey, JsonValue]]]
) -> Grouped:
    """A profile's activated traits: its identify traits, then its groups' (by group id)."""
    grouped: Grouped = {}
    for name, trait in profile.traits.items():
        value = trait.value
        if value.__class__ in _SCALARS:  # a name is one key: nothing to merge with
            grouped[top_key("identify", name)] = (value,)
        elif value is not None:
            for key, item in _flatten("identify", (name,), value, 0):
                _add_value(grouped, key, item)
    if profile.groups:
        connector = profile.connector_id
        for group_id in sorted(profile.groups):
            for key, item in group_pairs.get((connector, group_id), ()):
                _add_value(grouped, key, item)
    return grouped


CohortCount = dict[tuple[str, TraitKey, str, JsonValue], int]
"""(connector, trait, value kind, value) -> how many matched profiles hold that cohort."""


_IDENTIFY_KEYS = _TOP_KEYS["identify"]


Entry = Profile | VisitorTraits
"""A visitor's activated traits as kept: its one profile (see :class:`ActivatedVisitors`), or
the traits themselves."""


def _is_plain(profile: Profile) -> bool:
    """True when the profile's activated traits are exactly its scalar identify traits."""
    if profile.groups:
        return False
    kinds = _KINDS
    for trait in profile.traits.values():
        value = trait.value
        if value is not None and value.__class__ not in kinds:
            return False
    return True


def _plain_traits(profile: Profile) -> VisitorTraits:
    # A plain profile's flattened traits are its non-null values, one key a name.
    return {profile.connector_id: {key: (value,) for key, value in flatten_traits(profile.traits)}}


def _traits(entry: Entry) -> VisitorTraits:
    return _plain_traits(entry) if isinstance(entry, Profile) else entry


class ActivatedVisitors(Mapping[str, VisitorTraits]):
    """visitor id -> activated traits, as :attr:`Activation.visitors` holds them.

    Most visitors are matched to one profile without groups, lists or nested values:
    such a visitor keeps that profile (a record no one edits) and its traits are built
    when asked for. Building them for a million visitors cost 540 bytes each and 1.3 s of
    a 10.5 s night, collection included (docs/benchmarks.md); most are only ever counted.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self._entries: dict[str, Entry] = {} if entries is None else entries

    def __getitem__(self, visitor_id: str) -> VisitorTraits:
        return _traits(self._entries[visitor_id])

    def __contains__(self, visitor_id: object) -> bool:
        return visitor_id in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ActivatedVisitors({len(self._entries)} visitors)"

    def entries(self) -> dict[str, Entry]:
        """visitor id -> its profile or its traits (the kept form; do not edit)."""
        return self._entries


def entries_of(visitors: Mapping[str, VisitorTraits]) -> Mapping[str, Entry]:
    """The kept form of any activation's visitors (a store may give a plain dict)."""
    return visitors.entries() if isinstance(visitors, ActivatedVisitors) else visitors


def _count_entry(entry: Entry) -> int:
    if isinstance(entry, Profile):
        count = len(entry.traits)
        for trait in entry.traits.values():
            if trait.value is None:
                count -= 1
        return count
    return _count(entry)


def _scalar_values(profile: Profile) -> dict[str, JsonValue]:
    return {name: trait.value for name, trait in profile.traits.items() if trait.value is not None}


def _same(was: Entry | None, now: Entry | None) -> bool:
    """Whether two kept entries put the visitor in the same cohorts.

    Python holds ``1 == True`` (and ``(1,) == (True,)``), but they are two cohorts (see
    :func:`value_key`): comparing the traits with ``==`` missed a value turning from 1 to
    true, so the cohort diff counted no change.
    """
    if was is now:
        return True
    if was is None or now is None:
        return False
    if isinstance(was, Profile) and isinstance(now, Profile):
        values, others = _scalar_values(was), _scalar_values(now)
        if was.connector_id != now.connector_id:  # cohorts are per connector: none, or others
            return not values and not others
        if values != others:
            return False
        for name, value in values.items():  # the only scalars == confuses: a bool and a number
            if (value.__class__ is bool) is not (others[name].__class__ is bool):
                return False
        return True
    return memberships(was) == memberships(now)


def _count_profile(
    cohorts: CohortCount,
    connector: str,
    profile: Profile,
    group_pairs: Mapping[ProfileKey, list[tuple[TraitKey, JsonValue]]],
    step: int,
) -> Grouped | None:
    """Count a matched profile's cohorts ``step`` times (1 in, -1 out).

    Returns the activated traits it built, or None for a plain profile (see
    :class:`ActivatedVisitors`): its cohorts are counted from its traits directly.
    """
    if not _is_plain(profile):  # nested values, lists or groups: the general way
        grouped = profile_traits(profile, group_pairs)
        _count_cohorts(cohorts, connector, grouped, step)
        return grouped
    kinds, known, counted = _KINDS, _IDENTIFY_KEYS.get, cohorts.get
    for name, trait in profile.traits.items():
        value = trait.value
        if value is not None:
            key = known(name) or top_key("identify", name)
            cohort = (connector, key, kinds[value.__class__], value)
            count = counted(cohort, 0) + step
            if count:
                cohorts[cohort] = count
            else:
                del cohorts[cohort]
    return None


def _count_cohorts(cohorts: CohortCount, connector: str, grouped: Grouped, step: int) -> None:
    kinds = _KINDS
    for key, values in grouped.items():
        for value in values:
            cohort = (connector, key, kinds.get(value.__class__, "s"), value)
            count = cohorts.get(cohort, 0) + step
            if count:
                cohorts[cohort] = count
            else:
                del cohorts[cohort]


def _merge_visitor(keys: list[ProfileKey], traits_of: dict[ProfileKey, Grouped]) -> VisitorTraits:
    """A visitor's traits from its several profiles, merged in (connector, anonymousId) order."""
    by_connector: VisitorTraits = {}
    for key in sorted(keys):
        grouped = traits_of[key]
        target = by_connector.get(key[0])
        if target is None:
            by_connector[key[0]] = dict(grouped)
            continue
        for trait, values in grouped.items():
            known = target.get(trait)
            if known is None:
                target[trait] = values
            else:
                identities = {value_key(other) for other in known}
                target[trait] = known + tuple(v for v in values if value_key(v) not in identities)
    return by_connector


def activate(
    account_id: str,
    scheduled_for: datetime,
    profiles: dict[ProfileKey, Profile],
    groups: dict[ProfileKey, GroupProfile],
    sightings: Iterable[Sighting],
    live: frozenset[str],
    version: int = -1,
) -> tuple[ActivationResult, NightState]:
    """Match profiles to visitors seen by ``scheduled_for`` and fill the cohorts.

    A profile is matched when a visitor was seen with its anonymousId by the time of the
    run; only matched profiles (of ``live`` connectors) put visitors in cohorts, so no
    cohort is ever empty. A visitor with several matched profiles (a shared device) gets
    their values merged, distinct, in (connector, anonymousId) order.

    Returns:
        The result, and the state a later night can advance (:func:`advance_night`).
    """
    visitors_of: dict[str, Ids] = {}
    anonymous_ids_of: dict[str, Ids] = {}
    deferred: dict[tuple[str, str], datetime] = {}
    for sighting in sightings:
        visitor, anonymous_id = sighting.visitor_id, sighting.anonymous_id
        if (
            sighting.seen_at <= scheduled_for
            and visitor not in anonymous_ids_of
            and anonymous_id not in visitors_of
            and (not deferred or (visitor, anonymous_id) not in deferred)
        ):  # the common sighting, as _see counts it: one visitor, one anonymousId
            anonymous_ids_of[visitor] = anonymous_id
            visitors_of[anonymous_id] = visitor
        else:
            _see(sighting, scheduled_for, visitors_of, anonymous_ids_of, deferred)
    group_pairs = {key: flatten_traits(group.traits, "group") for key, group in groups.items()}
    members: dict[ProfileKey, set[str]] = {}
    entries: dict[str, Entry] = {}
    cohorts: CohortCount = {}
    matched: list[ProfileKey] = []
    shared: dict[str, None] = {}
    live_profiles = 0
    for key, profile in profiles.items():
        connector = key[0]
        for group_id in profile.groups:
            members.setdefault((connector, group_id), set()).add(key[1])
        if connector not in live:
            continue
        live_profiles += 1
        seen_by = visitors_of.get(key[1])
        if seen_by is None:
            continue
        matched.append(key)
        grouped = _count_profile(cohorts, connector, profile, group_pairs, 1)
        entry: Entry = profile if grouped is None else {connector: grouped}
        for visitor_id in _ids(seen_by):
            if visitor_id in entries:
                shared[visitor_id] = None
            else:
                entries[visitor_id] = entry
    state = NightState(
        None,
        version,
        live,
        profiles,
        groups,
        group_pairs,
        members,
        visitors_of,
        anonymous_ids_of,
        deferred,
        cohorts,
        live_profiles,
        Activation(account_id, scheduled_for, ActivatedVisitors(entries), frozenset(matched)),
    )
    for visitor_id in shared:  # a shared device: merge its profiles in a fixed order
        entries[visitor_id] = _visitor_entry(state, visitor_id) or {}
    return ActivationResult(state.activation, len(matched), len(cohorts)), state


def _see(
    sighting: Sighting,
    scheduled_for: datetime,
    visitors_of: dict[str, Ids],
    anonymous_ids_of: dict[str, Ids],
    deferred: dict[tuple[str, str], datetime],
) -> bool:
    """Count a sighting seen by ``scheduled_for``, or keep it for later; True when it is new."""
    visitor, anonymous_id = sighting.visitor_id, sighting.anonymous_id
    known = anonymous_ids_of.get(visitor)
    if known is not None and anonymous_id in _ids(known):
        return False
    if sighting.seen_at > scheduled_for:
        pair = (visitor, anonymous_id)
        earlier = deferred.get(pair)
        if earlier is None or sighting.seen_at < earlier:
            deferred[pair] = sighting.seen_at
        return False
    deferred.pop((visitor, anonymous_id), None)
    anonymous_ids_of[visitor] = anonymous_id if known is None else (*_ids(known), anonymous_id)
    others = visitors_of.get(anonymous_id)
    visitors_of[anonymous_id] = visitor if others is None else (*_ids(others), visitor)
    return True


def _visitor_entry(state: NightState, visitor_id: str) -> Entry | None:
    """A visitor's activated traits, as kept, from the state's profiles; None when none is
    matched."""
    profiles = state.profiles
    keys = [
        (connector, anonymous_id)
        for anonymous_id in _ids(state.anonymous_ids_of.get(visitor_id, ()))
        for connector in state.live
        if (connector, anonymous_id) in profiles
    ]
    if not keys:
        return None
    if len(keys) == 1:
        profile = profiles[keys[0]]
        if _is_plain(profile):
            return profile
        return {keys[0][0]: profile_traits(profile, state.group_pairs)}
    traits_of = {key: profile_traits(profiles[key], state.group_pairs) for key in keys}
    return _merge_visitor(keys, traits_of)


@dataclass(frozen=True, slots=True)
class NightChanges:
    """What an incremental night changed: the records to commit and the visitors to diff."""

    profiles: list[Profile]
    groups: list[GroupProfile]
    visitors: set[str]


def advance_night(
    state: NightState,
    scheduled_for: datetime,
    messages: Sequence[StoredMessage],
    sightings: Iterable[Sighting],
    version: int,
) -> tuple[ActivationResult, NightChanges]:
    """The next night from the last one's state: only the visitors whose inputs changed.

    ``messages`` are the night's pending messages; ``sightings`` every sighting changed
    since ``state.version`` (more is harmless). ``state`` is advanced in place, so a caller
    whose commit fails must drop it. The result equals :func:`activate` over the whole
    account (the tests hold it to that).
    """
    replaced: dict[ProfileKey, Profile | None] = {}
    replaced_groups: dict[ProfileKey, GroupProfile | None] = {}
    changed, changed_groups = fold_messages(
        messages, state.profiles, state.groups, replaced, replaced_groups
    )
    live = state.live
    old_pairs = {key: state.group_pairs.get(key) for key in changed_groups}
    affected: set[ProfileKey] = set(changed)
    for key in changed_groups:
        state.group_pairs[key] = flatten_traits(state.groups[key].traits, "group")
        connector = key[0]
        affected.update((connector, anonymous_id) for anonymous_id in state.members.get(key, ()))
    for key in changed:
        old = replaced[key]
        added = state.profiles[key].groups - (old.groups if old is not None else frozenset())
        for group_id in added:
            state.members.setdefault((key[0], group_id), set()).add(key[1])
        if old is None and key[0] in live:
            state.live_profiles += 1
    visitors: set[str] = set()
    due = list(sightings)
    due.extend(
        Sighting("", visitor, anonymous_id, seen_at)
        for (visitor, anonymous_id), seen_at in list(state.deferred.items())
    )
    for sighting in due:
        if _see(sighting, scheduled_for, state.visitors_of, state.anonymous_ids_of, state.deferred):
            visitors.add(sighting.visitor_id)
            anonymous_id = sighting.anonymous_id
            affected.update(
                (connector, anonymous_id)
                for connector in live
                if (connector, anonymous_id) in state.profiles
            )
    # The groups' traits as they were, for taking back what a profile gave the cohorts.
    old_lookup = ChainMap({k: v or [] for k, v in old_pairs.items()}, state.group_pairs)
    was_matched = state.activation.matched
    gained: set[ProfileKey] = set()
    lost: set[ProfileKey] = set()
    for key in affected:
        connector, anonymous_id = key
        if connector not in live:
            continue
        if key in was_matched:
            old = replaced[key] if key in replaced else state.profiles[key]
            if old is not None:
                _count_profile(state.cohorts, connector, old, old_lookup, -1)
            lost.add(key)
        seen_by = state.visitors_of.get(anonymous_id)
        if seen_by is not None:
            lost.discard(key)
            if key not in was_matched:
                gained.add(key)
            _count_profile(state.cohorts, connector, state.profiles[key], state.group_pairs, 1)
            visitors.update(_ids(seen_by))
    activated = dict(entries_of(state.activation.visitors))
    for visitor_id in visitors:
        entry = _visitor_entry(state, visitor_id)
        if entry is None:
            activated.pop(visitor_id, None)
        else:
            activated[visitor_id] = entry
    state.activation = Activation(
        state.activation.account_id,
        scheduled_for,
        ActivatedVisitors(activated),
        was_matched.difference(lost).union(gained) if gained or lost else was_matched,
    )
    state.version = version
    result = ActivationResult(state.activation, len(state.activation.matched), len(state.cohorts))
    return result, NightChanges(
        [state.profiles[key] for key in changed],
        [state.groups[key] for key in changed_groups],
        visitors,
    )


CohortKey = tuple[str, TraitKey, tuple[str, JsonValue]]
"""(connector id, trait, value identity): one cohort."""


def memberships(entry: Entry | None) -> dict[CohortKey, JsonValue]:
    """A visitor's cohorts, each with its value, from its kept entry (see :func:`entries_of`):
    a plain profile's without building its traits."""
    if not entry:
        return {}
    if isinstance(entry, Profile):
        connector = entry.connector_id
        return {
            (connector, key, value_key(value)): value for key, value in flatten_traits(entry.traits)
        }
    return {
        (connector, key, value_key(value)): value
        for connector, by_key in entry.items()
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


def _count(traits: VisitorTraits) -> int:
    return sum(len(values) for by_key in traits.values() for values in by_key.values())


def diff_cohorts(
    before: Activation | None,
    after: Activation,
    keep: int,
    candidates: Collection[str] | None = None,
) -> CohortDiff:
    """Compare a run's activated data with the previous run's.

    Visitors whose traits did not change cost one dict comparison, so a night on which
    few visitors changed is cheap however large the account. The kept changes come
    visitor by visitor in visitor id order, each visitor's sorted, so which ones a run
    keeps does not depend on how the activation was computed.

    Args:
        before: The previous activation (None before the first run).
        after: This run's.
        keep: How many changes to keep (all are counted).
        candidates: The only visitors whose traits may differ (None: any of them).
    """
    old = entries_of(before.visitors) if before is not None else {}
    new = entries_of(after.visitors)
    entered = left = 0
    changed: list[str] = []
    pairs: dict[str, tuple[Entry, Entry]] = {}  # a changed visitor's entries, before and after
    if candidates is None:
        for visitor_id, entry in new.items():
            was = old.get(visitor_id)
            if was is None:
                entered += _count_entry(entry)
                changed.append(visitor_id)
            elif not _same(was, entry):
                changed.append(visitor_id)
                pairs[visitor_id] = (was, entry)
        for visitor_id, was in old.items():
            if visitor_id not in new:
                left += _count_entry(was)
                changed.append(visitor_id)
    else:
        for visitor_id in candidates:
            was, now = old.get(visitor_id), new.get(visitor_id)
            if _same(was, now):
                continue
            changed.append(visitor_id)
            if was is None:
                entered += _count_entry(now) if now is not None else 0
            elif now is None:
                left += _count_entry(was)
            else:
                pairs[visitor_id] = (was, now)
    kept = sorted(changed) if len(changed) <= keep else heapq.nsmallest(keep, changed)
    changes: list[CohortChange] = []
    wanted = set(kept)
    built: dict[str, tuple[dict[CohortKey, JsonValue], dict[CohortKey, JsonValue]]] = {}
    for visitor_id, (was, now) in pairs.items():  # who came or went is counted above
        previous, current = memberships(was), memberships(now)
        entered += sum(1 for key in current if key not in previous)
        left += sum(1 for key in previous if key not in current)
        if visitor_id in wanted:
            built[visitor_id] = (previous, current)
    for visitor_id in kept:
        if len(changes) >= keep:
            break
        previous, current = built.get(visitor_id) or (
            memberships(old.get(visitor_id)),
            memberships(new.get(visitor_id)),
        )
        found = [(key, value, "entered") for key, value in current.items() if key not in previous]
        found += [(key, value, "left") for key, value in previous.items() if key not in current]
        found.sort(key=lambda item: (item[0][0], item[0][1], value_order(item[1])))
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
    return CohortDiff(changes, entered, left)
