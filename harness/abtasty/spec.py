"""The Segment Spec, as AB Tasty's webhook reads it: decoding and validation.

Every refusal names the field at fault. Messages carry more than the Spec names (custom
traits of any JSON type, nested objects, fields libraries add for themselves): those are
kept, never refused.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from harness.abtasty.records import MessageType
from harness.core.clock import instant_problem, parse_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.core.protocol import (
    MAX_ANONYMOUS_ID_CHARS,
    anonymous_id_problem,
    decode_json_object,
)

MAX_MESSAGE_BYTES = 32_768
MAX_MESSAGE_ID_CHARS = 100
"""One limit for an anonymousId wherever it arrives: the webhook, the Tracking API and the
tag's ``segment_anonymous_id``, so that whatever one route keeps another can match."""
ACCEPTED_TYPES: frozenset[str] = frozenset({"identify", "group"})
UNSUPPORTED_TYPES: frozenset[str] = frozenset({"track", "page", "screen", "alias"})
TIMESTAMP_FIELDS = frozenset({"timestamp", "originalTimestamp", "sentAt", "receivedAt"})
OBJECT_FIELDS = frozenset({"context", "integrations", "properties"})


class SpecMessage(msgspec.Struct, frozen=True, gc=False):
    """A validated identify or group message (a frozen msgspec Struct: built in C, per message).

    Attributes:
        event_time: The message's ``timestamp``, else ``originalTimestamp``, else
            ``receivedAt``; None when it carries none of them.
        raw: The message as received, every field kept.
    """

    type: MessageType
    message_id: str
    anonymous_id: str | None
    user_id: str | None
    group_id: str | None
    traits: dict[str, Any]
    event_time: datetime | None
    raw: dict[str, Any]

    @property
    def engage(self) -> str | None:
        """``<computation_class>:<key>`` when Segment Engage sent the message, else None."""
        context = self.raw.get("context")
        personas = context.get("personas") if isinstance(context, dict) else None
        if not isinstance(personas, dict):
            return None
        kind, key = personas.get("computation_class"), personas.get("computation_key")
        if isinstance(kind, str) and isinstance(key, str) and kind and key:
            return f"{kind[:40]}:{key[:200]}"
        return None


def _invalid(message: str) -> HarnessError:
    return HarnessError(ErrorCode.INVALID_MESSAGE, message)


def _optional_id(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string, not {_json_type(value)}.")
    return value


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return "a string"


def message_too_large(size: int, *, more: bool = False) -> HarnessError:
    """The ``message_too_large`` error for a message of ``size`` bytes (or more)."""
    return HarnessError(
        ErrorCode.MESSAGE_TOO_LARGE,
        f"The message is {'more than ' if more else ''}{size:,} bytes; Segment messages are at most "
        f"{MAX_MESSAGE_BYTES:,} bytes (32 KB).",
    )


def check_message_size(body: bytes) -> None:
    """Refuse a message over Segment's 32 KB limit with ``message_too_large``."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise message_too_large(len(body))


def parse_webhook_message(body: bytes) -> SpecMessage:
    """Decode and validate one message posted to the AB Tasty webhook."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise message_too_large(len(body))
    return validate_message(decode_message(body))


def decode_message(body: bytes) -> dict[str, Any]:
    """Decode a webhook body into its JSON object (``invalid_json`` for anything else)."""
    try:
        raw = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raw = None
    if type(raw) is dict:
        return raw
    return decode_json_object(body, what="The message")  # words the refusal


_read_instant = functools.lru_cache(maxsize=4_096)(parse_instant)
"""parse_instant, remembered: a batch's messages share sentAt (often timestamp too), and
reading an ISO-8601 text costs as much as the rest of a valid message's checks. Only
instants that read are remembered; a refusal is worked out again by :func:`_refusal`."""


class _WellFormed(msgspec.Struct, gc=False):
    """The shape of a message the Spec accepts, checked by msgspec in C.

    A message that fits it (and names an identity, a group for a group call, and readable
    timestamps) is valid as it stands; anything else goes to :func:`_refusal`, which finds
    the problem and words it. So this never refuses anything itself: it only lets the
    common case skip the field-by-field walk.
    """

    type: Literal["identify", "group"]
    messageId: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID_CHARS)]
    anonymousId: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ANONYMOUS_ID_CHARS)] | None
    ) = None
    userId: str | None = None
    groupId: str | None = None
    traits: Any = None
    context: Any = None
    integrations: Any = None
    properties: Any = None
    timestamp: str | None = None
    originalTimestamp: str | None = None
    sentAt: str | None = None
    receivedAt: str | None = None


def validate_message(raw: dict[str, Any]) -> SpecMessage:
    """Validate a decoded message against the Segment Spec, as the AB Tasty destination does.

    Raises:
        HarnessError: ``unsupported_type`` for track, page, screen and alias;
            ``missing_identity`` when there is neither userId nor anonymousId;
            ``invalid_message`` for any other Spec violation, naming the field.
    """
    try:
        shape = msgspec.convert(raw, _WellFormed)
    except (msgspec.ValidationError, RecursionError):
        return _refusal(raw)
    for value in (shape.context, shape.integrations, shape.properties):
        if value is not None and type(value) is not dict:
            return _refusal(raw)
    traits = shape.traits
    if traits is None:
        traits = {}
    elif type(traits) is not dict:
        return _refusal(raw)
    user_id = shape.userId or None
    group_id = shape.groupId or None
    kind = shape.type
    if (kind == "group" and group_id is None) or (shape.anonymousId is None and user_id is None):
        return _refusal(raw)
    event_time: datetime | None = None
    try:
        if shape.sentAt is not None:
            _read_instant(shape.sentAt)
        # the event time is the first of these present; every one present must read
        for text in (shape.timestamp, shape.originalTimestamp, shape.receivedAt):
            if text is not None:
                when = _read_instant(text)
                if event_time is None:
                    event_time = when
    except ValueError:
        return _refusal(raw)
    return SpecMessage(
        kind, shape.messageId, shape.anonymousId, user_id, group_id, traits, event_time, raw
    )


def _refusal(raw: dict[str, Any]) -> SpecMessage:
    """The field-by-field walk: it words every refusal (and accepts what it finds valid)."""
    kind = raw.get("type")
    if kind is None:
        raise _invalid("type is missing; the AB Tasty destination takes 'identify' and 'group'.")
    if not isinstance(kind, str):
        raise _invalid(f"type must be a string, not {_json_type(kind)}.")
    if kind in UNSUPPORTED_TYPES:
        raise HarnessError(
            ErrorCode.UNSUPPORTED_TYPE,
            f"The AB Tasty destination accepts identify and group calls only, not {kind}.",
        )
    if kind not in ACCEPTED_TYPES:
        raise _invalid(
            f"type {kind[:40]!r} is not a Segment Spec call type; send 'identify' or 'group'."
        )

    message_id = raw.get("messageId")
    if message_id is None:
        raise _invalid(
            "messageId is missing; Segment sets one on every message and deduplicates on it."
        )
    if not isinstance(message_id, str) or not message_id:
        raise _invalid("messageId must be a non-empty string.")
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise _invalid(f"messageId has {len(message_id)} characters; the Spec allows at most 100.")

    anonymous_id = raw.get("anonymousId")
    if anonymous_id is not None:
        if not isinstance(anonymous_id, str):
            raise _invalid(f"anonymousId must be a string, not {_json_type(anonymous_id)}.")
        problem = anonymous_id_problem(anonymous_id)
        if problem is not None:
            raise _invalid(problem)
    user_id = _optional_id(raw, "userId")
    group_id = _optional_id(raw, "groupId")

    present = raw.keys()
    for name in present & OBJECT_FIELDS:  # only the fields the message has (a C-level set op)
        value = raw[name]
        if value is not None and not isinstance(value, dict):
            raise _invalid(f"{name} must be an object, not {_json_type(value)}.")

    traits = raw.get("traits")
    if traits is None:
        traits = {}
    elif not isinstance(traits, dict):
        raise _invalid(f"traits must be an object, not {_json_type(traits)}.")

    times: dict[str, datetime] = {}
    for name in present & TIMESTAMP_FIELDS:
        value = raw[name]
        if value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(f"{name} must be an ISO-8601 string, not {_json_type(value)}.")
        try:
            times[name] = parse_instant(value)
        except ValueError as problem:
            raise _invalid(instant_problem(name, value, problem)) from None

    if kind == "group" and group_id is None:
        raise _invalid("groupId is missing; a group call names the group its user belongs to.")
    if anonymous_id is None and user_id is None:
        raise HarnessError(
            ErrorCode.MISSING_IDENTITY,
            "The message has neither userId nor anonymousId; the Spec requires at least one.",
        )

    event_time = times.get("timestamp") or times.get("originalTimestamp") or times.get("receivedAt")
    return SpecMessage(
        type="identify" if kind == "identify" else "group",
        message_id=message_id,
        anonymous_id=anonymous_id,
        user_id=user_id,
        group_id=group_id,
        traits=traits,
        event_time=event_time,
        raw=raw,
    )
