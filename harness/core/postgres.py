"""What the fakes' PostgreSQL stores do alike: statements on a shared connection pool.

The pool belongs to whoever opened it (``harness.runtime.postgres.open_pool``); each
statement borrows one connection and runs as its own transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # psycopg is an extra: the shared stores import this module without it
    import psycopg
    from psycopg_pool import ConnectionPool


class PostgresRows:
    """A store's rows in PostgreSQL, for a store to build on.

    Args:
        pool: Connections to a database whose schema is migrated.
    """

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._pool = pool

    def _transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection for several statements, committed together when the block ends."""
        return self._pool.connection()

    def _all(self, sql: str, *args: Any) -> list[Any]:
        with self._pool.connection() as db:
            return db.execute(sql, args).fetchall()

    def _one(self, sql: str, *args: Any) -> Any:
        with self._pool.connection() as db:
            return db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._pool.connection() as db:
            return db.execute(sql, args).rowcount
