"""Fixtures the runtime tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``--store`` value that several processes (workers, servers) can share."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'harness.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
