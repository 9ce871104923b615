"""Running the fakes on a real socket: uvicorn on loopback, in this process or a thread."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType

import uvicorn
from litestar import Litestar

from harness.errors import HarnessError


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback address (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, admin_token: str | None) -> None:
    """Refuse to expose the fake beyond loopback without an admin token.

    Raises:
        HarnessError: ``admin_token_required`` for a non-loopback host without a token.
    """
    if not is_loopback(host) and not admin_token:
        raise HarnessError(
            "admin_token_required",
            f"Refusing to listen on {host}: it is not a loopback address and there is no admin "
            "token. Pass --admin-token TOKEN, or listen on 127.0.0.1.",
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class LiveServer:
    """An app served by uvicorn from a background thread, on a free loopback port.

    Use it as a context manager; it stops what it started.

    Args:
        app: The Litestar app to serve.
        host: A loopback address.
        port: The port; a free one by default.
    """

    def __init__(self, app: Litestar, host: str = "127.0.0.1", port: int | None = None) -> None:
        check_bind(host, None)
        self.app = app
        self.host = host
        self.port = port if port is not None else free_port(host)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"harness-{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:50123``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LiveServer:
        """Start serving and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
