"""Contract verification for integrators: check captured webhook requests offline.

An integrator whose own code plays Segment's part captures what it posts (JSON lines with
headers and body, or a HAR file from a proxy or browser) and runs ``harness verify`` in
CI. Every request is judged by the same rules the fake AB Tasty applies, and each
deviation is reported with the server's own code.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.abtasty.keys import basic_username
from harness.abtasty.spec import parse_webhook_message
from harness.core.codes import Code, CommandCode, ErrorCode, status_of
from harness.core.errors import HarnessError
from harness.core.protocol import ABTASTY_WEBHOOK_PATH, SEGMENT_USER_AGENT

MASKED = "****"


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    """One captured request and where it is in the capture (line, or HAR entry, from 1)."""

    position: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Finding:
    """A request the fake would refuse (``code``), or a note that would not fail it."""

    position: int
    status: int
    code: str
    message: str
    message_id: str | None = None


@dataclass(slots=True)
class VerifyReport:
    """The verdict on a capture."""

    requests: int = 0
    accepted: int = 0
    deviations: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    masked_keys: int = 0
    """Requests whose key was masked in the capture (``****abcd``): their authentication
    could not be checked."""

    @property
    def passed(self) -> bool:
        """No request would be refused."""
        return not self.deviations

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "passed": self.passed,
            "authentication_checked": self.requests - self.masked_keys,
            "masked_keys": self.masked_keys,
            "deviations": [vars_of(f) for f in self.deviations],
            "notes": [vars_of(f) for f in self.notes],
        }


def vars_of(finding: Finding) -> dict[str, Any]:
    """A finding as plain data."""
    return {
        "position": finding.position,
        "status": finding.status,
        "code": finding.code,
        "message": finding.message,
        "message_id": finding.message_id,
    }


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return json.dumps(body, separators=(",", ":")).encode()


def read_capture(path: Path) -> list[CapturedRequest]:
    """Captured requests from JSON lines or a HAR file.

    Raises:
        HarnessError: ``invalid_capture`` naming the line or entry that cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HarnessError(CommandCode.INVALID_CAPTURE, f"Cannot read {path}: {error}.") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and '"log"' in stripped[:200]:
        try:
            return _from_har(json.loads(text))
        except (ValueError, KeyError, TypeError) as error:
            raise HarnessError(
                CommandCode.INVALID_CAPTURE, f"{path} looks like HAR but cannot be read: {error}."
            ) from None
    requests: list[CapturedRequest] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
            requests.append(
                CapturedRequest(
                    number,
                    str(entry.get("method", "POST")).upper(),
                    str(entry.get("path", ABTASTY_WEBHOOK_PATH)),
                    headers,
                    _body_bytes(entry.get("body")),
                )
            )
        except (ValueError, AttributeError) as error:
            raise HarnessError(
                CommandCode.INVALID_CAPTURE,
                f"{path}:{number}: each line must be a JSON object with headers and body ({error}).",
            ) from None
    return requests


def _from_har(har: dict[str, Any]) -> list[CapturedRequest]:
    captured = []
    for number, entry in enumerate(har["log"]["entries"], 1):
        request = entry["request"]
        path = urlsplit(request["url"]).path
        if request["method"].upper() != "POST" or not path.endswith(ABTASTY_WEBHOOK_PATH):
            continue
        headers = {h["name"].lower(): h["value"] for h in request.get("headers", [])}
        post = request.get("postData") or {}
        body = post.get("text", "")
        if post.get("encoding") == "base64":
            body = base64.b64decode(body)
        captured.append(
            CapturedRequest(
                number, "POST", path, headers, body if isinstance(body, bytes) else body.encode()
            )
        )
    return captured


def verify(requests: list[CapturedRequest], api_key: str | None = None) -> VerifyReport:
    """Judge each request as the fake AB Tasty's webhook would.

    Args:
        requests: The capture.
        api_key: The account's key, to check that requests carry it (masked keys are not checked).
    """
    report = VerifyReport(requests=len(requests))
    seen: Counter[str] = Counter()
    for request in requests:
        if MASKED in request.headers.get("authorization", ""):
            report.masked_keys += 1
        finding = _judge(request, api_key)
        if finding is not None:
            report.deviations.append(finding)
            continue
        report.accepted += 1
        message = json.loads(request.body)
        message_id = message.get("messageId")
        seen[message_id] += 1
        if seen[message_id] == 2:
            report.notes.append(
                Finding(
                    request.position,
                    200,
                    "duplicate",
                    "messageId sent again: stored once, as Segment dedups.",
                    message_id,
                )
            )
        if not message.get("anonymousId"):
            report.notes.append(
                Finding(
                    request.position,
                    200,
                    "no_anonymous_id",
                    "no anonymousId: stored, but it can never match a visitor.",
                    message_id,
                )
            )
        agent = request.headers.get("user-agent", "")
        if agent != SEGMENT_USER_AGENT:
            report.notes.append(
                Finding(
                    request.position,
                    200,
                    "user_agent",
                    f"User-Agent is {agent[:40]!r}; Segment sends '{SEGMENT_USER_AGENT}'.",
                    message_id,
                )
            )
    return report


def _judge(request: CapturedRequest, api_key: str | None) -> Finding | None:
    def refuse(code: Code, message: str) -> Finding:
        return Finding(request.position, status_of(code), code, message)

    if request.method != "POST":
        return refuse(
            ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} to the webhook; Segment posts."
        )
    authorization = request.headers.get("authorization")
    if authorization is not None and MASKED in authorization:
        # A masked capture: only the last 4 characters are left to compare.
        shown = authorization.rpartition(MASKED)[2].strip()
        if api_key is not None and shown and not api_key.endswith(shown):
            return refuse(
                ErrorCode.INVALID_API_KEY,
                f"The request carries a key ending {shown!r}; the account's ends {api_key[-4:]!r}.",
            )
    else:
        try:
            username = basic_username(authorization)
        except HarnessError as error:
            return refuse(error.code, error.message)
        if api_key is not None and username != api_key:
            return refuse(
                ErrorCode.INVALID_API_KEY, "The request carries another API key than the account's."
            )
    try:
        parse_webhook_message(request.body)
    except HarnessError as error:
        return refuse(error.code, error.message)
    return None
