"""The wire protocol both fakes share, written once: paths, Basic credentials, partner headers.

Segment posts to a partner destination with the API key as the Basic user name, its own
user agent and the destination settings in a header; the Tracking API takes the write key
the same way. Every module that builds these uses this one; ``harness.core.credentials``
reads and masks them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec

from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError

ABTASTY_WEBHOOK_PATH = "/segment/webhook"
"""Where the fake AB Tasty takes Segment's deliveries (the partner destination endpoint)."""

TRACKING_PATH_PREFIX = "/v1/"
"""The fake Segment's Tracking API: ``/v1/identify``, ``/v1/group``, ``/v1/batch``, ..."""

CONTROL_PATH_PREFIX = "/_harness"
"""Both fakes' control plane: health, the clock, the journal, reset."""

SEGMENT_USER_AGENT = "Segment.io/1.0"
"""The User-Agent Segment sends a cloud-mode partner destination."""

SETTINGS_HEADER = "X-Segment-Settings"
"""The header carrying the destination settings (base64 of a JSON object) to a partner."""

MAX_ANONYMOUS_ID_CHARS = 1_000
"""One anonymousId limit on the webhook, the Tracking API and the tag's visitors route."""


def tracking_path(call: str) -> str:
    """The Tracking API path of ``call`` (``identify``, ``group``, ``batch``, ...)."""
    return TRACKING_PATH_PREFIX + call


def basic_authorization(user: str, password: str = "") -> str:
    """An ``Authorization`` header value: ``Basic base64("<user>:<password>")``.

    Segment sends an API key or a write key this way, with an empty password.
    """
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def settings_header_value(api_key: str) -> str:
    """The ``X-Segment-Settings`` value Segment sends AB Tasty: base64 of ``{"apiKey": ...}``."""
    return base64.b64encode(json.dumps({"apiKey": api_key}).encode()).decode()


def partner_headers(api_key: str) -> dict[str, str]:
    """The headers Segment sends a partner destination with each delivery."""
    return {
        "Authorization": basic_authorization(api_key),
        "User-Agent": SEGMENT_USER_AGENT,
        "Content-Type": "application/json",
        SETTINGS_HEADER: settings_header_value(api_key),
    }


def decode_json_object(body: bytes, *, what: str = "The body") -> dict[str, Any]:
    """Decode a JSON object from bytes.

    Args:
        body: The raw request body.
        what: How the error message names the body.

    Returns:
        The decoded object.

    Raises:
        HarnessError: ``invalid_json`` for anything but one well-formed JSON object.
    """
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise HarnessError(
            ErrorCode.INVALID_JSON, f"{what} is not valid UTF-8 JSON ({exc}); send one JSON object."
        ) from None
    except RecursionError:
        raise HarnessError(
            ErrorCode.INVALID_JSON, f"{what} is nested too deeply to read; flatten it."
        ) from None
    if not isinstance(value, dict):
        raise HarnessError(
            ErrorCode.INVALID_JSON,
            f"{what} is JSON but not an object ({type(value).__name__}); send one JSON object.",
        )
    return value


def anonymous_id_problem(value: str, name: str = "anonymousId") -> str | None:
    """Why ``value`` cannot be an anonymousId (1 to 1,000 characters), or None when it can.

    Args:
        value: The anonymousId as received.
        name: The field that carried it, for the sentence.
    """
    if not value:
        return (
            f"{name} is an empty string; an anonymousId has 1 to 1,000 characters "
            "(leave the field out for a call that carries only a userId)."
        )
    if len(value) > MAX_ANONYMOUS_ID_CHARS:
        return (
            f"{name} has {len(value):,} characters; an anonymousId has 1 to 1,000 characters "
            "(the same limit on the webhook, the Tracking API and the tag's visitors route)."
        )
    return None
