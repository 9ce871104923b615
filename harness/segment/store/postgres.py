"""The fake Segment's PostgreSQL store, shared by every worker and host that opens it.

A delivery attempt is claimed by one worker as procrastinate claims a job: an
``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``, marking the
record with the worker's holder id, committed before the attempt is made. Each worker
keeps a session-level advisory lock on its holder id for as long as it lives; when a
worker dies its session ends, the lock goes, and the next claim frees its records.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from harness.core.postgres import PostgresRows
from harness.segment.records import STAGES, DeliveryPage, DeliveryRecord, Destination, Source
from harness.segment.store.sqlite import (
    HELD_BY,
    RECORD_COLUMNS,
    SqliteClaim,
    _history_blob,
    _history_of,
)

WAIT_SECONDS = 0.005


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
        next_attempt_at=row[9],
        first_attempt_at=row[10],
        last_delay=None if row[11] is None else timedelta(seconds=row[11]),
        payload=bytes(row[12]),
        retries=row[13],
        received_at=row[14],
        history=_history_of(None if row[15] is None else bytes(row[15])),
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
        record.next_attempt_at,
        record.first_attempt_at,
        None if record.last_delay is None else record.last_delay.total_seconds(),
        record.payload,
        record.retries,
        record.received_at,
        _history_blob(record.history),
    )


def release_dead(table: str) -> str:
    """The statement that frees the rows of ``table`` whose holder's session has ended.

    Its one parameter is this worker's holder id (never freed). A holder's advisory lock is
    free only once its session is gone: then ``pg_try_advisory_xact_lock`` takes it.
    """
    return (
        f"UPDATE {table} SET held_by = NULL WHERE held_by IS NOT NULL AND held_by <> %s"  # noqa: S608 - a constant table
        " AND pg_try_advisory_xact_lock(hashtextextended(held_by, 0))"
    )


class PostgresLiveness:
    """This worker's holder id, and the one connection whose advisory lock says it is alive.

    Rows a worker holds (``held_by``) carry its holder id; while the worker lives, a session
    of its own holds the advisory lock named by that id. When the worker dies, the session
    ends, the lock goes, and :func:`release_dead` frees its rows. Shared by every table whose
    rows a worker holds (deliveries, held messages).

    Args:
        url: The database.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._nonce = secrets.token_hex(4)
        self._alive: psycopg.Connection[Any] | None = None
        self._alive_pid = 0
        self._alive_lock = threading.Lock()

    @property
    def holder(self) -> str:
        """This worker's mark on the rows it holds (host, process, nonce)."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._nonce}"

    def ensure(self) -> str:
        """This worker's holder id, its advisory lock taken first if not yet (also after a fork)."""
        holder = self.holder
        with self._alive_lock:
            if self._alive is None or self._alive_pid != os.getpid() or self._alive.closed:
                self._alive = psycopg.connect(self._url, autocommit=True)
                self._alive.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (holder,))
                self._alive_pid = os.getpid()
        return holder

    def close(self) -> None:
        """Let go of the liveness connection."""
        with self._alive_lock:
            if self._alive is not None and self._alive_pid == os.getpid():
                self._alive.close()
            self._alive = None


_RELEASE_DEAD_DELIVERIES = release_dead("segment_deliveries")


class PostgresSegmentStore(PostgresRows):
    """The fake Segment's workspace in PostgreSQL.

    Args:
        pool: Connections to a database whose schema is migrated.
        url: The same database, for the one connection that says this worker is alive.
    """

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], url: str) -> None:
        super().__init__(pool)
        self.liveness = PostgresLiveness(url)
        """This worker's holder id and liveness lock (the scripted faults' rows share it)."""

    @property
    def holder(self) -> str:
        """This worker's mark on the records it holds (host, process, nonce)."""
        return self.liveness.holder

    def _ensure_alive(self) -> str:
        return self.liveness.ensure()

    def close(self) -> None:
        """Let go of the liveness connection (the pool belongs to whoever opened it)."""
        self.liveness.close()

    # sources and destinations
    def add_source(self, source: Source) -> None:
        """Keep a new source."""
        with self._pool.connection() as db:
            db.execute(
                "INSERT INTO segment_sources (id, name, write_key_digest, write_key_last4, clock)"
                " VALUES (%s, %s, %s, %s, %s)",
                (
                    source.id,
                    source.name,
                    source.write_key_digest,
                    source.write_key_last4,
                    source.clock or "",
                ),
            )

    def _source(self, column: str, value: Any) -> Source | None:
        row = self._one(
            "SELECT id, name, write_key_digest, write_key_last4, clock FROM segment_sources"  # noqa: S608 - a constant column
            f" WHERE {column} = %s",
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
        with self._pool.connection() as db:
            db.execute(
                "INSERT INTO segment_destinations (id, source_id, type, api_key, endpoint, name)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
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
            "SELECT id, source_id, type, api_key, endpoint, name FROM segment_destinations"
            " WHERE id = %s",
            destination_id,
        )
        return Destination(*row) if row else None

    def destinations(self, source_id: str) -> list[Destination]:
        """The source's destinations, oldest first."""
        rows = self._all(
            "SELECT id, source_id, type, api_key, endpoint, name FROM segment_destinations"
            " WHERE source_id = %s ORDER BY seq",
            source_id,
        )
        return [Destination(*row) for row in rows]

    # deliveries
    def receive(
        self, source_id: str, received: int, records: Sequence[DeliveryRecord]
    ) -> list[int]:
        """Count arrivals and keep records, in one transaction."""
        holder = self._ensure_alive()
        with self._pool.connection() as db:
            row = db.execute(
                "UPDATE segment_sources SET received = received + %s WHERE id = %s RETURNING clock",
                (received, source_id),
            ).fetchone()
            if row is None:
                raise KeyError(source_id)
            ids = []
            for record in records:
                held = holder if record.stage == "retrying" and record.attempts == 0 else None
                inserted = db.execute(
                    "INSERT INTO segment_deliveries (source_id, clock, message_id, type,"
                    " destination_id, stage, attempts, last_status, last_body, next_attempt_at,"
                    " first_attempt_at, last_delay, payload, retries, received_at, history,"
                    " held_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s) RETURNING id",
                    (source_id, row[0], *_values(record), held),
                ).fetchone()
                assert inserted is not None
                ids.append(inserted[0])
            return ids

    @contextmanager
    def _holding(self, record: DeliveryRecord, holder: str) -> Iterator[SqliteClaim]:
        claim = SqliteClaim(record)
        try:
            yield claim
        finally:
            with self._pool.connection() as db:
                if claim.saved is None:
                    db.execute(
                        "UPDATE segment_deliveries SET held_by = NULL WHERE id = %s AND held_by = %s",
                        (record.id, holder),
                    )
                else:
                    db.execute(
                        "UPDATE segment_deliveries SET message_id = %s, type = %s,"
                        " destination_id = %s, stage = %s, attempts = %s, last_status = %s,"
                        " last_body = %s, next_attempt_at = %s, first_attempt_at = %s,"
                        " last_delay = %s, payload = %s, retries = %s, received_at = %s,"
                        " history = %s, held_by = NULL"
                        " WHERE id = %s AND held_by = %s",
                        (*_values(claim.saved), record.id, holder),
                    )

    @contextmanager
    def claim(self, record_id: int) -> Iterator[SqliteClaim | None]:
        """Hold a fresh record for its first attempt (None once attempted or gone)."""
        holder = self._ensure_alive()
        while True:
            row = self._one(
                f"SELECT {RECORD_COLUMNS}, held_by FROM segment_deliveries WHERE id = %s",  # noqa: S608 - constant columns
                record_id,
            )
            if row is None or row[5] != "retrying" or row[6] > 0:
                record = None
                break
            if row[HELD_BY] == holder:  # received by this worker: held since then
                record = _record(row)
                break
            with self._pool.connection() as db:
                db.execute(_RELEASE_DEAD_DELIVERIES, (holder,))
                taken = db.execute(
                    "UPDATE segment_deliveries SET held_by = %s WHERE id = %s AND held_by IS NULL",
                    (holder, record_id),
                ).rowcount
            if not taken:
                time.sleep(WAIT_SECONDS)  # another worker holds it: wait, never overtake
        if record is None:
            yield None
            return
        with self._holding(record, holder) as claim:
            yield claim

    @contextmanager
    def claim_due(self, clock: str | None, now: datetime) -> Iterator[SqliteClaim | None]:
        """Hold the earliest attempt due by ``now`` on ``clock`` (FOR UPDATE SKIP LOCKED)."""
        holder = self._ensure_alive()
        with self._pool.connection() as db:
            db.execute(_RELEASE_DEAD_DELIVERIES, (holder,))
            row = db.execute(
                "UPDATE segment_deliveries SET held_by = %s WHERE id = ("  # noqa: S608 - constant columns
                " SELECT id FROM segment_deliveries WHERE clock = %s AND stage = 'retrying'"
                " AND next_attempt_at <= %s AND held_by IS NULL"
                " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {RECORD_COLUMNS}",
                (holder, clock or "", now),
            ).fetchone()
        if row is None:
            yield None
            return
        with self._holding(_record(row), holder) as claim:
            yield claim

    def next_due(self, clock: str | None) -> datetime | None:
        """When the next attempt on ``clock`` falls due."""
        row = self._one(
            "SELECT MIN(next_attempt_at) FROM segment_deliveries"
            " WHERE clock = %s AND stage = 'retrying'",
            clock or "",
        )
        due: datetime | None = row[0]
        return due

    def overview(self, source_id: str) -> tuple[int, list[DeliveryRecord]]:
        """Arrivals and delivery records, oldest first (one snapshot)."""
        with self._pool.connection() as db:
            row = db.execute(
                "SELECT received FROM segment_sources WHERE id = %s", (source_id,)
            ).fetchone()
            rows = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM segment_deliveries WHERE source_id = %s ORDER BY id",  # noqa: S608 - constant columns
                (source_id,),
            ).fetchall()
        return (row[0] if row else 0), [_record(r) for r in rows]

    def sources(self) -> list[Source]:
        """Every source, oldest first."""
        rows = self._all(
            "SELECT id, name, write_key_digest, write_key_last4, clock FROM segment_sources"
            " ORDER BY seq"
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
        match = (
            "source_id = %s AND (%s::text IS NULL OR stage = %s)"
            " AND (%s::text IS NULL OR message_id = %s)"
        )
        args = (source_id, stage, stage, message_id, message_id)
        with self._pool.connection() as db:
            row = db.execute(
                "SELECT received FROM segment_sources WHERE id = %s", (source_id,)
            ).fetchone()
            stages["received"] = row[0] if row else 0
            for kind, count in db.execute(
                "SELECT stage, COUNT(*) FROM segment_deliveries WHERE source_id = %s GROUP BY stage",
                (source_id,),
            ).fetchall():
                if kind == "retrying":
                    retrying = count
                else:
                    stages[kind] = count
            total_row = db.execute(
                f"SELECT COUNT(*) FROM segment_deliveries WHERE {match}",  # noqa: S608 - constant text
                args,
            ).fetchone()
            rows = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM segment_deliveries WHERE {match}"  # noqa: S608 - constant text
                " ORDER BY id DESC LIMIT %s OFFSET %s",
                (*args, limit, offset),
            ).fetchall()
        total = total_row[0] if total_row else 0
        return DeliveryPage(stages, retrying, [_record(r) for r in rows], total)

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source."""
        with self._pool.connection() as db:
            if source_id is None:
                db.execute("DELETE FROM segment_sources")
                db.execute("DELETE FROM segment_destinations")
                db.execute("DELETE FROM segment_deliveries")
                return
            db.execute("DELETE FROM segment_sources WHERE id = %s", (source_id,))
            db.execute("DELETE FROM segment_destinations WHERE source_id = %s", (source_id,))
            db.execute("DELETE FROM segment_deliveries WHERE source_id = %s", (source_id,))
