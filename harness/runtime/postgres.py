"""Opening a PostgreSQL store: a connection pool and a schema migrated at start.

The schema lives in numbered SQL files (``harness/runtime/migrations/NNNN_name.sql``),
applied in order, each in its own transaction, under an advisory lock so that workers
starting together migrate once. ``schema_migrations`` records what was applied.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from harness.core.codes import CommandCode
from harness.core.errors import HarnessError

MIGRATIONS_LOCK = 0x6861726E  # "harn": one advisory lock id for schema changes
_MIGRATION = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    folder = resources.files("harness.runtime").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(connection: psycopg.Connection[Any]) -> int:
    """Apply every migration the database lacks; returns the schema version.

    Raises:
        HarnessError: ``invalid_store`` when the database is newer than this package.
    """
    shipped = migrations()
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATIONS_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = connection.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
        ).fetchone()
        current: int = row[0] if row else 0
        latest = shipped[-1][0] if shipped else 0
        if current > latest:
            raise HarnessError(
                CommandCode.INVALID_STORE,
                f"The database's schema is at version {current}, newer than this harness "
                f"knows ({latest}); upgrade segment-abtasty-harness.",
            )
        for version, name, sql in shipped:
            if version > current:
                connection.execute(sql.encode())
                connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
                current = version
    return current


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.execute("SET TIME ZONE 'UTC'")
    connection.commit()


def open_pool(url: str, max_size: int = 8) -> ConnectionPool[psycopg.Connection[Any]]:
    """A pool of connections to ``url`` whose schema is migrated to this package's version.

    Raises:
        HarnessError: ``invalid_store`` when the database cannot be reached or migrated.
    """
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            migrate(connection)
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=1, max_size=max_size, configure=_configure, open=False
        )
        pool.open(wait=True, timeout=30)
    except psycopg.Error as error:
        raise HarnessError(
            CommandCode.INVALID_STORE, f"Cannot use the PostgreSQL store: {_first_line(error)}."
        ) from None
    return pool


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__
