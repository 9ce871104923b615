"""What both fake apps share: app settings and reading a body under a size limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from litestar import Request
from litestar.logging.config import LoggingConfig
from litestar.types import ControllerRouterHandler, Middleware

from harness.core.clock import Clock, instant_problem, parse_instant
from harness.core.codes import ErrorCode
from harness.core.errors import HarnessError
from harness.http.admin import admin_token_middleware
from harness.http.assets import openapi_config, swagger_ui_router
from harness.http.bodies import strict_body
from harness.http.errors import EXCEPTION_HANDLERS
from harness.http.journal import ClockFor, RequestJournal, journal_middleware
from harness.http.limits import header_limit_middleware

MAX_SETUP_BODY_BYTES = 1_000_000


def app_settings(title: str) -> dict[str, Any]:
    """Litestar settings common to the fakes: error mapping, OpenAPI at /schema, quiet logs."""
    return {
        "exception_handlers": EXCEPTION_HANDLERS,
        "openapi_config": openapi_config(title),
        "logging_config": LoggingConfig(
            # Plain stderr writes: Litestar's default "queue_listener" handler starts a thread
            # at every app start-up that never stops (a test session builds hundreds of apps).
            # LoggingConfig insists on a handler of that name, so it is a StreamHandler here.
            handlers={
                name: {"class": "logging.StreamHandler", "formatter": "standard"}
                for name in ("console", "queue_listener")
            },
            root={"level": "WARNING", "handlers": ["console"]},
            loggers={"litestar": {"level": "INFO", "handlers": ["console"], "propagate": False}},
            log_exceptions="debug",
            disable_stack_trace={400, 401, 403, 404, 405, 409, 413, 429, 501},
        ),
        "request_max_body_size": MAX_SETUP_BODY_BYTES,
        "before_request": strict_body,
    }


def common_routes() -> list[ControllerRouterHandler]:
    """Routes both fakes serve besides their own: the Swagger UI files behind ``/schema``."""
    return [swagger_ui_router()]


async def read_limited(
    request: Request[Any, Any, Any], limit: int, too_large: Callable[[int], HarnessError]
) -> bytes:
    """Read a request body, refusing it as soon as it passes ``limit`` bytes.

    A declared Content-Length over the limit is refused before a byte is read; a streamed
    body is refused as soon as it passes the limit, never read whole into memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > limit:
            raise too_large(limit)
        return await request.body()  # the server holds it to the declared length
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise too_large(limit)
    return bytes(chunks)


def body_instant(value: str, field: str) -> datetime:
    """A timestamp field of a request body, in UTC.

    Raises:
        HarnessError: ``invalid_body`` naming the field, for anything but ISO-8601 with an offset.
    """
    try:
        return parse_instant(value)
    except ValueError as problem:
        raise HarnessError(ErrorCode.INVALID_BODY, instant_problem(field, value, problem)) from None


def fake_middleware(
    journal: RequestJournal, clock: Clock | ClockFor, admin_token: str | None
) -> list[Middleware]:
    """Both fakes' middleware, outermost first: header limit, request journal, admin token."""
    return [
        header_limit_middleware(),
        journal_middleware(journal, clock),
        admin_token_middleware(admin_token),
    ]
