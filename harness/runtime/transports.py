"""How the fake Segment reaches a destination: in-process, over HTTP, or routed by URL."""

from __future__ import annotations

import msgspec
import requests

from harness.abtasty import AbTasty
from harness.core.clock import Clock
from harness.core.codes import status_of
from harness.core.errors import HarnessError
from harness.core.protocol import ABTASTY_WEBHOOK_PATH
from harness.http.journal import RequestJournal, record_call
from harness.runtime.server import fresh_session
from harness.segment.delivery import Transport, TransportResponse

INPROCESS_ABTASTY = "inprocess://abtasty" + ABTASTY_WEBHOOK_PATH
"""The endpoint of the fake AB Tasty running in the same process."""


class InProcessAbTasty:
    """Delivers straight to an :class:`AbTasty` service: no sockets, same answers as HTTP.

    Args:
        service: The fake AB Tasty.
        journal: When given, each call is filed there as the HTTP app would file it.
    """

    def __init__(self, service: AbTasty, journal: RequestJournal | None = None) -> None:
        self.service = service
        self.journal = journal

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Hand one message to the webhook logic."""
        authorization = headers.get("Authorization")
        account_id = self.service.key_owner(authorization)
        try:
            receipt = self.service.receive(authorization, body)
        except HarnessError as error:
            status, answer = status_of(error.code), {"code": error.code, "message": error.message}
        else:
            status, answer = 200, {"status": receipt.status}
            if receipt.warning:
                answer["warning"] = receipt.warning
        encoded = msgspec.json.encode(answer)
        if self.journal is not None:
            record_call(
                self.journal,
                self._clock(account_id),
                method="POST",
                path=ABTASTY_WEBHOOK_PATH,
                status=status,
                account_id=account_id,
                headers=list(headers.items()),
                body=body,
                response=encoded,
            )
        return TransportResponse(status, encoded.decode())

    def _clock(self, account_id: str | None) -> Clock:
        return self.service.clock_for(account_id)


class RequestsTransport:
    """Posts over HTTP with ``requests`` (so ``responses`` can route it in a test).

    Args:
        timeout: Seconds before a destination counts as timed out (Segment retries those).
        session: A session to reuse; by default a :func:`~harness.runtime.server.fresh_session`.
    """

    def __init__(self, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.timeout = timeout
        # A new connection after an idle pause: the fake AB Tasty (uvicorn) closes one idle
        # for 5 s, and a delivery sent on it at that instant would fail for no reason.
        self.session = session or fresh_session()

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """POST and report the answer; timeouts and refused connections are ``status=None``."""
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return TransportResponse(None, "", "timeout")
        except requests.RequestException as error:
            return TransportResponse(None, "", f"connection failed: {type(error).__name__}")
        return TransportResponse(response.status_code, response.text)


class RoutingTransport:
    """Sends each URL to the transport registered for its prefix, else to a default.

    Args:
        default: For every URL no route claims.
        routes: URL prefix -> transport.
    """

    def __init__(self, default: Transport, routes: dict[str, Transport] | None = None) -> None:
        self.default = default
        self.routes = dict(routes or {})

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Dispatch by URL prefix."""
        for prefix, transport in self.routes.items():
            if url.startswith(prefix):
                return transport.post(url, headers, body)
        return self.default.post(url, headers, body)
