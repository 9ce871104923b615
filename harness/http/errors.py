"""The one place where error codes become HTTP statuses.

Every error leaves as ``{"code": ..., "message": ...}``; nothing a client sends can get a
5xx (the one deliberate exception is the webhook's 501 ``unsupported_type``).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap, HTTPResponseStartEvent, Send

from harness.core.codes import AUTH_CHALLENGES, STATUS_BY_CODE
from harness.core.errors import HarnessError

logger = logging.getLogger("harness.http")

_CODE_BY_HTTP_STATUS = {
    400: "invalid_body",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "invalid_body",
    429: "rate_limited",
}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    """The JSON error response for a code, with its status (400 for an unknown code)."""
    status = STATUS_BY_CODE.get(code, 400)
    all_headers = dict(headers or {})
    if code in AUTH_CHALLENGES:
        all_headers["WWW-Authenticate"] = AUTH_CHALLENGES[code]
    if code == "rate_limited":
        all_headers["Retry-After"] = "1"
    return Response({"code": code, "message": message}, status_code=status, headers=all_headers)


def _harness_error(_: Request[Any, Any, Any], exc: HarnessError) -> Response[Any]:
    return error_response(exc.code, exc.message)


def _is_undecodable(detail: str) -> bool:
    return any(sign in detail for sign in ("JSON is malformed", "truncated", "decode", "UTF-8"))


def _validation_message(exc: ValidationException) -> tuple[str, str]:
    detail = str(exc.detail)
    if _is_undecodable(detail):
        return "invalid_json", "The body is not valid UTF-8 JSON; send one JSON object."
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = []
    for item in extra:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or "body"
            problems.append(f"{where}: {item.get('message', 'invalid')}")
    if problems:
        return "invalid_body", "The request is not what this route expects: " + "; ".join(
            problems
        ) + "."
    return "invalid_body", f"The request is not what this route expects: {detail}."


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        code, message = _validation_message(exc)
        return error_response(code, message)
    status = exc.status_code
    if status == 404:
        return error_response(
            "not_found", "There is no such route; see /schema for the routes this fake serves."
        )
    if status == 405:
        return error_response(
            "method_not_allowed", "This route does not take that HTTP method; see /schema."
        )
    if status == 413:
        return error_response(
            "body_too_large", "The request body is larger than this route accepts."
        )
    if status >= 500:
        logger.error("server error: %s", exc.detail)
        return Response(
            {
                "code": "internal_error",
                "message": "The fake failed; please report this with the request.",
            },
            status_code=500,
        )
    if status == 400 and _is_undecodable(str(exc.detail)):
        return error_response(
            "invalid_json",
            f"The body is not valid UTF-8 JSON ({exc.detail}); send one JSON object.",
        )
    code = _CODE_BY_HTTP_STATUS.get(status, "invalid_body")
    return Response(
        {"code": code, "message": str(exc.detail)}, status_code=status, headers=exc.headers or {}
    )


def _too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    return error_response("invalid_json", "The body is nested too deeply to read; flatten it.")


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unexpected error", exc_info=exc)
    return Response(
        {
            "code": "internal_error",
            "message": "The fake failed; please report this with the request.",
        },
        status_code=500,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HarnessError: _harness_error,
    HTTPException: _http_exception,
    RecursionError: _too_deep,
    Exception: _unexpected,
}


async def send_error(send: Send, code: str, message: str) -> None:
    """Answer an ASGI request with the JSON error for ``code`` (for middleware, before routing)."""
    body = msgspec.json.encode({"code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code in AUTH_CHALLENGES:
        headers.append((b"www-authenticate", AUTH_CHALLENGES[code].encode()))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": STATUS_BY_CODE.get(code, 400),
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
