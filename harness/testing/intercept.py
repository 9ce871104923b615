"""Intercept Segment's real Tracking API hosts and answer from the in-process fake Segment.

Application code sends to ``https://api.segment.io`` (analytics-python's default host) or to
the EU endpoint ``https://events.eu1.segmentapis.com``, through analytics-python or plain
``requests``. Under :func:`intercept_segment` (or the ``segment_intercept`` fixture) every
such call is answered by the fake Segment of a :class:`~harness.runtime.stack.Harness`, which
delivers to the fake AB Tasty as Segment would: the application's code and configuration stay
unchanged.

Write keys: a key a source of the fake Segment has goes to that source. Any other key (the
application's own, production one) is adopted by the intercept's source when it has one
(the ``simulated_segment`` fixture's, in pytest), so its calls are delivered to that source's
AB Tasty destination; without a source, an unknown key gets the fake's 401
``invalid_write_key``, as a wrong key would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
import requests
import responses

from harness.core.errors import HarnessError
from harness.runtime.asgi import AsgiClient
from harness.runtime.requests_routing import (
    Forward,
    HarnessRoute,
    URLPattern,
    forward_to,
    route_requests,
)
from harness.segment.tracking import write_key_of

if TYPE_CHECKING:
    from harness.runtime.stack import Harness

SEGMENT_HOSTS = ("https://api.segment.io", "https://events.eu1.segmentapis.com")
"""Segment's Tracking API: the default (Oregon) host, as analytics-python uses it, and the
EU (Dublin) endpoint that EU workspaces must use."""


@dataclass
class SegmentIntercept:
    """Segment's real hosts, answered by the fake Segment.

    Attributes:
        mock: The ``RequestsMock`` the routes live on (shared with the test's own mocks).
        hosts: The intercepted base URLs.
        source_id: The source that adopts unknown write keys (None: they are refused).
        adopted: Write keys adopted so far, last 4 characters only.
    """

    mock: responses.RequestsMock
    hosts: tuple[str, ...]
    source_id: str | None
    routes: list[HarnessRoute] = field(default_factory=list, repr=False)
    adopted: list[str] = field(default_factory=list)

    @property
    def calls(self) -> list[responses.Call]:
        """The intercepted calls, in order (requests and their fake Segment's answers)."""
        return [call for call in self.mock.calls if (call.request.url or "").startswith(self.hosts)]

    def pass_through(self, *prefixes: URLPattern) -> None:
        """Let calls to these URL prefixes (or patterns) reach the network for real.

        Every other call that no mock answers is refused by ``responses`` with a
        ConnectionError (its default); the prefixes are dropped when the intercept ends.
        """
        for prefix in prefixes:
            self.mock.add_passthru(prefix)


@contextmanager
def intercept_segment(
    harness: Harness,
    *,
    source_id: str | None = None,
    hosts: Sequence[str] = SEGMENT_HOSTS,
    passthrough: Sequence[URLPattern] = (),
    client: AsgiClient | None = None,
    mock: responses.RequestsMock | None = None,
) -> Iterator[SegmentIntercept]:
    """Answer every ``requests`` call to Segment's hosts from ``harness``'s fake Segment.

    Example (outside pytest)::

        harness = Harness(ManualClock(start))
        ...  # an account, a source delivering to it
        with intercept_segment(harness, source_id=source.id):
            run_the_app()  # analytics-python at its default host

    Args:
        harness: The fakes to answer from.
        source_id: Adopts every write key the fake Segment does not know (None: refuse them
            with 401 ``invalid_write_key``).
        hosts: Base URLs to intercept (default: :data:`SEGMENT_HOSTS`).
        passthrough: URL prefixes or patterns that still reach the network; anything else
            that no mock answers is refused (``responses``' rule).
        client: An in-process client of ``harness.segment_app()`` to reuse (one is built
            and closed otherwise).
        mock: The ``RequestsMock`` to register on; by default the active one, else
            ``responses``' default mock (started and stopped here).

    Yields:
        The intercept: its mock, the calls it answered, the write keys it adopted.

    Raises:
        HarnessError: ``source_not_found`` when ``source_id`` is not a source of the harness.
    """
    if source_id is not None:
        harness.segment.source(source_id)
    own_client = client is None
    app_client = client if client is not None else AsgiClient(harness.segment_app())
    intercept_hosts = tuple(host.rstrip("/") for host in hosts)
    adopted: list[str] = []
    forward = _adopting(harness, source_id, adopted, forward_to(app_client))
    try:
        with route_requests(intercept_hosts, forward, passthrough=passthrough, mock=mock) as (
            in_use,
            routes,
        ):
            yield SegmentIntercept(in_use, intercept_hosts, source_id, routes, adopted)
    finally:
        if own_client:
            app_client.close()


def _adopting(
    harness: Harness, source_id: str | None, adopted: list[str], forward: Forward
) -> Forward:
    """Adopt the request's write key into ``source_id`` before forwarding it."""

    def adopt_then_forward(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        if source_id is not None:
            write_key = _write_key(request)
            if write_key is not None and harness.segment.adopt_write_key(source_id, write_key):
                adopted.append(write_key[-4:])
        return forward(request)

    return adopt_then_forward


def _write_key(request: requests.PreparedRequest) -> str | None:
    """The write key a Tracking API request carries, if it can be read (else the fake decides)."""
    body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
    try:
        decoded = msgspec.json.decode(body) if body else {}
    except msgspec.DecodeError:
        decoded = {}
    try:
        return write_key_of(
            request.headers.get("Authorization"), decoded if isinstance(decoded, dict) else {}
        )
    except HarnessError:
        return None
