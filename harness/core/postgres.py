"""What the fakes' PostgreSQL stores do alike: statements on a shared connection pool.

The pool belongs to whoever opened it (``harness.runtime.postgres.open_pool``); each
statement borrows one connection and runs as its own transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


class PostgresRows:
    """A store's rows in PostgreSQL, for a store to build on.

    Args:
        pool: Connections to a database whose schema is migrated.
    """

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._pool = pool

    def _all(self, sql: str, *args: Any) -> list[Any]:
        with self._pool.connection() as db:
            return db.execute(sql, args).fetchall()

    def _one(self, sql: str, *args: Any) -> Any:
        with self._pool.connection() as db:
            return db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._pool.connection() as db:
            return db.execute(sql, args).rowcount
