"""Scenario files as typed objects: parsed and validated once, before anything runs.

A scenario is a name, a start time and a list of steps. Each step is a mapping with one
action key (``identify:``, ``at:``, ``expect:`` ...), an optional ``expect:`` for the
action's HTTP outcome, and an optional ``note:``. See ``docs/scenarios.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, TypeAlias, TypeVar, cast

import msgspec

from harness.core.clock import parse_instant
from harness.scenarios.loader import LineDict, LineList, ScenarioError, read_yaml

DEFAULT_START = "2026-01-01T00:00:00Z"


class _Spec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A part of a scenario file: unknown fields are errors, defaults are not written out."""


class StepSpec(_Spec):
    """The body of one step's action; ``ACTION`` is the key that names it in a file."""

    ACTION: ClassVar[str]

    def problems(self) -> list[Problem]:
        """What the schema cannot say is wrong with this body (none by default)."""
        return []


class Problem(NamedTuple):
    """A rule a step body breaks: ``where`` is a path below the action (``""``, ``.seen_at``)."""

    where: str
    message: str


def instant_problem(value: str, where: str) -> list[Problem]:
    """A problem when ``value`` is not an ISO-8601 instant with an offset."""
    try:
        parse_instant(value)
    except ValueError:
        return [Problem(where, f"{value!r} is not an ISO-8601 timestamp with an offset")]
    return []


def duration_problem(value: str | int | float, where: str) -> list[Problem]:
    """A problem when ``value`` is not a duration (see :func:`parse_duration`)."""
    try:
        parse_duration(value)
    except (ValueError, AttributeError) as error:
        return [Problem(where, str(error))]
    return []


class AtSpec(StepSpec):
    """Move the shared clock to an instant (``at: 2026-03-02T23:00:00Z``)."""

    ACTION: ClassVar[str] = "at"
    when: datetime


class AdvanceSpec(StepSpec):
    """Move the shared clock forward (``advance: 7h``)."""

    ACTION: ClassVar[str] = "advance"
    duration: timedelta


class AccountSpec(StepSpec):
    """Create an account; by default with a Segment connector and an API key."""

    ACTION: ClassVar[str] = "account"

    name: str
    timezone: str = "UTC"
    refresh_hour: int = 3
    connector: str | None = "Segment"
    api_key: bool = True


class ConnectorSpec(StepSpec):
    """Set up a Segment pull connector."""

    ACTION: ClassVar[str] = "connector"

    account: str
    name: str = "Segment"


class DeleteConnectorSpec(StepSpec):
    """Delete the account's Segment connector."""

    ACTION: ClassVar[str] = "delete_connector"

    account: str


class ApiKeySpec(StepSpec):
    """Generate, regenerate or revoke the account's API key."""

    ACTION: ClassVar[str] = "api_key"

    account: str
    action: Literal["generate", "regenerate", "revoke"]
    keep_old_as: str | None = None


class SourceSpec(StepSpec):
    """Create a Segment source with AB Tasty destinations for the named accounts."""

    ACTION: ClassVar[str] = "source"

    name: str
    destinations: list[str] = msgspec.field(default_factory=list)
    endpoint: str | None = None


class VisitorSpec(StepSpec):
    """The AB Tasty tag sees an anonymousId on a visitor."""

    ACTION: ClassVar[str] = "visitor"

    account: str
    visitor_id: str
    anonymous_id: str
    seen_at: str | None = None

    def problems(self) -> list[Problem]:
        """``seen_at`` must be an instant."""
        return instant_problem(self.seen_at, ".seen_at") if self.seen_at is not None else []


class CallSpec(StepSpec):
    """An identify, group or track call: to an account's webhook (as Segment delivers it) or
    through a source's Tracking API."""

    account: str | None = None
    source: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    group_id: str | None = None
    event: str | None = None
    timestamp: str | None = None
    message_id: str | None = None
    key: str | None = None
    integrations: dict[str, Any] | None = None

    def problems(self) -> list[Problem]:
        """An account or a source, not both; ``timestamp`` must be an instant."""
        found = []
        if (self.account is None) == (self.source is None):
            found.append(
                Problem(
                    "",
                    "name either an account (its webhook, as Segment delivers) or a source (the Tracking API)",
                )
            )
        if self.timestamp is not None:
            found += instant_problem(self.timestamp, ".timestamp")
        return found


class IdentifySpec(CallSpec):
    """An identify call: the user's traits."""

    ACTION: ClassVar[str] = "identify"


class GroupSpec(CallSpec):
    """A group call: the user joins ``group_id``, whose traits reach every member."""

    ACTION: ClassVar[str] = "group"

    def problems(self) -> list[Problem]:
        """A group call also needs ``group_id``."""
        found = super().problems()
        if self.group_id is None:
            found.append(Problem("", "a group call needs group_id"))
        return found


class TrackSpec(CallSpec):
    """A track call (AB Tasty's destination refuses it: 501 on the webhook)."""

    ACTION: ClassVar[str] = "track"

    def problems(self) -> list[Problem]:
        """A track call also needs ``event``."""
        found = super().problems()
        if self.event is None:
            found.append(Problem("", "a track call needs event"))
        return found


class SendSpec(StepSpec):
    """A raw request, for input the helpers would not build (malformed, oversized, odd auth)."""

    ACTION: ClassVar[str] = "send"

    to: Literal["webhook", "tracking"]
    account: str | None = None
    source: str | None = None
    call: str = "identify"
    body: Any = None
    raw: str | None = None
    pad_bytes: int = 0
    repeat: int = 1
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    key: str | None = None

    def problems(self) -> list[Problem]:
        """The account (webhook) or the source (Tracking API), not both."""
        if (self.account is None) == (self.source is None):
            return [Problem("", "name the account (to: webhook) or the source (to: tracking)")]
        return []


class OutageSpec(_Spec):
    """Every delivery attempt fails for a while: with ``status``, or a timeout when null."""

    duration: str | int | float = msgspec.field(name="for")
    status: int | None = 503


class DeliverSpec(StepSpec):
    """Scripted delivery faults between the fake Segment and its destinations."""

    ACTION: ClassVar[str] = "deliver"

    outage: OutageSpec | None = None
    duplicate_next: int | None = None
    hold_next: int | None = None
    hold_for: str | int | float | None = None
    clear: bool = False

    def problems(self) -> list[Problem]:
        """Durations must be durations."""
        found = []
        if self.outage is not None:
            found += duration_problem(self.outage.duration, ".outage.for")
        if self.hold_for is not None:
            found += duration_problem(self.hold_for, ".hold_for")
        return found


class ConditionSpec(_Spec):
    """A segment condition on a trait of the account's connector."""

    trait: str
    operator: str
    value: Any = None


class SegmentSpec(StepSpec):
    """Create a segment, remembered under ``as``."""

    ACTION: ClassVar[str] = "segment"

    account: str
    alias: str = msgspec.field(name="as")
    conditions: list[ConditionSpec]
    name: str | None = None
    match: str = "all"


class ClientCallSpec(_Spec):
    """One call made with the real Segment client library."""

    anonymous_id: str | None = None
    user_id: str | None = None
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    group_id: str | None = None
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    integrations: dict[str, Any] | None = None


class ClientSpec(StepSpec):
    """Calls made with segment-analytics-python, unchanged, pointed at the fake Segment."""

    ACTION: ClassVar[str] = "client"

    source: str
    calls: list[dict[Literal["identify", "group", "track", "page"], ClientCallSpec]]


class ResetSpec(StepSpec):
    """Reset one account, or everything."""

    ACTION: ClassVar[str] = "reset"

    account: str | None = None


class OutcomeSpec(_Spec):
    """What an action must get back (default: any 2xx)."""

    status: int | None = None
    code: str | None = None
    body: dict[str, Any] | None = None


class BuilderExpect(_Spec):
    """What the segment builder's EXTERNAL DATA shows (values compare as text)."""

    account: str
    shows: dict[str, Any] = msgspec.field(default_factory=dict)
    hides: list[str] = msgspec.field(default_factory=list)
    exactly: dict[str, Any] | None = None


class VisitorExpect(_Spec):
    """Which segments a visitor is in now."""

    account: str
    visitor_id: str
    in_: list[str] = msgspec.field(default_factory=list, name="in")
    not_in: list[str] = msgspec.field(default_factory=list)


class ExplainExpect(_Spec):
    """What the explanation of a (non-)match says."""

    account: str
    segment: str
    visitor_id: str
    matches: bool | None = None
    reasons: list[str] = msgspec.field(default_factory=list)


class DeliveryExpect(_Spec):
    """The delivery overview of a source."""

    source: str
    stages: dict[str, int] = msgspec.field(default_factory=dict)


class RefreshesExpect(_Spec):
    """The refresh history of an account."""

    account: str
    count: int | None = None
    last: dict[str, Any] | None = None


class ExpectSpec(StepSpec):
    """State checks."""

    ACTION: ClassVar[str] = "expect"

    builder: BuilderExpect | None = None
    visitor: VisitorExpect | None = None
    explain: ExplainExpect | None = None
    delivery: DeliveryExpect | None = None
    refreshes: RefreshesExpect | None = None

    def problems(self) -> list[Problem]:
        """At least one check."""
        if all(getattr(self, name) is None for name in self.__struct_fields__):
            return [Problem("", f"expect what? {', '.join(self.__struct_fields__)}")]
        return []


StepBody: TypeAlias = (
    AtSpec
    | AdvanceSpec
    | AccountSpec
    | ConnectorSpec
    | DeleteConnectorSpec
    | ApiKeySpec
    | SourceSpec
    | VisitorSpec
    | IdentifySpec
    | GroupSpec
    | TrackSpec
    | SendSpec
    | ClientSpec
    | DeliverSpec
    | SegmentSpec
    | ResetSpec
    | ExpectSpec
)
"""What a step does: one spec type per action."""

STEP_SPECS: tuple[type[StepSpec], ...] = (
    AtSpec,
    AdvanceSpec,
    AccountSpec,
    ConnectorSpec,
    DeleteConnectorSpec,
    ApiKeySpec,
    SourceSpec,
    VisitorSpec,
    IdentifySpec,
    GroupSpec,
    TrackSpec,
    SendSpec,
    ClientSpec,
    DeliverSpec,
    SegmentSpec,
    ResetSpec,
    ExpectSpec,
)
"""Every action's spec, in the order the reference lists them."""

SPECS: dict[str, type[StepSpec]] = {spec.ACTION: spec for spec in STEP_SPECS}
"""Every step action and the spec of its body (``at``/``advance`` take a scalar)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an action with its typed body, where it is in the file, and its expected outcome."""

    index: int
    line: int
    body: StepBody
    outcome: OutcomeSpec | None = None
    note: str | None = None

    @property
    def action(self) -> str:
        """The action's key in the file (``identify``, ``at``, ...)."""
        return self.body.ACTION

    def label(self) -> str:
        """A short name for reports: ``step 4 (identify)``."""
        return f"step {self.index + 1} ({self.action})"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, validated scenario."""

    name: str
    file: str
    start: datetime
    steps: tuple[Step, ...]
    description: str = ""
    line: int = 1


_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$"
)


def parse_duration(value: str | int | float) -> timedelta:
    """``90``, ``"90s"``, ``"15m"``, ``"7h"``, ``"2d"`` or ``"1h30m"`` as a timedelta.

    Raises:
        ValueError: for anything else, or a negative amount.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 90s, 15m, 7h, 2d, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"{value!r} is not a duration like 90s, 15m, 7h, 2d or 1h30m")
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _path_line(node: Any, path: str) -> int:
    """The line of a msgspec error path like ``$.traits.plan`` or ``$.conditions[1].value``."""
    line = node.line if isinstance(node, LineDict | LineList) else 0
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("$")):
        if key and isinstance(node, LineDict) and key in node:
            line = node.line_of(key)
            node = node[key]
        elif index and isinstance(node, LineList) and int(index) < len(node):
            line = node.line_of(int(index))
            node = node[int(index)]
        else:
            break
    return line


SpecT = TypeVar("SpecT", bound=_Spec)


def _convert(spec: type[SpecT], raw: Any, file: str, field: str, line: int) -> SpecT:
    try:
        return msgspec.convert(raw, type=spec, strict=True)
    except msgspec.ValidationError as error:
        text = str(error)
        message, _, path = text.partition(" - at `")
        path = path.rstrip("`")
        where = field + path.removeprefix("$") if path else field
        if "unknown field" in message:
            known = ", ".join(f.encode_name for f in msgspec.structs.fields(spec))
            message += f" (known: {known})"
        raise ScenarioError(file, _path_line(raw, path) or line, where, message) from None


def _time(value: Any, file: str, line: int, field: str) -> datetime:
    if not isinstance(value, str):
        raise ScenarioError(
            file,
            line,
            field,
            "must be an ISO-8601 timestamp with an offset, e.g. 2026-03-02T23:00:00Z",
        )
    try:
        return parse_instant(value)
    except ValueError as problem:
        raise ScenarioError(file, line, field, f"{value!r} {problem}") from None


def parse_scenario(document: Any, file: str) -> Scenario:
    """Validate a loaded document and build the :class:`Scenario`.

    Raises:
        ScenarioError: naming the file, line and field of the first problem.
    """
    if not isinstance(document, LineDict):
        raise ScenarioError(file, 1, "", "a scenario is a mapping with name, start and steps")
    unknown = set(document) - {"name", "description", "start", "steps"}
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise ScenarioError(
            file,
            document.line_of(key),
            str(key),
            "unknown top-level field (known: name, description, start, steps)",
        )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(file, document.line_of("name"), "name", "every scenario needs a name")
    description = document.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(file, document.line_of("description"), "description", "must be text")
    start = _time(document.get("start", DEFAULT_START), file, document.line_of("start"), "start")
    raw_steps = document.get("steps")
    if not isinstance(raw_steps, LineList) or not raw_steps:
        raise ScenarioError(
            file, document.line_of("steps"), "steps", "must be a non-empty list of steps"
        )
    steps = tuple(
        _parse_step(raw, i, raw_steps.line_of(i), file) for i, raw in enumerate(raw_steps)
    )
    return Scenario(name, file, start, steps, description, document.line)


def _parse_step(raw: Any, index: int, line: int, file: str) -> Step:
    field = f"steps[{index}]"
    if not isinstance(raw, LineDict):
        raise ScenarioError(
            file, line, field, "a step is a mapping with one action, e.g. {identify: {...}}"
        )
    actions = [key for key in raw if key in SPECS]
    extras = [key for key in raw if key not in SPECS and key not in ("note",)]
    if len(actions) == 2 and "expect" in actions:
        actions.remove("expect")  # an action with an outcome check
        outcome_raw = raw["expect"]
    else:
        outcome_raw = None
    if len(actions) != 1 or extras:
        bad = extras[0] if extras else (actions[1] if len(actions) > 1 else None)
        bad_line = raw.line_of(bad) if bad is not None else line
        hint = f"unknown action {bad!r}" if extras else "a step has exactly one action"
        raise ScenarioError(file, bad_line, field, f"{hint}; actions: {', '.join(SPECS)}")
    action = actions[0]
    value = raw[action]
    where = f"{field}.{action}"
    action_line = raw.line_of(action)
    body: StepBody
    if action == "at":
        body = AtSpec(_time(value, file, action_line, where))
    elif action == "advance":
        try:
            body = AdvanceSpec(parse_duration(value))
        except (ValueError, AttributeError) as error:
            raise ScenarioError(file, action_line, where, str(error)) from None
    else:
        # Every spec in SPECS is a member of StepBody (a test checks the two agree).
        body = cast(
            "StepBody",
            _convert(
                SPECS[action], value if value is not None else LineDict(), file, where, action_line
            ),
        )
        for problem in body.problems():
            raise ScenarioError(file, action_line, where + problem.where, problem.message)
    outcome = None
    if outcome_raw is not None:
        outcome = _convert(OutcomeSpec, outcome_raw, file, f"{field}.expect", raw.line_of("expect"))
    note = raw.get("note")
    return Step(index, line, body, outcome, note if isinstance(note, str) else None)


def load_scenario(path: Path) -> Scenario:
    """Read, validate and parse a scenario file.

    Raises:
        ScenarioError: naming the file, line and field of the first problem.
    """
    return parse_scenario(read_yaml(path), str(path))


def scenario_files(paths: list[Path]) -> list[Path]:
    """The ``.yaml``/``.yml`` files among ``paths`` (folders are searched, sorted by name)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            )
        else:
            found.append(path)
    return found
