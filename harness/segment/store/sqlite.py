"""The fake Segment's SQLite store: the same file as AB Tasty's, its own tables.

Every method is one transaction, committed before it returns (``synchronous=FULL``), so
the Tracking API's 200 means the message is on disk. Several processes may share the
file: ``BEGIN IMMEDIATE`` serialises writers, and a delivery being attempted is marked
with its holder (process id and a nonce); a holder that died frees its records at once.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from harness.core.sqlite import SqliteFile, Synchronous
from harness.segment.records import (
    STAGES,
    Attempt,
    DeliveryPage,
    DeliveryRecord,
    Destination,
    Source,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS segment_sources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
    write_key_digest BLOB UNIQUE NOT NULL, write_key_last4 TEXT NOT NULL, clock TEXT NOT NULL,
    received INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS segment_destinations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, source_id TEXT NOT NULL,
    type TEXT NOT NULL, api_key TEXT NOT NULL, endpoint TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segment_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, clock TEXT NOT NULL,
    message_id TEXT, type TEXT, destination_id TEXT, stage TEXT NOT NULL, attempts INTEGER NOT NULL,
    last_status INTEGER, last_body TEXT, next_attempt_at TEXT, first_attempt_at TEXT,
    last_delay REAL, payload BLOB NOT NULL, retries INTEGER NOT NULL, held_by TEXT);
CREATE INDEX IF NOT EXISTS segment_deliveries_due ON segment_deliveries (clock, next_attempt_at)
    WHERE stage = 'retrying';
CREATE INDEX IF NOT EXISTS segment_deliveries_source ON segment_deliveries (source_id, id);
CREATE INDEX IF NOT EXISTS segment_deliveries_held ON segment_deliveries (held_by)
    WHERE held_by IS NOT NULL;
"""

RECORD_COLUMNS = (
    "id, source_id, message_id, type, destination_id, stage, attempts, last_status, last_body,"
    " next_attempt_at, first_attempt_at, last_delay, payload, retries, received_at, history"
)
HELD_BY = RECORD_COLUMNS.count(",") + 1
"""Where ``held_by`` sits in a row of ``RECORD_COLUMNS, held_by``."""
DELIVERY_COLUMNS_ADDED = {"received_at": "TEXT", "history": "BLOB"}
"""Columns of ``segment_deliveries`` added after it was first released; old files gain them."""
WAIT_SECONDS = 0.005


def _text(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row[0],
        source_id=row[1],
        message_id=row[2],
        type=row[3],
        destination_id=row[4],
        stage=row[5],
        attempts=row[6],
        last_status=row[7],
        last_body=row[8],
        next_attempt_at=_instant(row[9]),
        first_attempt_at=_instant(row[10]),
        last_delay=None if row[11] is None else timedelta(seconds=row[11]),
        payload=bytes(row[12]),
        retries=row[13],
        received_at=_instant(row[14]),
        history=_history_of(row[15]),
    )


def _history_blob(history: tuple[Attempt, ...]) -> bytes | None:
    if not history:
        return None
    return msgspec.json.encode(
        [[_text(a.at), a.status, a.outcome, a.detail, _text(a.next_attempt_at)] for a in history]
    )


def _history_of(blob: bytes | None) -> tuple[Attempt, ...]:
    if not blob:
        return ()
    return tuple(
        Attempt(_instant(at) or datetime.min, status, outcome, detail, _instant(next_at))
        for at, status, outcome, detail, next_at in msgspec.json.decode(blob)
    )


def _values(record: DeliveryRecord) -> tuple[Any, ...]:
    return (
        record.message_id,
        record.type,
        record.destination_id,
        record.stage,
        record.attempts,
        record.last_status,
        record.last_body,
        _text(record.next_attempt_at),
        _text(record.first_attempt_at),
        None if record.last_delay is None else record.last_delay.total_seconds(),
        record.payload,
        record.retries,
        _text(record.received_at),
        _history_blob(record.history),
    )


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_holder_nonce() -> str:
    """The random part of a holder id, drawn once per store (the process id is read per call)."""
    return secrets.token_hex(4)


def release_dead_holders(db: sqlite3.Connection, table: str, holder: str) -> None:
    """Free the rows of ``table`` held (``held_by``) by processes that are gone.

    A holder id is ``PID:NONCE``; ``holder`` is this process's, never freed here.
    """
    for (held_by,) in db.execute(
        f"SELECT DISTINCT held_by FROM {table} WHERE held_by IS NOT NULL"  # noqa: S608 - a constant table
    ).fetchall():
        pid = int(held_by.partition(":")[0])
        if held_by != holder and not process_alive(pid):
            db.execute(
                f"UPDATE {table} SET held_by = NULL WHERE held_by = ?",  # noqa: S608 - a constant table
                (held_by,),
            )


@dataclass(slots=True)
class SqliteClaim:
    """A record this process holds (see :class:`harness.segment.store.base.DeliveryClaim`)."""

    record: DeliveryRecord
    saved: DeliveryRecord | None = None

    def save(self, record: DeliveryRecord) -> None:
        """Keep ``record`` as the outcome when the claim ends."""
        self.saved = record


class SqliteSegmentStore(SqliteFile):
    """The fake Segment's state in a SQLite file (WAL), safe to share between threads and processes.

    Args:
        path: The database file (created if missing); AB Tasty's store may use the same file.
        synchronous: ``full`` (default: committed means on disk) or ``normal``.
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = "full") -> None:
        super().__init__(path, synchronous, SCHEMA, {"segment_deliveries": DELIVERY_COLUMNS_ADDED})
        self._nonce = new_holder_nonce()

    @property
    def holder(self) -> str:
        """This process's mark on the records it holds (read per call: safe across fork)."""
        return f"{os.getpid()}:{self._nonce}"

    # sources and destinations
    def add_source(self, source: Source) -> None:
        """Keep a new source."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO segment_sources (id, name, write_key_digest, write_key_last4, clock)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    source.id,
                    source.name,
                    source.write_key_digest,
                    source.write_key_last4,
                    source.clock or "",
                ),
            )

    def _source(self, where: str, value: Any) -> Source | None:
        row = self._one(
            f"SELECT id, name, write_key_digest, write_key_last4, clock FROM segment_sources WHERE {where} = ?",  # noqa: S608 - a constant column
            value,
        )
        return Source(row[0], row[1], bytes(row[2]), row[3], row[4] or None) if row else None

    def get_source(self, source_id: str) -> Source | None:
        """The source, or None."""
        return self._source("id", source_id)

    def find_source(self, digest: bytes) -> Source | None:
        """The source with this write key digest."""
        return self._source("write_key_digest", digest)

    def add_destination(self, destination: Destination) -> None:
        """Keep a new destination."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO segment_destinations (id, source_id, type, api_key, endpoint, name)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    destination.id,
                    destination.source_id,
                    destination.type,
                    destination.api_key,
                    destination.endpoint,
                    destination.name,
                ),
            )

    def get_destination(self, destination_id: str) -> Destination | None:
        """The destination, or None."""
        row = self._one(
            "SELECT id, source_id, type, api_key, endpoint, name FROM segment_destinations WHERE id = ?",
            destination_id,
        )
        return Destination(*row) if row else None

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        rows = self._all(
            "SELECT id, source_id, type, api_key, endpoint, name FROM segment_destinations"
            " WHERE source_id = ? ORDER BY seq",
            source_id,
        )
        return [Destination(*row) for row in rows]

    # deliveries
    def receive(
        self, source_id: str, received: int, records: Sequence[DeliveryRecord]
    ) -> list[int]:
        """Count arrivals and keep records, in one transaction."""
        with self._tx() as db:
            row = db.execute(
                "SELECT clock FROM segment_sources WHERE id = ?", (source_id,)
            ).fetchone()
            if row is None:
                raise KeyError(source_id)
            db.execute(
                "UPDATE segment_sources SET received = received + ? WHERE id = ?",
                (received, source_id),
            )
            ids = []
            for record in records:
                # A first attempt is held by this process from the start (one commit less
                # per message); should the process die, the hold dies with it.
                holder = self.holder if record.stage == "retrying" else None
                cursor = db.execute(
                    "INSERT INTO segment_deliveries (source_id, clock, message_id, type, destination_id,"
                    " stage, attempts, last_status, last_body, next_attempt_at, first_attempt_at,"
                    " last_delay, payload, retries, received_at, history, held_by)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (source_id, row[0], *_values(record), holder),
                )
                ids.append(cursor.lastrowid or 0)
            return ids

    def _release_dead_holders(self, db: sqlite3.Connection) -> None:
        release_dead_holders(db, "segment_deliveries", self.holder)

    @contextmanager
    def _holding(self, record: DeliveryRecord) -> Iterator[SqliteClaim]:
        claim = SqliteClaim(record)
        try:
            yield claim
        finally:
            with self._tx() as db:
                if claim.saved is None:
                    db.execute(
                        "UPDATE segment_deliveries SET held_by = NULL WHERE id = ? AND held_by = ?",
                        (record.id, self.holder),
                    )
                else:
                    db.execute(
                        "UPDATE segment_deliveries SET message_id = ?, type = ?, destination_id = ?,"
                        " stage = ?, attempts = ?, last_status = ?, last_body = ?, next_attempt_at = ?,"
                        " first_attempt_at = ?, last_delay = ?, payload = ?, retries = ?,"
                        " received_at = ?, history = ?, held_by = NULL"
                        " WHERE id = ? AND held_by = ?",
                        (*_values(claim.saved), record.id, self.holder),
                    )

    @contextmanager
    def claim(self, record_id: int) -> Iterator[SqliteClaim | None]:
        """Hold a fresh record for its first attempt (None once attempted or gone)."""
        while True:
            row = self._one(
                f"SELECT {RECORD_COLUMNS}, held_by FROM segment_deliveries WHERE id = ?",  # noqa: S608 - constant columns
                record_id,
            )
            if row is None or row[5] != "retrying" or row[6] > 0:
                record = None
                break
            if row[HELD_BY] == self.holder:  # received by this process: held since then
                record = _record(row)
                break
            with self._tx() as db:
                self._release_dead_holders(db)
                taken = db.execute(
                    "UPDATE segment_deliveries SET held_by = ? WHERE id = ? AND held_by IS NULL",
                    (self.holder, record_id),
                ).rowcount
            if not taken:
                time.sleep(WAIT_SECONDS)  # another process holds it: wait, never overtake
        if record is None:
            yield None
            return
        with self._holding(record) as claim:
            yield claim

    @contextmanager
    def claim_due(self, clock: str | None, now: datetime) -> Iterator[SqliteClaim | None]:
        """Hold the earliest attempt due by ``now`` on ``clock``."""
        with self._tx() as db:
            self._release_dead_holders(db)
            row = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM segment_deliveries WHERE clock = ? AND stage = 'retrying'"  # noqa: S608 - constant columns
                " AND next_attempt_at <= ? AND held_by IS NULL ORDER BY next_attempt_at, id LIMIT 1",
                (clock or "", _text(now)),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE segment_deliveries SET held_by = ? WHERE id = ?", (self.holder, row[0])
                )
        if row is None:
            yield None
            return
        with self._holding(_record(row)) as claim:
            yield claim

    def next_due(self, clock: str | None) -> datetime | None:
        """When the next attempt on ``clock`` falls due."""
        row = self._one(
            "SELECT MIN(next_attempt_at) FROM segment_deliveries WHERE clock = ? AND stage = 'retrying'",
            clock or "",
        )
        return _instant(row[0])

    def overview(self, source_id: str) -> tuple[int, list[DeliveryRecord]]:
        """Arrivals and delivery records, oldest first."""
        with self._lock:
            row = self._one("SELECT received FROM segment_sources WHERE id = ?", source_id)
            rows = self._all(
                f"SELECT {RECORD_COLUMNS} FROM segment_deliveries WHERE source_id = ? ORDER BY id",  # noqa: S608 - constant columns
                source_id,
            )
        return (row[0] if row else 0), [_record(r) for r in rows]

    def sources(self) -> list[Source]:
        """Every source, oldest first."""
        rows = self._all(
            "SELECT id, name, write_key_digest, write_key_last4, clock FROM segment_sources ORDER BY seq"
        )
        return [Source(r[0], r[1], bytes(r[2]), r[3], r[4] or None) for r in rows]

    def delivery_page(
        self,
        source_id: str,
        *,
        stage: str | None = None,
        message_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> DeliveryPage:
        """Counts per stage and a page of records, newest first."""
        stages = dict.fromkeys(STAGES, 0)
        retrying = 0
        where, args = ["source_id = ?"], [source_id]
        if stage is not None:
            where.append("stage = ?")
            args.append(stage)
        if message_id is not None:
            where.append("message_id = ?")
            args.append(message_id)
        clauses = " AND ".join(where)  # fixed text; the values are parameters
        with self._lock:
            row = self._one("SELECT received FROM segment_sources WHERE id = ?", source_id)
            stages["received"] = row[0] if row else 0
            for kind, count in self._all(
                "SELECT stage, COUNT(*) FROM segment_deliveries WHERE source_id = ? GROUP BY stage",
                source_id,
            ):
                if kind == "retrying":
                    retrying = count
                else:
                    stages[kind] = count
            total = self._one(f"SELECT COUNT(*) FROM segment_deliveries WHERE {clauses}", *args)[0]  # noqa: S608
            rows = self._all(
                f"SELECT {RECORD_COLUMNS} FROM segment_deliveries WHERE {clauses} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
                *args,
                limit,
                offset,
            )
        return DeliveryPage(stages, retrying, [_record(r) for r in rows], total)

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source."""
        with self._tx() as db:
            if source_id is None:
                for table in ("segment_sources", "segment_destinations", "segment_deliveries"):
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
                return
            db.execute("DELETE FROM segment_sources WHERE id = ?", (source_id,))
            db.execute("DELETE FROM segment_destinations WHERE source_id = ?", (source_id,))
            db.execute("DELETE FROM segment_deliveries WHERE source_id = ?", (source_id,))
