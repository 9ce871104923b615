"""Calling an ASGI app synchronously, in this thread: no socket, no thread hop.

Litestar's TestClient runs the app on a portal thread, which costs about 1.5 ms a
request; scenarios and fixtures make thousands of requests, so they call the app on a
private event loop instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar.types import ASGIApp, Message


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names), raw body."""

    status: int
    headers: dict[str, str]
    content: bytes

    @property
    def status_code(self) -> int:
        """The status, named as requests and httpx name it."""
        return self.status

    @property
    def ok(self) -> bool:
        """True for a status below 400, as in requests."""
        return self.status < 400

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return msgspec.json.decode(self.content) if self.content else None


class AsgiClient:
    """A synchronous HTTP client for one ASGI app, run on a private event loop.

    A request returns once the app has sent its whole answer, streamed ones (files,
    ``Stream``) included; like ``requests`` without ``stream=True``, an endless stream
    (the inspector's live events) never returns: read those over a live server.

    Args:
        app: The app (its lifespan is not run: the fakes need none on a manual clock).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._loop_lock = threading.Lock()  # one caller at a time on the private loop

    def close(self) -> None:
        """Close the private loop."""
        self._loop.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        """``request("POST", path, ...)``."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Reply:
        """``request("PUT", path, ...)``."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        """``request("DELETE", path, ...)``."""
        return self.request("DELETE", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        """Make one request and return the full answer."""
        body = (
            content
            if content is not None
            else (msgspec.json.encode(json) if json is not None else b"")
        )
        raw_headers = [(b"host", b"harness.local"), (b"content-length", str(len(body)).encode())]
        if json is not None and content is None:
            raw_headers.append((b"content-type", b"application/json"))
        for name, value in (headers or {}).items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        query = urlencode(params or {}).encode()
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("harness.local", 80),
            "state": {},
        }
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_async_code = False
        else:
            in_async_code = True
        if not in_async_code:  # outside the except block: a crash's context stays its own
            # Another thread (Segment's background consumer, a server thread) may call too.
            with self._loop_lock:
                return self._loop.run_until_complete(self._call(scope, body))
        # Called from async code (an async test): this loop cannot nest in the running one,
        # so the call runs on its own loop in a worker thread, and this thread waits.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
            return worker.submit(asyncio.run, self._call(scope, body)).result()

    async def _call(self, scope: dict[str, Any], body: bytes) -> Reply:
        sent = False
        status = 500
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []
        answered = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Like a client that waits for the whole answer: a streamed response (a file, a
            # stream) listens for a disconnect while it sends, and would stop at once.
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    response_headers[bytes(name).decode("latin-1").lower()] = bytes(value).decode(
                        "latin-1"
                    )
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    answered.set()

        await self.app(scope, receive, send)  # type: ignore[arg-type]
        return Reply(status, response_headers, b"".join(chunks))
