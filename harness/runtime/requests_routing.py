"""Routing ``requests`` calls into an in-process fake with ``responses``, on one shared mock.

``responses`` patches ``requests`` once per active ``RequestsMock``; two active mocks shadow
each other. So the harness never starts a second one: it registers its routes on the mock
that is already active (the test's own ``RequestsMock``, or ``responses``' default mock
under ``@responses.activate``), and otherwise starts ``responses``' default mock, the one
the module-level ``responses.add(...)`` registers on. Either way the test's own mocks and
the harness's routes live side by side, and the harness removes only what it added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from harness.runtime.asgi import AsgiClient

URLPattern = str | re.Pattern[str]
Forward = Callable[[requests.PreparedRequest], tuple[int, dict[str, str], bytes]]
_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding"})


class HarnessRoute(responses.CallbackResponse):
    """A route the harness registered: never reported as an unfired expectation.

    A ``RequestsMock(assert_all_requests_are_fired=True)`` fails a test whose registered
    responses were not all called; the harness's routes are plumbing (the EU host is
    registered whether or not the app uses it), so they count as fired. Their real
    traffic is in ``calls``.
    """

    @property
    def call_count(self) -> int:
        """At least 1, so ``assert_all_requests_are_fired`` ignores this route."""
        return max(1, len(self.calls))


def active_requests_mock() -> responses.RequestsMock | None:
    """The ``RequestsMock`` currently patching ``requests``, if any."""
    send = requests.adapters.HTTPAdapter.send
    for cell in getattr(send, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, responses.RequestsMock):
            return value
    return None


@contextmanager
def shared_requests_mock() -> Iterator[responses.RequestsMock]:
    """The active ``RequestsMock``, else ``responses``' default mock, started until exit."""
    active = active_requests_mock()
    if active is not None:
        yield active
        return
    default = responses.mock
    default.start()
    try:
        yield default
    finally:
        default.stop(allow_assert=False)  # a no-op when @responses.activate stopped it first
        default.reset()


def forward_to(client: AsgiClient) -> Forward:
    """A ``responses`` callback that replays each request on an in-process app.

    Args:
        client: The app to answer (the path and query of the URL are kept, the host dropped).
    """

    def forward(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        reply = client.request(
            request.method or "GET",
            url.path or "/",
            content=bytes(body),
            headers=dict(request.headers),
            params=dict(parse_qsl(url.query, keep_blank_values=True)) or None,
        )
        headers = {k: v for k, v in reply.headers.items() if k not in _DROPPED_HEADERS}
        return reply.status, headers, reply.content

    return forward


@contextmanager
def route_requests(
    prefixes: Sequence[str],
    forward: Forward,
    *,
    passthrough: Sequence[URLPattern] = (),
    mock: responses.RequestsMock | None = None,
) -> Iterator[tuple[responses.RequestsMock, list[HarnessRoute]]]:
    """Send every ``requests`` call under one of ``prefixes`` (any method) to ``forward``.

    Args:
        prefixes: URL prefixes such as ``https://api.segment.io``.
        forward: Answers each routed request.
        passthrough: URL prefixes (or patterns) that reach the network for real; every
            other unrouted call is refused by ``responses`` with a ConnectionError.
        mock: Register on this mock; by default the active one or ``responses``' default.

    Yields:
        The mock in use and the routes registered on it (removed again on exit).
    """
    with _mock_in_use(mock) as in_use:
        saved_passthru = in_use.passthru_prefixes
        routes: list[HarnessRoute] = []
        for prefix in prefixes:
            pattern = re.compile(re.escape(prefix.rstrip("/")) + r"(/.*)?$")
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
                route = HarnessRoute(method, pattern, callback=forward)
                routes.append(in_use.add(route))  # type: ignore[arg-type]
        for allowed in passthrough:
            in_use.add_passthru(allowed)
        try:
            yield in_use, routes
        finally:
            registered = in_use.registered()
            for route in routes:
                if any(r is route for r in registered):
                    in_use.remove(route)
            in_use.passthru_prefixes = saved_passthru


@contextmanager
def _mock_in_use(mock: responses.RequestsMock | None) -> Iterator[responses.RequestsMock]:
    if mock is not None:
        yield mock
        return
    with shared_requests_mock() as shared:
        yield shared
