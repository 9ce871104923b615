"""``live_session``: a kept-alive connection the server closes as a request goes out."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from harness.runtime.server import free_port, live_session

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head


@contextmanager
def closing_as_the_second_request_arrives() -> Iterator[tuple[str, list[bytes]]]:
    """Answers one request on a connection, then resets it as the next one arrives unread
    (what uvicorn's keep-alive timeout does at the wrong instant); later connections are
    answered. Yields its URL and the request lines it answered."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.2)
    answered: list[bytes] = []
    stop = threading.Event()

    def next_connection() -> socket.socket | None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                conn.settimeout(10)
                return conn
        return None

    def serve() -> None:
        conn = next_connection()
        if conn is None:
            return
        answered.append(_read_request(conn).split(b"\r\n")[0])
        conn.sendall(OK)
        conn.recv(1, socket.MSG_PEEK)  # the next request is here, unread
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # closed with a request unread: RST
        while (conn := next_connection()) is not None:
            answered.append(_read_request(conn).split(b"\r\n")[0])
            conn.sendall(OK)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", answered
    finally:
        stop.set()
        thread.join(15)
        listener.close()


def test_live_session_sends_an_idempotent_request_again_on_a_reset_kept_alive_connection() -> None:
    with closing_as_the_second_request_arrives() as (url, answered):
        session = live_session()
        assert session.get(f"{url}/first", timeout=10).text == "ok"
        assert session.put(f"{url}/_harness/faults", json={}, timeout=10).text == "ok"
    assert answered == [b"GET /first HTTP/1.1", b"PUT /_harness/faults HTTP/1.1"]


def test_live_session_never_sends_a_post_twice() -> None:
    with closing_as_the_second_request_arrives() as (url, answered):
        session = live_session()
        assert session.get(f"{url}/first", timeout=10).text == "ok"
        with pytest.raises(requests.ConnectionError):
            session.post(f"{url}/v1/identify", json={"messageId": "m-1"}, timeout=10)
    assert answered == [b"GET /first HTTP/1.1"]
