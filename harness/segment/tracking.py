"""Segment's HTTP Tracking API rules: limits, the write key, and how a message is normalised.

Segment answers 200 for everything but invalid JSON and oversize bodies; a message it
cannot use is accepted and then recorded as failed on ingest.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.core.clock import format_instant, instant_problem, parse_instant
from harness.core.codes import ErrorCode
from harness.core.credentials import basic_user_of
from harness.core.errors import HarnessError
from harness.core.protocol import anonymous_id_problem, decode_json_object

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2_500
CALL_TYPES = frozenset({"identify", "group", "track", "page", "screen", "alias"})


def write_key_of(authorization: str | None, body: dict[str, Any]) -> str:
    """The write key: the Basic user name, else ``writeKey`` in the body.

    Raises:
        HarnessError: ``invalid_write_key`` when neither carries one (the message says what is
            wrong with the header, never quoting it: a malformed one may hold the key).
    """
    username, problem = basic_user_of(authorization)
    if username:
        return username
    key = body.get("writeKey")
    if isinstance(key, str) and key:
        return key
    if problem is not None:
        raise HarnessError(
            ErrorCode.INVALID_WRITE_KEY,
            f"No write key: the Authorization header is not HTTP Basic credentials ({problem}), "
            "and the body has no writeKey. Send 'Basic ' and base64('<write_key>:'), as "
            "Segment's libraries do (the header is not repeated here: it may hold the key).",
        )
    raise HarnessError(
        ErrorCode.INVALID_WRITE_KEY,
        "No write key: send it as the Basic user name (base64('<write_key>:')) or as writeKey in the body.",
    )


def inflate_gzip(raw: bytes, limit: int) -> bytes:
    """A ``Content-Encoding: gzip`` body inflated (analytics-python's ``gzip=True`` sends these).

    Inflating stops one byte past ``limit``, so a small body that inflates hugely is never
    held whole: the size check of :func:`decode_request` then refuses it.

    Raises:
        HarnessError: ``invalid_json`` when the body is not gzip data.
    """
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise HarnessError(
            ErrorCode.INVALID_JSON,
            "The body is sent with Content-Encoding: gzip but is not gzip data; compress it "
            "or drop the header.",
        ) from None


def decode_request(raw: bytes, *, batch: bool) -> dict[str, Any]:
    """Decode a Tracking API body after checking Segment's size limits.

    Raises:
        HarnessError: ``message_too_large``, ``batch_too_large`` or ``invalid_json``.
    """
    limit, code, what = (
        (MAX_BATCH_BYTES, ErrorCode.BATCH_TOO_LARGE, "batch")
        if batch
        else (MAX_MESSAGE_BYTES, ErrorCode.MESSAGE_TOO_LARGE, "message")
    )
    if len(raw) > limit:
        raise HarnessError(
            code,
            f"The {what} is {len(raw):,} bytes; Segment takes at most {limit // 1024} KB per {what}.",
        )
    return decode_json_object(raw)


@dataclass(frozen=True, slots=True)
class IngestRejection:
    """A message Segment accepted with 200 but could not use (failed on ingest)."""

    message_id: str | None
    type: str | None
    reason: str


def batch_items(
    body: dict[str, Any], encoded_size: Callable[[Any], int]
) -> tuple[list[dict[str, Any]], list[IngestRejection]]:
    """The items of a batch, with top-level context and integrations merged into each.

    Raises:
        HarnessError: ``invalid_body`` when ``batch`` is not a list; ``message_too_large``
            when an item is over 32 KB.
    """
    items = body.get("batch")
    if not isinstance(items, list):
        raise HarnessError(ErrorCode.INVALID_BODY, "batch must be a list of messages.")
    if len(items) > MAX_BATCH_MESSAGES:
        reason = (
            f"the batch has {len(items):,} messages; Segment takes at most {MAX_BATCH_MESSAGES:,}"
        )
        return [], [IngestRejection(_text(i, "messageId"), _text(i, "type"), reason) for i in items]
    accepted: list[dict[str, Any]] = []
    rejected: list[IngestRejection] = []
    shared = {
        key: body[key] for key in ("context", "integrations") if isinstance(body.get(key), dict)
    }
    for item in items:
        if not isinstance(item, dict):
            rejected.append(IngestRejection(None, None, "a batch item is not a JSON object"))
            continue
        if encoded_size(item) > MAX_MESSAGE_BYTES:
            raise HarnessError(
                ErrorCode.MESSAGE_TOO_LARGE,
                "A message in the batch is over 32 KB; Segment takes at most 32 KB per message.",
            )
        merged = dict(item)
        for key, value in shared.items():
            own = merged.get(key)
            merged[key] = (
                {**value, **own} if isinstance(own, dict) else (own if own is not None else value)
            )
        if "sentAt" not in merged and isinstance(body.get("sentAt"), str):
            merged["sentAt"] = body["sentAt"]
        accepted.append(merged)
    return accepted, rejected


def _text(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _instant(message: dict[str, Any], key: str) -> datetime | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO-8601 string")
    try:
        return parse_instant(value)
    except ValueError as problem:
        raise ValueError(instant_problem(key, value, problem)) from None


def normalize(
    item: dict[str, Any], received_at: datetime, new_message_id: Callable[[], str]
) -> dict[str, Any] | IngestRejection:
    """What Segment makes of a message on ingest, or why it could not use it.

    Fills ``messageId``, sets ``receivedAt`` and corrects
    ``timestamp = receivedAt - (sentAt - originalTimestamp)``; the client's event time is
    ``originalTimestamp``, else ``timestamp``. The write key never travels further.
    """
    message = {key: value for key, value in item.items() if key != "writeKey"}
    kind = message.get("type")
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        message_id = message["messageId"] = new_message_id()
    if not isinstance(kind, str) or kind not in CALL_TYPES:
        return IngestRejection(
            message_id,
            kind if isinstance(kind, str) else None,
            "type must be one of " + ", ".join(sorted(CALL_TYPES)),
        )
    for key in ("userId", "anonymousId"):
        if message.get(key) is not None and not isinstance(message[key], str | int | float):
            return IngestRejection(message_id, kind, f"{key} must be a string")
        if isinstance(message.get(key), int | float) and not isinstance(message[key], bool):
            message[key] = str(message[key])  # Segment's libraries send numeric ids as strings
    anonymous_id = message.get("anonymousId")
    if anonymous_id is not None:
        problem = anonymous_id_problem(anonymous_id)
        if problem is not None:
            return IngestRejection(message_id, kind, problem)
    if not message.get("userId") and not anonymous_id:
        return IngestRejection(message_id, kind, "the message has neither userId nor anonymousId")
    if kind == "group" and not message.get("groupId"):
        return IngestRejection(message_id, kind, "a group call needs a groupId")
    if len(message_id) > 100:
        return IngestRejection(message_id[:100], kind, "messageId is over 100 characters")
    try:
        original = _instant(message, "originalTimestamp") or _instant(message, "timestamp")
        sent_at = _instant(message, "sentAt")
        if original is not None and sent_at is not None:
            timestamp = received_at - (sent_at - original)
        else:
            timestamp = original or received_at
        if original is not None:
            message["originalTimestamp"] = format_instant(original)
        message["timestamp"] = format_instant(timestamp)
    except (ValueError, OverflowError) as problem:
        return IngestRejection(
            message_id,
            kind,
            str(problem) if isinstance(problem, ValueError) else "a timestamp is out of range",
        )
    message["receivedAt"] = format_instant(received_at)
    return message
