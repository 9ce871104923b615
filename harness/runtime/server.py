"""Running the fakes on a real socket: uvicorn on loopback, in this process or a thread."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import uvicorn
from litestar import Litestar

if TYPE_CHECKING:
    import requests
    import requests.adapters
    from urllib3.util.retry import Retry

from harness.core.codes import CommandCode
from harness.core.errors import HarnessError


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
            CommandCode.ADMIN_TOKEN_REQUIRED,
            f"Refusing to listen on {host}: it is not a loopback address and there is no admin "
            "token. Pass --admin-token TOKEN, or listen on 127.0.0.1.",
        )


def check_port_free(host: str, port: int) -> None:
    """Refuse, with a sentence, a port something else is already listening on.

    Raises:
        HarnessError: ``port_in_use``.
    """
    with socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
    ) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise HarnessError(
                CommandCode.PORT_IN_USE,
                f"Cannot listen on {host}:{port} ({error.strerror}); choose another port.",
            ) from None


PORT_RACE_RELAUNCHES = 2
"""How many times :meth:`ServeProcess.start` launches again after losing a port it picked."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def free_port_besides(taken: int, host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host`` other than ``taken`` (picked, not yet bound)."""
    for _ in range(100):
        port = free_port(host)
        if port != taken:
            return port
    raise RuntimeError(f"no free port on {host} besides {taken}")  # pragma: no cover


class ServerGroup:
    """Several apps served by uvicorn on one event loop, each on its own loopback port.

    One loop serves them all, so the fakes never run handlers concurrently. Use
    :meth:`start` / :meth:`stop` (or a ``with`` block) to run it from a background thread,
    or :meth:`run` to serve in the foreground until interrupted.

    Args:
        apps: (app, host, port) for each server; port 0 picks a free one.
        sockets: Listening sockets to serve instead of binding, one per app in order (a
            worker of ``harness serve --workers N`` gets them from its supervisor).
    """

    def __init__(
        self,
        apps: list[tuple[Litestar, str, int]],
        sockets: list[socket.socket] | None = None,
    ) -> None:
        self._sockets = sockets
        self._servers: list[uvicorn.Server] = []
        self.addresses: list[tuple[str, int]] = []
        for app, host, port in apps:
            chosen = port or free_port(host)
            config = uvicorn.Config(
                app,
                host=host,
                port=chosen,
                log_level="warning",
                lifespan="on",
                # Let header blocks up to 1 MB reach the app, which answers 431 in JSON past 64 KB.
                h11_max_incomplete_event_size=1024 * 1024,
            )

            self._servers.append(uvicorn.Server(config))
            self.addresses.append((host, chosen))
        self._thread: threading.Thread | None = None

    @property
    def urls(self) -> list[str]:
        """The base URL of each server, in the order given."""
        return [f"http://{host}:{port}" for host, port in self.addresses]

    async def serve(self) -> None:
        """Serve until one server stops (a signal, or :meth:`stop`), then stop them all."""
        sockets = self._sockets
        tasks = [
            asyncio.create_task(server.serve(sockets=[sockets[i]] if sockets else None))
            for i, server in enumerate(self._servers)
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in self._servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> None:
        """Serve in the foreground, on uvloop when it is installed (as uvicorn.run would)."""
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvicorn[standard] brings it
            factory = None
        else:
            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self.serve())

    def start(self, timeout: float = 10.0) -> Self:
        """Serve from a daemon thread and wait until every socket accepts connections."""
        self._thread = threading.Thread(target=self.run, name="harness-servers", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the servers on {', '.join(self.urls)} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


class LiveServer(ServerGroup):
    """One app served by uvicorn from a background thread, on a free loopback port.

    Args:
        app: The Litestar app to serve.
        host: A loopback address.
        port: The port; a free one by default.
    """

    def __init__(self, app: Litestar, host: str = "127.0.0.1", port: int | None = None) -> None:
        check_bind(host, None)
        super().__init__([(app, host, port or 0)])
        self.host, self.port = self.addresses[0]

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:50123``."""
        return self.urls[0]


def wait_until_serving(
    url: str,
    timeout: float = 20.0,
    process: subprocess.Popen[bytes] | None = None,
    longest: float | None = None,
) -> None:
    """Block until ``url`` answers HTTP (any status), or raise after ``timeout`` seconds.

    With ``process``, give up as soon as that process has exited; and past ``timeout``,
    wait on while it (or its process group, when it leads one) keeps using CPU, up to
    ``longest`` seconds in all (four times ``timeout`` by default): a server starting on
    a loaded machine is slow, not stuck. One stuck (on a lock, say) uses no CPU: the error
    says how much it used, to tell the two apart.
    """
    import requests

    started = time.monotonic()
    deadline = started + timeout
    last_limit = started + (4 * timeout if longest is None else longest)
    cpu = None if process is None else process_cpu_seconds(process.pid)
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # workers may still be starting
            now = time.monotonic()
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"nothing is serving {url}: the server exited") from None
            if now > deadline:
                used = None if process is None else process_cpu_seconds(process.pid)
                if used is not None and cpu is not None and used > cpu and now < last_limit:
                    cpu, deadline = used, min(now + 1.0, last_limit)  # busy: one more second
                    continue
                busy = "" if used is None else f" (it used {used:.1f} s of CPU)"
                raise RuntimeError(
                    f"nothing is serving {url} after {now - started:.0f} s{busy}"
                ) from None
            time.sleep(0.02)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used by process ``pid`` and the processes of the group it leads.

    None where ``/proc`` cannot tell (not Linux, or the process is gone).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                text = stat.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # After "pid (comm) ": state, ppid, pgrp, ..., utime and stime (fields 14 and 15).
        fields = text[text.rindex(b")") + 2 :].split()
        if int(entry) == pid or int(fields[2]) == pid:
            found = True
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total if found else None


KEEP_ALIVE_REUSE_SECONDS = 1.0
"""The longest a :func:`live_session` connection may sit idle and still be reused.

uvicorn closes a connection idle for 5 s (``timeout_keep_alive``); reusing one idle for
at most a fifth of that leaves a wide margin for a loaded machine."""


def live_session(reuse_idle_seconds: float = KEEP_ALIVE_REUSE_SECONDS) -> requests.Session:
    """A ``requests`` session for a live ``harness serve``, safe on kept-alive connections.

    uvicorn closes a connection idle for 5 s; a request sent on it at that very instant is
    reset before the server reads it (``ConnectionResetError``, ``RemoteDisconnected``).
    This session never sends a request on a connection idle for more than
    ``reuse_idle_seconds``: it opens a new one instead, so the server cannot be closing it.
    Should a reset still come, it sends GET, HEAD, PUT, DELETE and OPTIONS again on a new
    connection, twice at most: they are idempotent, so a copy changes nothing. It never
    sends a POST twice: a Tracking API call, a webhook or a clock advance made twice would
    count twice.

    Args:
        reuse_idle_seconds: How long a connection may sit idle and still be reused.
    """
    import requests
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(
        total=2,
        connect=2,
        read=2,
        redirect=0,
        status=0,
        other=0,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        raise_on_status=False,
    )
    adapter = _fresh_after_idle_adapter(reuse_idle_seconds, retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fresh_session(reuse_idle_seconds: float = KEEP_ALIVE_REUSE_SECONDS) -> requests.Session:
    """A ``requests`` session that never sends on a connection idle for more than ``reuse_idle_seconds``.

    It opens a new connection instead, so a server closing idle connections (uvicorn after
    5 s) cannot reset the request as it arrives. It resends nothing: what a plain session
    would raise, it raises (the fake Segment's deliveries report it as a failed attempt).

    Args:
        reuse_idle_seconds: How long a connection may sit idle and still be reused.
    """
    import requests
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = _fresh_after_idle_adapter(reuse_idle_seconds, Retry(0, read=False))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _fresh_after_idle_adapter(
    reuse_idle_seconds: float, retry: Retry
) -> requests.adapters.HTTPAdapter:
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class FreshAfterIdle(HTTPConnectionPool):
        """Closes a pooled connection idle too long before it is used (it reconnects)."""

        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            idle_since = getattr(conn, "harness_idle_since", None)
            if idle_since is not None and time.monotonic() - idle_since > reuse_idle_seconds:
                conn.close()  # urllib3 opens a new connection on the next request
            return conn

        def _put_conn(self, conn: Any) -> None:
            if conn is not None:
                conn.harness_idle_since = time.monotonic()
            super()._put_conn(conn)

    class FreshAfterIdleTls(FreshAfterIdle, HTTPSConnectionPool):
        """The same over TLS."""

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": FreshAfterIdle,
                "https": FreshAfterIdleTls,
            }

    return Adapter(max_retries=retry)


class ServeProcess:
    """``harness serve`` in a subprocess on free loopback ports; it stops what it starts.

    Args:
        args: More ``harness serve`` arguments (``--clock manual``, ``--store sqlite:PATH``...).
        port: The fake AB Tasty's port (a restart reuses its predecessor's); free by default.
        segment_port: The fake Segment's port; free by default.
    """

    def __init__(
        self, *args: str, port: int | None = None, segment_port: int | None = None
    ) -> None:
        self._given = (port, segment_port)
        self._extra = args
        self.port, self.segment_port = self._pick_ports()
        self.process: subprocess.Popen[bytes] | None = None

    def _pick_ports(self) -> tuple[int, int]:
        port, segment_port = self._given
        chosen = port or free_port()
        return chosen, segment_port or free_port_besides(chosen)

    @property
    def args(self) -> list[str]:
        """The command line that launches it."""
        return [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--port",
            str(self.port),
            "--segment-port",
            str(self.segment_port),
            *self._extra,
        ]

    @property
    def url(self) -> str:
        """The fake AB Tasty's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def segment_url(self) -> str:
        """The fake Segment's base URL."""
        return f"http://127.0.0.1:{self.segment_port}"

    def start(self, timeout: float = 30.0) -> ServeProcess:
        """Launch it and wait until it answers health checks.

        A port it picked itself was free when picked, not necessarily when the server binds
        it: anything on the machine may take it meanwhile (another server, or the local end
        of an outgoing connection). A server that exits because its picked port is taken
        is launched again on newly picked ports, at most twice; ports given are never
        changed.
        """
        for attempt in range(1 + PORT_RACE_RELAUNCHES):
            self._launch()
            try:
                wait_until_serving(f"{self.url}/_harness/health", timeout, self.process)
            except RuntimeError:
                errors = self.stop()
                if attempt < PORT_RACE_RELAUNCHES and self._lost_a_picked_port(errors):
                    self.port, self.segment_port = self._pick_ports()
                    continue
                raise RuntimeError(f"harness serve did not start: {errors}") from None
            return self
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _launch(self) -> None:
        # Its own process group, so that kill() and stop() reach every worker, even one the
        # supervisor restarted a moment before it died (an orphan would hold stderr open).
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

    def _lost_a_picked_port(self, errors: str) -> bool:
        # harness serve's own check and uvicorn's bind say it alike, in two cases.
        assert self.process is not None
        return (
            self.process.returncode not in (None, 0)
            and "address already in use" in errors.lower()
            and None in self._given
        )

    def kill(self) -> None:
        """SIGKILL to every process of the server at once: no cleanup, no flush (crash tests)."""
        assert self.process is not None
        self._kill_group()
        self.process.wait(timeout=10)

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
            os.killpg(self.process.pid, signal.SIGKILL)

    def interrupt(self, timeout: float = 10.0) -> tuple[int, str]:
        """Ctrl-C (SIGINT), as a person stops it; its exit status and what it wrote to stderr."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=timeout)
        return self.process.returncode, self.stop()

    def stop(self) -> str:
        """Terminate (then kill, if need be); returns what it wrote to stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._kill_group()  # a worker left behind would keep stderr open forever
        errors = ""
        if self.process.stderr is not None and not self.process.stderr.closed:
            errors = self.process.stderr.read().decode(errors="replace")
            self.process.stderr.close()
        return errors

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
