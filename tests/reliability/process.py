"""Running ``harness serve`` as a real subprocess on free loopback ports."""

from __future__ import annotations

import subprocess
import sys
import time
from types import TracebackType

import requests

from harness.server import free_port


class ServeProcess:
    """``harness serve`` in a subprocess; stops (or is killed) by the test that started it."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.segment_port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--port",
            str(self.port),
            "--segment-port",
            str(self.segment_port),
            *args,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServeProcess:
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.url}/_harness/health", timeout=1)
                return self
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"harness serve did not start: {self.stop()}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> str:
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        errors = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
        if self.process.stderr:
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
