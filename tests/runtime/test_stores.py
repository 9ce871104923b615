"""``open_stores``: what each ``--store`` opens, on a real SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

from harness.runtime.stores import open_stores
from harness.segment.ratelimit import RateLimiter


def _open_handles(path: Path) -> int:
    """File descriptors of this process open on ``path`` (one per SQLite connection)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue  # closed since it was listed
    return count


def test_open_stores_sqlite_opens_no_rate_limit_connection_until_a_limit_takes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "harness.sqlite"
    stores = open_stores(f"sqlite:{path}")
    try:
        assert stores.rate_bucket is not None
        without_limit = _open_handles(path)
        limiter = RateLimiter(5, bucket=stores.rate_bucket)
        limiter.take()  # a limit is set and a request comes in: now the bucket's file opens
        assert _open_handles(path) == without_limit + 1
        limiter.take()
        assert _open_handles(path) == without_limit + 1  # opened once
    finally:
        stores.close()
    assert _open_handles(path) == 0
