"""A throwaway PostgreSQL cluster for the tests: initdb, pg_ctl, a free loopback port.

PostgreSQL refuses to run as root, and CI runs as root: then initdb and pg_ctl run as the
``postgres`` system user (``runuser``), in a temporary folder that user owns. The unix
socket lives in that folder too, so the cluster touches nothing outside it. The tests build
one cluster per session (per xdist worker) and one database per test, copied from a
template that already carries the schema.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.runtime.server import free_port

BINARIES = ("initdb", "pg_ctl")


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's versioned folders."""
    found = shutil.which("initdb")
    if found:
        folder = Path(os.path.realpath(found)).parent
        if all((folder / name).exists() for name in BINARIES):
            return folder
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        folder = Path(candidate)
        if all((folder / name).exists() for name in BINARIES):
            return folder
    return None


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only.

    Args:
        bindir: Where initdb and pg_ctl are.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        self.data = self.folder / "data"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o700)

    def _run(self, *command: str) -> None:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self._as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self) -> ThrowawayCluster:
        """initdb, then start the server and wait until it takes connections."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        # Durability of PostgreSQL itself is not under test (the harness is what gets
        # killed), so skip its fsyncs: the suite stays fast on a shared machine.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def url(self, database: str = "postgres") -> str:
        """A connection URL for ``database`` (trust authentication, user postgres)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def migrated_pool(url: str) -> Iterator[Any]:
    """A small pool on ``url`` with the harness's schema migrated, closed afterwards."""
    from harness.runtime.postgres import open_pool

    pool = open_pool(url, max_size=4)
    try:
        yield pool
    finally:
        pool.close()
