"""The inspector's guard: with an admin token, ask for it once and keep a session cookie.

The cookie holds an expiry and an HMAC of it keyed by the admin token: nothing is kept on
the server, every worker of a shared fake accepts it, and it stops working when the server
is started with another token. It is ``HttpOnly`` (no script reads it) and
``SameSite=Strict`` (no other site's page sends it); forms that change state also refuse
requests that come from another origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie

COOKIE = "harness_inspector"
COOKIE_PATH = "/_inspector"
SESSION_SECONDS = 12 * 3600


class SessionGuard:
    """Decides who may see the inspector.

    Args:
        admin_token: The server's admin token; None lets everyone in (loopback only).
        wall_clock: Seconds since the epoch, for session expiry (real time, never the
            fake's clock: moving simulated time must not log anyone out).
    """

    def __init__(
        self, admin_token: str | None, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.admin_token = admin_token
        self._time = wall_clock

    @property
    def required(self) -> bool:
        """Whether a token is needed at all."""
        return self.admin_token is not None

    def _sign(self, expires: int) -> str:
        assert self.admin_token is not None
        key = self.admin_token.encode()
        return hmac.new(key, f"inspector-session:{expires}".encode(), hashlib.sha256).hexdigest()

    def token_matches(self, supplied: str) -> bool:
        """Whether ``supplied`` is the admin token (compared in constant time)."""
        if self.admin_token is None:
            return True
        return secrets.compare_digest(supplied.encode(), self.admin_token.encode())

    def new_cookie(self) -> Cookie:
        """A session cookie valid for ``SESSION_SECONDS``."""
        expires = int(self._time()) + SESSION_SECONDS
        return Cookie(
            key=COOKIE,
            value=f"{expires}.{self._sign(expires)}",
            path=COOKIE_PATH,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
        )

    @staticmethod
    def cleared_cookie() -> Cookie:
        """A cookie that ends the session."""
        return Cookie(
            key=COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True, samesite="strict"
        )

    def admits(self, request: Request[Any, Any, Any]) -> bool:
        """Whether the request may see the inspector: a live session or a Bearer token."""
        if self.admin_token is None:
            return True
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(credentials.strip()):
            return True
        value = request.cookies.get(COOKIE, "")
        expires, _, signature = value.partition(".")
        if not expires.isdigit() or int(expires) < self._time():
            return False
        return secrets.compare_digest(signature.encode(), self._sign(int(expires)).encode())


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """Whether a state-changing request comes from the inspector's own pages.

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` with form posts; a request without
    either (a script, curl) is not a cross-site page and passes.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def safe_next(target: str | None) -> str:
    """Where to go after logging in or posting a form: only a path of the inspector."""
    if (
        target
        and target.startswith(COOKIE_PATH)
        and not target.startswith("//")
        and "\\" not in target
        and "\n" not in target
        and "\r" not in target
    ):
        return target
    return COOKIE_PATH
