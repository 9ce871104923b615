"""The scenario format as typed specs: one struct per action, per check and per part.

Each struct's docstring and each field's ``Meta(description=...)`` are the reference: the
JSON schema built from these structs validates files, ``harness play --list-steps`` prints
it, and ``docs/scenarios.md`` carries the same text (a test keeps them in step).

The format only grows. A file without ``format:`` is format 1; ``format: 2`` changes the
meaning of value comparisons only (see :data:`FORMATS`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, TypeAlias

import msgspec
from msgspec import UNSET, Meta, UnsetType

from harness.core.clock import parse_instant

FORMATS: dict[int, str] = {
    1: 'values in builder checks compare as text (`1`, `"1"` and `true`/`"true"` are alike); '
    "an outcome's `body` compares top-level fields",
    2: 'values compare as typed JSON (`true`, `"true"`, `1` and `"1"` are four values; '
    "`1` and `1.0` are one number); `hides` takes trait names and `{trait, value}`; an outcome's "
    "`body` and a journal entry's `body`/`response` are subsets at every level",
}
"""Every format this harness reads, and what it changes."""

LATEST_FORMAT = max(FORMATS)


def _doc(text: str) -> Meta:
    return Meta(description=text)


class Problem(NamedTuple):
    """A rule a spec breaks: ``where`` is a path below the spec (``""``, ``.seen_at``)."""

    where: str
    message: str


class _Spec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A part of a scenario file: unknown fields are errors, defaults are not written out."""

    def problems(self) -> list[Problem]:
        """What the schema cannot say is wrong with this part (none by default)."""
        return []


class StepSpec(_Spec):
    """The body of one step's action; ``ACTION`` is the key that names it in a file."""

    ACTION: ClassVar[str]


# shared field types --------------------------------------------------------------------------
Scalar: TypeAlias = str | int | float | bool | None
AccountAlias = Annotated[str, _doc("an account, by the name an `account` step gave it")]
SourceAlias = Annotated[str, _doc("a source, by the name a `source` step gave it")]
RefusedStatus = Annotated[
    int | None,
    _doc("the status the read must be refused with (then only `code` may be checked besides)"),
]
RefusedCode = Annotated[str | None, _doc("the error code the read must be refused with")]


def instant_problem(value: str, where: str) -> list[Problem]:
    """A problem when ``value`` is not an ISO-8601 instant with an offset."""
    try:
        parse_instant(value)
    except ValueError as problem:
        return [Problem(where, f"{value!r} {problem}")]
    return []


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


def duration_problem(value: str | int | float, where: str) -> list[Problem]:
    """A problem when ``value`` is not a duration (see :func:`parse_duration`)."""
    try:
        parse_duration(value)
    except (ValueError, AttributeError) as error:
        return [Problem(where, str(error))]
    return []


def refusal_problem(spec: Any, checks: tuple[str, ...]) -> list[Problem]:
    """A refused read has nothing else to check: ``checks`` must be empty beside ``status``/``code``."""
    if spec.status is None and spec.code is None:
        return []
    names = {f.name: f.encode_name for f in msgspec.structs.fields(spec)}
    given = [names[name] for name in checks if getattr(spec, name) not in (None, UNSET, [], {})]
    if given:
        return [
            Problem(
                "",
                f"a check that expects a refusal (status/code) has nothing else to compare: "
                f"drop {', '.join(given)}",
            )
        ]
    return []


# time ----------------------------------------------------------------------------------------
class AtSpec(StepSpec):
    """Move the clock to an instant, never backwards: `at: 2026-03-02T23:00:00Z`. Moving the
    clock stops at every Segment retry and held-back delivery that falls due on the way."""

    ACTION: ClassVar[str] = "at"
    when: datetime


class AdvanceSpec(StepSpec):
    """Move the clock forward: `advance: 7h` (`90`, `90s`, `15m`, `7h`, `2d`, `1h30m`)."""

    ACTION: ClassVar[str] = "advance"
    duration: timedelta


# setup ---------------------------------------------------------------------------------------
class AccountSpec(StepSpec):
    """Create an account; by default with a Segment connector and an API key. With `expect:`,
    the first refused request of the three is the step's outcome."""

    ACTION: ClassVar[str] = "account"

    name: Annotated[str, _doc("the account's name, and the alias later steps use")]
    timezone: Annotated[str, _doc("IANA time zone of the nightly refresh")] = "UTC"
    refresh_hour: Annotated[int, _doc("local hour of the nightly refresh")] = 3
    connector: Annotated[
        str | None, _doc("the Segment connector's name; `null` for no connector")
    ] = "Segment"
    api_key: Annotated[bool, _doc("generate an API key")] = True


class ConnectorSpec(StepSpec):
    """Set up a Segment pull connector on an account."""

    ACTION: ClassVar[str] = "connector"

    account: AccountAlias
    name: Annotated[str, _doc("the connector's name (conditions and checks can name it)")] = (
        "Segment"
    )


class DeleteConnectorSpec(StepSpec):
    """Delete the account's current Segment connector."""

    ACTION: ClassVar[str] = "delete_connector"

    account: AccountAlias


class ApiKeySpec(StepSpec):
    """Generate, regenerate or revoke the account's API key."""

    ACTION: ClassVar[str] = "api_key"

    account: AccountAlias
    action: Annotated[
        Literal["generate", "regenerate", "revoke"],
        _doc("`regenerate` replaces the key; the old one stops working at once"),
    ]
    keep_old_as: Annotated[
        str | None,
        _doc("an alias for the key being replaced (for `key:` and `${api_key:ALIAS}`)"),
    ] = None


class SourceSpec(StepSpec):
    """Create a Segment source with an AB Tasty destination for each named account (carrying
    that account's current API key). With `expect:`, the first refused request is the outcome."""

    ACTION: ClassVar[str] = "source"

    name: Annotated[str, _doc("the source's name, and the alias later steps use")]
    destinations: Annotated[list[str], _doc("account aliases")] = msgspec.field(
        default_factory=list
    )
    endpoint: Annotated[
        str | None, _doc("where the destinations deliver (default: the fake AB Tasty)")
    ] = None


class ResetSpec(StepSpec):
    """Reset one account's state, or everything (never the clock)."""

    ACTION: ClassVar[str] = "reset"

    account: Annotated[str | None, _doc("an account alias; nothing: everything")] = None


# what happens --------------------------------------------------------------------------------
class VisitorSpec(StepSpec):
    """The AB Tasty tag read Segment's anonymousId (the `ajs_anonymous_id` cookie) on a visitor."""

    ACTION: ClassVar[str] = "visitor"

    account: AccountAlias
    visitor_id: Annotated[str, _doc("AB Tasty's visitor id: 1 to 32 letters, digits or hyphens")]
    anonymous_id: Annotated[str, _doc("the Segment anonymousId the tag read")]
    seen_at: Annotated[str | None, _doc("when the tag saw it (default: now)")] = None

    def problems(self) -> list[Problem]:
        """``seen_at`` must be an instant."""
        return instant_problem(self.seen_at, ".seen_at") if self.seen_at is not None else []


class CallSpec(StepSpec):
    """An identify, group or track call: to an account's webhook (as Segment delivers it) or
    through a source's Tracking API."""

    account: Annotated[
        str | None, _doc("post to this account's webhook, as Segment's destination delivers")
    ] = None
    source: Annotated[
        str | None, _doc("or send through this source's Tracking API (the fake Segment)")
    ] = None
    anonymous_id: Annotated[str | None, _doc("Segment's anonymousId")] = None
    user_id: Annotated[str | None, _doc("Segment's userId")] = None
    traits: Annotated[
        dict[str, Any], _doc("identify: the user's traits; group: the group's (not for track)")
    ] = msgspec.field(default_factory=dict)
    group_id: Annotated[str | None, _doc("the group (required for group)")] = None
    event: Annotated[str | None, _doc("the event name (required for track)")] = None
    timestamp: Annotated[str | None, _doc("the event time (default: now)")] = None
    message_id: Annotated[str | None, _doc("default: one per step")] = None
    key: Annotated[
        str | None,
        _doc(
            "webhook only: an alias from `keep_old_as`, a literal key, or `none` for no "
            "Authorization (default: the account's live key)"
        ),
    ] = None
    integrations: Annotated[
        dict[str, Any] | None,
        _doc('Segment\'s integrations object, e.g. `{"AB Tasty client side": false}`'),
    ] = None

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
    """A group call: the user joins `group_id`, whose traits reach every member as
    `group.<trait>`."""

    ACTION: ClassVar[str] = "group"

    def problems(self) -> list[Problem]:
        """A group call also needs ``group_id``."""
        found = super().problems()
        if self.group_id is None:
            found.append(Problem("", "a group call needs group_id"))
        return found


class TrackSpec(CallSpec):
    """A track call (the webhook refuses it: 501 `unsupported_type`; Segment filters it)."""

    ACTION: ClassVar[str] = "track"

    def problems(self) -> list[Problem]:
        """A track call also needs ``event``."""
        found = super().problems()
        if self.event is None:
            found.append(Problem("", "a track call needs event"))
        return found


class SendSpec(StepSpec):
    """A raw message, for input the helpers would not build (malformed, oversized, odd auth):
    to an account's webhook, or to a source's Tracking API."""

    ACTION: ClassVar[str] = "send"

    to: Annotated[
        Literal["webhook", "tracking"],
        _doc("an account's webhook, or a source's Tracking API"),
    ]
    account: Annotated[str | None, _doc("the account (to: webhook)")] = None
    source: Annotated[str | None, _doc("the source (to: tracking)")] = None
    call: Annotated[str, _doc("the Tracking API path: `/v1/<call>`")] = "identify"
    body: Annotated[Any, _doc("the JSON body")] = None
    raw: Annotated[str | None, _doc("or the body as text, sent as it is")] = None
    pad_bytes: Annotated[int, _doc("adds a trait of this many bytes to `body`")] = 0
    repeat: Annotated[int, _doc("send it this many times")] = 1
    headers: Annotated[dict[str, str], _doc("extra or replacing headers")] = msgspec.field(
        default_factory=dict
    )
    key: Annotated[str | None, _doc("webhook only: as for identify")] = None

    def problems(self) -> list[Problem]:
        """The account (webhook) or the source (Tracking API), not both."""
        if (self.account is None) == (self.source is None):
            return [Problem("", "name the account (to: webhook) or the source (to: tracking)")]
        return []


class ClientCallSpec(_Spec):
    """One call made with the real Segment client library."""

    anonymous_id: Annotated[str | None, _doc("`anonymous_id=` of the call")] = None
    user_id: Annotated[str | None, _doc("`user_id=`")] = None
    traits: Annotated[dict[str, Any], _doc("`traits=` (identify, group)")] = msgspec.field(
        default_factory=dict
    )
    group_id: Annotated[str | None, _doc("`group_id=` (group)")] = None
    event: Annotated[str | None, _doc("`event=` (track)")] = None
    name: Annotated[str | None, _doc("`name=` (page)")] = None
    properties: Annotated[dict[str, Any], _doc("`properties=` (track, page)")] = msgspec.field(
        default_factory=dict
    )
    integrations: Annotated[dict[str, Any] | None, _doc("`integrations=`")] = None


class ClientSpec(StepSpec):
    """Calls made with segment-analytics-python, unchanged, pointed at the fake Segment."""

    ACTION: ClassVar[str] = "client"

    source: SourceAlias
    calls: Annotated[
        list[dict[Literal["identify", "group", "track", "page"], ClientCallSpec]],
        _doc("each `{identify: {...}}`, `{group: ...}`, `{track: ...}` or `{page: ...}`"),
    ]


class OutageSpec(_Spec):
    """Every delivery attempt fails for a while: with `status`, or a timeout when null."""

    duration: Annotated[
        str | int | float, _doc("how long from now: seconds, or `90s`, `15m`, `3h`, `1h30m`")
    ] = msgspec.field(name="for")
    status: Annotated[int | None, _doc("the failing status; `null`: a timeout")] = 503


class DeliverSpec(StepSpec):
    """Scripted delivery faults between the fake Segment and its destinations."""

    ACTION: ClassVar[str] = "deliver"

    outage: Annotated[OutageSpec | None, _doc("every attempt fails for a while")] = None
    duplicate_next: Annotated[int | None, _doc("deliver the next N messages twice")] = None
    hold_next: Annotated[int | None, _doc("hold the next N messages back")] = None
    hold_for: Annotated[
        str | int | float | None, _doc("for this long: seconds, or `90s`, `15m`, `2h`")
    ] = None
    clear: Annotated[bool, _doc("remove every scripted fault")] = False

    def problems(self) -> list[Problem]:
        """Durations must be durations."""
        found = []
        if self.outage is not None:
            found += duration_problem(self.outage.duration, ".outage.for")
        if self.hold_for is not None:
            found += duration_problem(self.hold_for, ".hold_for")
        return found


class ConnectorRef(_Spec):
    """A connector named by account and name, or by a literal id."""

    account: Annotated[str | None, _doc("whose connector (default: the step's account)")] = None
    name: Annotated[str | None, _doc("its name (default: the account's current one)")] = None
    id: Annotated[str | None, _doc("a literal connector id, e.g. one that does not exist")] = None

    def problems(self) -> list[Problem]:
        """An id stands alone."""
        if self.id is not None and (self.account is not None or self.name is not None):
            return [Problem("", "name a connector by account/name or by id, not both")]
        return []


Connector = Annotated[
    str | ConnectorRef | None,
    _doc(
        "a connector of the account by its name, or `{account, name}` for another account's, "
        "or `{id}` (default: the account's current connector)"
    ),
]


class ConditionSpec(_Spec):
    """A segment condition on a trait of a connector (by default the account's current one)."""

    trait: Annotated[str, _doc("a trait key as the builder shows it (`plan`, `group.plan`)")]
    operator: Annotated[
        str,
        _doc("`equals`, `not_equals`, `contains`, `exists`, `greater_than`, `less_than`"),
    ]
    value: Annotated[Any, _doc("sent with its YAML type (ignored by `exists`)")] = None
    connector: Connector = None
    source: Annotated[
        Literal["identify", "group"] | None,
        _doc("which of two traits the builder prints alike: from identify calls or a group's"),
    ] = None
    path: Annotated[
        list[str] | None,
        _doc(
            "the trait's path as the builder gives it: `[company, name]` for a nested object, "
            "`[company.name]` for one key with a dot in it"
        ),
    ] = None

    def problems(self) -> list[Problem]:
        """A connector reference must make sense."""
        if isinstance(self.connector, ConnectorRef):
            return [Problem(".connector" + p.where, p.message) for p in self.connector.problems()]
        return []


class SegmentSpec(StepSpec):
    """Create a segment, remembered under `as`."""

    ACTION: ClassVar[str] = "segment"

    account: AccountAlias
    alias: Annotated[str, _doc("the alias checks use")] = msgspec.field(name="as")
    conditions: Annotated[list[ConditionSpec], _doc("what a visitor's activated traits must meet")]
    name: Annotated[str | None, _doc("default: the alias")] = None
    match: Annotated[str, _doc("`all` or `any`")] = "all"

    def problems(self) -> list[Problem]:
        """Each condition's connector reference must make sense."""
        return [
            Problem(f".conditions[{i}]" + p.where, p.message)
            for i, condition in enumerate(self.conditions)
            for p in condition.problems()
        ]


# Segment Engage -----------------------------------------------------------------------------
class AudienceSpec(StepSpec):
    """Create an Engage audience in a source's space (or delete it): its key is the boolean
    trait AB Tasty receives, `true` for members who enter and `false` for those who exit.
    Reusing a deleted audience's key is allowed; the answer then carries a `warning`."""

    ACTION: ClassVar[str] = "audience"

    source: SourceAlias
    key: Annotated[str, _doc("the audience key: lower-case letters, digits and underscores")]
    name: Annotated[str | None, _doc("a display name (default: the key)")] = None
    delete: Annotated[
        bool, _doc("delete the source's live audience with this key instead of creating one")
    ] = False


class MembershipSpec(StepSpec):
    """A user's membership of an Engage audience changes."""

    source: SourceAlias
    audience: Annotated[str, _doc("the audience, by its key")]
    anonymous_id: Annotated[str, _doc("the profile's anonymousId")]
    user_id: Annotated[str | None, _doc("the profile's userId, if known")] = None


class EnterSpec(MembershipSpec):
    """A user enters an Engage audience: Segment sends identify `{<key>: true}` to the source's
    destinations (nothing when already a member)."""

    ACTION: ClassVar[str] = "enter"


class ExitSpec(MembershipSpec):
    """A user exits an Engage audience: Segment sends identify `{<key>: false}` (nothing for a
    user who is not a member)."""

    ACTION: ClassVar[str] = "exit"


class ComputedTraitSpec(StepSpec):
    """Create an Engage computed trait in a source's space: sent as identify calls (`user`
    level) or as group calls to every member of an account (`account` level)."""

    ACTION: ClassVar[str] = "computed_trait"

    source: SourceAlias
    key: Annotated[str, _doc("the trait key: lower-case letters, digits and underscores")]
    level: Annotated[Literal["user", "account"], _doc("`user` or `account`")] = "user"
    name: Annotated[str | None, _doc("a display name (default: the key)")] = None


class ComputeSpec(StepSpec):
    """A computed trait takes a value: for one user, or for an account (`group_id`), sent to
    each of its `members` as a group call. An unchanged value sends nothing."""

    ACTION: ClassVar[str] = "compute"

    source: SourceAlias
    trait: Annotated[str, _doc("the computed trait, by its key")]
    value: Annotated[Any, _doc("the value, with its YAML type")]
    anonymous_id: Annotated[str | None, _doc("user level: the profile's anonymousId")] = None
    user_id: Annotated[str | None, _doc("user level: the profile's userId, if known")] = None
    group_id: Annotated[str | None, _doc("account level: the account's groupId")] = None
    members: Annotated[
        list[str], _doc("account level: the anonymousIds of the account's members")
    ] = msgspec.field(default_factory=list)


class RequestSpec(StepSpec):
    """Any HTTP request to either fake, for what no other step sends (odd credentials, routes
    the other steps do not reach). Text in `path`, `params`, `headers`, `body` and `raw`, and
    in its `expect:`, may hold references: `${api_key:shop}`, `${base64:${api_key:shop}:}`
    (see References)."""

    ACTION: ClassVar[str] = "request"

    to: Annotated[Literal["abtasty", "segment"], _doc("which fake")]
    path: Annotated[str, _doc("e.g. `/segment/webhook`, `/api/accounts/${account_id:shop}`")]
    method: Annotated[str, _doc("the HTTP method")] = "GET"
    params: Annotated[dict[str, str], _doc("the query string")] = msgspec.field(
        default_factory=dict
    )
    headers: Annotated[dict[str, str], _doc("request headers")] = msgspec.field(
        default_factory=dict
    )
    body: Annotated[Any, _doc("a JSON body (with `Content-Type: application/json`)")] = UNSET
    raw: Annotated[str | None, _doc("or a body sent as this text, as it is")] = None

    def problems(self) -> list[Problem]:
        """One body at most; the path starts with a slash; templates parse."""
        found = []
        if self.body is not UNSET and self.raw is not None:
            found.append(Problem("", "give body or raw, not both"))
        if not self.path.startswith("/"):
            found.append(Problem(".path", "a path starts with /"))
        return found


# outcome of an action ------------------------------------------------------------------------
class OutcomeSpec(_Spec):
    """What an action's HTTP answer must be (default: any 2xx)."""

    status: Annotated[int | None, _doc("the HTTP status")] = None
    code: Annotated[str | None, _doc("the error code of the JSON answer")] = None
    body: Annotated[dict[str, Any] | None, _doc("fields the JSON answer must have (a subset)")] = (
        None
    )
    headers: Annotated[
        dict[str, str], _doc("response headers that must be present with these values")
    ] = msgspec.field(default_factory=dict)


# checks --------------------------------------------------------------------------------------
class ValueCount(_Spec):
    """A builder value and, optionally, how many visitors its cohort holds."""

    value: Annotated[Any, _doc("the value, with its YAML type")]
    visitors: Annotated[int | UnsetType, _doc("how many visitors its cohort holds")] = UNSET


BuilderValues = Annotated[
    Any,
    Meta(
        description=(
            "`{value: visitors}`, a list of values or of `{value, visitors}`, or one value"
        ),
        extra_json_schema={
            "title": "values",
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "integer"}},
                {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {"type": ["string", "number", "boolean", "null"]},
                            {"$ref": "#/$defs/ValueCount"},
                        ]
                    },
                },
                {"type": ["string", "number", "boolean", "null"]},
            ],
        },
    ),
]


class TraitValue(_Spec):
    """A trait, or one value of it, for `hides`."""

    trait: Annotated[str, _doc("a trait key")]
    value: Annotated[Any, _doc("the value (absent: the whole trait)")] = UNSET


class BuilderExpect(_Spec):
    """What the segment builder shows under EXTERNAL DATA for one connector. Values compare
    as text in format 1 and as typed values in format 2."""

    account: AccountAlias
    connector: Connector = None
    source: Annotated[
        Literal["identify", "group"] | None,
        _doc("only traits from identify calls, or only group traits"),
    ] = None
    shows: Annotated[
        dict[str, BuilderValues],
        _doc(
            "trait -> values that must be shown: `{value: visitors}`, a list of values or of "
            "`{value, visitors}`, or one value"
        ),
    ] = msgspec.field(default_factory=dict)
    hides: Annotated[
        list[str | TraitValue],
        _doc(
            "traits (or values) that must not be shown: a trait name, `{trait, value}`; "
            'format 1 also reads `"trait=value"`'
        ),
    ] = msgspec.field(default_factory=list)
    exactly: Annotated[
        dict[str, BuilderValues] | None,
        _doc("every trait and value shown, in the forms of `shows`, and nothing else"),
    ] = None
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """Value lists must hold values; a refusal checks nothing else."""
        found = refusal_problem(self, ("shows", "hides", "exactly", "source"))
        for name, traits in (("shows", self.shows), ("exactly", self.exactly or {})):
            for trait, values in traits.items():
                try:
                    value_counts(values)
                except ValueError as error:
                    found.append(Problem(f".{name}.{trait}", str(error)))
        if isinstance(self.connector, ConnectorRef):
            found += [Problem(".connector" + p.where, p.message) for p in self.connector.problems()]
        return found


def value_counts(values: Any) -> list[tuple[Any, int | None]]:
    """The ``(value, visitors or None)`` pairs a builder check lists, in any of its forms.

    Raises:
        ValueError: for a form a check cannot hold.
    """
    if isinstance(values, dict):
        return [(value, count) for value, count in values.items()]
    if isinstance(values, list):
        pairs: list[tuple[Any, int | None]] = []
        for item in values:
            if isinstance(item, dict):
                spec = msgspec.convert(item, ValueCount, strict=True)
                pairs.append((spec.value, None if spec.visitors is UNSET else spec.visitors))
            elif isinstance(item, list):
                raise ValueError("a value is a scalar, not a list")
            else:
                pairs.append((item, None))
        return pairs
    return [(values, None)]


class VisitorExpect(_Spec):
    """Which segments a visitor is in now."""

    account: AccountAlias
    visitor_id: Annotated[str, _doc("the visitor")]
    in_: Annotated[list[str], _doc("segment aliases it must be in")] = msgspec.field(
        default_factory=list, name="in"
    )
    not_in: Annotated[list[str], _doc("segment aliases it must not be in")] = msgspec.field(
        default_factory=list
    )
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """A refusal checks nothing else."""
        return refusal_problem(self, ("in_", "not_in"))


class ExplainExpect(_Spec):
    """What the explanation of a (non-)match says. Reasons compare case-insensitively, as
    substrings of all the reasons together."""

    account: AccountAlias
    visitor_id: Annotated[str, _doc("the visitor")]
    segment: Annotated[str | None, _doc("a segment alias")] = None
    segment_id: Annotated[str | None, _doc("or a literal segment id")] = None
    matches: Annotated[bool | None, _doc("whether the visitor is in the segment")] = None
    contains: Annotated[list[str], _doc("text the reasons must contain")] = msgspec.field(
        default_factory=list
    )
    not_contains: Annotated[list[str], _doc("text the reasons must not contain")] = msgspec.field(
        default_factory=list
    )
    reasons: Annotated[list[str], _doc("the older spelling of `contains`")] = msgspec.field(
        default_factory=list
    )
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """One segment reference; a refusal checks nothing else."""
        found = refusal_problem(self, ("matches", "contains", "not_contains", "reasons"))
        if (self.segment is None) == (self.segment_id is None):
            found.append(Problem("", "name the segment: segment (an alias) or segment_id"))
        return found


class MessageExpect(_Spec):
    """One message in a source's delivery overview."""

    message_id: Annotated[str, _doc("the messageId (a call step's `message_id`)")]
    destination: Annotated[
        str | None, _doc("the account whose destination (default: every destination)")
    ] = None
    type: Annotated[str | UnsetType, _doc("`identify`, `group`, `track`, ...")] = UNSET
    stage: Annotated[
        str | UnsetType,
        _doc(
            "`retrying`, `delivered`, `failed_delivery`, `filtered_at_destination` or "
            "`failed_on_ingest`"
        ),
    ] = UNSET
    attempts: Annotated[int | UnsetType, _doc("delivery attempts made")] = UNSET
    last_status: Annotated[
        int | UnsetType | None, _doc("the last attempt's status; `null`: none or a timeout")
    ] = UNSET
    last_code: Annotated[str | UnsetType, _doc("the `code` of the last answer")] = UNSET
    next_attempt_at: Annotated[
        str | UnsetType | None, _doc("when the next retry falls due; `null`: none")
    ] = UNSET

    def problems(self) -> list[Problem]:
        """``next_attempt_at`` is an instant."""
        if isinstance(self.next_attempt_at, str):
            return instant_problem(self.next_attempt_at, ".next_attempt_at")
        return []


class DeliveryExpect(_Spec):
    """A source's delivery overview: counts per stage, and single messages."""

    source: SourceAlias
    stages: Annotated[
        dict[
            Literal[
                "received",
                "failed_on_ingest",
                "filtered_at_destination",
                "failed_delivery",
                "delivered",
            ],
            int,
        ],
        _doc("counts of the stages given"),
    ] = msgspec.field(default_factory=dict)
    messages: Annotated[list[MessageExpect], _doc("single messages, by messageId")] = msgspec.field(
        default_factory=list
    )
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """A refusal checks nothing else."""
        found = refusal_problem(self, ("stages", "messages"))
        for i, message in enumerate(self.messages):
            found += [Problem(f".messages[{i}]" + p.where, p.message) for p in message.problems()]
        return found


class RunExpect(_Spec):
    """One nightly refresh (the fields given); instants compare as instants."""

    scheduled_for: Annotated[str | UnsetType, _doc("when the run was due (an instant)")] = UNSET
    cutoff: Annotated[str | UnsetType, _doc("local midnight: the run took what arrived before")] = (
        UNSET
    )
    messages: Annotated[int | UnsetType, _doc("messages that run took")] = UNSET
    profiles: Annotated[int | UnsetType, _doc("profiles after it")] = UNSET
    matched_profiles: Annotated[int | UnsetType, _doc("profiles matched to a visitor")] = UNSET
    cohorts: Annotated[int | UnsetType, _doc("cohorts after it")] = UNSET

    def problems(self) -> list[Problem]:
        """Instants are instants."""
        found = []
        for name in ("scheduled_for", "cutoff"):
            value = getattr(self, name)
            if isinstance(value, str):
                found += instant_problem(value, f".{name}")
        return found


class RefreshesExpect(_Spec):
    """The refresh history of an account, oldest first."""

    account: AccountAlias
    count: Annotated[int | None, _doc("how many runs")] = None
    last: Annotated[RunExpect | None, _doc("the last run")] = None
    runs: Annotated[
        list[RunExpect] | None, _doc("every run, in order (a catch-up runs several)")
    ] = None
    next_refresh_at: Annotated[str | None, _doc("when the next run falls due")] = None
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """Instants are instants; a refusal checks nothing else."""
        found = refusal_problem(self, ("count", "last", "runs", "next_refresh_at"))
        if self.last is not None:
            found += [Problem(".last" + p.where, p.message) for p in self.last.problems()]
        for i, run in enumerate(self.runs or []):
            found += [Problem(f".runs[{i}]" + p.where, p.message) for p in run.problems()]
        if self.next_refresh_at is not None:
            found += instant_problem(self.next_refresh_at, ".next_refresh_at")
        return found


class JournalEntryExpect(_Spec):
    """A request in the journal (the fields given; text may hold `${...}` references)."""

    method: Annotated[str | UnsetType, _doc("the HTTP method")] = UNSET
    path: Annotated[str | UnsetType, _doc("the path, with its query string if any")] = UNSET
    status: Annotated[int | UnsetType, _doc("the status it got")] = UNSET
    headers: Annotated[dict[str, str], _doc("request headers as journaled (names in any case)")] = (
        msgspec.field(default_factory=dict)
    )
    body: Annotated[Any, _doc("the request body as journaled (a subset)")] = UNSET
    response: Annotated[Any, _doc("the answer as journaled (a subset)")] = UNSET


class JournalExpect(_Spec):
    """What a fake's request journal recorded. Every journal check also checks that no
    secret of the scenario (API keys, write keys) appears in it beyond its last 4 characters,
    nor in base64."""

    fake: Annotated[Literal["abtasty", "segment"], _doc("whose journal")] = "abtasty"
    account: Annotated[
        str | None, _doc("only this account's requests (a webhook call is filed by its key)")
    ] = None
    count: Annotated[int | None, _doc("how many requests")] = None
    contains: Annotated[list[JournalEntryExpect], _doc("each must match a journaled request")] = (
        msgspec.field(default_factory=list)
    )
    not_contains: Annotated[
        list[JournalEntryExpect], _doc("none may match a journaled request")
    ] = msgspec.field(default_factory=list)
    status: RefusedStatus = None
    code: RefusedCode = None

    def problems(self) -> list[Problem]:
        """A refusal checks nothing else."""
        return refusal_problem(self, ("count", "contains", "not_contains"))


CHECKS = ("builder", "visitor", "explain", "delivery", "refreshes", "journal")


class ExpectSpec(StepSpec):
    """State checks, each read through the fakes' HTTP API. Each check may instead expect
    the read to be refused: `status` and `code`."""

    ACTION: ClassVar[str] = "expect"

    builder: Annotated[BuilderExpect | None, _doc("the segment builder")] = None
    visitor: Annotated[VisitorExpect | None, _doc("a visitor's segments")] = None
    explain: Annotated[ExplainExpect | None, _doc("why a visitor is (not) in a segment")] = None
    delivery: Annotated[DeliveryExpect | None, _doc("a source's delivery overview")] = None
    refreshes: Annotated[RefreshesExpect | None, _doc("an account's nightly refreshes")] = None
    journal: Annotated[JournalExpect | None, _doc("a fake's request journal")] = None

    def problems(self) -> list[Problem]:
        """At least one check; each check's own rules."""
        checks = [(name, getattr(self, name)) for name in CHECKS]
        if all(check is None for _, check in checks):
            return [Problem("", f"expect what? {', '.join(CHECKS)}")]
        return [
            Problem(f".{name}" + p.where, p.message)
            for name, check in checks
            if check is not None
            for p in check.problems()
        ]


StepBody: TypeAlias = (
    AtSpec
    | AdvanceSpec
    | AccountSpec
    | ConnectorSpec
    | DeleteConnectorSpec
    | ApiKeySpec
    | SourceSpec
    | ResetSpec
    | VisitorSpec
    | IdentifySpec
    | GroupSpec
    | TrackSpec
    | SendSpec
    | ClientSpec
    | DeliverSpec
    | SegmentSpec
    | AudienceSpec
    | EnterSpec
    | ExitSpec
    | ComputedTraitSpec
    | ComputeSpec
    | RequestSpec
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
    ResetSpec,
    VisitorSpec,
    IdentifySpec,
    GroupSpec,
    TrackSpec,
    SendSpec,
    ClientSpec,
    DeliverSpec,
    SegmentSpec,
    AudienceSpec,
    EnterSpec,
    ExitSpec,
    ComputedTraitSpec,
    ComputeSpec,
    RequestSpec,
    ExpectSpec,
)
"""Every action's spec, in the order the reference lists them."""

SPECS: dict[str, type[StepSpec]] = {spec.ACTION: spec for spec in STEP_SPECS}
"""Every step action and the spec of its body (``at``/``advance`` take a scalar)."""

SCALAR_ACTIONS = {"at": AtSpec, "advance": AdvanceSpec}
"""Actions written as one scalar, not a mapping."""
