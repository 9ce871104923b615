"""The fake AB Tasty: every rule of the Segment pull integration, behind one façade.

Before answering anything about an account, the service runs every nightly refresh that
fell due (catch-up), so frozen time, a manual clock and the system clock all behave the
same without a background thread.
"""

from __future__ import annotations

import functools
import gc
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from harness.abtasty import audience, insight, schedule
from harness.abtasty.insight import HiddenCohort, VisitorSummary
from harness.abtasty.keys import basic_username, digests_equal, key_digest, new_api_key
from harness.abtasty.records import (
    Account,
    ApiKeyRecord,
    CohortChange,
    Condition,
    Connector,
    GroupProfile,
    JsonValue,
    MatchMode,
    Profile,
    RefreshRun,
    Segment,
    Sighting,
    StoredMessage,
    TraitKey,
    TraitSource,
    VisitorTraits,
    message_seqs,
)
from harness.abtasty.segments import (
    ConditionInput,
    ConditionRequest,
    condition_holds,
    make_condition,
    resolve_condition,
)
from harness.abtasty.spec import SpecMessage, parse_webhook_message
from harness.abtasty.store import MemoryStore, Store
from harness.abtasty.store.base import KeyCounter
from harness.core.clock import Clock, ClockBook, SystemClock, format_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError, mask_secret
from harness.core.protocol import anonymous_id_problem

DEDUP_WINDOW = timedelta(hours=24)
MAX_CATCH_UP_ROUNDS = 1_000
VISITOR_MESSAGES_SHOWN = 200
NIGHT_STATES_KEPT = 16
"""Accounts whose last night's state is kept for an incremental next night."""
KEY_OWNERS_KEPT = 1_024
"""At most this many Authorization headers' owners are remembered (memory store only)."""
COHORT_CHANGES_KEPT_PER_RUN = 10_000
"""Each run keeps who entered or left which cohort for this many changes (it counts them all)."""
MAX_NAME_CHARS = 100
VISITOR_ID = re.compile(r"[a-z0-9-]{1,32}", re.IGNORECASE)


class Receipt(msgspec.Struct, frozen=True, gc=False):
    """The webhook's answer to one message (a frozen msgspec Struct: built in C, per message)."""

    account_id: str
    status: Literal["accepted", "duplicate"]
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyStatus:
    """What the settings page shows about the key (never the key itself)."""

    exists: bool
    created_at: datetime | None
    last4: str | None


@dataclass(frozen=True, slots=True)
class CriterionValue:
    """A trait value shown in the builder and how many matched visitors have it."""

    value: JsonValue
    visitors: int


@dataclass(frozen=True, slots=True)
class CriterionTrait:
    """A trait shown in the builder, with its non-empty cohorts.

    Attributes:
        key: The key the builder prints (``plan``, ``group.plan``, ``company.name``).
        values: Its non-empty cohorts.
        source: ``identify`` or ``group``.
        path: Its path in that traits object: two traits printed alike differ here.
    """

    key: str
    values: tuple[CriterionValue, ...]
    source: TraitSource = "identify"
    path: tuple[str, ...] = ()

    @property
    def trait(self) -> TraitKey:
        """The trait, structurally."""
        return TraitKey(self.source, self.path)


@dataclass(frozen=True, slots=True)
class CriteriaItem:
    """One connector's item under EXTERNAL DATA."""

    connector_id: str
    connector_name: str
    integration: str
    traits: tuple[CriterionTrait, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Whether a visitor is in a segment, and why, in the integration's terms."""

    matches: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VisitorReport:
    """Everything the fake knows about one visitor, for people looking at a failure.

    Attributes:
        sightings: One per anonymousId the tag read on the visitor (earliest), oldest first.
        matched: (connector id, anonymousId) of each profile matched to the visitor at the
            last refresh.
        traits: The visitor's activated traits, per live connector.
        messages: The newest messages carrying one of the visitor's anonymousIds (at most
            ``VISITOR_MESSAGES_SHOWN``), each with whether a refresh has taken it.
        segments: The ids of the segments the visitor is in now.
        last_refresh: When the last refresh was scheduled, if one has run.
        next_refresh: When the next one is.
    """

    visitor_id: str
    sightings: tuple[Sighting, ...]
    matched: tuple[tuple[str, str], ...]
    traits: VisitorTraits
    messages: tuple[tuple[StoredMessage, bool], ...]
    segments: tuple[str, ...]
    last_refresh: datetime | None
    next_refresh: datetime


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def normalize_visitor_id(visitor_id: str) -> str:
    """The stored (lower-case) form of an AB Tasty visitor id.

    Raises:
        HarnessError: ``invalid_visitor_id`` when it does not match ``^[a-z0-9-]{1,32}$``.
    """
    if not isinstance(visitor_id, str) or not VISITOR_ID.fullmatch(visitor_id):
        shown = repr(visitor_id[:40]) if isinstance(visitor_id, str) else "(not a string)"
        raise HarnessError(
            ErrorCode.INVALID_VISITOR_ID,
            f"Visitor id {shown} is not an AB Tasty visitor id: a string of 1 to 32 letters, "
            "digits or hyphens.",
        )
    return visitor_id.lower()


@dataclass(slots=True)
class _AuthMemo:
    """A webhook key already seen live, and what it led to.

    It holds while the account's input version is still ``version`` (a key or connector
    change, or the account's reset, moves it, in whichever worker sharing the store it
    happens) and the clock is before ``due``, the next nightly run as then known.
    """

    account: Account
    connector: Connector
    version: int
    due: datetime


def _check_name(name: str, code: ErrorCode, what: str) -> str:
    if not isinstance(name, str):
        raise HarnessError(code, f"The {what} name must be a string.")
    if not name.strip():
        raise HarnessError(code, f"The {what} name is blank; give it a name.")
    if len(name) > MAX_NAME_CHARS:
        raise HarnessError(
            code, f"The {what} name has {len(name)} characters; at most {MAX_NAME_CHARS}."
        )
    return name


class AbTasty:
    """The fake AB Tasty account system, Segment pull integration included.

    Args:
        store: Where state lives; a fresh :class:`MemoryStore` by default.
        clock: Where "now" comes from; the system clock (freezegun-aware) by default.
        clocks: The tenants' own clocks, for accounts bound to one (``clock`` is the
            global clock of the book); a book of its own by default.
    """

    def __init__(
        self,
        store: Store | None = None,
        clock: Clock | None = None,
        clocks: ClockBook | None = None,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.clocks = clocks if clocks is not None else ClockBook(self.clock)
        # An account's clock binding never changes, so it may be remembered (the clock's
        # time never is: it is read from the clock on every call).
        self._bindings: dict[str, str] = {}
        # (account id, last run's cutoff) -> the next run: a pure function of the two,
        # memoised because every request asks it.
        self._next_run: dict[tuple[str, datetime | None], schedule.ScheduledRefresh] = {}
        # account id -> (inputs version, hidden cohorts): reading every profile is the slow
        # part; the version holds the store's input counter, so any message, sighting or
        # connector change (from any worker sharing the store) is shown at once.
        self._hidden: dict[str, tuple[object, list[HiddenCohort]]] = {}
        # account id -> what its last night left for the next to build on (incremental
        # nights); used only while the store's last run is the one it was left by.
        self._nights: dict[str, audience.NightState] = {}
        self.incremental_nights = True
        """False recomputes every visitor every night (what the incremental path is held to)."""
        # account id -> (activation version, criteria): they change only at a refresh.
        self._criteria: dict[str, tuple[object, list[CriteriaItem]]] = {}
        # account id -> (activation version, the unmatched profiles' cohorts): profiles
        # change only at a refresh, so a new sighting only recounts who joins next.
        self._tallies: dict[str, tuple[object, insight.ProfileTally]] = {}
        # Authorization header -> the account and connector its key led to, and account id
        # -> the same memo: a repeated webhook call costs one input-version read instead of
        # the key, account, last-run and connector reads (see _AuthMemo for when it holds).
        self._auth_memo: dict[str, _AuthMemo] = {}
        self._auth_of_account: dict[str, _AuthMemo] = {}
        # Authorization header -> (the store's key count, the key's account): only for a
        # store this process alone writes (a KeyCounter); a shared store is asked every time.
        self._key_counter = self.store if isinstance(self.store, KeyCounter) else None
        self._key_owners: dict[str, tuple[int, str | None]] = {}

    # accounts --------------------------------------------------------------------------
    def create_account(
        self, name: str, timezone: str = "UTC", refresh_hour: int = 3, clock: str | None = None
    ) -> Account:
        """Create an account whose audiences refresh daily at ``refresh_hour``:00 in ``timezone``.

        With ``clock``, the account runs on that tenant clock (it must exist) instead of the
        global one: its nightly runs, dedup window and timestamps follow it.
        """
        _check_name(name, ErrorCode.INVALID_BODY, "account")
        schedule.zone(timezone)
        if not isinstance(refresh_hour, int) or isinstance(refresh_hour, bool):
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"refresh_hour must be an integer from 0 to 23, not {refresh_hour!r:.20}.",
            )
        if not 0 <= refresh_hour <= 23:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"refresh_hour is {refresh_hour}; give an hour from 0 to 23.",
            )
        now = self.clocks.clock(clock).now()
        account = Account(_new_id("acc"), name, timezone, refresh_hour, now, clock or None)
        self.store.add_account(account)
        return account

    def clock_for(self, account_id: str | None) -> Clock:
        """The clock an account runs on (the global clock for no or an unknown account)."""
        if account_id is None:
            return self.clock
        name = self._bindings.get(account_id)
        if name is None:
            account = self.store.get_account(account_id)
            if account is None:
                return self.clock
            name = account.clock or ""
            if len(self._bindings) > 100_000:
                self._bindings.clear()
            self._bindings[account_id] = name
        return self.clocks.clock(name) if name else self.clock

    def account(self, account_id: str) -> Account:
        """The account, after running any refresh that fell due.

        Raises:
            HarnessError: ``account_not_found``.
        """
        account = self.store.get_account(account_id)
        if account is None:
            raise HarnessError(
                ErrorCode.ACCOUNT_NOT_FOUND,
                f"There is no account {account_id[:40]!r}; create one with POST /api/accounts.",
            )
        self._catch_up(account)
        return account

    def accounts(self, offset: int = 0, limit: int = 100) -> list[Account]:
        """A page of every account, oldest first."""
        return self.store.accounts(max(offset, 0), max(limit, 0))

    def account_count(self) -> int:
        """How many accounts there are."""
        return self.store.account_count()

    # connectors ------------------------------------------------------------------------
    def create_segment_connector(self, account_id: str, name: str) -> Connector:
        """Set up the account's Segment pull connector (one per account)."""
        account = self.account(account_id)
        _check_name(name, ErrorCode.INVALID_NAME, "connector")
        existing = self._segment_connector(account.id)
        if existing is not None:
            raise HarnessError(
                ErrorCode.CONNECTOR_EXISTS,
                f"The account already has a Segment connector ({existing.id}, {existing.name!r}); "
                "delete it first to set up another.",
            )
        connector = Connector(_new_id("con"), account.id, name, self.clock_for(account.id).now())
        self.store.add_connector(connector)
        return connector

    def connectors(self, account_id: str) -> list[Connector]:
        """The account's connectors, oldest first."""
        return self.store.connectors(self.account(account_id).id)

    def delete_connector(self, account_id: str, connector_id: str) -> None:
        """Remove a connector; its traits leave the segment builder."""
        account = self.account(account_id)
        if not self.store.remove_connector(account.id, connector_id):
            raise HarnessError(
                ErrorCode.CONNECTOR_NOT_FOUND,
                f"The account has no connector {connector_id[:40]!r}.",
            )

    def _segment_connector(self, account_id: str) -> Connector | None:
        for connector in self.store.connectors(account_id):
            if connector.integration == "segment" and connector.direction == "pull":
                return connector
        return None

    # API key ---------------------------------------------------------------------------
    def generate_api_key(self, account_id: str) -> str:
        """Generate the account's API key; the only time the full key is shown."""
        account = self.account(account_id)
        current = self.store.get_api_key(account.id)
        if current is not None:
            raise HarnessError(
                ErrorCode.API_KEY_EXISTS,
                f"The account already has an API key (ending {current.last4}); regenerate it to get a new one.",
            )
        return self._issue_key(account.id)

    def regenerate_api_key(self, account_id: str) -> str:
        """Replace the account's API key; the old key stops working at once."""
        account = self.account(account_id)
        if self.store.get_api_key(account.id) is None:
            raise HarnessError(
                ErrorCode.API_KEY_NOT_FOUND,
                "The account has no API key to regenerate; generate one first.",
            )
        return self._issue_key(account.id)

    def _issue_key(self, account_id: str) -> str:
        key = new_api_key()
        self.store.put_api_key(
            ApiKeyRecord(account_id, key_digest(key), key[-4:], self.clock_for(account_id).now())
        )
        return key

    def api_key_status(self, account_id: str) -> ApiKeyStatus:
        """Whether the account has a key, since when, and its last 4 characters."""
        record = self.store.get_api_key(self.account(account_id).id)
        if record is None:
            return ApiKeyStatus(False, None, None)
        return ApiKeyStatus(True, record.created_at, record.last4)

    def revoke_api_key(self, account_id: str) -> None:
        """Delete the account's API key (idempotent)."""
        self.store.remove_api_key(self.account(account_id).id)

    # the Segment destination webhook ---------------------------------------------------
    def key_owner(self, authorization: str | None) -> str | None:
        """The account a webhook Authorization header's key belongs to, if it is live.

        Over a store only this process writes (the memory store), the answer is remembered
        until any key is put, removed or reset; over a shared store (SQLite, PostgreSQL)
        the store is asked on every call, so a key revoked through any worker is refused
        by every worker at once.
        """
        counter = self._key_counter
        if counter is None or authorization is None:
            return self._key_owner(authorization)
        version = counter.key_version()  # read before the key: a racing change moves it
        known = self._key_owners.get(authorization)
        if known is not None and known[0] == version:
            return known[1]
        owner = self._key_owner(authorization)
        if len(self._key_owners) >= KEY_OWNERS_KEPT:
            self._key_owners.clear()
        self._key_owners[authorization] = (version, owner)
        return owner

    def _key_owner(self, authorization: str | None) -> str | None:
        try:
            return self._live_key(authorization).account_id
        except HarnessError:
            return None

    def _live_key(self, authorization: str | None) -> ApiKeyRecord:
        api_key, digest = _parsed_key(authorization)
        record = self.store.find_api_key(digest)
        if record is None or not digests_equal(record.digest, digest):
            raise HarnessError(
                ErrorCode.INVALID_API_KEY,
                f"The API key {mask_secret(api_key)} is not a live AB Tasty API key (unknown, revoked "
                "or regenerated); paste the current key from Settings > Integrations > API Key into "
                "the AB Tasty destination in Segment.",
            )
        return record

    def authenticate(self, authorization: str | None) -> tuple[Account, Connector]:
        """The account and Segment connector a webhook call is for.

        Raises:
            HarnessError: ``missing_api_key``, ``invalid_api_key`` or ``no_segment_connector``.
        """
        if authorization is not None:
            memo = self._auth_memo.get(authorization)
            if memo is not None:
                account = memo.account
                if (
                    self.store.input_version(account.id) == memo.version
                    and self.clock_for(account.id).now() < memo.due
                ):
                    return account, memo.connector
                self._auth_memo.pop(authorization, None)
        record = self._live_key(authorization)
        # The version is read before what it vouches for: a change racing with these reads
        # leaves the memo behind the store's version, so it is never used.
        version = self.store.input_version(record.account_id)
        account = self.account(record.account_id)
        connector = self._segment_connector(account.id)
        if connector is None:
            raise HarnessError(
                ErrorCode.NO_SEGMENT_CONNECTOR,
                "The API key is valid, but the account has no Segment pull connector; set one up "
                "in Integration Hub > Pull > Segment before sending.",
            )
        if authorization is not None and self.store.find_api_key(record.digest) == record:
            previous = self.store.last_refresh(account.id)
            due = schedule.refresh_after(account, previous.cutoff if previous else None)
            if len(self._auth_memo) >= 1_024:
                self._auth_memo.clear()
                self._auth_of_account.clear()
            memo = _AuthMemo(account, connector, version, due.scheduled_for)
            self._auth_memo[authorization] = self._auth_of_account[account.id] = memo
        return account, connector

    def receive(self, authorization: str | None, body: bytes) -> Receipt:
        """Take one message as Segment's AB Tasty destination posts it."""
        account, connector = self.authenticate(authorization)
        return self.ingest(account.id, connector.id, parse_webhook_message(body))

    def ingest(self, account_id: str, connector_id: str, message: SpecMessage) -> Receipt:
        """Store an already validated message (the webhook's work after auth and parsing)."""
        now = self.clock_for(account_id).now()
        event_time = message.event_time
        anonymous_id = message.anonymous_id
        stored = StoredMessage(  # positional: this runs for every message
            account_id,
            connector_id,
            message.message_id,
            message.type,
            anonymous_id,
            message.user_id,
            message.group_id,
            message.traits,
            now if event_time is None else event_time,
            now,
            0,
            message.engage,
        )
        seq = self.store.add_message(stored, DEDUP_WINDOW)
        memo = self._auth_of_account.get(account_id)
        if memo is not None:
            # The memo still holds if this message is the only change since it was checked
            # (a duplicate changes nothing); any other change makes the version run ahead.
            expected = memo.version + (seq is not None)
            if self.store.input_version(account_id) == expected:
                memo.version = expected
        warning = "no_anonymous_id" if anonymous_id is None else None
        return Receipt(account_id, "accepted" if seq is not None else "duplicate", warning)

    # the AB Tasty tag ------------------------------------------------------------------
    def record_sighting(
        self, account_id: str, visitor_id: str, anonymous_id: str, seen_at: datetime | None = None
    ) -> bool:
        """Record that the tag read ``anonymous_id`` in visitor ``visitor_id``'s browser.

        Returns:
            True the first time this visitor id is seen in the account.
        """
        account = self.account(account_id)
        visitor = normalize_visitor_id(visitor_id)
        if not isinstance(anonymous_id, str):
            raise HarnessError(ErrorCode.INVALID_BODY, "segment_anonymous_id must be a string.")
        problem = anonymous_id_problem(anonymous_id, "segment_anonymous_id")
        if problem is not None:
            raise HarnessError(ErrorCode.INVALID_BODY, problem)
        now = self.clock_for(account.id).now()
        if seen_at is None:
            seen_at = now
        elif seen_at > now:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                f"seen_at {format_instant(seen_at)} is after the fake's clock ({format_instant(now)}); "
                "the tag reports what it has seen: omit seen_at to use the current time.",
            )
        return self.store.add_sighting(Sighting(account.id, visitor, anonymous_id, seen_at))

    # nightly refresh -------------------------------------------------------------------
    def _catch_up(self, account: Account) -> None:
        # Several workers may catch up on one account at once: each night is committed by
        # exactly one of them (the store refuses a second copy), and a worker that lost a
        # night to another reads where the account stands and goes on from there.
        for _ in range(MAX_CATCH_UP_ROUNDS):
            if self._catch_up_from_last_run(account):
                return

    def _catch_up_from_last_run(self, account: Account) -> bool:
        previous = self.store.last_refresh(account.id)
        key = (account.id, previous.cutoff if previous else None)
        next_run = self._next_run.get(key)
        if next_run is None:
            next_run = schedule.refresh_after(account, previous.cutoff if previous else None)
            if len(self._next_run) > 10_000:
                self._next_run.clear()
            self._next_run[key] = next_run
        now = self.clock_for(account.id).now()
        if now < next_run.scheduled_for:
            return True  # the common case: nothing due, no schedule arithmetic
        due = list(schedule.due_refreshes(account, previous.cutoff if previous else None, now))
        if not due:
            return True
        # Read the version before the inputs: a change racing with this read makes the
        # next night recompute, never reuse a result that missed it.
        version = self.store.input_version(account.id)
        live = frozenset(connector.id for connector in self.store.connectors(account.id))
        state = self._nights.pop(account.id, None)
        if not self.incremental_nights:
            state = None
        if state is not None and (state.run != previous or state.live != live):
            state = None  # another worker ran a night, or a connector came or went
        # An incremental night reads only the sightings changed since the state's.
        sightings = (
            self.store.sightings(account.id)
            if state is None
            else self.store.sightings_since(account.id, state.version)
        )
        for run in due:
            ran, state = self._run_refresh(account, run, sightings, previous, version, live, state)
            if ran is None:
                return False  # another worker ran this night first
            if state is not None:
                sightings = []  # the state knows them now (those seen later wait in it)
            previous = ran
        if state is not None:
            if len(self._nights) >= NIGHT_STATES_KEPT:
                self._nights.pop(next(iter(self._nights)))
            self._nights[account.id] = state
        return True

    def _run_refresh(
        self,
        account: Account,
        due: schedule.ScheduledRefresh,
        sightings: list[Sighting],
        previous: RefreshRun | None,
        version: int,
        live: frozenset[str],
        state: audience.NightState | None,
    ) -> tuple[RefreshRun | None, audience.NightState | None]:
        pending = self.store.pending_messages(account.id, due.cutoff)
        ran_at = self.clock_for(account.id).now()
        if not pending and previous is not None and previous.input_version == version:
            # Nothing the refresh reads changed since the last run (no message, sighting,
            # connector or key): its result stands. This keeps catch-up over long idle
            # stretches cheap; a change of any kind, whatever its time, recomputes.
            idle = replace(
                previous,
                scheduled_for=due.scheduled_for,
                cutoff=due.cutoff,
                messages=0,
                ran_at=ran_at,
                entered=0,
                left=0,
            )
            if not self.store.commit_refresh(idle, [], [], [], None):
                return None, None
            if state is not None:
                state.run = idle
            return idle, state
        # The refresh allocates millions of small objects that all live on: the cyclic
        # collector would walk the whole heap over and over for nothing (measured: a
        # third of the time at 1M profiles). It runs again as soon as the night is done.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._compute_night(
                account, due, pending, sightings, previous, version, live, state, ran_at
            )
        finally:
            if collecting:
                gc.enable()

    def _compute_night(
        self,
        account: Account,
        due: schedule.ScheduledRefresh,
        pending: Sequence[StoredMessage],
        sightings: list[Sighting],
        previous: RefreshRun | None,
        version: int,
        live: frozenset[str],
        state: audience.NightState | None,
        ran_at: datetime,
    ) -> tuple[RefreshRun | None, audience.NightState | None]:
        before = self.store.activation(account.id)
        if state is not None:
            # Only the visitors whose messages, sightings or groups changed are recomputed.
            result, changes = audience.advance_night(
                state, due.scheduled_for, pending, sightings, version
            )
            changed_profiles, changed_groups = changes.profiles, changes.groups
            diff = audience.diff_cohorts(
                before, result.activation, COHORT_CHANGES_KEPT_PER_RUN, changes.visitors
            )
        else:
            profiles = {
                (p.connector_id, p.anonymous_id): p for p in self.store.profiles(account.id)
            }
            groups = {(g.connector_id, g.group_id): g for g in self.store.groups(account.id)}
            changed, changed_group_keys = audience.fold_messages(pending, profiles, groups)
            # A deleted connector's data is gone from the builder: it fills no cohort and is
            # not counted (its messages were still taken, so they are counted in `messages`).
            result, state = audience.activate(
                account.id, due.scheduled_for, profiles, groups, sightings, live, version
            )
            changed_profiles = [profiles[k] for k in changed]
            changed_groups = [groups[k] for k in changed_group_keys]
            diff = audience.diff_cohorts(before, result.activation, COHORT_CHANGES_KEPT_PER_RUN)
        run = RefreshRun(
            account_id=account.id,
            scheduled_for=due.scheduled_for,
            cutoff=due.cutoff,
            messages=len(pending),
            profiles=state.live_profiles,
            matched_profiles=result.matched_profiles,
            cohorts=result.cohorts,
            ran_at=ran_at,
            entered=diff.entered,
            left=diff.left,
            input_version=version,
        )
        committed = self.store.commit_refresh(
            run,
            message_seqs(pending),
            changed_profiles,
            changed_groups,
            result.activation,
            diff.changes,
        )
        if not committed:
            return None, None  # the state was advanced for a night that is not ours: drop it
        state.run = run
        return run, state

    def refreshes(self, account_id: str) -> list[RefreshRun]:
        """The account's refresh runs, oldest first."""
        return self.store.refreshes(self.account(account_id).id)

    def next_refresh(self, account_id: str) -> schedule.ScheduledRefresh:
        """The account's next nightly refresh."""
        account = self.account(account_id)
        last = self.store.last_refresh(account.id)
        return schedule.refresh_after(account, last.cutoff if last else None)

    def _activation_of(self, account: Account, received_at: datetime) -> datetime:
        return schedule.refresh_taking(account, received_at).scheduled_for

    def cohort_changes(
        self,
        account_id: str,
        *,
        scheduled_for: datetime | None = None,
        visitor_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[CohortChange]:
        """Who entered or left which cohort at which refresh, in run order.

        Each run keeps its first ``COHORT_CHANGES_KEPT_PER_RUN`` changes (its ``entered``
        and ``left`` counts are complete), for ``COHORT_CHANGE_RETENTION``.

        Args:
            account_id: The account.
            scheduled_for: Only the run scheduled for this instant.
            visitor_id: Only this visitor (any case).
            offset: Changes to skip.
            limit: At most this many.
        """
        account = self.account(account_id)
        visitor = None if visitor_id is None else normalize_visitor_id(visitor_id)
        return self.store.cohort_changes(
            account.id,
            scheduled_for=scheduled_for,
            visitor_id=visitor,
            offset=max(offset, 0),
            limit=max(limit, 0),
        )

    # the segment builder ---------------------------------------------------------------
    def _activation_version(self, account: Account) -> tuple[object, ...]:
        """What the activated data and the builder depend on: the last run and the connectors.

        The store replaces the activation only when it commits a run, and a reset drops the
        account (ids are never reused), so equal versions mean an equal builder.
        """
        last = self.store.last_refresh(account.id)
        return (
            account.created_at,
            None if last is None else (last.scheduled_for, last.cutoff, last.ran_at),
            tuple(c.id for c in self.store.connectors(account.id)),
        )

    def criteria(self, account_id: str) -> list[CriteriaItem]:
        """EXTERNAL DATA: one item per connector, showing only non-empty cohorts.

        Counted once per refresh (and connector change): the items are immutable, so the
        counts are kept until the activated data changes.
        """
        account = self.account(account_id)
        version = self._activation_version(account)
        cached = self._criteria.get(account.id)
        if cached is not None and cached[0] == version:
            return list(cached[1])
        items = self._count_criteria(account)
        if len(self._criteria) > 100:
            self._criteria.clear()
        self._criteria[account.id] = (version, items)
        return list(items)

    def _count_criteria(self, account: Account) -> list[CriteriaItem]:
        activation = self.store.activation(account.id)
        # connector -> trait -> value identity -> [the value, how many visitors hold it]
        tally: dict[str, dict[TraitKey, dict[tuple[str, JsonValue], list[JsonValue]]]] = {}
        if activation is not None:
            for kept in audience.entries_of(activation.visitors).values():
                for (connector_id, key, identity), value in audience.memberships(kept).items():
                    by_value = tally.setdefault(connector_id, {}).setdefault(key, {})
                    found = by_value.get(identity)
                    if found is None:
                        by_value[identity] = [value, 1]
                    else:
                        found[1] += 1
        items = []
        for connector in self.store.connectors(account.id):
            counts = tally.get(connector.id, {})
            traits = tuple(
                CriterionTrait(
                    key.label,
                    tuple(
                        CriterionValue(value, visitors)
                        for _, (value, visitors) in sorted(
                            by_value.items(), key=lambda kv: _sort_key(kv[0])
                        )
                    ),
                    key.source,
                    key.path,
                )
                for key, by_value in sorted(
                    counts.items(), key=lambda kv: (kv[0].label, kv[0].source, kv[0].path)
                )
            )
            items.append(CriteriaItem(connector.id, connector.name, connector.integration, traits))
        return items

    def hidden_cohorts(self, account_id: str) -> list[HiddenCohort]:
        """The cohorts the segment builder hides because no matched visitor holds them, and why.

        Those carried by activated profiles come first (unmatched profiles, groups without
        members), then those only waiting messages carry (not activated yet, or without an
        anonymousId). Kept until the store's input counter or the last run changes.

        A profile's ``seen_since`` follows the refresh's own rule: the next run matches every
        sighting seen by its scheduled time, whenever the tag reported it, so a sighting
        reported after the last run counts even when it is dated before that run.
        """
        account = self.account(account_id)
        next_run = self.next_refresh(account.id).scheduled_for
        version = (
            self.store.input_version(account.id),
            self._activation_version(account),
            next_run,
        )
        cached = self._hidden.get(account.id)
        if cached is not None and cached[0] == version:
            return list(cached[1])
        last = self.store.last_refresh(account.id)
        live = {c.id for c in self.store.connectors(account.id)}
        activation_version = version[1]
        tallied = self._tallies.get(account.id)
        if tallied is not None and tallied[0] == activation_version:
            tally = tallied[1]
        else:
            tally = insight.tally_profiles(
                self.store.profiles(account.id),
                self.store.groups(account.id),
                self.store.activation(account.id),
                live,
            )
            if len(self._tallies) > 100:
                self._tallies.clear()
            self._tallies[account.id] = (activation_version, tally)
        by_the_next_run = {
            s.anonymous_id for s in self.store.sightings(account.id) if s.seen_at <= next_run
        }
        by_profiles = tally.hidden(
            by_the_next_run, last.scheduled_for if last is not None else None, next_run
        )
        pending = self.store.pending_messages(account.id, datetime.max.replace(tzinfo=UTC))
        hidden = by_profiles + insight.hidden_by_waiting(
            pending, tally.known, live, lambda at: self._activation_of(account, at)
        )
        if len(self._hidden) > 100:
            self._hidden.clear()
        self._hidden[account.id] = (version, hidden)
        return list(hidden)

    def visitors(
        self, account_id: str, *, prefix: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[VisitorSummary], int]:
        """A page of the visitors the tag has reported, by visitor id, and how many match.

        Args:
            account_id: The account.
            prefix: Only visitor ids starting with this (any case).
            offset: Visitors to skip.
            limit: At most this many.
        """
        account = self.account(account_id)
        found = insight.visitor_summaries(self.store.sightings(account.id), prefix.lower())
        start = max(offset, 0)
        return found[start : start + max(limit, 0)], len(found)

    def visitor(self, account_id: str, visitor_id: str) -> VisitorReport:
        """What the fake knows about a visitor: sightings, matched profiles, traits, segments.

        Raises:
            HarnessError: ``visitor_not_found`` when the tag never reported the visitor.
        """
        account = self.account(account_id)
        visitor = normalize_visitor_id(visitor_id)
        sightings = self.store.visitor_sightings(account.id, visitor)
        if not sightings:
            raise HarnessError(
                ErrorCode.VISITOR_NOT_FOUND,
                f"The tag has not reported visitor {visitor!r} in this account; it reports visitors "
                "with POST /api/accounts/{account_id}/visitors.",
            )
        activation = self.store.activation(account.id)
        anonymous_ids = [s.anonymous_id for s in sightings]
        matched = tuple(
            (connector.id, anonymous_id)
            for connector in self.store.connectors(account.id)
            for anonymous_id in anonymous_ids
            if activation is not None and (connector.id, anonymous_id) in activation.matched
        )
        messages = self.store.messages_for(account.id, anonymous_ids)
        messages.sort(key=lambda pair: pair[0].received_at)
        last = self.store.last_refresh(account.id)
        return VisitorReport(
            visitor,
            tuple(sightings),
            matched,
            self._visitor_traits(account.id, visitor),
            tuple(messages[-VISITOR_MESSAGES_SHOWN:]),
            tuple(self.visitor_segments(account.id, visitor)),
            None if last is None else last.scheduled_for,
            self.next_refresh(account.id).scheduled_for,
        )

    def segments(self, account_id: str) -> list[Segment]:
        """The account's segments, oldest first."""
        return self.store.segments(self.account(account_id).id)

    def create_segment(
        self,
        account_id: str,
        name: str,
        match: str,
        conditions: Sequence[ConditionInput],
    ) -> Segment:
        """Build a segment from conditions on traits the builder shows.

        A condition names its trait by the key the builder prints (``trait``), as before
        traits carried their source; when two shown traits print alike (an identify trait
        literally named ``group.plan`` and the group trait ``plan``; a literal key
        ``company.name`` and a nested ``company: {name}``), it adds ``source`` and/or
        ``path``. The segment keeps the trait it resolved to, so it never changes meaning.

        Args:
            account_id: The account.
            name: The segment's name.
            match: ``all`` or ``any`` of the conditions.
            conditions: A :class:`~harness.abtasty.segments.ConditionRequest`, or (connector
                id, trait, operator, value), for each condition.

        Raises:
            HarnessError: ``invalid_body`` for a malformed condition; ``unknown_connector``
                for a connector the account does not have; ``criterion_not_available`` for a
                trait that the builder does not show; ``ambiguous_trait`` for one that fits
                several shown traits.
        """
        account = self.account(account_id)
        _check_name(name, ErrorCode.INVALID_BODY, "segment")
        if match not in ("all", "any"):
            raise HarnessError(
                ErrorCode.INVALID_BODY, f"match is {match[:20]!r}; use 'all' or 'any'."
            )
        if not conditions:
            raise HarnessError(
                ErrorCode.INVALID_BODY,
                "conditions is empty; a segment needs at least one condition.",
            )
        checked = [make_condition(i, c) for i, c in enumerate(conditions)]
        live = {c.id for c in self.store.connectors(account.id)}
        for index, request in enumerate(checked):
            if request.connector_id not in live:
                raise HarnessError(
                    ErrorCode.UNKNOWN_CONNECTOR,
                    f"conditions[{index}].connector_id {request.connector_id[:40]!r} is not a "
                    "connector of this account; GET /api/accounts/{account_id}/integrations "
                    "lists them.",
                )
        shown = {
            item.connector_id: [t.trait for t in item.traits] for item in self.criteria(account.id)
        }
        resolved = []
        for index, request in enumerate(checked):
            condition = resolve_condition(index, request, shown.get(request.connector_id, []))
            if condition is None:
                raise HarnessError(
                    ErrorCode.CRITERION_NOT_AVAILABLE, self._why_not_shown(account, request)
                )
            resolved.append(condition)
        mode: MatchMode = "all" if match == "all" else "any"
        segment = Segment(
            _new_id("seg"),
            account.id,
            name,
            mode,
            tuple(resolved),
            self.clock_for(account.id).now(),
        )
        self.store.add_segment(segment)
        return segment

    def _why_not_shown(self, account: Account, request: ConditionRequest) -> str:
        """Why the builder does not show a condition's trait: pending, unmatched or never sent."""
        connector = request.connector_id
        named = repr(request.trait[:60]) if request.trait is not None else ""
        if request.path is not None:
            named = (named + " " if named else "") + f"(path {list(request.path)!r})"
        if request.source is not None:
            named += f" from {request.source} calls"
        head = f"Trait {named} of connector {connector[:40]!r} is not shown under EXTERNAL DATA"
        carrying = [
            m
            for m in self.store.pending_messages(account.id, _END_OF_TIME)
            if m.connector_id == connector and _carries(m, request.matches)
        ]
        waiting = [m for m in carrying if m.anonymous_id is not None]
        if waiting:
            first = min(waiting, key=lambda m: m.received_at)
            activation = format_instant(self._activation_of(account, first.received_at))
            upcoming = format_instant(self.next_refresh(account.id).scheduled_for)
            return (
                f"{head} yet: a message carrying it was received at "
                f"{format_instant(first.received_at)} and is activated by the refresh at "
                f"{activation} (next refresh at {upcoming}), for visitors the tag has seen with "
                "its anonymousId by then."
            )
        if carrying:
            return (
                f"{head}: only messages without an anonymousId carry it, and those can never "
                "match a visitor."
            )
        groups = {(g.connector_id, g.group_id): g for g in self.store.groups(account.id)}
        if any(
            p.connector_id == connector and _profile_has(p, groups, request.matches)
            for p in self.store.profiles(account.id)
        ):
            return (
                f"{head}: Segment sent it, but no visitor was seen with the anonymousId of a "
                "profile that has a value for it (empty cohorts are not shown)."
            )
        return (
            f"{head}: no Segment message received on this connector carries it; the builder "
            "shows a trait once a refresh has activated it for a visitor the tag has seen."
        )

    def segment(self, account_id: str, segment_id: str) -> Segment:
        """The segment.

        Raises:
            HarnessError: ``segment_not_found``.
        """
        segment = self.store.get_segment(self.account(account_id).id, segment_id)
        if segment is None:
            raise HarnessError(
                ErrorCode.SEGMENT_NOT_FOUND, f"The account has no segment {segment_id[:40]!r}."
            )
        return segment

    def _visitor_traits(self, account_id: str, visitor_id: str) -> VisitorTraits:
        activation = self.store.activation(account_id)
        if activation is None:
            return {}
        live = {c.id for c in self.store.connectors(account_id)}
        traits = activation.visitors.get(visitor_id, {})
        return {connector: values for connector, values in traits.items() if connector in live}

    @staticmethod
    def _segment_holds(segment: Segment, traits: VisitorTraits) -> bool:
        results = (
            condition_holds(c, traits.get(c.connector_id, {}).get(c.key, ()))
            for c in segment.conditions
        )
        return all(results) if segment.match == "all" else any(results)

    def visitor_segments(self, account_id: str, visitor_id: str) -> list[str]:
        """The ids of the segments the visitor is in now, from activated data only."""
        account = self.account(account_id)
        visitor = normalize_visitor_id(visitor_id)
        traits = self._visitor_traits(account.id, visitor)
        return [s.id for s in self.store.segments(account.id) if self._segment_holds(s, traits)]

    def explain(self, account_id: str, segment_id: str, visitor_id: str) -> Explanation:
        """Why the visitor is, or is not, in the segment."""
        account = self.account(account_id)
        segment = self.segment(account.id, segment_id)
        visitor = normalize_visitor_id(visitor_id)
        sightings = self.store.visitor_sightings(account.id, visitor)
        if not sightings:
            raise HarnessError(
                ErrorCode.VISITOR_NOT_FOUND,
                f"The tag has not reported visitor {visitor!r} in this account; it reports visitors "
                "with POST /api/accounts/{account_id}/visitors.",
            )
        traits = self._visitor_traits(account.id, visitor)
        explainer = _Explainer(self, account, visitor, sightings)
        held = [
            condition_holds(c, traits.get(c.connector_id, {}).get(c.key, ()))
            for c in segment.conditions
        ]
        matches = all(held) if segment.match == "all" else any(held)
        need = "all" if segment.match == "all" else "any"
        reasons = [
            f"Visitor {visitor} is {'in' if matches else 'not in'} segment {segment.name!r}: it needs "
            f"{need} of {len(held)} condition(s) and {sum(held)} hold."
        ]
        reasons.extend(
            explainer.reason(c, traits, ok) for c, ok in zip(segment.conditions, held, strict=True)
        )
        return Explanation(matches, tuple(reasons))

    # control ---------------------------------------------------------------------------
    def reset(self, account_id: str | None = None) -> None:
        """Forget all state, or one account's; the clock is never touched."""
        self.store.reset(account_id)
        self._auth_memo.clear()
        self._auth_of_account.clear()
        if account_id is None:
            self._nights.clear()  # what the last nights left would only hold memory
        else:
            self._nights.pop(account_id, None)

    def reset_tenant(self, account_id: str | None) -> None:
        """Like :meth:`reset`, but an unknown account is ``account_not_found``."""
        if account_id is not None:
            self.account(account_id)
        self.reset(account_id)


@functools.lru_cache(maxsize=1_024)
def _parsed_key(authorization: str | None) -> tuple[str, bytes]:
    # Segment sends the same header with every message: parse and hash it once. Only the
    # parsing is cached; whether the key is live is asked of the store every time.
    api_key = basic_username(authorization)
    return api_key, key_digest(api_key)


def _sort_key(key: tuple[str, JsonValue]) -> audience.ValueOrder:
    return audience.value_order(key[1])


def _show(values: Sequence[JsonValue]) -> str:
    return " and ".join(repr(v) for v in values)


class _Explainer:
    """Puts a condition's outcome into the integration's terms.

    Every reason is read off the state the refresh works on (messages, profiles, the
    matched pairs of the last run), never guessed from times.
    """

    def __init__(
        self, service: AbTasty, account: Account, visitor: str, sightings: list[Sighting]
    ) -> None:
        self.service = service
        self.account = account
        self.visitor = visitor
        self.sightings = sightings
        store = service.store
        self.last_run = store.last_refresh(account.id)
        self.live = {c.id for c in store.connectors(account.id)}
        anonymous_ids = {s.anonymous_id for s in sightings}
        self.messages = store.messages_for(account.id, anonymous_ids)
        self.profiles = [p for p in store.profiles(account.id) if p.anonymous_id in anonymous_ids]
        self.groups = {(g.connector_id, g.group_id): g for g in store.groups(account.id)}
        activation = store.activation(account.id)
        self.matched = activation.matched if activation is not None else frozenset()
        self.next_run = format_instant(service.next_refresh(account.id).scheduled_for)

    def reason(self, condition: Condition, traits: VisitorTraits, held: bool) -> str:
        key = condition.key
        name = key.name
        label = f"{name} {condition.operator}" + (
            "" if condition.operator == "exists" else f" {condition.value!r}"
        )
        values = traits.get(condition.connector_id, {}).get(key, ())
        if values:
            shown = f"{name} is {_show(values)}{self._engage_note(condition)}"
            if held:
                return f"{shown}, so '{label}' holds."
            return f"{shown}, so '{label}' does not hold: the value differs."
        return f"'{label}' does not hold: " + self._why_absent(condition)

    def _engage_note(self, condition: Condition) -> str:
        """Names the Engage audience or computed trait behind an activated value, if any."""
        wanted = condition.key.__eq__
        sent = [
            m
            for m, taken in self.messages
            if taken
            and m.engage is not None
            and m.connector_id == condition.connector_id
            and _carries(m, wanted)
        ]
        if not sent:
            return ""
        last = max(sent, key=lambda m: (m.timestamp, m.message_id))
        kind, _, key = (last.engage or "").partition(":")
        when = format_instant(last.timestamp)
        if kind == "audience":
            moved = "entered" if last.traits.get(key) is True else "exited"
            return f" (Engage audience {key!r}: the user {moved} it at {when})"
        return f" (Engage computed trait {key!r}, computed at {when})"

    def _why_absent(self, condition: Condition) -> str:
        connector, key = condition.connector_id, condition.key
        trait = key.name
        if connector not in self.live:
            return f"connector {connector} no longer exists, so its traits are not available."
        ids = ", ".join(s.anonymous_id for s in self.sightings)
        profiles = [p for p in self.profiles if p.connector_id == connector]
        messages = [(m, taken) for m, taken in self.messages if m.connector_id == connector]
        if not profiles and not messages:
            return (
                f"no visitor seen with that anonymousId: no Segment message carries an anonymousId the "
                f"tag read on visitor {self.visitor} ({ids}); check that Segment sends the same "
                "anonymousId the tag reads (the ajs_anonymous_id cookie). A message with only a userId "
                "can never match a visitor."
            )
        wanted = key.__eq__
        having = [p for p in profiles if _profile_has(p, self.groups, wanted)]
        if having and all((p.connector_id, p.anonymous_id) not in self.matched for p in having):
            return self._reported_after_last_run({p.anonymous_id for p in having})
        waiting = [m for m, taken in messages if not taken and _carries(m, wanted)]
        if waiting:
            first = min(waiting, key=lambda m: m.received_at)
            activation = format_instant(
                self.service._activation_of(self.account, first.received_at)
            )
            return (
                f"trait {trait!r} received at {format_instant(first.received_at)} but not yet "
                f"activated; the next refresh is at {self.next_run} and it is activated at {activation}."
            )
        if key.source == "identify" and len(key.path) == 1:
            top = key.path[0]
            if any(top in p.traits and p.traits[top].value is None for p in profiles):
                return (
                    f"trait {trait!r} has no activated value for this visitor: it was set to null."
                )
        if not having:
            return (
                f"messages for anonymousId {ids} were received, but none carries trait {trait!r}."
            )
        return (
            f"trait {trait!r} has no value the builder can show for this visitor (an empty "
            "list or an object nested deeper than 4 levels)."
        )

    def _reported_after_last_run(self, anonymous_ids: set[str]) -> str:
        sighting = min(
            (s for s in self.sightings if s.anonymous_id in anonymous_ids), key=lambda s: s.seen_at
        )
        last = (
            f" at {format_instant(self.last_run.scheduled_for)}"
            if self.last_run is not None
            else ""
        )
        return (
            f"visitor {self.visitor} was reported with anonymousId {sighting.anonymous_id} (seen at "
            f"{format_instant(sighting.seen_at)}) after the last refresh{last} read the sightings; "
            f"it is matched at the next refresh at {self.next_run}."
        )


_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def _profile_has(
    profile: Profile,
    groups: dict[tuple[str, str], GroupProfile],
    wanted: Callable[[TraitKey], bool],
) -> bool:
    """Whether a profile, or one of its groups, has a value for a trait ``wanted`` accepts."""
    if any(wanted(key) for key, _ in audience.flatten_traits(profile.traits)):
        return True
    return any(
        (group := groups.get((profile.connector_id, group_id))) is not None
        and any(wanted(key) for key, _ in audience.flatten_traits(group.traits, "group"))
        for group_id in profile.groups
    )


def _carries(message: StoredMessage, wanted: Callable[[TraitKey], bool]) -> bool:
    """Whether a message carries a trait ``wanted`` accepts (group calls: group traits)."""
    return any(wanted(key) for key, _ in audience.flatten_values(message.traits, message.type))
