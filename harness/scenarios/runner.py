"""Playing a scenario: each step against the fakes, each expectation checked.

The first failing step stops the scenario; its failure names the file, the step's line,
what was expected and what happened.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

import msgspec

from harness.abtasty.segments import as_text
from harness.core.clock import format_instant, parse_instant
from harness.runtime.asgi import Reply
from harness.scenarios.driver import Driver
from harness.scenarios.model import (
    AccountSpec,
    AdvanceSpec,
    ApiKeySpec,
    AtSpec,
    BuilderExpect,
    CallSpec,
    ClientSpec,
    ConnectorSpec,
    DeleteConnectorSpec,
    DeliverSpec,
    DeliveryExpect,
    ExpectSpec,
    ExplainExpect,
    GroupSpec,
    IdentifySpec,
    RefreshesExpect,
    ResetSpec,
    Scenario,
    SegmentSpec,
    SendSpec,
    SourceSpec,
    Step,
    TrackSpec,
    VisitorExpect,
    VisitorSpec,
    parse_duration,
)

SEGMENT_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
PARTNER_HEADERS = {"User-Agent": "Segment.io/1.0", "Content-Type": "application/json"}


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
    api_key: str | None = None
    keys: dict[str, str] = field(default_factory=dict)


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode()


def _describe(reply: Reply) -> str:
    body = (
        reply.json()
        if reply.headers.get("content-type", "").startswith("application/json")
        else None
    )
    if isinstance(body, dict) and "code" in body:
        return f"{reply.status} {body['code']}: {body.get('message', '')}"
    return f"{reply.status} {reply.text[:300]}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "scenario"


class _Run:
    def __init__(self, scenario: Scenario, driver: Driver) -> None:
        self.scenario = scenario
        self.driver = driver
        self.accounts: dict[str, _Account] = {}
        self.sources: dict[str, tuple[str, str]] = {}
        self.segments: dict[str, str] = {}
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

    def source(self, alias: str) -> tuple[str, str]:
        if alias not in self.sources:
            raise self.fail(
                f"a source named {alias!r} set up by an earlier step",
                f"sources {sorted(self.sources)}",
            )
        return self.sources[alias]

    def ab(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self.driver.call("abtasty", method, path, **kwargs)

    def seg(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self.driver.call("segment", method, path, **kwargs)

    def ok(self, reply: Reply, what: str) -> Any:
        """The JSON of a setup request that must succeed."""
        if not 200 <= reply.status < 300:
            raise self.fail(f"{what} to succeed", _describe(reply))
        return reply.json()

    def clock_moved(self, reply: Reply) -> Reply:
        if reply.status == 200:
            self.now = parse_instant(reply.json()["now"])
        return reply

    # actions ---------------------------------------------------------------------------------
    def do(self, step: Step) -> Reply | None:
        """Run one step's action; its reply, or None for a state check."""
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
            case ResetSpec() as spec:
                return self.do_reset(spec)
            case _:
                assert_never(step.body)

    def do_account(self, spec: AccountSpec) -> Reply:
        reply = self.ab(
            "POST",
            "/api/accounts",
            json={"name": spec.name, "timezone": spec.timezone, "refresh_hour": spec.refresh_hour},
        )
        if reply.status != 201:
            return reply
        account = self.accounts[spec.name] = _Account(reply.json()["id"])
        if spec.connector is not None:
            reply = self.ab(
                "POST",
                f"/api/accounts/{account.id}/integrations/pull/segment",
                json={"name": spec.connector},
            )
            account.connector_id = self.ok(reply, "setting up the Segment connector")["id"]
        if spec.api_key:
            reply = self.ab("POST", f"/api/accounts/{account.id}/settings/integrations/api-key")
            account.api_key = self.ok(reply, "generating the API key")["api_key"]
        return reply

    def do_connector(self, spec: ConnectorSpec) -> Reply:
        account = self.account(spec.account)
        reply = self.ab(
            "POST",
            f"/api/accounts/{account.id}/integrations/pull/segment",
            json={"name": spec.name},
        )
        if reply.status == 201:
            account.connector_id = reply.json()["id"]
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
            account.api_key = reply.json()["api_key"]
        return reply

    def do_source(self, spec: SourceSpec) -> Reply:
        reply = self.seg("POST", "/_segment/sources", json={"name": spec.name})
        created = self.ok(reply, "creating the source")
        self.sources[spec.name] = (created["id"], created["write_key"])
        for alias in spec.destinations:
            key = self.account(alias).api_key
            body: dict[str, Any] = {"type": "ab_tasty", "api_key": key or "no-key-yet"}
            if spec.endpoint:
                body["endpoint"] = spec.endpoint
            reply = self.seg("POST", f"/_segment/sources/{created['id']}/destinations", json=body)
            self.ok(reply, f"connecting the AB Tasty destination of {alias!r}")
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
            _, write_key = self.source(spec.source)
            body = {**fields, "messageId": message_id}
            if spec.timestamp:
                body["timestamp"] = spec.timestamp
            return self.seg(
                "POST", f"/v1/{kind}", json=body, headers={"Authorization": _basic(write_key)}
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
            "POST", "/segment/webhook", content=msgspec.json.encode(message), headers=headers
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
                reply = self.ab("POST", "/segment/webhook", content=content, headers=headers)
            else:
                _, write_key = self.source(spec.source or "")
                headers = {
                    "Content-Type": "application/json",
                    "Authorization": _basic(write_key),
                    **spec.headers,
                }
                reply = self.seg("POST", f"/v1/{spec.call}", content=content, headers=headers)
        assert reply is not None
        return reply

    def do_client(self, spec: ClientSpec) -> Reply:
        from segment.analytics import Client
        from segment.analytics.request import APIError

        _, write_key = self.source(spec.source)
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
                "connector_id": account.connector_id or "",
                "trait": c.trait,
                "operator": c.operator,
                "value": c.value,
            }
            for c in spec.conditions
        ]
        body = {"name": spec.name or spec.alias, "match": spec.match, "conditions": conditions}
        reply = self.ab("POST", f"/api/accounts/{account.id}/segments", json=body)
        if reply.status == 201:
            self.segments[spec.alias] = reply.json()["id"]
        return reply

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
        body = (
            reply.json()
            if reply.content
            and reply.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if outcome.status is not None and reply.status != outcome.status:
            raise self.fail(f"status {outcome.status}", _describe(reply))
        if outcome.code is not None and (
            not isinstance(body, dict) or body.get("code") != outcome.code
        ):
            raise self.fail(f"code {outcome.code!r}", _describe(reply))
        for key, value in (outcome.body or {}).items():
            if not isinstance(body, dict) or body.get(key) != value:
                raise self.fail(f"{key} = {value!r} in the answer", _describe(reply))

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

    def expect_builder(self, spec: BuilderExpect) -> None:
        account = self.account(spec.account)
        criteria = self.ok(
            self.ab("GET", f"/api/accounts/{account.id}/segment-builder/criteria"),
            "reading the segment builder",
        )
        items = criteria["groups"][0]["items"]
        item = next(
            (i for i in items if i["connector_id"] == account.connector_id),
            items[0] if items else None,
        )
        shown = {
            t["key"]: {as_text(v["value"]): v["visitors"] for v in t["values"]}
            for t in (item or {"traits": []})["traits"]
        }
        if spec.exactly is not None:
            wanted = {trait: _value_counts(values) for trait, values in spec.exactly.items()}
            if shown != wanted:
                raise self.fail(f"EXTERNAL DATA to show exactly {wanted}", f"{shown}")
        for trait, values in spec.shows.items():
            if trait not in shown:
                raise self.fail(
                    f"trait {trait!r} shown under EXTERNAL DATA",
                    f"traits shown: {sorted(shown) or 'none'}",
                )
            for value, count in _value_counts(values).items():
                if value not in shown[trait]:
                    raise self.fail(
                        f"{trait} = {value} shown", f"{trait} values shown: {shown[trait]}"
                    )
                if count is not None and shown[trait][value] != count:
                    raise self.fail(
                        f"{trait} = {value} with {count} visitor(s)",
                        f"{shown[trait][value]} visitor(s)",
                    )
        for hidden in spec.hides:
            trait, _, value = hidden.partition("=")
            if (not value and trait in shown) or (value and value in shown.get(trait, {})):
                raise self.fail(
                    f"{hidden} hidden (no matched, activated visitor)",
                    f"shown: {trait} {shown.get(trait)}",
                )

    def expect_visitor(self, spec: VisitorExpect) -> None:
        account = self.account(spec.account)
        reply = self.ab("GET", f"/api/accounts/{account.id}/visitors/{spec.visitor_id}/segments")
        member_of = set(self.ok(reply, "reading the visitor's segments")["segments"])
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

    def segment_id(self, alias: str) -> str:
        if alias not in self.segments:
            raise self.fail(
                f"a segment created with as: {alias}", f"segments {sorted(self.segments)}"
            )
        return self.segments[alias]

    def expect_explain(self, spec: ExplainExpect) -> None:
        account = self.account(spec.account)
        path = f"/api/accounts/{account.id}/segments/{self.segment_id(spec.segment)}/explain"
        explanation = self.ok(
            self.ab("GET", path, params={"visitor_id": spec.visitor_id}), "explaining"
        )
        if spec.matches is not None and explanation["matches"] != spec.matches:
            raise self.fail(
                f"matches = {spec.matches}",
                f"matches = {explanation['matches']}: {explanation['reasons']}",
            )
        text = " ".join(explanation["reasons"]).lower()
        for reason in spec.reasons:
            if reason.lower() not in text:
                raise self.fail(f"a reason saying {reason!r}", f"reasons {explanation['reasons']}")

    def expect_delivery(self, spec: DeliveryExpect) -> None:
        source_id, _ = self.source(spec.source)
        overview = self.ok(
            self.seg("GET", f"/_segment/sources/{source_id}/delivery-overview"),
            "reading the delivery overview",
        )
        stages = overview["stages"]
        for stage, count in spec.stages.items():
            if stages.get(stage) != count:
                raise self.fail(f"{stage} = {count}", f"stages {stages}")

    def expect_refreshes(self, spec: RefreshesExpect) -> None:
        account = self.account(spec.account)
        runs = self.ok(
            self.ab("GET", f"/api/accounts/{account.id}/audiences/refreshes"),
            "reading the refreshes",
        )["refreshes"]
        if spec.count is not None and len(runs) != spec.count:
            raise self.fail(
                f"{spec.count} refresh(es)", f"{len(runs)}: {[r['scheduled_for'] for r in runs]}"
            )
        if spec.last is not None:
            if not runs:
                raise self.fail(f"a last refresh with {spec.last}", "no refresh has run")
            for key, value in spec.last.items():
                if runs[-1].get(key) != value:
                    raise self.fail(f"last refresh {key} = {value!r}", f"{runs[-1]}")


def _value_counts(values: Any) -> dict[str, int | None]:
    if isinstance(values, dict):
        return {as_text(value): count for value, count in values.items()}
    if isinstance(values, list):
        return {as_text(value): None for value in values}
    return {as_text(values): None}


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
        result.failure = StepFailure(
            scenario,
            None,
            f"the clock at or before {format_instant(scenario.start)} (play with --restart, or start harness serve with --clock manual --now)",
            _describe(refused),
        )
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
