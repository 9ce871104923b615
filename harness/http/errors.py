"""The one place where error codes become HTTP statuses.

Every error leaves as ``{"code": ..., "message": ...}``; nothing a client sends can get a
5xx (the one deliberate exception is the webhook's 501 ``unsupported_type``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap, HTTPResponseStartEvent, Send

from harness.core.codes import AUTH_CHALLENGES, STATUS_BY_CODE, ErrorCode
from harness.core.errors import HarnessError

logger = logging.getLogger("harness.http")

CRASHES_STATE = "crashes"
"""The app state key of the :class:`CrashLog` an app records its crashes in, if any."""

_CODE_BY_HTTP_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_BODY,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
    415: ErrorCode.INVALID_BODY,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(
    code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    """The JSON error response for a code, with its status from the one table."""
    status = STATUS_BY_CODE[code]
    all_headers = dict(headers or {})
    if code in AUTH_CHALLENGES:
        all_headers["WWW-Authenticate"] = AUTH_CHALLENGES[code]
    if code == ErrorCode.RATE_LIMITED:
        all_headers["Retry-After"] = "1"
    return Response({"code": code, "message": message}, status_code=status, headers=all_headers)


class CrashLog:
    """The unexpected exceptions the fakes' apps turned into 500 answers, kept to re-raise.

    A crash inside a fake is a bug in the harness (or in something a test patched into it),
    never the client's fault; the client sees ``internal_error``, and the test that made the
    request should fail with the original exception and traceback, as pytest-httpserver's
    ``check_assertions`` does. The apps record here; :meth:`check` raises; the pytest plugin
    calls it after each test that used the harness.

    Thread-safe: a uvicorn server thread records while the test thread checks. Bounded: a
    long-running ``harness serve`` keeps the first ``limit`` crashes and counts the rest.

    Args:
        limit: Crashes kept until they are checked or cleared.
    """

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._crashes: list[BaseException] = []
        self._dropped = 0
        self._lock = threading.Lock()

    def record(self, crash: BaseException) -> None:
        """Keep one crash (with its traceback) until it is checked or cleared."""
        with self._lock:
            if len(self._crashes) < self.limit:
                self._crashes.append(crash)
            else:
                self._dropped += 1

    def __len__(self) -> int:
        """Crashes recorded and not yet checked or cleared (those kept)."""
        with self._lock:
            return len(self._crashes)

    def __iter__(self) -> Iterator[BaseException]:
        """The crashes kept, oldest first, without consuming them."""
        with self._lock:
            return iter(list(self._crashes))

    def take(self) -> list[BaseException]:
        """Every crash kept, oldest first; the log is empty afterwards."""
        with self._lock:
            crashes, self._crashes = self._crashes, []
            dropped, self._dropped = self._dropped, 0
        if crashes and dropped:
            crashes[-1].add_note(f"... and {dropped} more crash(es) beyond the first {self.limit}.")
        return crashes

    def clear(self) -> None:
        """Forget every crash (a test that expected them and has seen the 500 answers)."""
        self.take()

    def check(self) -> None:
        """Raise the first crash, with its original traceback, and consume every crash.

        Later crashes are named in notes on the first (``add_note``), with their tracebacks.

        Raises:
            BaseException: The first unexpected exception a fake's app met since the log was
                last checked or cleared.
        """
        __tracebackhide__ = True  # pytest shows the crash's own frames, not this one
        crashes = self.take()
        if not crashes:
            return
        first, *later = crashes
        first.add_note("A fake crashed while answering a request (its client got a 500).")
        for crash in later:
            first.add_note("It crashed again later:\n" + describe_crash(crash))
        raise first


def describe_crash(crash: BaseException) -> str:
    """One crash as Python prints it: the traceback, the exception and its notes."""
    return "".join(traceback.format_exception(crash)).rstrip()


def _harness_error(request: Request[Any, Any, Any], exc: HarnessError) -> Response[Any]:
    if not isinstance(exc.code, ErrorCode):  # a command-line failure raised under HTTP: a bug
        return _unexpected(request, exc)
    return error_response(exc.code, exc.message)


def _is_undecodable(detail: str) -> bool:
    return any(sign in detail for sign in ("JSON is malformed", "truncated", "decode", "UTF-8"))


def _validation_message(exc: ValidationException) -> tuple[ErrorCode, str]:
    detail = str(exc.detail)
    if _is_undecodable(detail):
        return ErrorCode.INVALID_JSON, "The body is not valid UTF-8 JSON; send one JSON object."
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = []
    for item in extra:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or "body"
            problems.append(f"{where}: {item.get('message', 'invalid')}")
    if problems:
        return ErrorCode.INVALID_BODY, "The request is not what this route expects: " + "; ".join(
            problems
        ) + "."
    return ErrorCode.INVALID_BODY, f"The request is not what this route expects: {detail}."


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        code, message = _validation_message(exc)
        return error_response(code, message)
    status = exc.status_code
    if status == 404:
        return error_response(
            ErrorCode.NOT_FOUND,
            "There is no such route; see /schema for the routes this fake serves.",
        )
    if status == 405:
        return error_response(
            ErrorCode.METHOD_NOT_ALLOWED, "This route does not take that HTTP method; see /schema."
        )
    if status == 413:
        return error_response(
            ErrorCode.BODY_TOO_LARGE, "The request body is larger than this route accepts."
        )
    if status >= 500:
        logger.error("server error: %s", exc.detail)
        _record(request, exc)
        return error_response(
            ErrorCode.INTERNAL_ERROR, "The fake failed; please report this with the request."
        )
    if status == 400 and _is_undecodable(str(exc.detail)):
        return error_response(
            ErrorCode.INVALID_JSON,
            f"The body is not valid UTF-8 JSON ({exc.detail}); send one JSON object.",
        )
    code = _CODE_BY_HTTP_STATUS.get(status, ErrorCode.INVALID_BODY)
    return Response(
        {"code": code, "message": str(exc.detail)}, status_code=status, headers=exc.headers or {}
    )


def _too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    return error_response(
        ErrorCode.INVALID_JSON, "The body is nested too deeply to read; flatten it."
    )


def _record(request: Request[Any, Any, Any], exc: BaseException) -> None:
    crashes = request.app.state.get(CRASHES_STATE)
    if isinstance(crashes, CrashLog):
        crashes.record(exc)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unexpected error", exc_info=exc)
    _record(request, exc)
    return error_response(
        ErrorCode.INTERNAL_ERROR, "The fake failed; please report this with the request."
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HarnessError: _harness_error,
    HTTPException: _http_exception,
    RecursionError: _too_deep,
    Exception: _unexpected,
}


async def send_error(send: Send, code: ErrorCode, message: str) -> None:
    """Answer an ASGI request with the JSON error for ``code`` (for middleware, before routing)."""
    body = msgspec.json.encode({"code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code in AUTH_CHALLENGES:
        headers.append((b"www-authenticate", AUTH_CHALLENGES[code].encode()))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": STATUS_BY_CODE[code],
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
