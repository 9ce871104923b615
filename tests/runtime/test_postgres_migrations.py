"""The PostgreSQL schema: numbered migrations applied once, in order, even by workers at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from harness.core.errors import HarnessError
from harness.runtime.postgres import migrate, migrations, open_pool


def test_migrations_are_numbered_one_to_n() -> None:
    assert [version for version, _, _ in migrations()] == list(range(1, len(migrations()) + 1))


def test_migrations_applied_once_by_workers_opening_together(postgres_url: str) -> None:
    def open_and_close(_: int) -> None:
        open_pool(postgres_url, max_size=1).close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_and_close, range(4)))
    with psycopg.connect(postgres_url) as db:
        applied = db.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        assert applied.fetchall() == [(version, name) for version, name, _ in migrations()]
        assert migrate(db) == len(migrations())  # nothing left to apply


def test_migrations_refuse_a_database_newer_than_the_package(postgres_url: str) -> None:
    open_pool(postgres_url, max_size=1).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')")
    with pytest.raises(HarnessError, match="newer than this harness knows"):
        open_pool(postgres_url, max_size=1)
