"""Playing a scenario: each step against the fakes, each expectation checked.

The first failing step stops the scenario; its failure names the file, the step's line,
what was expected and what happened.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

import msgspec
from msgspec import UNSET

from harness.abtasty.records import TraitKey, TraitSource
from harness.core.clock import format_instant, parse_instant
from harness.core.protocol import (
    ABTASTY_WEBHOOK_PATH,
    SEGMENT_USER_AGENT,
    basic_authorization,
    tracking_path,
)
from harness.runtime.asgi import Reply
from harness.scenarios import templates
from harness.scenarios.compare import (
    same_instant,
    same_value,
    secret_fragments,
    show,
    subset_problem,
)
from harness.scenarios.driver import Driver, Fake
from harness.scenarios.model import Scenario, Step
from harness.scenarios.specs import (
    AccountSpec,
    AdvanceSpec,
    ApiKeySpec,
    AtSpec,
    AudienceSpec,
    BuilderExpect,
    CallSpec,
    ClientSpec,
    ComputedTraitSpec,
    ComputeSpec,
    ConnectorRef,
    ConnectorSpec,
    DeleteConnectorSpec,
    DeliverSpec,
    DeliveryExpect,
    EnterSpec,
    ExitSpec,
    ExpectSpec,
    ExplainExpect,
    GroupSpec,
    IdentifySpec,
    JournalEntryExpect,
    JournalExpect,
    MessageExpect,
    RefreshesExpect,
    RequestSpec,
    ResetSpec,
    RunExpect,
    SegmentSpec,
    SendSpec,
    SourceSpec,
    TrackSpec,
    TraitValue,
    VisitorExpect,
    VisitorSpec,
    parse_duration,
    value_counts,
)

SEGMENT_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
PARTNER_HEADERS = {"User-Agent": SEGMENT_USER_AGENT, "Content-Type": "application/json"}


class StepFailure(AssertionError):
    """A step did not do what the scenario expects (an AssertionError, so it reads as a test failure)."""

    def __init__(self, scenario: Scenario, step: Step | None, expected: str, actual: str) -> None:
        self.file = scenario.file
        self.line = step.line if step is not None else scenario.line
        self.step = step
        self.expected = expected
        self.actual = actual
        super().__init__(str(self))

    def __str__(self) -> str:
        label = self.step.label() if self.step is not None else "start"
        return f"{self.file}:{self.line}: {label}: expected {self.expected}; got {self.actual}"


@dataclass(slots=True)
class StepResult:
    """How one step went."""

    index: int
    line: int
    action: str
    status: Literal["passed", "failed", "skipped"]
    message: str = ""
    seconds: float = 0.0


@dataclass(slots=True)
class ScenarioResult:
    """How one scenario went."""

    name: str
    file: str
    passed: bool
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    failure: StepFailure | None = None
    error: str | None = None


@dataclass(slots=True)
class _Account:
    id: str
    connector_id: str | None = None
    connectors: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None
    keys: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Source:
    id: str
    write_key: str
    destinations: dict[str, str] = field(default_factory=dict)
    computations: dict[str, str] = field(default_factory=dict)
    """Engage audiences and computed traits by key."""


class _Refused(Exception):
    """A request of a multi-request step was refused: that answer is the step's outcome."""

    def __init__(self, reply: Reply, what: str) -> None:
        super().__init__(what)
        self.reply = reply
        self.what = what


def _basic(secret: str) -> str:
    return basic_authorization(secret)


def _json_body(reply: Reply) -> Any:
    if not reply.content or not reply.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    try:
        return reply.json()
    except msgspec.DecodeError:
        return None


def _describe(reply: Reply) -> str:
    body = _json_body(reply)
    if isinstance(body, dict) and "code" in body:
        return f"{reply.status} {body['code']}: {body.get('message', '')}"
    return f"{reply.status} {reply.text[:300]}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "scenario"


class _Run:
    def __init__(self, scenario: Scenario, driver: Driver) -> None:
        self.scenario = scenario
        self.format = scenario.format
        self.driver = driver
        self.accounts: dict[str, _Account] = {}
        self.sources: dict[str, _Source] = {}
        self.segments: dict[str, str] = {}
        self.secrets: list[str] = []
        self.now = scenario.start
        self.step: Step | None = None
        self.slug = _slug(scenario.name)

    # plumbing ------------------------------------------------------------------------------
    def fail(self, expected: str, actual: str) -> StepFailure:
        return StepFailure(self.scenario, self.step, expected, actual)

    def account(self, alias: str) -> _Account:
        if alias not in self.accounts:
            raise self.fail(
                f"an account named {alias!r} set up by an earlier step",
                f"accounts {sorted(self.accounts)}",
            )
        return self.accounts[alias]

    def source(self, alias: str) -> _Source:
        if alias not in self.sources:
            raise self.fail(
                f"a source named {alias!r} set up by an earlier step",
                f"sources {sorted(self.sources)}",
            )
        return self.sources[alias]

    def segment_id(self, alias: str) -> str:
        if alias not in self.segments:
            raise self.fail(
                f"a segment created with as: {alias}", f"segments {sorted(self.segments)}"
            )
        return self.segments[alias]

    def connector_id(self, reference: str | ConnectorRef | None, alias: str) -> str:
        """The connector a condition or check names (default: the account's current one)."""
        if isinstance(reference, ConnectorRef) and reference.id is not None:
            return reference.id
        if isinstance(reference, ConnectorRef):
            account = self.account(reference.account or alias)
            name = reference.name
        else:
            account = self.account(alias)
            name = reference
        if name is None:
            return account.connector_id or ""
        if name not in account.connectors:
            raise self.fail(
                f"a connector named {name!r} set up on that account",
                f"connectors {sorted(account.connectors)}",
            )
        return account.connectors[name]

    def ab(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self.driver.call("abtasty", method, path, **kwargs)

    def seg(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self.driver.call("segment", method, path, **kwargs)

    def required(self, reply: Reply, what: str) -> Any:
        """The JSON of a request a step needs; a refusal becomes the step's outcome."""
        if not 200 <= reply.status < 300:
            raise _Refused(reply, what)
        return reply.json()

    def read(self, reply: Reply, what: str, check: Any) -> Any:
        """The JSON a check reads, or None when the check expects (and got) a refusal."""
        if check.status is None and check.code is None:
            if not 200 <= reply.status < 300:
                raise self.fail(f"{what} to succeed", _describe(reply))
            return reply.json()
        body = _json_body(reply)
        code = body.get("code") if isinstance(body, dict) else None
        if (check.status is not None and reply.status != check.status) or (
            check.code is not None and code != check.code
        ):
            wanted = " ".join(str(v) for v in (check.status, check.code) if v is not None)
            raise self.fail(f"{what} refused with {wanted}", _describe(reply))
        return None

    def clock_moved(self, reply: Reply) -> Reply:
        if reply.status == 200:
            self.now = parse_instant(reply.json()["now"])
        return reply

    def resolve(self, function: str, argument: str | None) -> str:
        """A ``${function:argument}`` reference's value in this run."""
        name = argument or ""
        if function == "now":
            return format_instant(self.now)
        if function == "api_key":
            if name in self.accounts:
                return self.accounts[name].api_key or ""
            for account in self.accounts.values():
                if name in account.keys:
                    return account.keys[name]
            raise self.fail(
                f"${{api_key:{name}}} to name an account or a key kept with keep_old_as",
                f"accounts {sorted(self.accounts)}",
            )
        if function == "write_key":
            return self.source(name).write_key
        if function == "account_id":
            return self.account(name).id
        if function == "source_id":
            return self.source(name).id
        if function == "connector_id":
            return self.connector_id(None, name)
        if function == "segment_id":
            return self.segment_id(name)
        raise self.fail(f"a reference this harness knows, not ${{{function}}}", "")

    def expand(self, value: Any) -> Any:
        """``value`` with every ``${...}`` reference in its text replaced."""
        if isinstance(value, str):
            return templates.expand(value, self.resolve)
        if isinstance(value, dict):
            return {key: self.expand(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.expand(item) for item in value]
        return value

    # actions ---------------------------------------------------------------------------------
    def do(self, step: Step) -> Reply | None:
        """Run one step's action; its reply (the first refused one), or None for state checks."""
        try:
            return self.act(step)
        except _Refused as refused:
            if step.outcome is None:
                raise self.fail(f"{refused.what} to succeed", _describe(refused.reply)) from None
            return refused.reply

    def act(self, step: Step) -> Reply | None:
        match step.body:
            case AtSpec(when=when):
                return self.clock_moved(self.driver.set_clock(when))
            case AdvanceSpec(duration=duration):
                return self.clock_moved(self.driver.advance_clock(duration.total_seconds()))
            case ExpectSpec() as spec:
                self.expect(spec)
                return None
            case IdentifySpec() | GroupSpec() | TrackSpec() as spec:
                return self.do_call(spec, step.index)
            case AccountSpec() as spec:
                return self.do_account(spec)
            case ConnectorSpec() as spec:
                return self.do_connector(spec)
            case DeleteConnectorSpec() as spec:
                return self.do_delete_connector(spec)
            case ApiKeySpec() as spec:
                return self.do_api_key(spec)
            case SourceSpec() as spec:
                return self.do_source(spec)
            case ResetSpec() as spec:
                return self.do_reset(spec)
            case VisitorSpec() as spec:
                return self.do_visitor(spec)
            case SendSpec() as spec:
                return self.do_send(spec)
            case ClientSpec() as spec:
                return self.do_client(spec)
            case DeliverSpec() as spec:
                return self.do_deliver(spec)
            case SegmentSpec() as spec:
                return self.do_segment(spec)
            case AudienceSpec() as spec:
                return self.do_audience(spec)
            case EnterSpec() | ExitSpec() as spec:
                return self.do_membership(spec)
            case ComputedTraitSpec() as spec:
                return self.do_computed_trait(spec)
            case ComputeSpec() as spec:
                return self.do_compute(spec)
            case RequestSpec() as spec:
                return self.do_request(spec)
            case _:
                assert_never(step.body)

    def issued(self, account: _Account, key: str) -> None:
        account.api_key = key
        self.secrets.append(key)

    def do_account(self, spec: AccountSpec) -> Reply:
        reply = self.ab(
            "POST",
            "/api/accounts",
            json={"name": spec.name, "timezone": spec.timezone, "refresh_hour": spec.refresh_hour},
        )
        account = self.accounts[spec.name] = _Account(
            self.required(reply, "creating the account")["id"]
        )
        if spec.connector is not None:
            reply = self.ab(
                "POST",
                f"/api/accounts/{account.id}/integrations/pull/segment",
                json={"name": spec.connector},
            )
            account.connector_id = self.required(reply, "setting up the Segment connector")["id"]
            account.connectors[spec.connector] = account.connector_id
        if spec.api_key:
            reply = self.ab("POST", f"/api/accounts/{account.id}/settings/integrations/api-key")
            self.issued(account, self.required(reply, "generating the API key")["api_key"])
        return reply

    def do_connector(self, spec: ConnectorSpec) -> Reply:
        account = self.account(spec.account)
        reply = self.ab(
            "POST",
            f"/api/accounts/{account.id}/integrations/pull/segment",
            json={"name": spec.name},
        )
        if reply.status == 201:
            account.connector_id = account.connectors[spec.name] = reply.json()["id"]
        return reply

    def do_delete_connector(self, spec: DeleteConnectorSpec) -> Reply:
        account = self.account(spec.account)
        return self.ab(
            "DELETE", f"/api/accounts/{account.id}/integrations/{account.connector_id or 'none'}"
        )

    def do_api_key(self, spec: ApiKeySpec) -> Reply:
        account = self.account(spec.account)
        base = f"/api/accounts/{account.id}/settings/integrations/api-key"
        if spec.keep_old_as and account.api_key:
            account.keys[spec.keep_old_as] = account.api_key
        if spec.action == "revoke":
            return self.ab("DELETE", base)
        reply = self.ab("POST", base if spec.action == "generate" else f"{base}/regenerate")
        if reply.status == 201:
            self.issued(account, reply.json()["api_key"])
        return reply

    def do_source(self, spec: SourceSpec) -> Reply:
        reply = self.seg("POST", "/_segment/sources", json={"name": spec.name})
        created = self.required(reply, "creating the source")
        source = self.sources[spec.name] = _Source(created["id"], created["write_key"])
        self.secrets.append(source.write_key)
        for alias in spec.destinations:
            key = self.account(alias).api_key
            body: dict[str, Any] = {"type": "ab_tasty", "api_key": key or "no-key-yet"}
            if spec.endpoint:
                body["endpoint"] = spec.endpoint
            reply = self.seg("POST", f"/_segment/sources/{source.id}/destinations", json=body)
            destination = self.required(reply, f"connecting the AB Tasty destination of {alias!r}")
            source.destinations[alias] = destination["id"]
        return reply

    def do_visitor(self, spec: VisitorSpec) -> Reply:
        body = {"visitor_id": spec.visitor_id, "segment_anonymous_id": spec.anonymous_id}
        if spec.seen_at:
            body["seen_at"] = spec.seen_at
        return self.ab("POST", f"/api/accounts/{self.account(spec.account).id}/visitors", json=body)

    def webhook_auth(self, account: _Account, key: str | None) -> dict[str, str]:
        if key == "none":
            return {}
        if key is None:
            return {"Authorization": _basic(account.api_key or "")}
        return {"Authorization": _basic(account.keys.get(key, key))}

    def do_call(self, spec: CallSpec, index: int) -> Reply:
        kind = spec.ACTION
        fields: dict[str, Any] = {}
        for name, value in (
            ("anonymousId", spec.anonymous_id),
            ("userId", spec.user_id),
            ("groupId", spec.group_id),
            ("event", spec.event),
            ("integrations", spec.integrations),
        ):
            if value is not None:
                fields[name] = value
        if kind != "track":
            fields["traits"] = spec.traits
        message_id = spec.message_id or f"{self.slug}-{index + 1}"
        if spec.source is not None:
            write_key = self.source(spec.source).write_key
            body = {**fields, "messageId": message_id}
            if spec.timestamp:
                body["timestamp"] = spec.timestamp
            return self.seg(
                "POST", tracking_path(kind), json=body, headers={"Authorization": _basic(write_key)}
            )
        account = self.account(spec.account or "")
        now = format_instant(self.now)
        event_time = spec.timestamp or now
        message = {
            "type": kind,
            "messageId": message_id,
            **fields,
            "timestamp": event_time,
            "originalTimestamp": event_time,
            "sentAt": now,
            "receivedAt": now,
            "context": {"library": SEGMENT_LIBRARY},
            "version": 2,
        }
        message.setdefault("integrations", {})
        headers = {**PARTNER_HEADERS, **self.webhook_auth(account, spec.key)}
        return self.ab(
            "POST", ABTASTY_WEBHOOK_PATH, content=msgspec.json.encode(message), headers=headers
        )

    def do_send(self, spec: SendSpec) -> Reply:
        if spec.raw is not None:
            content = spec.raw.encode()
        else:
            body = spec.body
            if spec.pad_bytes and isinstance(body, dict):
                body = {**body, "traits": {**body.get("traits", {}), "pad": "x" * spec.pad_bytes}}
            content = msgspec.json.encode(body)
        reply: Reply | None = None
        for _ in range(max(1, spec.repeat)):
            if spec.to == "webhook":
                headers = {
                    **PARTNER_HEADERS,
                    **self.webhook_auth(self.account(spec.account or ""), spec.key),
                    **spec.headers,
                }
                reply = self.ab("POST", ABTASTY_WEBHOOK_PATH, content=content, headers=headers)
            else:
                write_key = self.source(spec.source or "").write_key
                headers = {
                    "Content-Type": "application/json",
                    "Authorization": _basic(write_key),
                    **spec.headers,
                }
                reply = self.seg("POST", tracking_path(spec.call), content=content, headers=headers)
        assert reply is not None
        return reply

    def do_request(self, spec: RequestSpec) -> Reply:
        headers = {name: self.expand(value) for name, value in spec.headers.items()}
        content: bytes | None = None
        if spec.raw is not None:
            content = self.expand(spec.raw).encode()
        elif spec.body is not UNSET:
            content = msgspec.json.encode(self.expand(spec.body))
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        fake: Fake = spec.to
        return self.driver.call(
            fake,
            spec.method.upper(),
            self.expand(spec.path),
            content=content,
            headers=headers,
            params={name: self.expand(value) for name, value in spec.params.items()} or None,
        )

    def do_client(self, spec: ClientSpec) -> Reply:
        from segment.analytics import Client
        from segment.analytics.request import APIError

        write_key = self.source(spec.source).write_key
        with self.driver.segment_host() as host:
            client = Client(write_key, host=host, sync_mode=True, max_retries=0)
            for call in spec.calls:
                ((kind, args),) = call.items()
                common: dict[str, Any] = {
                    "anonymous_id": args.anonymous_id,
                    "user_id": args.user_id,
                }
                if args.integrations is not None:
                    common["integrations"] = args.integrations
                try:
                    if kind == "identify":
                        client.identify(traits=args.traits, **common)
                    elif kind == "group":
                        client.group(group_id=args.group_id, traits=args.traits, **common)
                    elif kind == "track":
                        client.track(event=args.event, properties=args.properties, **common)
                    else:
                        client.page(name=args.name, properties=args.properties, **common)
                except APIError as error:
                    body = msgspec.json.encode({"code": error.code, "message": error.message})
                    return Reply(int(error.status), {"content-type": "application/json"}, body)
        return Reply(200, {"content-type": "application/json"}, b'{"success": true}')

    def do_deliver(self, spec: DeliverSpec) -> Reply:
        if spec.clear:
            return self.seg("DELETE", "/_harness/faults")
        body: dict[str, Any] = {}
        if spec.outage is not None:
            until = self.now + parse_duration(spec.outage.duration)
            body["outage"] = {"status": spec.outage.status, "until": format_instant(until)}
        if spec.duplicate_next is not None:
            body["duplicate_next"] = spec.duplicate_next
        if spec.hold_next is not None:
            body["hold_next"] = spec.hold_next
        if spec.hold_for is not None:
            body["hold_seconds"] = parse_duration(spec.hold_for).total_seconds()
        return self.seg("PUT", "/_harness/faults", json=body)

    def do_segment(self, spec: SegmentSpec) -> Reply:
        account = self.account(spec.account)
        conditions = [
            {
                "connector_id": self.connector_id(c.connector, spec.account),
                "trait": c.trait,
                "operator": c.operator,
                "value": c.value,
                **({"source": c.source} if c.source is not None else {}),
                **({"path": c.path} if c.path is not None else {}),
            }
            for c in spec.conditions
        ]
        body = {"name": spec.name or spec.alias, "match": spec.match, "conditions": conditions}
        reply = self.ab("POST", f"/api/accounts/{account.id}/segments", json=body)
        if reply.status == 201:
            self.segments[spec.alias] = reply.json()["id"]
        return reply

    def do_audience(self, spec: AudienceSpec) -> Reply:
        source = self.source(spec.source)
        if spec.delete:
            audience = source.computations.get(spec.key, "aud_none")
            return self.seg("DELETE", f"/_segment/sources/{source.id}/audiences/{audience}")
        body = {"key": spec.key, "name": spec.name}
        reply = self.seg("POST", f"/_segment/sources/{source.id}/audiences", json=body)
        if reply.status == 201:
            source.computations[spec.key] = reply.json()["id"]
        return reply

    def do_membership(self, spec: EnterSpec | ExitSpec) -> Reply:
        source = self.source(spec.source)
        audience = source.computations.get(spec.audience, "aud_none")
        return self.seg(
            "POST",
            f"/_segment/sources/{source.id}/audiences/{audience}/{spec.ACTION}",
            json={"anonymous_id": spec.anonymous_id, "user_id": spec.user_id},
        )

    def do_computed_trait(self, spec: ComputedTraitSpec) -> Reply:
        source = self.source(spec.source)
        body = {"key": spec.key, "level": spec.level, "name": spec.name}
        reply = self.seg("POST", f"/_segment/sources/{source.id}/computed-traits", json=body)
        if reply.status == 201:
            source.computations[spec.key] = reply.json()["id"]
        return reply

    def do_compute(self, spec: ComputeSpec) -> Reply:
        source = self.source(spec.source)
        trait = source.computations.get(spec.trait, "ct_none")
        body = {
            "value": spec.value,
            "anonymous_id": spec.anonymous_id,
            "user_id": spec.user_id,
            "group_id": spec.group_id,
            "members": spec.members,
        }
        return self.seg(
            "POST", f"/_segment/sources/{source.id}/computed-traits/{trait}/values", json=body
        )

    def do_reset(self, spec: ResetSpec) -> Reply:
        params = {"account_id": self.account(spec.account).id} if spec.account else None
        return self.ab("POST", "/_harness/reset", params=params)

    # outcome and state checks ----------------------------------------------------------------
    def check_outcome(self, step: Step, reply: Reply) -> None:
        outcome = step.outcome
        if outcome is None:
            if not 200 <= reply.status < 300:
                raise self.fail(
                    "a 2xx answer (add expect: {status, code} if this failure is the point)",
                    _describe(reply),
                )
            return
        if isinstance(step.body, RequestSpec):
            outcome = self.expand(msgspec.to_builtins(outcome))
            status, code = outcome.get("status"), outcome.get("code")
            body_wanted, headers_wanted = outcome.get("body"), outcome.get("headers", {})
        else:
            status, code = outcome.status, outcome.code
            body_wanted, headers_wanted = outcome.body, outcome.headers
        body = _json_body(reply)
        if status is not None and reply.status != status:
            raise self.fail(f"status {status}", _describe(reply))
        if code is not None and (not isinstance(body, dict) or body.get("code") != code):
            raise self.fail(f"code {code!r}", _describe(reply))
        if body_wanted is not None:
            problem = subset_problem(body_wanted, body, self.format)
            if problem is not None:
                raise self.fail(
                    f"an answer holding {body_wanted}", f"{problem}: {_describe(reply)}"
                )
        for name, value in headers_wanted.items():
            actual = reply.headers.get(name.lower())
            if actual != value:
                raise self.fail(
                    f"header {name}: {value}",
                    f"{name}: {actual}" if actual is not None else f"no {name} header",
                )

    def expect(self, spec: ExpectSpec) -> None:
        if spec.builder is not None:
            self.expect_builder(spec.builder)
        if spec.visitor is not None:
            self.expect_visitor(spec.visitor)
        if spec.explain is not None:
            self.expect_explain(spec.explain)
        if spec.delivery is not None:
            self.expect_delivery(spec.delivery)
        if spec.refreshes is not None:
            self.expect_refreshes(spec.refreshes)
        if spec.journal is not None:
            self.expect_journal(spec.journal)

    def builder_view(self, spec: BuilderExpect, criteria: Any) -> dict[str, list[tuple[Any, int]]]:
        """The shown traits of the checked connector: key -> [(value, visitors)]."""
        account = self.account(spec.account)
        items = criteria["groups"][0]["items"]
        if spec.connector is not None:
            wanted = self.connector_id(spec.connector, spec.account)
            item = next((i for i in items if i["connector_id"] == wanted), None)
            if item is None:
                raise self.fail(
                    f"EXTERNAL DATA to have an item for connector {wanted}",
                    f"items for {[i['connector_id'] for i in items]}",
                )
        else:
            item = next(
                (i for i in items if i["connector_id"] == account.connector_id),
                items[0] if items else None,
            )
        view: dict[str, list[tuple[Any, int]]] = {}
        sources: dict[str, str] = {}
        traits = (item or {"traits": []})["traits"]
        printed = [
            t["key"] for t in traits if spec.source is None or t.get("source") == spec.source
        ]
        for trait in traits:
            key = trait["key"]
            # Before the builder said where a trait comes from, group traits were "group.*".
            source = trait.get("source") or ("group" if key.startswith("group.") else "identify")
            if spec.source is not None and source != spec.source:
                continue
            if printed.count(key) > 1 and isinstance(trait.get("path"), list):
                # Two traits printed alike: the one the key plainly reads as keeps it, the
                # other is named with its source and path, as handles' shown() names it.
                kind: TraitSource = "group" if source == "group" else "identify"
                key = TraitKey(kind, tuple(trait["path"])).name
            if key in view:
                raise self.fail(
                    f"one trait {key!r} (add source: identify or source: group to the check)",
                    f"{key!r} shown from {sources[key]} and from {source}",
                )
            sources[key] = source
            view[key] = [(v["value"], v["visitors"]) for v in trait["values"]]
        return view

    def shown_text(self, values: list[tuple[Any, int]]) -> str:
        return "{" + ", ".join(f"{show(v, self.format)}: {n}" for v, n in values) + "}"

    def find_value(self, values: list[tuple[Any, int]], wanted: Any) -> tuple[Any, int] | None:
        return next((pair for pair in values if same_value(wanted, pair[0], self.format)), None)

    def expect_builder(self, spec: BuilderExpect) -> None:
        account = self.account(spec.account)
        criteria = self.read(
            self.ab("GET", f"/api/accounts/{account.id}/segment-builder/criteria"),
            "reading the segment builder",
            spec,
        )
        if criteria is None:
            return
        view = self.builder_view(spec, criteria)
        if spec.exactly is not None:
            self.builder_exactly(spec.exactly, view)
        for trait, values in spec.shows.items():
            if trait not in view:
                raise self.fail(
                    f"trait {trait!r} shown under EXTERNAL DATA",
                    f"traits shown: {sorted(view) or 'none'}",
                )
            for value, count in value_counts(values):
                found = self.find_value(view[trait], value)
                if found is None:
                    raise self.fail(
                        f"{trait} = {show(value, self.format)} shown",
                        f"{trait} values shown: {self.shown_text(view[trait])}",
                    )
                if count is not None and found[1] != count:
                    raise self.fail(
                        f"{trait} = {show(value, self.format)} with {count} visitor(s)",
                        f"{found[1]} visitor(s)",
                    )
        for hidden in spec.hides:
            if isinstance(hidden, TraitValue):
                trait, value, whole = hidden.trait, hidden.value, hidden.value is UNSET
            elif self.format < 2 and "=" in hidden:
                trait, _, value = hidden.partition("=")
                whole = not value
            else:
                trait, value, whole = hidden, UNSET, True
            shown = trait in view and (whole or self.find_value(view[trait], value) is not None)
            if shown:
                what = trait if whole else f"{trait} = {show(value, self.format)}"
                raise self.fail(
                    f"{what} hidden (no matched, activated visitor)",
                    f"shown: {trait} {self.shown_text(view[trait])}",
                )

    def builder_exactly(
        self, exactly: dict[str, Any], view: dict[str, list[tuple[Any, int]]]
    ) -> None:
        wanted = {trait: value_counts(values) for trait, values in exactly.items()}

        def text(traits: dict[str, list[tuple[Any, int | None]]]) -> str:
            return (
                "{"
                + ", ".join(
                    f"{trait}: {{"
                    + ", ".join(
                        show(v, self.format) + ("" if n is None else f": {n}") for v, n in pairs
                    )
                    + "}"
                    for trait, pairs in traits.items()
                )
                + "}"
            )

        matches = set(wanted) == set(view) and all(
            len(pairs) == len(view[trait])
            and all(
                (found := self.find_value(view[trait], value)) is not None
                and (count is None or found[1] == count)
                for value, count in pairs
            )
            for trait, pairs in wanted.items()
        )
        if not matches:
            shown: dict[str, list[tuple[Any, int | None]]] = {
                trait: list(pairs) for trait, pairs in view.items()
            }
            raise self.fail(f"EXTERNAL DATA to show exactly {text(wanted)}", text(shown))

    def expect_visitor(self, spec: VisitorExpect) -> None:
        account = self.account(spec.account)
        reply = self.ab("GET", f"/api/accounts/{account.id}/visitors/{spec.visitor_id}/segments")
        answer = self.read(reply, "reading the visitor's segments", spec)
        if answer is None:
            return
        member_of = set(answer["segments"])
        names = {v: k for k, v in self.segments.items()}
        for alias in spec.in_:
            if self.segment_id(alias) not in member_of:
                raise self.fail(
                    f"visitor {spec.visitor_id} in segment {alias!r}",
                    f"in {sorted(names.get(s, s) for s in member_of) or 'no segment'}",
                )
        for alias in spec.not_in:
            if self.segment_id(alias) in member_of:
                raise self.fail(
                    f"visitor {spec.visitor_id} not in segment {alias!r}", "it is in it"
                )

    def expect_explain(self, spec: ExplainExpect) -> None:
        account = self.account(spec.account)
        segment_id = spec.segment_id or self.segment_id(spec.segment or "")
        path = f"/api/accounts/{account.id}/segments/{segment_id}/explain"
        explanation = self.read(
            self.ab("GET", path, params={"visitor_id": spec.visitor_id}), "explaining", spec
        )
        if explanation is None:
            return
        if spec.matches is not None and explanation["matches"] != spec.matches:
            raise self.fail(
                f"matches = {spec.matches}",
                f"matches = {explanation['matches']}: {explanation['reasons']}",
            )
        text = " ".join(explanation["reasons"]).lower()
        for reason in [*spec.reasons, *spec.contains]:
            if reason.lower() not in text:
                raise self.fail(f"a reason saying {reason!r}", f"reasons {explanation['reasons']}")
        for reason in spec.not_contains:
            if reason.lower() in text:
                raise self.fail(f"no reason saying {reason!r}", f"reasons {explanation['reasons']}")

    def expect_delivery(self, spec: DeliveryExpect) -> None:
        source = self.source(spec.source)
        overview = self.read(
            self.seg("GET", f"/_segment/sources/{source.id}/delivery-overview"),
            "reading the delivery overview",
            spec,
        )
        if overview is None:
            return
        stages = overview["stages"]
        for stage, count in spec.stages.items():
            if stages.get(stage) != count:
                raise self.fail(f"{stage} = {count}", f"stages {stages}")
        for message in spec.messages:
            self.expect_message(message, source, overview["messages"])

    def expect_message(self, spec: MessageExpect, source: _Source, records: list[Any]) -> None:
        found = [r for r in records if r["message_id"] == spec.message_id]
        if spec.destination is not None:
            if spec.destination not in source.destinations:
                raise self.fail(
                    f"a destination of {spec.destination!r} on that source",
                    f"destinations of {sorted(source.destinations)}",
                )
            found = [
                r for r in found if r["destination_id"] == source.destinations[spec.destination]
            ]
        if not found:
            raise self.fail(
                f"message {spec.message_id!r} in the delivery overview",
                f"messages {sorted({str(r['message_id']) for r in records})[:20]}",
            )
        for record in found:
            for name in ("type", "stage", "attempts", "last_status"):
                wanted = getattr(spec, name)
                if wanted is not UNSET and record[name] != wanted:
                    raise self.fail(
                        f"message {spec.message_id} {name} = {wanted!r}",
                        f"{name} = {record[name]!r} ({_record_text(record)})",
                    )
            if spec.last_code is not UNSET:
                code = _code_of(record.get("last_body"))
                if code != spec.last_code:
                    raise self.fail(
                        f"message {spec.message_id} last code {spec.last_code!r}",
                        f"{code!r} ({_record_text(record)})",
                    )
            if spec.next_attempt_at is not UNSET:
                actual = record["next_attempt_at"]
                same = (
                    actual is None
                    if spec.next_attempt_at is None
                    else same_instant(spec.next_attempt_at, actual)
                )
                if not same:
                    raise self.fail(
                        f"message {spec.message_id} next attempt at {spec.next_attempt_at}",
                        f"{actual} ({_record_text(record)})",
                    )

    def expect_refreshes(self, spec: RefreshesExpect) -> None:
        account = self.account(spec.account)
        answer = self.read(
            self.ab("GET", f"/api/accounts/{account.id}/audiences/refreshes"),
            "reading the refreshes",
            spec,
        )
        if answer is None:
            return
        runs = answer["refreshes"]
        if spec.count is not None and len(runs) != spec.count:
            raise self.fail(
                f"{spec.count} refresh(es)", f"{len(runs)}: {[r['scheduled_for'] for r in runs]}"
            )
        if spec.last is not None:
            if not runs:
                raise self.fail("a last refresh", "no refresh has run")
            self.expect_run(spec.last, runs[-1], "last refresh")
        if spec.runs is not None:
            if len(runs) != len(spec.runs):
                raise self.fail(
                    f"{len(spec.runs)} refresh(es)",
                    f"{len(runs)}: {[r['scheduled_for'] for r in runs]}",
                )
            for i, (wanted, run) in enumerate(zip(spec.runs, runs, strict=True)):
                self.expect_run(wanted, run, f"refresh {i + 1}")
        if spec.next_refresh_at is not None and not same_instant(
            spec.next_refresh_at, answer.get("next_refresh_at")
        ):
            raise self.fail(
                f"the next refresh at {spec.next_refresh_at}", str(answer.get("next_refresh_at"))
            )

    def expect_run(self, wanted: RunExpect, run: dict[str, Any], label: str) -> None:
        for name in wanted.__struct_fields__:
            value = getattr(wanted, name)
            if value is UNSET:
                continue
            same = (
                same_instant(value, run.get(name))
                if isinstance(value, str)
                else run.get(name) == value
            )
            if not same:
                raise self.fail(f"{label} {name} = {value!r}", f"{run}")

    def expect_journal(self, spec: JournalExpect) -> None:
        params: dict[str, str] = {}
        if spec.account is not None:
            params["account_id"] = self.account(spec.account).id
        answer = self.read(
            self.driver.call(spec.fake, "GET", "/_harness/requests", params=params or None),
            "reading the request journal",
            spec,
        )
        if answer is None:
            return
        entries = answer["requests"]
        self.journal_secrets(entries)
        if spec.count is not None and len(entries) != spec.count:
            raise self.fail(
                f"{spec.count} journaled request(s)",
                f"{len(entries)}: {[_entry_line(e) for e in entries][-10:]}",
            )
        for wanted in spec.contains:
            if not any(self.entry_matches(wanted, entry) for entry in entries):
                raise self.fail(
                    f"a journaled request like {self.entry_text(wanted)}",
                    f"{len(entries)} request(s), none like it; last: {[_entry_line(e) for e in entries][-5:]}",
                )
        for unwanted in spec.not_contains:
            match = next((e for e in entries if self.entry_matches(unwanted, e)), None)
            if match is not None:
                raise self.fail(
                    f"no journaled request like {self.entry_text(unwanted)}",
                    f"{_entry_line(match)} at {match['at']}",
                )

    def journal_secrets(self, entries: list[Any]) -> None:
        text = msgspec.json.encode(entries).decode()
        for secret in self.secrets:
            for fragment in secret_fragments(secret):
                if fragment in text:
                    raise self.fail(
                        "no secret in the journal beyond its last 4 characters",
                        f"{fragment!r}, part of the secret ending {secret[-4:]!r} (or of its base64)",
                    )

    def entry_matches(self, wanted: JournalEntryExpect, entry: dict[str, Any]) -> bool:
        expected = self.expand(msgspec.to_builtins(wanted))
        for name in ("method", "path", "status"):
            if name in expected and entry.get(name) != expected[name]:
                return False
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        for name, value in expected.get("headers", {}).items():
            if headers.get(name.lower()) != value:
                return False
        return all(
            subset_problem(expected[name], entry.get(name), max(self.format, 2)) is None
            for name in ("body", "response")
            if name in expected
        )

    def entry_text(self, wanted: JournalEntryExpect) -> str:
        return msgspec.json.encode(self.expand(msgspec.to_builtins(wanted))).decode()


def _entry_line(entry: dict[str, Any]) -> str:
    return f"{entry['method']} {entry['path']} {entry['status']}"


def _code_of(body: Any) -> str | None:
    if not isinstance(body, str):
        return None
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return decoded.get("code") if isinstance(decoded, dict) else None


def _record_text(record: dict[str, Any]) -> str:
    return (
        f"stage {record['stage']}, {record['attempts']} attempt(s), last status "
        f"{record['last_status']}, next attempt {record['next_attempt_at']}"
    )


def run_scenario(scenario: Scenario, driver: Driver) -> ScenarioResult:
    """Play ``scenario`` through ``driver``; never raises for a failing step (see the result)."""
    try:
        return _play(scenario, driver)
    finally:
        driver.finish()  # e.g. stop the freezegun the driver started


def _play(scenario: Scenario, driver: Driver) -> ScenarioResult:
    started = time.perf_counter()
    result = ScenarioResult(scenario.name, scenario.file, passed=True)
    run = _Run(scenario, driver)
    refused = driver.begin(scenario.start)
    if refused is not None:
        result.passed = False
        if refused.status == 0:  # nothing answered
            expected = "a running harness serve"
        else:
            expected = (
                f"the clock at or before {format_instant(scenario.start)} (play with "
                "--restart, or start harness serve with --clock manual --now)"
            )
        result.failure = StepFailure(scenario, None, expected, _describe(refused))
    for step in scenario.steps:
        if not result.passed:
            result.steps.append(StepResult(step.index, step.line, step.action, "skipped"))
            continue
        step_started = time.perf_counter()
        run.step = step
        try:
            reply = run.do(step)
            if reply is not None:
                run.check_outcome(step, reply)
        except StepFailure as failure:
            result.passed = False
            result.failure = failure
            result.steps.append(
                StepResult(
                    step.index,
                    step.line,
                    step.action,
                    "failed",
                    str(failure),
                    time.perf_counter() - step_started,
                )
            )
            continue
        result.steps.append(
            StepResult(
                step.index,
                step.line,
                step.action,
                "passed",
                step.note or "",
                time.perf_counter() - step_started,
            )
        )
    result.seconds = time.perf_counter() - started
    return result
