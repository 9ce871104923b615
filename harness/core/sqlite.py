"""One SQLite file shared by threads and processes: what every SQLite store of the fakes does alike.

WAL journal, ``synchronous=FULL`` by default (committed means on disk), one connection
guarded by a lock, ``BEGIN IMMEDIATE`` transactions (writers of several processes take
turns), and columns added to tables of an older file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

Synchronous = Literal["full", "normal"]


class SqliteFile:
    """A SQLite database file with a schema, for a store to build on.

    Args:
        path: The database file (created if missing); several stores may share it.
        synchronous: ``full`` (committed means on disk) or ``normal`` (survives a crash of
            the process, not of the machine; faster).
        schema: SQL run at open (``CREATE ... IF NOT EXISTS``).
        added_columns: Per table, columns added after the first release, with their types;
            a file without them gains them.
    """

    def __init__(
        self,
        path: str | Path,
        synchronous: Synchronous = "full",
        schema: str = "",
        added_columns: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=60
        )
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        if schema:
            self._conn.executescript(schema)
        for table, added in (added_columns or {}).items():
            if set(added) <= self._columns(table):
                continue
            with self._tx():  # another process may be adding them too: one at a time
                present = self._columns(table)
                for column, kind in added.items():
                    if column not in present:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _all(self, sql: str, *args: Any) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _one(self, sql: str, *args: Any) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()
