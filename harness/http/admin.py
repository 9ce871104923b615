"""The admin token: when set, setup and control-plane routes need ``Bearer <token>``."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from harness.core.codes import ErrorCode
from harness.core.credentials import read_authorization
from harness.http.errors import send_error

PROTECTED_PREFIXES = ("/api/", "/_harness/", "/_segment/")


def admin_token_middleware(token: str | None) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware refusing protected routes without ``Authorization: Bearer <token>``.

    With ``token`` None it lets everything through. The webhook and the Tracking API keep
    their own key auth and are never protected by the admin token.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        if token is None:
            return app
        expected = token.encode()

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and scope.get("path", "").startswith(
                PROTECTED_PREFIXES
            ):
                supplied = dict(scope.get("headers", [])).get(b"authorization")
                if supplied is None:
                    await send_error(
                        send,
                        ErrorCode.MISSING_ADMIN_TOKEN,
                        "This server was started with --admin-token: send Authorization: Bearer <token>.",
                    )
                    return
                credentials = read_authorization(supplied.decode("latin-1"))
                problem = credentials.problem
                if problem is None and credentials.scheme != "Bearer":
                    problem = f"the scheme is {credentials.scheme}, not Bearer"
                if problem is not None:
                    await send_error(
                        send,
                        ErrorCode.INVALID_ADMIN_TOKEN,
                        f"The Authorization header is not 'Bearer <token>': {problem} "
                        "(the header is not repeated here: it may hold the token).",
                    )
                    return
                assert credentials.token is not None
                if not secrets.compare_digest(credentials.token.encode("latin-1"), expected):
                    await send_error(
                        send,
                        ErrorCode.INVALID_ADMIN_TOKEN,
                        "The admin token is wrong; send Authorization: Bearer <token>, the token "
                        "harness serve was started with.",
                    )
                    return
            await app(scope, receive, send)

        return guarded

    return middleware
