"""What the fake AB Tasty can tell about its own state beyond what AB Tasty shows.

Pure functions over records, used by the service's reading methods (the inspector's
views): the cohorts the segment builder hides and why, and a visitor's whole story.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from harness.abtasty import audience
from harness.abtasty.records import (
    Activation,
    GroupProfile,
    JsonValue,
    Profile,
    Sighting,
    StoredMessage,
    TraitKey,
    TraitSource,
)
from harness.core.clock import format_instant

HiddenReason = Literal["unmatched", "not_activated", "no_anonymous_id", "no_member"]
PENDING_EXAMINED = 20_000
"""At most this many of the newest waiting messages are examined for hidden cohorts."""


@dataclass(frozen=True, slots=True)
class HiddenCohort:
    """A cohort (connector, trait, value) that holds no matched, activated visitor.

    The segment builder never shows it; ``reason`` says why, ``explanation`` in a sentence.

    Attributes:
        trait: The trait's key as the builder would print it; ``source`` and ``path`` say
            which trait it is (see :class:`~harness.abtasty.records.TraitKey`).
        profiles: Profiles (or waiting messages, for ``not_activated`` and
            ``no_anonymous_id``) that carry the value.
        seen_since: Of those profiles, how many have an anonymousId the tag has reported
            since the last refresh, seen by the next one's scheduled time (they join the
            cohort at the next refresh, as its matching counts every such sighting, even
            one dated before the last refresh).
    """

    connector_id: str
    trait: str
    value: JsonValue
    reason: HiddenReason
    profiles: int
    explanation: str
    seen_since: int = 0
    source: TraitSource = "identify"
    path: tuple[str, ...] = ()

    @property
    def key(self) -> TraitKey:
        """The trait, structurally."""
        return TraitKey(self.source, self.path)


def _hidden(
    connector: str,
    key: TraitKey,
    value: JsonValue,
    reason: HiddenReason,
    profiles: int,
    explanation: str,
    seen_since: int = 0,
) -> HiddenCohort:
    return HiddenCohort(
        connector,
        key.label,
        value,
        reason,
        profiles,
        explanation,
        seen_since,
        key.source,
        key.path,
    )


@dataclass(slots=True)
class _Tally:
    value: JsonValue
    profiles: int = 0
    seen_since: int = 0
    first: datetime | None = None
    groups: set[str] = field(default_factory=set)


CohortOrder = tuple[str, str, str, tuple[str, ...], str, audience.ValueOrder]
"""Hidden cohorts are listed by connector, printed key, source, path, reason, then value
(in :func:`audience.value_order`, as the builder lists a trait's values)."""


def _cohort_sort_key(cohort: HiddenCohort) -> CohortOrder:
    return (
        cohort.connector_id,
        cohort.trait,
        cohort.source,
        cohort.path,
        cohort.reason,
        audience.value_order(cohort.value),
    )


def shown_cohorts(
    activation: Activation | None,
) -> set[tuple[str, TraitKey, tuple[str, JsonValue]]]:
    """The cohorts the builder shows: (connector, trait, value identity) of activated data."""
    shown: set[tuple[str, TraitKey, tuple[str, JsonValue]]] = set()
    if activation is None:
        return shown
    for entry in audience.entries_of(activation.visitors).values():
        shown.update(audience.memberships(entry))
    return shown


@dataclass(frozen=True, slots=True)
class _Unmatched:
    """A cohort only unmatched profiles carry, with the anonymousIds of those profiles."""

    connector_id: str
    key: TraitKey
    value: JsonValue
    anonymous_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProfileTally:
    """The cohorts activated profiles carry that no matched visitor holds, in builder order.

    Counting them reads every profile, and profiles change only at a refresh: the tally is
    kept per refresh, and :meth:`hidden` turns it into the hidden cohorts for the sightings
    of the moment (which of the profiles join at the next run) in a pass over the cohorts.
    """

    cohorts: tuple[_Unmatched | HiddenCohort, ...]
    known: frozenset[tuple[str, TraitKey, tuple[str, JsonValue]]] = frozenset()
    """The cohorts the builder shows and these hidden ones (connector, trait, value identity)."""

    def hidden(
        self, seen_by_next_run: set[str], last_run: datetime | None, next_run: datetime
    ) -> list[HiddenCohort]:
        """The hidden cohorts, given the anonymousIds the next run will match.

        Args:
            seen_by_next_run: AnonymousIds of sightings dated by the next refresh's
                scheduled time (the ones it will match); for an unmatched profile, those
                reported since the last run.
            last_run: When the last refresh was scheduled.
            next_run: When the next one is.
        """
        when = "any refresh yet" if last_run is None else f"the last refresh ({_at(last_run)})"
        joins = f"; they join it at the next refresh ({_at(next_run)})."
        hidden = []
        for cohort in self.cohorts:
            if isinstance(cohort, HiddenCohort):
                hidden.append(cohort)
                continue
            carried = len(cohort.anonymous_ids)
            seen_since = sum(1 for a in cohort.anonymous_ids if a in seen_by_next_run)
            sentence = (
                f"{carried} profile(s) carry it, but the tag had seen none of their "
                f"anonymousIds by {when}: only matched visitors fill a cohort."
            )
            if seen_since:
                sentence += f" {seen_since} of them were reported seen since{joins}"
            key = cohort.key
            hidden.append(
                HiddenCohort(
                    cohort.connector_id,
                    key.label,
                    cohort.value,
                    "unmatched",
                    carried,
                    sentence,
                    seen_since,
                    key.source,
                    key.path,
                )
            )
        return hidden


def tally_profiles(
    profiles: Iterable[Profile],
    groups: Iterable[GroupProfile],
    activation: Activation | None,
    live_connectors: set[str],
) -> ProfileTally:
    """Count the cohorts that activated profiles carry but no matched visitor holds.

    Args:
        profiles: Every profile of the account (the state after the last refresh).
        groups: Every group profile.
        activation: The activated data of the last refresh.
        live_connectors: Connector ids that still exist.
    """
    matched = activation.matched if activation is not None else frozenset()
    shown = shown_cohorts(activation)
    group_pairs = {
        (group.connector_id, group.group_id): audience.flatten_traits(group.traits, "group")
        for group in groups
        if group.connector_id in live_connectors
    }
    members: set[tuple[str, str]] = set()
    # cohort -> [a value, the anonymousIds of the profiles carrying it]
    tallies: dict[tuple[str, TraitKey, tuple[str, JsonValue]], tuple[JsonValue, list[str]]] = {}
    value_key, flatten, tally_of = audience.value_key, audience.flatten_traits, tallies.get
    for profile in profiles:
        connector = profile.connector_id
        if connector not in live_connectors:
            continue
        in_groups = profile.groups
        for group_id in in_groups:
            members.add((connector, group_id))
        anonymous_id = profile.anonymous_id
        if (connector, anonymous_id) in matched:
            continue
        pairs = flatten(profile.traits)
        for group_id in in_groups:
            pairs.extend(group_pairs.get((connector, group_id), ()))
        counted: set[tuple[str, TraitKey, tuple[str, JsonValue]]] = set()
        for key, value in pairs:
            cohort = (connector, key, value_key(value))
            if cohort in shown or cohort in counted:
                continue
            counted.add(cohort)
            tally = tally_of(cohort)
            if tally is None:
                tallies[cohort] = (value, [anonymous_id])
            else:
                tally[1].append(anonymous_id)
    found: list[tuple[CohortOrder, Any]] = [
        (
            (connector, key.label, key.source, key.path, "unmatched", audience.value_order(value)),
            _Unmatched(connector, key, value, tuple(anonymous_ids)),
        )
        for (connector, key, _), (value, anonymous_ids) in tallies.items()
    ]
    for (connector, group_id), pairs in group_pairs.items():
        if (connector, group_id) in members:
            continue
        for key, value in pairs:
            if (connector, key, audience.value_key(value)) in shown:
                continue
            orphan = _hidden(
                connector,
                key,
                value,
                "no_member",
                0,
                f"group {group_id!r} has this trait, but no profile is a member of it "
                "(no group call with an anonymousId names it).",
            )
            found.append((_cohort_sort_key(orphan), orphan))
            shown.add((connector, key, audience.value_key(value)))
    found.sort(key=lambda pair: pair[0])
    shown.update(tallies)
    return ProfileTally(tuple(cohort for _, cohort in found), frozenset(shown))


def hidden_by_profiles(
    profiles: Iterable[Profile],
    groups: Iterable[GroupProfile],
    activation: Activation | None,
    live_connectors: set[str],
    seen_by_next_run: set[str],
    last_run: datetime | None,
    next_run: datetime,
) -> list[HiddenCohort]:
    """Cohorts that activated profiles carry but no matched visitor holds.

    :func:`tally_profiles` then :meth:`ProfileTally.hidden`; see both for the arguments.
    """
    tally = tally_profiles(profiles, groups, activation, live_connectors)
    return tally.hidden(seen_by_next_run, last_run, next_run)


def hidden_by_waiting(
    pending: Sequence[StoredMessage],
    shown: Set[tuple[str, TraitKey, tuple[str, JsonValue]]],
    live_connectors: set[str],
    activation_of: Callable[[datetime], datetime],
) -> list[HiddenCohort]:
    """Cohorts that only messages not yet taken by a refresh carry.

    Args:
        pending: Waiting messages, oldest first (only the newest ``PENDING_EXAMINED`` are read).
        shown: The cohorts the builder shows and the ones already listed as hidden.
        live_connectors: Connector ids that still exist.
        activation_of: When the refresh that takes a message received at an instant runs.
    """
    waiting: dict[tuple[str, TraitKey, tuple[str, JsonValue], bool], _Tally] = {}
    for message in pending[-PENDING_EXAMINED:]:
        if message.connector_id not in live_connectors:
            continue
        anonymous = message.anonymous_id is not None
        for key, value in audience.flatten_values(message.traits, message.type):
            cohort = (message.connector_id, key, audience.value_key(value))
            if cohort in shown:
                continue
            entry = (*cohort, anonymous)
            tally = waiting.get(entry)
            if tally is None:
                tally = waiting[entry] = _Tally(value, first=message.received_at)
            tally.profiles += 1
    hidden = []
    for (connector, key, _, anonymous), tally in waiting.items():
        assert tally.first is not None
        if anonymous:
            hidden.append(
                _hidden(
                    connector,
                    key,
                    tally.value,
                    "not_activated",
                    tally.profiles,
                    f"received in {tally.profiles} message(s) not yet taken by a refresh (the first "
                    f"at {_at(tally.first)}); activated at the refresh at "
                    f"{_at(activation_of(tally.first))}, if a visitor was seen with its anonymousId.",
                )
            )
        else:
            hidden.append(
                _hidden(
                    connector,
                    key,
                    tally.value,
                    "no_anonymous_id",
                    tally.profiles,
                    f"only in {tally.profiles} message(s) with no anonymousId (a userId alone): AB "
                    "Tasty matches visitors on anonymousId only, so these can never reach a visitor.",
                )
            )
    hidden.sort(key=_cohort_sort_key)
    return hidden


@dataclass(frozen=True, slots=True)
class VisitorSummary:
    """One visitor in the account's list of visitors."""

    visitor_id: str
    anonymous_ids: int
    first_seen: datetime
    last_seen: datetime


def visitor_summaries(sightings: Iterable[Sighting], prefix: str = "") -> list[VisitorSummary]:
    """Every visitor (whose id starts with ``prefix``), sorted by visitor id."""
    by_visitor: dict[str, list[Sighting]] = {}
    for sighting in sightings:
        if sighting.visitor_id.startswith(prefix):
            by_visitor.setdefault(sighting.visitor_id, []).append(sighting)
    return [
        VisitorSummary(
            visitor,
            len(seen),
            min(s.seen_at for s in seen),
            max(s.seen_at for s in seen),
        )
        for visitor, seen in sorted(by_visitor.items())
    ]


def _at(when: datetime) -> str:
    return format_instant(when)
