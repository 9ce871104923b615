"""Request limits enforced before routing, answered in the fakes' own JSON."""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from harness.core.codes import ErrorCode
from harness.http.errors import send_error

MAX_HEADER_BYTES = 64 * 1024
"""The largest header block the fakes read (uvicorn is configured to pass up to 1 MB to them)."""


def header_limit_middleware(max_bytes: int = MAX_HEADER_BYTES) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware answering ``431 headers_too_large`` for a header block over ``max_bytes``."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                size = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))
                if size > max_bytes:
                    await send_error(
                        send,
                        ErrorCode.HEADERS_TOO_LARGE,
                        f"The request headers take {size:,} bytes; the fakes read at most {max_bytes:,}.",
                    )
                    return
            await app(scope, receive, send)

        return limited

    return middleware
