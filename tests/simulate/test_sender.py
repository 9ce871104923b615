"""The keep-alive sender: one connection for many posts, Segment-shaped failures, stale sockets."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from harness.runtime.server import free_port
from harness.simulate.sender import KeepAliveSender, read_answer
from tests.cli.receivers import serving
from tests.support import socket_server

HEADERS = {"Authorization": "Basic a2V5Og==", "Content-Type": "application/json"}


@contextmanager
def keep_alive_receiver() -> Iterator[dict[str, Any]]:
    """An HTTP/1.1 receiver that keeps connections open; counts connections and bodies."""
    seen: dict[str, Any] = {"connections": set(), "bodies": [], "headers": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen["connections"].add(self.client_address)
            seen["bodies"].append(body)
            seen["headers"].append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        seen["url"] = f"{base}/hook?x=1"
        yield seen


@contextmanager
def raw_server(script: str) -> Iterator[tuple[str, list[int]]]:
    """A socket server: ``close`` answers each request then closes without a word;
    ``silent`` reads the request and never answers."""
    accepted: list[int] = []

    def serve(listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            with conn:
                conn.recv(65_536)
                if script == "close":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
                    )
                else:
                    stop.wait(2)

    with socket_server(serve) as url:
        yield f"{url}/hook", accepted


def test_sender_keeps_one_connection_for_many_posts() -> None:
    with keep_alive_receiver() as seen:
        sender = KeepAliveSender(seen["url"])
        answers = [sender.post(seen["url"], HEADERS, b'{"n": %d}' % i) for i in range(20)]
        sender.close()
    assert {(a.status, a.body) for a in answers} == {(200, "{}")}
    assert seen["bodies"] == [b'{"n": %d}' % i for i in range(20)]
    assert len(seen["connections"]) == 1
    assert seen["headers"][0]["Authorization"] == HEADERS["Authorization"]
    assert seen["headers"][0]["Host"] == seen["url"].split("/")[2]


def test_sender_sends_again_on_a_new_connection_when_the_kept_one_was_closed() -> None:
    with raw_server("close") as (url, accepted):
        sender = KeepAliveSender(url)
        first = sender.post(url, HEADERS, b"{}")
        second = sender.post(url, HEADERS, b"{}")
        sender.close()
    assert (first.status, second.status) == (200, 200)
    assert len(accepted) == 2


def test_sender_refused_connection_is_no_answer() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    answer = KeepAliveSender(url).post(url, HEADERS, b"{}")
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith("connection failed")


def test_sender_silent_receiver_is_a_timeout() -> None:
    with raw_server("silent") as (url, _):
        answer = KeepAliveSender(url, timeout=0.3).post(url, HEADERS, b"{}")
    assert (answer.status, answer.error) == (None, "timeout")


def test_sender_header_with_a_line_break_is_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(ValueError, match="line break"):
        KeepAliveSender(url).post(url, {"Authorization": "Basic x\r\nX-Evil: 1"}, b"{}")


def test_sender_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="not an http"):
        KeepAliveSender("ftp://example.com/hook")


def _answer_of(*pieces: bytes, close: bool = False) -> tuple[int, bytes, bool]:
    """What read_answer makes of the receiver's bytes, written in ``pieces``."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        for piece in pieces:
            theirs.sendall(piece)
        if close:
            theirs.shutdown(socket.SHUT_WR)
        return read_answer(ours)


def test_read_answer_content_length_keeps_the_connection() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n"
    answer = _answer_of(head[:10], head[10:] + b'{"status":', b'"a"}')
    assert answer == (200, b'{"status":"', False)


def test_read_answer_chunked_body_in_pieces() -> None:
    head = b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: Chunked\r\n\r\n"
    body = b'5;ext=1\r\n{"cod\r\n4\r\ne":1\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n'
    assert _answer_of(head, body[:7], body[7:20], body[20:]) == (401, b'{"code":1}', False)


def test_read_answer_http_1_0_until_close() -> None:
    assert _answer_of(b"HTTP/1.0 503 Busy\r\n\r\nbusy", close=True) == (503, b"busy", True)


def test_read_answer_connection_close_and_no_content() -> None:
    assert _answer_of(b"HTTP/1.1 204 No Content\r\nConnection: Close\r\n\r\n") == (204, b"", True)


def test_read_answer_skips_an_interim_answer() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert _answer_of(answer) == (200, b"{}", False)


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"SSH-2.0-OpenSSH\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", http.client.HTTPException),
    ],
)
def test_read_answer_broken_answers_raise(sent: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _answer_of(sent, close=True)
