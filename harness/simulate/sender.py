"""POSTing a simulation's deliveries to one receiver on a persistent connection.

``requests`` costs about a millisecond of client CPU a POST here (sessions, hooks, the
environment looked up per request, urllib3's pool) and writes headers and body in two
``send`` calls; this sender writes each request in one ``send`` on one kept-alive socket
and reads the answer with a small HTTP/1.x reader (:func:`read_answer`). Where the environment routes the URL through a proxy, the
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
    and :func:`read_answer` reads the answer. Not thread-safe: one per sending thread. A
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
                status, answer, will_close = read_answer(sock)
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
            if will_close:
                self.close()
            return TransportResponse(status, answer.decode("utf-8", "replace"))
        return TransportResponse(None, "", "connection failed: closed by the receiver")


def read_answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.x response to a POST: status, body, and whether the connection ends.

    ``http.client``'s reader costs a buffered file and an ``email`` header parser per
    answer (a fifth of a delivery's client time); this one splits the head itself and
    reads a ``Content-Length``, chunked or until-close body. 1xx answers are skipped.

    Raises:
        http.client.RemoteDisconnected: closed before an answer.
        http.client.HTTPException: not an HTTP answer, or cut short.
    """
    buffer = b""
    while True:
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65_536)
            if not chunk:
                if buffer:
                    raise http.client.IncompleteRead(buffer)
                raise http.client.RemoteDisconnected("closed without an answer")
            buffer += chunk
        lines = buffer[:end].split(b"\r\n")
        buffer = buffer[end + 4 :]
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise http.client.BadStatusLine(lines[0][:80].decode("latin-1"))
        status = int(code)
        if status >= 200:
            break
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    connection = fields.get(b"connection", b"").lower()
    will_close = b"close" in connection or (
        version == b"HTTP/1.0" and b"keep-alive" not in connection
    )
    if status in (204, 304):
        return status, b"", will_close
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        body, buffer = _read_chunked(sock, buffer)
        return status, body, will_close
    length = fields.get(b"content-length")
    if length is None:  # the body runs until the receiver closes
        while chunk := sock.recv(65_536):
            buffer += chunk
        return status, buffer, True
    if not length.isdigit():
        raise http.client.HTTPException(f"bad Content-Length {length[:20]!r}")
    size = int(length)
    while len(buffer) < size:
        chunk = sock.recv(max(65_536, size - len(buffer)))
        if not chunk:
            raise http.client.IncompleteRead(buffer, size - len(buffer))
        buffer += chunk
    return status, buffer[:size], will_close


def _read_chunked(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    """A chunked body (and what followed it) from ``buffer`` and the socket."""
    parts: list[bytes] = []
    while True:
        while (line_end := buffer.find(b"\r\n")) < 0:
            buffer += _more(sock, buffer)
        size_text = buffer[:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http.client.HTTPException(f"bad chunk size {size_text[:20]!r}") from None
        buffer = buffer[line_end + 2 :]
        if size == 0:
            while (trailer_end := buffer.find(b"\r\n")) != 0:  # trailers, then an empty line
                if trailer_end < 0:
                    buffer += _more(sock, buffer)
                else:
                    buffer = buffer[trailer_end + 2 :]
            return b"".join(parts), buffer[2:]
        while len(buffer) < size + 2:
            buffer += _more(sock, buffer)
        parts.append(buffer[:size])
        buffer = buffer[size + 2 :]


def _more(sock: socket.socket, buffer: bytes) -> bytes:
    chunk = sock.recv(65_536)
    if not chunk:
        raise http.client.IncompleteRead(buffer)
    return chunk
