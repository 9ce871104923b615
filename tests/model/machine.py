"""The stateful test: random steps on the fake and on the reference model, compared.

Each rule is one scenario step (an account, a connector, a key action, a sighting, an
identify/group/track call, a clock move, a segment). It runs on the model, which says
what the answer must be, and on the system under test, whose answer must agree. After
every step the invariant compares, for every account, the segment builder, every visitor's
segments and the refresh history. A disagreement raises :class:`ModelDiscrepancy`, whose
message carries the steps so far as a scenario file that replays them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from harness.scenarios.specs import (
    AccountSpec,
    ApiKeySpec,
    AtSpec,
    CallSpec,
    ConditionSpec,
    ConnectorSpec,
    DeleteConnectorSpec,
    GroupSpec,
    IdentifySpec,
    SegmentSpec,
    TrackSpec,
    VisitorSpec,
)
from tests.model import reference
from tests.model.reference import Criterion, Outcome, ReferenceModel, Snapshot
from tests.model.scenario_file import (
    Recorded,
    criterion_key,
    final_checks,
    instant,
    outcome_of,
    plain,
    render_scenario,
)
from tests.model.systems import Answer, System

STARTS = (
    datetime(2011, 12, 28, 12, tzinfo=UTC),  # Pacific/Apia skips 30 December 2011
    datetime(2026, 3, 6, 12, tzinfo=UTC),  # America/New_York springs forward on 8 March
    datetime(2026, 3, 27, 12, tzinfo=UTC),  # Europe/Paris springs forward on 29 March
    datetime(2026, 10, 23, 12, tzinfo=UTC),  # Europe/Paris falls back on 25 October
    datetime(2026, 10, 30, 12, tzinfo=UTC),  # America/New_York falls back on 1 November
)
TIMEZONES = ("UTC", "Europe/Paris", "America/New_York", "Pacific/Apia")
REFRESH_HOURS = (0, 1, 2, 3, 23)
MAX_ACCOUNTS = 2
ANONYMOUS_IDS = ("anon-1", "anon-2")
SEEN_ANONYMOUS_IDS = (*ANONYMOUS_IDS, *ANONYMOUS_IDS, "anon-9")
"""What the tag reads: mostly the anonymousIds Segment sends, once in a while another."""
USER_IDS = ("user-1", "user-2")
GROUP_IDS = ("acme", "globex")
VISITOR_SPELLINGS = ("v1", "v2", "V2", "v3")
"""Visitor ids the tag reports (``V2`` is ``v2``: ids are case-insensitive)."""
GARBAGE_KEY = "abt_this-is-not-a-live-key-0000"
CURRENT = "current"
SEGMENT_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}

IDENTIFY_KEYS = ("plan", "seats", "vip", "country", "company", "tags", "signup")
GROUP_KEYS = ("plan", "employees", "industry")
COLLIDING_KEYS = ("group.plan", "company.name")
"""Identify traits named like a group trait or a nested one (issue 9, defect 6)."""
KEY_ACTIONS: dict[str, Literal["generate", "regenerate", "revoke"]] = {
    "generate key": "generate",
    "regenerate key": "regenerate",
    "revoke key": "revoke",
}
OPERATORS = ("equals", "not_equals", "contains", "exists", "greater_than", "less_than")

scalars = st.one_of(
    st.sampled_from(["pro", "free", "Pro", "FR", "", "10", "2026-03-01", "2026-03-01T10:00:00Z"]),
    st.integers(0, 12),
    st.sampled_from([1.5, 2.0]),
    st.booleans(),
    st.none(),
)
trait_values = st.one_of(
    scalars,
    scalars,
    st.dictionaries(st.sampled_from(["name", "plan"]), scalars, max_size=2),
    st.lists(st.sampled_from(["a", "b", "B", "pro"]), max_size=3),
)
BACKDATES = (1, 3600, 6 * 3600, 86_400, 3 * 86_400)
"""How far in the past a late sighting's ``seen_at`` is."""
TIMESTAMP_OFFSETS = (-2 * 86_400, -3600, -1, 0, 0, 1, 3600)
"""Scrambled event times: a message's timestamp relative to its arrival (ties on purpose)."""

keys = Bundle("keys")
key_choices = st.one_of(
    st.just(CURRENT),
    st.just(CURRENT),
    st.just(CURRENT),
    st.just(CURRENT),
    st.just(CURRENT),
    keys,
    st.just(None),
    st.just(GARBAGE_KEY),
)
"""The key a call carries: the account's own (usually), any key issued so far (old, revoked,
another account's), none at all, or one that never existed."""


class ModelDiscrepancy(AssertionError):
    """The fake and the reference model disagree; the message replays it as a scenario."""


class ModelMachine(RuleBasedStateMachine):
    """Drives one :class:`System` and the reference model with the same steps."""

    system: ClassVar[System]
    starts: ClassVar[tuple[datetime, ...]] = STARTS
    collisions: ClassVar[bool] = True
    """Generate identify traits named like group or nested traits (defect 6)."""
    deletions: ClassVar[bool] = True
    """Delete connectors (and set up new ones)."""

    accounts = Bundle("accounts")
    keys = keys
    sent = Bundle("sent")

    def __init__(self) -> None:
        super().__init__()
        self.start = STARTS[0]
        self.model = ReferenceModel(self.start)
        self.steps: list[Recorded] = []
        self.account_ids: dict[str, str] = {}
        self.connector_ids: dict[str, str] = {}
        self.segment_ids: dict[str, str] = {}
        self.key_values: dict[str, str] = {}
        self.counter = 0
        self._snapshots: dict[str, Snapshot] = {}

    # plumbing ----------------------------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def scenario(self) -> str:
        """The steps so far and the model's view now, as a scenario file."""
        return render_scenario(
            f"Model discrepancy ({self.system.name})",
            self.start,
            self.steps + final_checks(self.model),
            "Found by tests/model/test_stateful.py: the fake and the reference model disagree "
            "after the last action.",
        )

    def fail(self, what: str) -> ModelDiscrepancy:
        return ModelDiscrepancy(
            f"{what}\n\nA scenario that replays it (harness play FILE):\n\n{self.scenario()}"
        )

    @contextmanager
    def step(self, body: Any) -> Iterator[Recorded]:
        """Record a step; any crash inside it is reported with the scenario."""
        recorded = Recorded(body)
        self.steps.append(recorded)
        self._snapshots.clear()
        try:
            yield recorded
        except ModelDiscrepancy:
            raise
        except Exception as error:
            raise self.fail(f"{type(error).__name__}: {error}") from error

    def expect(self, step: Recorded, expected: Outcome, answer: Answer, what: str) -> None:
        """Check an answer against the model's outcome, noting the outcome in the step."""
        outcome = outcome_of(expected.status, expected.code, expected.body)
        if outcome is not None:
            step.outcome = outcome
        agrees = (
            answer.code == expected.code
            and (answer.status is None or answer.status == expected.status)
            and all(answer.body.get(k) == v for k, v in expected.body.items())
        )
        if not agrees:
            raise self.fail(
                f"{what}: the model expects {expected.status} {expected.code or ''} "
                f"{expected.body or ''}; the {self.system.name} system answered "
                f"{answer.status or ''} {answer.code or ''} {answer.body}"
            )

    def snapshot(self, account: str) -> Snapshot:
        if account not in self._snapshots:
            self._snapshots[account] = self.model.snapshot(account)
        return self._snapshots[account]

    def move_to(self, when: datetime) -> None:
        when = max(when, self.model.now)
        with self.step(AtSpec(when)):
            self.model.move_to(when)
            self.system.move_to(when)

    # accounts and their settings ---------------------------------------------------------
    @initialize(
        target=accounts,
        timezone=st.sampled_from(TIMEZONES),
        refresh_hour=st.sampled_from(REFRESH_HOURS),
        data=st.data(),
    )
    def begin(self, timezone: str, refresh_hour: int, data: st.DataObject) -> str:
        """Start the clock near a DST change or Apia's skipped day, with an account ready
        for Segment (connector and API key)."""
        self.start = data.draw(st.sampled_from(self.starts), label="start")
        self.model = ReferenceModel(self.start)
        self.system.start(self.start)
        return self._create_account(timezone, refresh_hour, connector=True, api_key=True)

    def teardown(self) -> None:
        self.system.close()

    @precondition(lambda self: len(self.model.accounts) < MAX_ACCOUNTS)
    @rule(
        target=accounts,
        timezone=st.sampled_from(TIMEZONES),
        refresh_hour=st.sampled_from(REFRESH_HOURS),
        connector=st.sampled_from([True, True, True, False]),
        api_key=st.sampled_from([True, True, True, False]),
    )
    def create_account(
        self, timezone: str, refresh_hour: int, connector: bool, api_key: bool
    ) -> str:
        """An account, usually with its Segment connector and API key (as a scenario's)."""
        return self._create_account(timezone, refresh_hour, connector, api_key)

    def _create_account(
        self, timezone: str, refresh_hour: int, connector: bool, api_key: bool
    ) -> str:
        alias = f"shop{len(self.model.accounts) + 1}"
        spec = AccountSpec(
            name=alias,
            timezone=timezone,
            refresh_hour=refresh_hour,
            connector="Segment" if connector else None,
            api_key=api_key,
        )
        with self.step(spec) as step:
            expected = self.model.create_account(alias, timezone, refresh_hour)
            answer = self.system.create_account(alias, timezone, refresh_hour)
            self.expect(step, expected, answer, f"creating account {alias}")
            self.account_ids[alias] = answer.body["id"]
            if connector:
                self._create_connector(step, alias, "Segment")
            if api_key:
                self._issue_key(step, alias, "generate")
        return alias

    @rule(
        target=keys,
        account=accounts,
        change=st.sampled_from(
            [
                "toggle connector",
                "toggle connector",
                "create connector",
                "generate key",
                "regenerate key",
                "regenerate key",
                "revoke key",
            ]
        ),
        name=st.sampled_from(["Segment", "Segment (prod)"]),
    )
    def change_settings(self, account: str, change: str, name: str) -> Any:
        """The account's integration settings: its Segment connector (delete it, or set one
        up, even when there is one) or its API key (generate, regenerate, revoke)."""
        if change.endswith("connector"):
            self._connector(account, change, name)
            return multiple()
        action: Literal["generate", "regenerate", "revoke"] = KEY_ACTIONS[change]
        current = self.model.current_key(account)
        keep = current.alias if current is not None and action != "generate" else None
        # keep_old_as: later steps may still send the old key, by this alias
        with self.step(ApiKeySpec(account=account, action=action, keep_old_as=keep)) as step:
            if action == "revoke":
                expected = self.model.revoke_key(account)
                answer = self.system.revoke_key(self.account_ids[account])
                self.expect(step, expected, answer, f"revoking {account}'s API key")
                return multiple()
            alias = self._issue_key(step, account, action)
        return multiple() if alias is None else alias

    def _connector(self, account: str, change: str, name: str) -> None:
        live = self.model.live_connector(account) is not None
        if change == "create connector" or not live or not self.deletions:
            with self.step(ConnectorSpec(account=account, name=name)) as step:
                self._create_connector(step, account, name)
            return
        with self.step(DeleteConnectorSpec(account=account)) as step:
            last = self.model.last_connector(account)
            connector_id = self.connector_ids[last.alias] if last is not None else "none"
            expected = self.model.delete_connector(account)
            answer = self.system.delete_connector(self.account_ids[account], connector_id)
            self.expect(step, expected, answer, f"deleting {account}'s connector")

    def _create_connector(self, step: Recorded, account: str, name: str) -> None:
        alias = self.fresh("con")
        expected = self.model.create_connector(account, alias, name)
        answer = self.system.create_connector(self.account_ids[account], name)
        self.expect(step, expected, answer, f"setting up a connector on {account}")
        if expected.code is None:
            self.connector_ids[alias] = answer.body["id"]

    def _issue_key(self, step: Recorded, account: str, action: str) -> str | None:
        alias = self.fresh("key")
        if action == "generate":
            expected = self.model.generate_key(account, alias)
            answer = self.system.generate_key(self.account_ids[account])
        else:
            expected = self.model.regenerate_key(account, alias)
            answer = self.system.regenerate_key(self.account_ids[account])
        self.expect(step, expected, answer, f"{action} {account}'s API key")
        if expected.code is not None:
            return None
        self.key_values[alias] = answer.body["api_key"]
        return alias

    # the tag -----------------------------------------------------------------------------
    def _see(self, account: str, visitor: str, anonymous_id: str, backdate: int | None) -> None:
        seen_at = (
            None if backdate is None else instant(self.model.now - timedelta(seconds=backdate))
        )
        spec = VisitorSpec(
            account=account, visitor_id=visitor, anonymous_id=anonymous_id, seen_at=seen_at
        )
        with self.step(spec) as step:
            when = self.model.now if seen_at is None else datetime.fromisoformat(seen_at)
            outcome = self.model.see(account, visitor, anonymous_id, when)
            expected = Outcome(outcome.status, None, {"created": outcome.status == 201})
            answer = self.system.see(self.account_ids[account], visitor, anonymous_id, seen_at)
            self.expect(step, expected, answer, f"reporting visitor {visitor} on {account}")

    @rule(
        account=accounts,
        visitor=st.sampled_from(VISITOR_SPELLINGS),
        anonymous_id=st.sampled_from(SEEN_ANONYMOUS_IDS),
        seen_at_now=st.booleans(),
    )
    def see(self, account: str, visitor: str, anonymous_id: str, seen_at_now: bool) -> None:
        """The tag reads the ajs_anonymous_id cookie in a visitor's browser, now."""
        self._see(account, visitor, anonymous_id, 0 if seen_at_now else None)

    @rule(
        account=accounts,
        visitor=st.sampled_from(VISITOR_SPELLINGS),
        anonymous_id=st.sampled_from(SEEN_ANONYMOUS_IDS),
        backdate=st.sampled_from(BACKDATES),
    )
    def see_earlier(self, account: str, visitor: str, anonymous_id: str, backdate: int) -> None:
        """The tag reports a sighting late, with a ``seen_at`` in the past."""
        self._see(account, visitor, anonymous_id, backdate)

    # Segment's destination ---------------------------------------------------------------
    def _message(self, kind: str, offset: int, data: st.DataObject) -> dict[str, Any]:
        message: dict[str, Any] = {"type": kind, "messageId": self.fresh("m")}
        if kind == "track":
            message["anonymousId"] = data.draw(st.sampled_from(ANONYMOUS_IDS))
            message["event"] = "Clicked"
        else:
            anonymous_id = data.draw(st.sampled_from([*ANONYMOUS_IDS, *ANONYMOUS_IDS, None]))
            user_id = data.draw(st.sampled_from([None, None, *USER_IDS]))
            if anonymous_id is not None:
                message["anonymousId"] = anonymous_id
            if user_id is not None:
                message["userId"] = user_id
            names = GROUP_KEYS if kind == "group" else IDENTIFY_KEYS
            if kind == "group":
                message["groupId"] = data.draw(st.sampled_from(GROUP_IDS))
            elif self.collisions:
                names = (*names, *COLLIDING_KEYS)
            message["traits"] = data.draw(
                st.dictionaries(st.sampled_from(names), trait_values, min_size=1, max_size=3)
            )
        when = instant(self.model.now + timedelta(seconds=offset))
        message.update(
            timestamp=when,
            originalTimestamp=when,
            context={"library": SEGMENT_LIBRARY},
            version=2,
            integrations={},
        )
        return message

    def _post(self, account: str, key: str | None, message: dict[str, Any]) -> None:
        """Post ``message`` with a key (see :data:`key_choices`) and check the answer."""
        if key == CURRENT:  # the account's key: its live one, else its last, else none
            mine = [k.alias for k in self.model.keys if k.account == account]
            current = self.model.current_key(account)
            key = current.alias if current is not None else (mine[-1] if mine else None)
        owner = self.model.key(key).account if key in self.key_values else account
        if key is None:
            printed_key: str | None = "none"
        elif key not in self.key_values:
            printed_key = key  # a literal key that was never issued
        elif (current := self.model.current_key(owner)) is not None and current.alias == key:
            printed_key = None  # the account's live key: the default
        else:
            printed_key = key  # an old key: the api_key step kept it under this alias
        kind = message["type"]
        spec_type = {"identify": IdentifySpec, "group": GroupSpec, "track": TrackSpec}[kind]
        spec: CallSpec = spec_type(
            account=owner,
            anonymous_id=message.get("anonymousId"),
            user_id=message.get("userId"),
            traits=message.get("traits", {}),
            group_id=message.get("groupId"),
            event=message.get("event"),
            timestamp=message["timestamp"],
            message_id=message["messageId"],
            key=printed_key,
        )
        with self.step(spec) as step:
            now = instant(self.model.now)
            body = {**message, "sentAt": now, "receivedAt": now}
            authorization = None
            model_key = None
            if key is not None:
                secret = self.key_values.get(key, key)
                authorization = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
                model_key = key if key in self.key_values else "never-issued"
            expected, _ = self.model.webhook(model_key, body)
            answer = self.system.webhook(authorization, json.dumps(body).encode())
            self.expect(step, expected, answer, f"posting {kind} {message['messageId']}")

    @rule(
        target=sent,
        account=accounts,
        key=key_choices,
        offset=st.sampled_from(TIMESTAMP_OFFSETS),
        kind=st.sampled_from(["identify"] * 7 + ["track"]),
        data=st.data(),
    )
    def identify(
        self, account: str, key: str | None, offset: int, kind: str, data: st.DataObject
    ) -> Any:
        """An identify call, as Segment's destination posts it (timestamps scrambled); now
        and then a track call, which the destination refuses (501, after authentication)."""
        message = self._message(kind, offset, data)
        self._post(account, key, message)
        return {"message": message, "account": account}

    @rule(
        target=sent,
        account=accounts,
        key=key_choices,
        offset=st.sampled_from(TIMESTAMP_OFFSETS),
        data=st.data(),
    )
    def group(self, account: str, key: str | None, offset: int, data: st.DataObject) -> Any:
        """A group call: membership for its anonymousId, traits for the group."""
        message = self._message("group", offset, data)
        self._post(account, key, message)
        return {"message": message, "account": account}

    @rule(sent=sent, key=key_choices)
    def resend(self, sent: dict[str, Any], key: str | None) -> None:
        """Segment delivers the same message again (a retry, or its own duplicate)."""
        self._post(sent["account"], key, sent["message"])

    # time --------------------------------------------------------------------------------
    @rule(
        account=accounts,
        anchor=st.sampled_from(["refresh", "refresh", "midnight"]),
        delta=st.sampled_from([-3600, -1, 0, 0, 1, 1800]),
    )
    def move_near(self, account: str, anchor: str, delta: int) -> None:
        """Just before, at or after the account's next nightly run, or its next local
        midnight (the next run's cutoff)."""
        if anchor == "refresh":
            self.move_to(self.model.next_run(account) + timedelta(seconds=delta))
        else:
            self.move_to(self.model.next_midnight(account) + timedelta(seconds=delta))

    @rule(hours=st.sampled_from([0, 1, 6, 23, 24, 49]), seconds=st.sampled_from([0, 0, 1, 59]))
    def wait(self, hours: int, seconds: int) -> None:
        """Time passes."""
        self.move_to(self.model.now + timedelta(hours=hours, seconds=seconds))

    # segments ----------------------------------------------------------------------------
    def _shown(self) -> list[tuple[str, Criterion, list[Any]]]:
        """(account, criterion, values) of everything the builders show."""
        found = []
        for account in self.model.accounts:
            snapshot = self.snapshot(account.alias)
            for _, _, traits in self.model.builder(account.alias, snapshot):
                for criterion, counts in traits.items():
                    found.append((account.alias, criterion, [plain(i) for i in counts]))
        return found

    @precondition(lambda self: bool(self._shown()))
    @rule(match=st.sampled_from(["all", "any"]), data=st.data())
    def create_segment(self, match: str, data: st.DataObject) -> None:
        """A segment on criteria the builder shows (so they can be dragged in), or on one
        it may not show (``criterion_not_available`` then)."""
        shown = self._shown()
        if data.draw(st.sampled_from([True, True, True, False]), label="shown"):
            account = data.draw(st.sampled_from(sorted({a for a, _, _ in shown})))
            mine = [(c, values) for a, c, values in shown if a == account]
            conditions = []
            for _ in range(data.draw(st.integers(1, 2))):
                criterion, values = data.draw(st.sampled_from(mine))
                operator = data.draw(st.sampled_from(OPERATORS))
                conditions.append((criterion, operator, _target(data, operator, values)))
            self._create_segment(account, match, conditions, data)
            return
        live = sorted({c.account for c in self.model.connectors if c.deleted_at is None})
        account = data.draw(st.sampled_from(live))
        trait = data.draw(st.sampled_from(["plan", "group.plan", "company.name", "seats", "x"]))
        hidden: Criterion = (
            ("group", (trait.removeprefix("group."),))
            if trait.startswith("group.")
            else ("identify", tuple(trait.split(".")))
        )
        self._create_segment(account, match, [(hidden, "exists", None)], data)

    def _create_segment(
        self,
        account: str,
        match: str,
        conditions: list[tuple[Criterion, str, Any]],
        data: st.DataObject,
    ) -> None:
        """Send the conditions by printed key, each with or without its source and path.

        By key alone a condition means whichever shown trait prints that key, which may not
        be the criterion it was drawn from (an identify trait literally named ``group.plan``
        answers to ``group.plan``); the model resolves it by the same documented rule.
        """
        connector = self.model.last_connector(account)
        assert connector is not None
        alias = self.fresh("seg")
        requests = []
        for criterion, operator, value in conditions:
            source, path = criterion
            requests.append(
                reference.ConditionRequest(
                    connector.alias,
                    criterion_key(criterion),
                    operator,
                    value,
                    source if data.draw(st.booleans(), label="with source") else None,
                    path if data.draw(st.booleans(), label="with path") else None,
                )
            )
        specs = [
            ConditionSpec(
                trait=r.key,
                operator=r.operator,
                value=r.value,
                source=r.source,  # type: ignore[arg-type]
                path=None if r.path is None else list(r.path),
            )
            for r in requests
        ]
        spec = SegmentSpec(account=account, alias=alias, conditions=specs, match=match)
        with self.step(spec) as step:
            expected = self.model.create_segment(account, alias, match, tuple(requests))
            wire = []
            for r in requests:
                condition: dict[str, Any] = {
                    "connector_id": self.connector_ids[connector.alias],
                    "trait": r.key,
                    "operator": r.operator,
                    "value": r.value,
                }
                if r.source is not None:
                    condition["source"] = r.source
                if r.path is not None:
                    condition["path"] = list(r.path)
                wire.append(condition)
            answer = self.system.create_segment(self.account_ids[account], alias, match, wire)
            self.expect(step, expected, answer, f"creating segment {alias} on {account}")
            if expected.code is None:
                self.segment_ids[alias] = answer.body["id"]

    # the views ---------------------------------------------------------------------------
    @invariant()
    def views_agree(self) -> None:
        """Builder, every visitor's segments and the refresh history equal the model's."""
        try:
            for account in self.model.accounts:
                self._check_refreshes(account.alias)
                self._check_builder(account.alias)
                self._check_segments(account.alias)
        except ModelDiscrepancy:
            raise
        except Exception as error:
            raise self.fail(f"{type(error).__name__} reading the views: {error}") from error

    def _check_refreshes(self, account: str) -> None:
        expected = [
            {
                "scheduled_for": run.scheduled_for,
                "cutoff": run.cutoff,
                "messages": run.messages,
                "profiles": run.profiles,
                "matched_profiles": run.matched_profiles,
                "cohorts": run.cohorts,
            }
            for run in self.snapshot(account).runs
        ]
        actual = self.system.refreshes(self.account_ids[account])
        if actual != expected:
            raise self.fail(
                f"{account}: the refresh history differs\n  model:  {_runs(expected)}\n"
                f"  system: {_runs(actual)}"
            )

    def _check_builder(self, account: str) -> None:
        items = self.system.builder(self.account_ids[account])
        # CONTRACT: each trait also carries its source (and path): compare them when given.
        sourced = any("source" in t for item in items for t in item["traits"])

        def name(criterion: Criterion) -> Any:
            key = criterion_key(criterion)
            return (key, criterion[0], criterion[1]) if sourced else key

        expected = [
            (connector, connector_name, {name(c): counts for c, counts in traits.items()})
            for connector, connector_name, traits in self.model.builder(
                account, self.snapshot(account)
            )
        ]
        names = {v: k for k, v in self.connector_ids.items()}
        actual = []
        for item in items:
            assert item["integration"] == "segment", item
            traits: dict[Any, dict[Any, int]] = {}
            for trait in item["traits"]:
                shown = (
                    (trait["key"], trait.get("source"), tuple(trait.get("path", ())))
                    if sourced
                    else trait["key"]
                )
                if shown in traits:
                    raise self.fail(f"{account}: the builder lists trait {shown!r} twice")
                counts = traits[shown] = {}
                for value in trait["values"]:
                    identity = reference.value_id(value["value"])
                    if identity in counts:
                        raise self.fail(f"{account}: {shown!r} lists {value['value']!r} twice")
                    counts[identity] = value["visitors"]
            connector = names.get(item["connector_id"], item["connector_id"])
            actual.append((connector, item["connector_name"], traits))
        if actual != expected:
            raise self.fail(
                f"{account}: the segment builder differs\n  model:  {expected}\n  system: {actual}"
            )

    def _check_segments(self, account: str) -> None:
        aliases = {v: k for k, v in self.segment_ids.items()}
        for visitor in VISITOR_SPELLINGS:
            expected = self.model.visitor_segments(account, visitor, self.snapshot(account))
            actual = [
                aliases.get(s, s)
                for s in self.system.visitor_segments(self.account_ids[account], visitor)
            ]
            if actual != expected:
                raise self.fail(
                    f"{account}: visitor {visitor} is in {actual}; the model says {expected}"
                )


def _target(data: st.DataObject, operator: str, values: list[Any]) -> Any:
    """A condition's value: one the builder shows (or its text), or another."""
    if operator == "exists":
        return None
    if operator in ("greater_than", "less_than"):
        return data.draw(st.sampled_from([0, 2, 5, 10, 1.5, "2026-03-01"]))
    return data.draw(
        st.one_of(
            st.sampled_from(values),
            st.sampled_from(values).map(reference.as_text),
            st.sampled_from(["pro", "PRO", "r", 2, True]),
        )
    )


def _runs(runs: list[dict[str, Any]]) -> str:
    lines = [
        f"{instant(r['scheduled_for'])} cutoff {instant(r['cutoff'])} messages={r['messages']} "
        f"profiles={r['profiles']} matched={r['matched_profiles']} cohorts={r['cohorts']}"
        for r in runs
    ]
    return "\n          ".join(lines) or "(none)"


def machine_for(
    system: System,
    *,
    collisions: bool = True,
    deletions: bool = True,
    starts: tuple[datetime, ...] = STARTS,
) -> type[ModelMachine]:
    """A machine class driving ``system``."""
    return type(
        f"ModelMachine_{system.name}",
        (ModelMachine,),
        {"system": system, "collisions": collisions, "deletions": deletions, "starts": starts},
    )
