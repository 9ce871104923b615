"""Where a scenario runs: in this process, or against a live ``harness serve``.

Both drivers speak HTTP to the two fakes, so a step gets the same status and code either
way; only how time moves differs (in-process the harness restarts at the scenario's start;
live, the server's manual clock must not be past it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import requests
import responses

from harness.core.clock import ManualClock
from harness.runtime.asgi import AsgiClient, Reply
from harness.runtime.stack import Harness

Fake = Literal["abtasty", "segment"]
ADMIN_PREFIXES = ("/api/", "/_harness/", "/_segment/")
IN_PROCESS_SEGMENT = "http://segment.harness.invalid"
"""The host that in-process playback routes to the fake Segment (``.invalid`` never resolves)."""


class Driver(Protocol):
    """Sends a scenario's requests to the fakes."""

    mode: str

    def begin(self, start: datetime) -> Reply | None:
        """Get the fakes ready for a scenario starting at ``start``; a reply means it failed."""
        ...

    def call(
        self,
        fake: Fake,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        """One HTTP request to one fake."""
        ...

    def segment_host(self) -> AbstractContextManager[str]:
        """A base URL where code using ``requests`` (a real Segment library) reaches the fake Segment."""
        ...


class InProcessDriver:
    """Both fakes in this process: a harness and its apps, built once and restarted per scenario."""

    mode = "in-process"

    def __init__(self) -> None:
        self.harness = Harness(ManualClock())
        self._clients: dict[str, AsgiClient] = {
            "abtasty": AsgiClient(self.harness.abtasty_app()),
            "segment": AsgiClient(self.harness.segment_app()),
        }

    def begin(self, start: datetime) -> Reply | None:
        """Wipe everything and restart the clock at ``start``."""
        self.harness.restart(start)
        return None

    def call(
        self,
        fake: Fake,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        """One in-thread request."""
        return self._clients[fake].request(
            method, path, json=json, content=content, headers=headers, params=params
        )

    @contextmanager
    def segment_host(self) -> Iterator[str]:
        """Route ``requests`` calls to an in-process host with ``responses``: no socket needed."""
        client = self._clients["segment"]

        def forward(request: Any) -> tuple[int, dict[str, str], bytes]:
            parsed = urlsplit(request.url)
            body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
            reply = client.request(
                request.method, parsed.path, content=body, headers=dict(request.headers)
            )
            return (
                reply.status,
                {"Content-Type": reply.headers.get("content-type", "application/json")},
                reply.content,
            )

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_callback(
                responses.POST, re.compile(re.escape(IN_PROCESS_SEGMENT) + r"/.*"), callback=forward
            )
            yield IN_PROCESS_SEGMENT

    def close(self) -> None:
        """Release the private event loops."""
        for client in self._clients.values():
            client.close()


_shared = threading.local()


def shared_in_process_driver() -> InProcessDriver:
    """One in-process driver per thread (building the apps is the expensive part)."""
    driver: InProcessDriver | None = getattr(_shared, "driver", None)
    if driver is None:
        driver = _shared.driver = InProcessDriver()
    return driver


class LiveDriver:
    """A running ``harness serve``, reached over HTTP.

    Args:
        abtasty_url: The fake AB Tasty's base URL.
        segment_url: The fake Segment's base URL (default: AB Tasty's port + 1).
        admin_token: Sent as ``Bearer`` when the server requires one.
        timeout: Seconds per request.
        restart: Wipe the server and restart its clock for each scenario (``/_harness/restart``);
            otherwise each scenario's start must not be behind the server's clock.
    """

    mode = "live"

    def __init__(
        self,
        abtasty_url: str,
        segment_url: str | None = None,
        admin_token: str | None = None,
        timeout: float = 30.0,
        restart: bool = False,
    ) -> None:
        self.urls = {
            "abtasty": abtasty_url.rstrip("/"),
            "segment": (segment_url or _next_port(abtasty_url)).rstrip("/"),
        }
        self.session = requests.Session()
        self.admin_token = admin_token
        self.timeout = timeout
        self.restart = restart

    def begin(self, start: datetime) -> Reply | None:
        """Move the server's manual clock to ``start`` (or restart the server there)."""
        from harness.core.clock import format_instant

        if self.restart:
            reply = self.call(
                "abtasty", "POST", "/_harness/restart", json={"now": format_instant(start)}
            )
        else:
            reply = self.call(
                "abtasty", "PUT", "/_harness/clock", json={"now": format_instant(start)}
            )
        return None if reply.status == 200 else reply

    def unreachable(self) -> str | None:
        """Why the server cannot be reached (a sentence), or None when both fakes answer."""
        for fake in ("abtasty", "segment"):
            reply = self.call(fake, "GET", "/_harness/health")
            if reply.status == 0:
                name = "fake AB Tasty" if fake == "abtasty" else "fake Segment"
                return (
                    f"Cannot reach the {name} at {self.urls[fake]} ({reply.text.rpartition(': ')[2]}): "
                    "start it with harness serve --clock manual, or check --url and --segment-url."
                )
        return None

    @contextmanager
    def segment_host(self) -> Iterator[str]:
        """The live fake Segment's URL."""
        yield self.urls["segment"]

    def call(
        self,
        fake: Fake,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        """One request over the network (loopback)."""
        sent = dict(headers or {})
        if self.admin_token and path.startswith(ADMIN_PREFIXES):
            # Only admin routes get the token: the webhook and the Tracking API carry their own auth.
            sent.setdefault("Authorization", f"Bearer {self.admin_token}")
        try:
            response = self.session.request(
                method,
                self.urls[fake] + path,
                json=json if content is None else None,
                data=content,
                headers=sent,
                params=params,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            return Reply(
                0, {}, f"could not reach {self.urls[fake]}: {type(error).__name__}".encode()
            )
        return Reply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )


def _next_port(url: str) -> str:
    head, _, port = url.rstrip("/").rpartition(":")
    return f"{head}:{int(port) + 1}" if port.isdigit() else url
