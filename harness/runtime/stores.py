"""``--store``: where both fakes, their clocks and their journals keep their state.

``memory`` keeps everything in this process. ``sqlite:PATH`` and ``postgresql://...``
keep everything in one database that several workers (and, for PostgreSQL, several
hosts) share: AB Tasty's store, Segment's store, each manual clock as a row and the
request journal.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.abtasty.store import MemoryStore, SqliteStore, Store
from harness.core.clock import ClockRows, NamedLocks, outermost
from harness.core.codes import CommandCode
from harness.core.errors import HarnessError
from harness.core.postgres import PostgresRows
from harness.core.sqlite import SqliteFile
from harness.http.journal import JournalRows
from harness.segment.engage import EngageStore, MemoryEngageStore
from harness.segment.ratelimit import RateBucket
from harness.segment.scripted_faults import FaultRows
from harness.segment.store import MemorySegmentStore, SegmentStore, SqliteSegmentStore
from harness.segment.store.sqlite_engage import SqliteEngageStore
from harness.segment.store.sqlite_faults import SqliteFaultRows, SqliteRateBucket

SQLITE_SHARED_SCHEMA = """
CREATE TABLE IF NOT EXISTS clocks (name TEXT PRIMARY KEY, now TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, fake TEXT NOT NULL, account_id TEXT, entry BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS journal_fake ON journal (fake, seq);
CREATE INDEX IF NOT EXISTS journal_account ON journal (fake, account_id, seq);
"""


@dataclass
class Stores:
    """The stores ``--store`` names, for one process.

    Attributes:
        kind: ``memory``, ``sqlite`` or ``postgresql``.
        abtasty: AB Tasty's store.
        segment: Segment's store.
        engage: Segment Engage's audiences and computed traits.
        faults: Scripted delivery faults and held messages (None: in the process).
        rate_bucket: The Tracking API rate limit's bucket (None: in the process).
        shared: Clock and journal rows when the store is shared by processes (None in memory).
        latest_instant: The latest time anything stored was recorded at (file stores).
    """

    kind: str
    abtasty: Store
    segment: SegmentStore
    engage: EngageStore
    faults: FaultRows | None = None
    rate_bucket: RateBucket | None = None
    shared: SharedRows | None = None
    latest_instant: Callable[[], datetime | None] = lambda: None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def multiprocess(self) -> bool:
        """Whether several worker processes can serve this store together."""
        return self.shared is not None

    def close(self) -> None:
        """Close every connection."""
        for close in reversed(self._closers):
            close()


class SharedRows(ClockRows, JournalRows):
    """Clock and journal rows of a shared store (both protocols)."""


CLOCK_LOCK_CLASS = 0x636C6B  # "clk": the advisory lock class of clock moves
_CLOCK_LOCK_RANGE = 1 << 20
_sqlite_moves: dict[str, NamedLocks] = {}
_sqlite_moves_guard = threading.Lock()


def _text(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class SqliteSharedRows(SqliteFile, SharedRows):
    """Clocks and the journal in the SQLite store's file.

    Args:
        path: The database file.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, schema=SQLITE_SHARED_SCHEMA)
        # Clock moves: a byte-range lock per clock on a file beside the database (other
        # processes; the kernel drops it with a dead process) and a thread lock per clock,
        # shared by every opening of the same file in this process (fcntl locks are not).
        self._moves_file = open(f"{path}-clocks.lock", "a+b")  # noqa: SIM115 - closed in close()
        with _sqlite_moves_guard:
            self._moves = _sqlite_moves.setdefault(str(Path(path).resolve()), NamedLocks())
        self._depth: dict[str, int] = {}

    def close(self) -> None:
        """Close the connection and the clock-move lock file."""
        with self._lock:
            super().close()
            self._moves_file.close()

    def lock_clock(self, name: str) -> AbstractContextManager[object]:
        """Held while one move of the clock runs, in every process on this file."""
        return outermost(self._moves.get(name), self._depth, name, self._file_lock(name))

    @contextmanager
    def _file_lock(self, name: str) -> Iterator[None]:
        offset = zlib.crc32(name.encode()) % _CLOCK_LOCK_RANGE
        fcntl.lockf(self._moves_file, fcntl.LOCK_EX, 1, offset)
        try:
            yield
        finally:
            fcntl.lockf(self._moves_file, fcntl.LOCK_UN, 1, offset)

    def read_clock(self, name: str) -> datetime | None:
        """The clock's time."""
        row = self._one("SELECT now FROM clocks WHERE name = ?", name)
        return _instant(row[0]) if row else None

    def write_clock(self, name: str, when: datetime, *, forward_only: bool) -> datetime:
        """Set (or create) the clock, forward only if asked."""
        with self._tx() as db:
            row = db.execute("SELECT now FROM clocks WHERE name = ?", (name,)).fetchone()
            if row is not None and forward_only and _instant(row[0]) > when:
                return _instant(row[0])
            db.execute("INSERT OR REPLACE INTO clocks VALUES (?, ?)", (name, _text(when)))
            return when

    def clock_names(self) -> list[tuple[str, datetime]]:
        """Every clock by name."""
        rows = self._all("SELECT name, now FROM clocks ORDER BY name")
        return [(r[0], _instant(r[1])) for r in rows]

    def delete_clock(self, name: str) -> bool:
        """Forget a clock."""
        with self._tx() as db:
            return db.execute("DELETE FROM clocks WHERE name = ?", (name,)).rowcount > 0

    def append_entry(self, fake: str, account_id: str | None, entry: bytes) -> None:
        """Add a journal entry."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO journal (fake, account_id, entry) VALUES (?, ?, ?)",
                (fake, account_id, entry),
            )

    def read_entries(self, fake: str, account_id: str | None, limit: int | None) -> list[bytes]:
        """Entries oldest first (the last ``limit``)."""
        where, args = "fake = ?", [fake]
        if account_id is not None:
            where, args = "fake = ? AND account_id = ?", [fake, account_id]
        rows = self._all(
            f"SELECT entry FROM journal WHERE {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608 - constant clauses
            *args,
            -1 if limit is None else limit,
        )
        return [bytes(r[0]) for r in reversed(rows)]

    def delete_entries(self, fake: str, account_id: str | None) -> None:
        """Forget entries."""
        with self._tx() as db:
            if account_id is None:
                db.execute("DELETE FROM journal WHERE fake = ?", (fake,))
            else:
                db.execute(
                    "DELETE FROM journal WHERE fake = ? AND account_id = ?", (fake, account_id)
                )

    def trim_entries(self, fake: str, keep: int) -> None:
        """Keep the newest ``keep`` entries."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM journal WHERE fake = ? AND seq <= (SELECT seq FROM journal"
                " WHERE fake = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (fake, fake, keep),
            )


class PostgresSharedRows(PostgresRows, SharedRows):
    """Clocks and the journal in PostgreSQL.

    Args:
        pool: Connections to the migrated database.
    """

    def __init__(self, pool: Any) -> None:
        super().__init__(pool)
        self._moves = NamedLocks()
        self._depth: dict[str, int] = {}

    def lock_clock(self, name: str) -> AbstractContextManager[object]:
        """Held while one move of the clock runs, on every worker and host of the database."""
        return outermost(self._moves.get(name), self._depth, name, self._advisory_lock(name))

    @contextmanager
    def _advisory_lock(self, name: str) -> Iterator[None]:
        # A connection of its own (not the pool's: the move's own work needs those), whose
        # session lock PostgreSQL releases should this worker die mid-move.
        import psycopg

        conninfo = self._pool.conninfo
        with psycopg.connect(conninfo() if callable(conninfo) else conninfo, autocommit=True) as db:
            db.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (CLOCK_LOCK_CLASS, name))
            try:
                yield
            finally:
                db.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (CLOCK_LOCK_CLASS, name))

    def read_clock(self, name: str) -> datetime | None:
        """The clock's time."""
        row = self._one("SELECT now FROM clocks WHERE name = %s", name)
        return row[0] if row else None

    def write_clock(self, name: str, when: datetime, *, forward_only: bool) -> datetime:
        """Set (or create) the clock in one statement, forward only if asked."""
        condition = " WHERE clocks.now <= EXCLUDED.now" if forward_only else ""
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO clocks VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"  # noqa: S608 - a constant clause
                f" SET now = EXCLUDED.now{condition} RETURNING now",
                (name, when),
            ).fetchone()
            if row is None:  # left alone: it is later than when (and there, in this transaction)
                row = db.execute("SELECT now FROM clocks WHERE name = %s", (name,)).fetchone()
        assert row is not None
        now: datetime = row[0]
        return now

    def clock_names(self) -> list[tuple[str, datetime]]:
        """Every clock by name."""
        return [(r[0], r[1]) for r in self._all("SELECT name, now FROM clocks ORDER BY name")]

    def delete_clock(self, name: str) -> bool:
        """Forget a clock."""
        return self._run("DELETE FROM clocks WHERE name = %s", name) > 0

    def append_entry(self, fake: str, account_id: str | None, entry: bytes) -> None:
        """Add a journal entry."""
        self._run(
            "INSERT INTO journal (fake, account_id, entry) VALUES (%s, %s, %s)",
            fake,
            account_id,
            entry,
        )

    def read_entries(self, fake: str, account_id: str | None, limit: int | None) -> list[bytes]:
        """Entries oldest first (the last ``limit``)."""
        where, args = "fake = %s", [fake]
        if account_id is not None:
            where, args = "fake = %s AND account_id = %s", [fake, account_id]
        rows = self._all(
            f"SELECT entry FROM journal WHERE {where} ORDER BY seq DESC LIMIT %s",  # noqa: S608 - constant clauses
            *args,
            limit,
        )
        return [bytes(r[0]) for r in reversed(rows)]

    def delete_entries(self, fake: str, account_id: str | None) -> None:
        """Forget entries."""
        if account_id is None:
            self._run("DELETE FROM journal WHERE fake = %s", fake)
        else:
            self._run("DELETE FROM journal WHERE fake = %s AND account_id = %s", fake, account_id)

    def trim_entries(self, fake: str, keep: int) -> None:
        """Keep the newest ``keep`` entries."""
        self._run(
            "DELETE FROM journal WHERE fake = %s AND seq <= (SELECT seq FROM journal"
            " WHERE fake = %s ORDER BY seq DESC LIMIT 1 OFFSET %s)",
            fake,
            fake,
            keep,
        )


def open_stores(spec: str) -> Stores:
    """The stores named by ``--store``: ``memory``, ``sqlite:PATH`` or ``postgresql://...``.

    Raises:
        HarnessError: ``invalid_store`` with a sentence saying what to pass instead.
    """
    if spec == "memory":
        return Stores("memory", MemoryStore(), MemorySegmentStore(), MemoryEngageStore())
    if spec.startswith(("postgresql://", "postgres://")):
        return _open_postgres(spec)
    kind, _, path = spec.partition(":")
    if kind == "sqlite" and path:
        try:
            abtasty = SqliteStore(path)
            segment = SqliteSegmentStore(path)
            engage = SqliteEngageStore(path)
            faults = SqliteFaultRows(path)
            bucket = SqliteRateBucket(path)
            rows = SqliteSharedRows(path)
        except sqlite3.Error as error:
            raise HarnessError(
                CommandCode.INVALID_STORE, f"Cannot open the SQLite store {path!r}: {error}."
            ) from None
        return Stores(
            "sqlite",
            abtasty,
            segment,
            engage,
            faults,
            bucket,
            rows,
            abtasty.latest_instant,
            [abtasty.close, segment.close, engage.close, faults.close, bucket.close, rows.close],
        )
    raise HarnessError(
        CommandCode.INVALID_STORE,
        f"--store {spec[:80]!r} is not a store; use memory, sqlite:PATH or postgresql://HOST/DB.",
    )


def _open_postgres(url: str) -> Stores:
    try:
        from harness.abtasty.store.postgres import PostgresStore
        from harness.runtime.postgres import open_pool
        from harness.segment.store.postgres import PostgresSegmentStore
        from harness.segment.store.postgres_engage import PostgresEngageStore
        from harness.segment.store.postgres_faults import PostgresFaultRows, PostgresRateBucket
    except ImportError:
        raise HarnessError(
            CommandCode.INVALID_STORE,
            "The PostgreSQL store needs psycopg: pip install 'segment-abtasty-harness[postgres]'.",
        ) from None
    pool = open_pool(url)
    abtasty = PostgresStore(pool)
    segment = PostgresSegmentStore(pool, url)
    return Stores(
        "postgresql",
        abtasty,
        segment,
        PostgresEngageStore(pool),
        PostgresFaultRows(pool, segment.liveness),
        PostgresRateBucket(pool),
        PostgresSharedRows(pool),
        abtasty.latest_instant,
        [pool.close, segment.close],
    )
