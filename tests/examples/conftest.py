"""The shared fake of the README's "Run a shared fake": its very command, on a throwaway cluster."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.runtime.server import ServeProcess
from tests.conftest import empty_schema_url
from tests.postgres import ThrowawayCluster

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SERVE = re.search(r"```\n(harness serve --store postgresql://[^\n]*)\n```", README)
TOKEN = "readme-admin-token"


@dataclass(frozen=True)
class SharedFake:
    """Where a CI fleet points: the fake AB Tasty, the fake Segment and the admin token."""

    url: str
    segment_url: str
    admin_token: str


def readme_serve_arguments(database_url: str) -> list[str]:
    """The README's command line after ``harness serve``, on this database and on loopback."""
    assert SERVE is not None, "README has no 'harness serve --store postgresql://' command"
    argv = shlex.split(SERVE.group(1).replace('"$HARNESS_ADMIN_TOKEN"', TOKEN))
    assert argv[:2] == ["harness", "serve"]
    arguments = argv[2:]
    arguments[arguments.index("--store") + 1] = database_url
    arguments[arguments.index("--host") + 1] = "127.0.0.1"  # tests stay on loopback
    return arguments


@pytest.fixture(scope="session")
def shared_fake(postgres_cluster: ThrowawayCluster) -> Iterator[SharedFake]:
    """The README's shared fake (PostgreSQL, several workers, an admin token)."""
    with ServeProcess(*readme_serve_arguments(empty_schema_url(postgres_cluster))) as server:
        yield SharedFake(server.url, server.segment_url, TOKEN)
