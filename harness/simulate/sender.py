"""POSTing a simulation's deliveries to one receiver on a persistent connection.

``requests`` costs about a millisecond of client CPU a POST here (sessions, hooks, the
environment looked up per request, urllib3's pool) and writes headers and body in two
``send`` calls; this sender writes each request in one ``send`` on one kept-alive
``http.client`` connection. Where the environment routes the URL through a proxy, the
run uses a ``requests`` session instead (see :func:`keep_alive_session`).
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from harness.segment import TransportResponse

STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)
"""What a request on a kept-alive connection the receiver has closed meanwhile raises."""


def keep_alive_session(url: str, connections: int = 4) -> requests.Session:
    """A ``requests`` session for one receiver that reads the environment once, not per request.

    ``requests`` looks up proxies (``HTTP_PROXY``, ``NO_PROXY``...), the CA bundle and
    ``.netrc`` on every request of a session that trusts the environment. This session
    takes the proxies and CA bundle for ``url`` once; ``.netrc`` is not read (the calls
    set their own ``Authorization``).
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def uses_proxy(url: str) -> bool:
    """Whether the environment sends ``url`` through a proxy (``HTTP_PROXY``... and ``NO_PROXY``)."""
    return bool(requests.utils.get_environ_proxies(url))


class KeepAliveSender:
    """A transport to one receiver (``http`` or ``https``) on one persistent connection.

    Each request goes out in one ``sendall`` (request line, headers and body together),
    and ``http.client`` parses the answer. Not thread-safe: one per sending thread. A
    timeout or refused connection answers ``status=None`` (Segment retries those), as the
    ``requests`` transport does. When a kept-alive connection turns out closed by the
    receiver, the request is sent once more on a new connection (what HTTP clients do; at
    worst the receiver sees a duplicate, which Segment's at-least-once delivery allows).

    Args:
        url: The receiver's URL (every post goes to it).
        timeout: Seconds to connect and to wait for an answer.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url[:80]!r} is not an http(s) URL")
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self._port == (443 if self._https else 80)
        host = parts.netloc.rsplit("@", 1)[-1] if not default_port else parts.hostname
        if ":" in self._host and not host.startswith("["):
            host = f"[{self._host}]"  # an IPv6 literal on the default port
        self._start = f"POST {target} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1")
        self._heads: dict[tuple[tuple[str, str], ...], bytes] = {}
        self._socket: socket.socket | None = None
        self._used = False  # the connection has carried a request already

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self._host, self._port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._https:
            cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            context = ssl.create_default_context(cafile=cafile)
            sock = context.wrap_socket(sock, server_hostname=self._host)
        self._socket, self._used = sock, False
        return sock

    def close(self) -> None:
        """Close the connection (a later post opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _head(self, headers: dict[str, str]) -> bytes:
        """The request line and headers, up to the body's length (memoised per header set)."""
        key = tuple(headers.items())
        head = self._heads.get(key)
        if head is None:
            lines = []
            for name, value in key:
                if any(c in name + value for c in "\r\n\0"):
                    raise ValueError(f"header {name!r} has a line break")
                lines.append(f"{name}: {value}\r\n")
            head = self._heads[key] = self._start + "".join(lines).encode("latin-1")
        return head

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """POST ``body`` to the receiver; its answer, or ``status=None`` and why not."""
        request = self._head(headers) + b"Content-Length: %d\r\n\r\n" % len(body) + body
        for _ in range(2):
            reused = self._socket is not None and self._used
            try:
                sock = self._socket or self._connect()
                sock.sendall(request)
                response = http.client.HTTPResponse(sock, method="POST")
                response.begin()
                text = response.read().decode("utf-8", "replace")
            except TimeoutError:
                self.close()
                return TransportResponse(None, "", "timeout")
            except STALE_CONNECTION_ERRORS as error:
                self.close()
                if reused:
                    continue
                return TransportResponse(None, "", f"connection failed: {type(error).__name__}")
            except (OSError, http.client.HTTPException) as error:
                self.close()
                return TransportResponse(None, "", f"connection failed: {type(error).__name__}")
            self._used = True
            if response.will_close:
                self.close()
            return TransportResponse(response.status, text)
        return TransportResponse(None, "", "connection failed: closed by the receiver")
