"""Where a scenario runs: in this process, or against a live ``harness serve``.

Both drivers speak HTTP to the two fakes, so a step gets the same status and code either
way; only how time moves differs (in-process the harness restarts at the scenario's start;
live, the server's manual clock must not be past it). In-process, time moves either through
the manual clock's control routes (the default) or with freezegun: then the scenario runs
inside ``freeze_time(start)``, each ``at``/``advance`` step moves freezegun, and the
harness's clock follows it (:class:`~harness.core.freezegun_clock.FreezegunClock`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec
import requests

from harness.core.clock import ManualClock, format_instant
from harness.core.codes import CommandCode, status_of
from harness.core.errors import HarnessError
from harness.core.freezegun_clock import FreezegunClock
from harness.runtime.asgi import AsgiClient, Reply
from harness.runtime.requests_routing import forward_to, route_requests
from harness.runtime.server import live_session
from harness.runtime.stack import Harness

Fake = Literal["abtasty", "segment"]
ClockDriver = Literal["manual", "freezegun"]
"""How an in-process scenario moves time: the manual clock's routes, or freezegun."""
ADMIN_PREFIXES = ("/api/", "/_harness/", "/_segment/")
IN_PROCESS_SEGMENT = "http://segment.harness.invalid"
"""The host that in-process playback routes to the fake Segment (``.invalid`` never resolves)."""


class Driver(Protocol):
    """Sends a scenario's requests to the fakes."""

    mode: str

    def begin(self, start: datetime) -> Reply | None:
        """Get the fakes ready for a scenario starting at ``start``; a reply means it failed."""
        ...

    def finish(self) -> None:
        """The scenario is over (stop what :meth:`begin` started)."""
        ...

    def set_clock(self, when: datetime) -> Reply:
        """Move the shared clock to ``when``, as ``PUT /_harness/clock`` answers it."""
        ...

    def advance_clock(self, seconds: float) -> Reply:
        """Move the shared clock forward, as ``POST /_harness/clock/advance`` answers it."""
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
    """Both fakes in this process: a harness and its apps, built once and restarted per scenario.

    Args:
        clock: ``manual`` moves time with the control routes; ``freezegun`` plays each
            scenario inside ``freeze_time(start, real_asyncio=True)`` and moves freezegun.
    """

    def __init__(self, clock: ClockDriver = "manual") -> None:
        if clock not in ("manual", "freezegun"):
            raise ValueError(f"clock {clock!r}: use 'manual' or 'freezegun'")
        self.clock = clock
        self.mode = "in-process" if clock == "manual" else "in-process, freezegun"
        self.harness = Harness(ManualClock() if clock == "manual" else FreezegunClock())
        self._clients: dict[str, AsgiClient] = {
            "abtasty": AsgiClient(self.harness.abtasty_app()),
            "segment": AsgiClient(self.harness.segment_app()),
        }
        self._freezer: Any = None
        self._frozen: Any = None

    def begin(self, start: datetime) -> Reply | None:
        """Wipe everything and restart the clock at ``start`` (and freeze time there)."""
        self.finish()
        self.harness.restart(start)
        if self.clock == "freezegun":
            try:
                from freezegun import freeze_time
            except ImportError:  # pragma: no cover - freezegun is in the test extra
                raise HarnessError(
                    CommandCode.INVALID_ARGUMENTS,
                    "Playing with freezegun needs it installed: pip install freezegun.",
                ) from None
            self._freezer = freeze_time(start, real_asyncio=True)
            self._frozen = self._freezer.start()
        return None

    def finish(self) -> None:
        """Stop freezegun if this driver started it."""
        if self._freezer is not None:
            self._freezer.stop()
            self._freezer = self._frozen = None

    def set_clock(self, when: datetime) -> Reply:
        """Move the clock: through ``PUT /_harness/clock``, or by moving freezegun."""
        if self._frozen is None:
            return self.call(
                "abtasty", "PUT", "/_harness/clock", json={"now": format_instant(when)}
            )
        return self._move_freezegun(lambda probe: probe.move_to(when))

    def advance_clock(self, seconds: float) -> Reply:
        """Advance the clock: through ``POST /_harness/clock/advance``, or by ticking freezegun."""
        if self._frozen is None:
            return self.call(
                "abtasty", "POST", "/_harness/clock/advance", json={"seconds": seconds}
            )
        return self._move_freezegun(lambda probe: probe.advance(seconds))

    def _move_freezegun(self, move: Callable[[ManualClock], None]) -> Reply:
        # A move the manual clock would refuse (backwards, out of range) is refused the same
        # way, with its own error; freezegun moves only for a move the manual clock takes.
        probe = ManualClock(self.harness.clock.now())
        try:
            move(probe)
        except HarnessError as error:
            body = msgspec.json.encode({"code": error.code, "message": error.message})
            return Reply(status_of(error.code), {"content-type": "application/json"}, body)
        self._frozen.move_to(probe.now())
        return self.call("abtasty", "GET", "/_harness/clock")  # the clock follows: retries run

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
        """Route ``requests`` calls to an in-process host with ``responses``: no socket needed.

        The route joins the ``RequestsMock`` already active, if any (one mock, never two).
        """
        with route_requests([IN_PROCESS_SEGMENT], forward_to(self._clients["segment"])):
            yield IN_PROCESS_SEGMENT

    def close(self) -> None:
        """Stop freezegun if it is running and release the private event loops."""
        self.finish()
        for client in self._clients.values():
            client.close()


_shared = threading.local()


def shared_in_process_driver(clock: ClockDriver = "manual") -> InProcessDriver:
    """One in-process driver per thread and clock (building the apps is the expensive part)."""
    drivers: dict[str, InProcessDriver] | None = getattr(_shared, "drivers", None)
    if drivers is None:
        drivers = _shared.drivers = {}
    if clock not in drivers:
        drivers[clock] = InProcessDriver(clock)
    return drivers[clock]


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
        self.session = live_session()
        self.admin_token = admin_token
        self.timeout = timeout
        self.restart = restart

    def begin(self, start: datetime) -> Reply | None:
        """Move the server's manual clock to ``start`` (or restart the server there)."""
        if self.restart:
            reply = self.call(
                "abtasty", "POST", "/_harness/restart", json={"now": format_instant(start)}
            )
        else:
            reply = self.call(
                "abtasty", "PUT", "/_harness/clock", json={"now": format_instant(start)}
            )
        return None if reply.status == 200 else reply

    def finish(self) -> None:
        """Nothing to stop: the server keeps running."""

    def set_clock(self, when: datetime) -> Reply:
        """``PUT /_harness/clock``."""
        return self.call("abtasty", "PUT", "/_harness/clock", json={"now": format_instant(when)})

    def advance_clock(self, seconds: float) -> Reply:
        """``POST /_harness/clock/advance``."""
        return self.call("abtasty", "POST", "/_harness/clock/advance", json={"seconds": seconds})

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
