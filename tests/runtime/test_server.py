"""``live_session``: a kept-alive connection the server closes as a request goes out."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from harness.runtime import server
from harness.runtime.server import (
    ServeProcess,
    free_port,
    fresh_session,
    live_session,
    process_cpu_seconds,
    wait_until_serving,
)
from tests.support import socket_server

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
    answered: list[bytes] = []

    def serve(listener: socket.socket, stop: threading.Event) -> None:
        def next_connection() -> socket.socket | None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    conn, _ = listener.accept()
                    conn.settimeout(10)
                    return conn
            return None

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

    with socket_server(serve) as url:
        yield url, answered


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


@contextmanager
def keep_alive_server() -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    """Answers every request and keeps each connection open; yields its URL and, per
    request answered, the number of the connection it came on and its request line."""
    answered: list[tuple[int, bytes]] = []
    threads: list[threading.Thread] = []

    def serve_connection(number: int, conn: socket.socket) -> None:
        with conn:
            while head := _read_request(conn):
                answered.append((number, head.split(b"\r\n")[0]))
                conn.sendall(OK)

    def accept(listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                conn.settimeout(10)
                thread = threading.Thread(target=serve_connection, args=(len(threads), conn))
                threads.append(thread)
                thread.start()

    with socket_server(accept) as url:
        yield url, answered


def test_live_session_sends_on_a_new_connection_after_an_idle_pause() -> None:
    with keep_alive_server() as (url, answered):
        session = live_session(reuse_idle_seconds=0.05)
        session.get(f"{url}/first", timeout=10).raise_for_status()
        session.get(f"{url}/at-once", timeout=10).raise_for_status()
        threading.Event().wait(0.2)  # longer idle than the session reuses a connection
        session.post(f"{url}/v1/track", json={"messageId": "m-1"}, timeout=10).raise_for_status()
        session.close()
    assert answered == [
        (0, b"GET /first HTTP/1.1"),
        (0, b"GET /at-once HTTP/1.1"),
        (1, b"POST /v1/track HTTP/1.1"),
    ]


def test_fresh_session_never_sends_twice_on_a_reset_kept_alive_connection() -> None:
    with closing_as_the_second_request_arrives() as (url, answered):
        session = fresh_session()
        assert session.get(f"{url}/first", timeout=10).text == "ok"
        with pytest.raises(requests.ConnectionError):
            session.get(f"{url}/again", timeout=10)
    assert answered == [b"GET /first HTTP/1.1"]


def test_serve_process_relaunches_on_new_ports_when_a_picked_port_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        picks = iter([taken])  # picked free, then taken before harness serve binds it
        pick = server.free_port
        monkeypatch.setattr(
            server, "free_port", lambda host="127.0.0.1": next(picks, 0) or pick(host)
        )
        with ServeProcess() as served:
            assert taken not in (served.port, served.segment_port)
            assert requests.get(f"{served.url}/_harness/health", timeout=10).ok


def test_serve_process_never_moves_a_given_port_that_is_taken() -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            ServeProcess(port=taken).start()


SLOW_STARTER = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
began = time.process_time()
while time.process_time() - began < 1.0:  # a long start-up that keeps the CPU busy
    pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), BaseHTTPRequestHandler).handle_request()
"""


def test_wait_until_serving_waits_past_its_timeout_for_a_server_busy_starting() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SLOW_STARTER, str(port)])
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", 0.2, process, longest=120)
    finally:
        process.kill()
        process.wait(10)


def test_process_cpu_seconds_of_a_finished_process_is_unknown() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(30)
    assert process_cpu_seconds(process.pid) is None
