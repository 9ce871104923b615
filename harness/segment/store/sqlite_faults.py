"""Scripted faults and the Tracking API's rate limit in the fakes' SQLite file.

Shared by every worker on the file: the switches are one row, each held message a row
claimed by one process while it is handed over (``BEGIN IMMEDIATE``, freed if that
process dies), and the rate limit one token bucket on the wall clock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from harness.core.clock import format_instant, parse_instant
from harness.core.sqlite import SqliteFile, Synchronous
from harness.segment.ratelimit import refill
from harness.segment.scripted_faults import (
    Counter,
    FaultChanges,
    FaultSettings,
    HeldMessage,
    Outage,
)
from harness.segment.store.sqlite import new_holder_nonce, release_dead_holders

SCHEMA = """
CREATE TABLE IF NOT EXISTS segment_faults (
    id INTEGER PRIMARY KEY CHECK (id = 1), outage_status INTEGER, outage_until TEXT,
    duplicate_next INTEGER NOT NULL, hold_next INTEGER NOT NULL, hold_seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS segment_held (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, due TEXT NOT NULL, url TEXT NOT NULL,
    headers BLOB NOT NULL, body BLOB NOT NULL, held_by TEXT);
CREATE INDEX IF NOT EXISTS segment_held_due ON segment_held (due, seq);
CREATE TABLE IF NOT EXISTS rate_buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, last REAL NOT NULL);
"""

SETTINGS = (
    "SELECT outage_status, outage_until, duplicate_next, hold_next, hold_seconds"
    " FROM segment_faults WHERE id = 1"
)

HELD_COLUMNS_ADDED = {"held_by": "TEXT"}
"""Columns of ``segment_held`` added after it was first released; old files gain them."""


def _due(when: datetime) -> str:
    return format_instant(when)  # fixed width, so text order is time order


def settings_of(row: Any) -> FaultSettings:
    """The switches of a ``segment_faults`` row (None: all off)."""
    if row is None:
        return FaultSettings()
    status, until, duplicate_next, hold_next, hold_seconds = row
    outage = None
    if until is not None:
        outage = Outage(status, until if isinstance(until, datetime) else parse_instant(until))
    return FaultSettings(outage, duplicate_next, hold_next, timedelta(seconds=hold_seconds))


class SqliteFaultRows(SqliteFile):
    """:class:`~harness.segment.scripted_faults.FaultRows` in a SQLite file.

    Args:
        path: The database file; the fakes' other stores may use the same file.
        synchronous: ``full`` (default) or ``normal``.
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = "full") -> None:
        super().__init__(path, synchronous, SCHEMA, {"segment_held": HELD_COLUMNS_ADDED})
        self._nonce = new_holder_nonce()

    @property
    def holder(self) -> str:
        """This process's mark on the held messages it is handing over (read per call)."""
        return f"{os.getpid()}:{self._nonce}"

    def settings(self) -> FaultSettings:
        """The switches in force."""
        return settings_of(self._one(SETTINGS))

    def set(self, settings: FaultSettings) -> None:
        """Replace the switches."""
        with self._tx() as db:
            self._write(db, settings)

    def update(self, changes: FaultChanges) -> FaultSettings:
        """Set these switches and leave the others, read and written in one ``BEGIN IMMEDIATE``."""
        with self._tx() as db:
            after = replace(settings_of(db.execute(SETTINGS).fetchone()), **changes)
            self._write(db, after)
        return after

    @staticmethod
    def _write(db: Any, settings: FaultSettings) -> None:
        outage = settings.outage
        db.execute(
            "INSERT OR REPLACE INTO segment_faults VALUES (1, ?, ?, ?, ?, ?)",
            (
                outage.status if outage else None,
                format_instant(outage.until) if outage else None,
                settings.duplicate_next,
                settings.hold_next,
                settings.hold_for.total_seconds(),
            ),
        )

    def take(self, counter: Counter) -> FaultSettings | None:
        """Count one off ``counter`` when above zero; the settings before, or None."""
        with self._tx() as db:
            before = settings_of(db.execute(SETTINGS).fetchone())
            if getattr(before, counter) <= 0:
                return None
            db.execute(
                f"UPDATE segment_faults SET {counter} = {counter} - 1 WHERE id = 1"  # noqa: S608 - a Literal
            )
            return before

    def end_outage(self, until: datetime) -> None:
        """Switch the outage off if it is still the one ending at ``until``."""
        with self._tx() as db:
            db.execute(
                "UPDATE segment_faults SET outage_status = NULL, outage_until = NULL"
                " WHERE id = 1 AND outage_until = ?",
                (format_instant(until),),
            )

    def hold(self, message: HeldMessage) -> None:
        """Keep a held message."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO segment_held (due, url, headers, body) VALUES (?, ?, ?, ?)",
                (
                    _due(message.due),
                    message.url,
                    msgspec.json.encode(message.headers),
                    message.body,
                ),
            )

    def held_count(self) -> int:
        """How many messages are held."""
        count: int = self._one("SELECT COUNT(*) FROM segment_held")[0]
        return count

    def next_held(self) -> datetime | None:
        """When the earliest held message falls due."""
        row = self._one("SELECT MIN(due) FROM segment_held")
        return parse_instant(row[0]) if row and row[0] is not None else None

    @contextmanager
    def claim_held(self, now: datetime) -> Iterator[HeldMessage | None]:
        """Hold the earliest free message due by ``now``; removed when the block ends.

        Marked with this process's holder id inside ``BEGIN IMMEDIATE``, as a delivery
        attempt is; a message whose holder process is gone is free again.
        """
        holder = self.holder
        with self._tx() as db:
            release_dead_holders(db, "segment_held", holder)
            row = db.execute(
                "SELECT seq, due, url, headers, body FROM segment_held"
                " WHERE due <= ? AND held_by IS NULL ORDER BY due, seq LIMIT 1",
                (_due(now),),
            ).fetchone()
            if row is not None:
                db.execute("UPDATE segment_held SET held_by = ? WHERE seq = ?", (holder, row[0]))
        if row is None:
            yield None
            return
        try:
            yield HeldMessage(
                parse_instant(row[1]), row[2], msgspec.json.decode(row[3]), bytes(row[4])
            )
        except BaseException:
            with self._tx() as db:
                db.execute(
                    "UPDATE segment_held SET held_by = NULL WHERE seq = ? AND held_by = ?",
                    (row[0], holder),
                )
            raise
        with self._tx() as db:
            db.execute("DELETE FROM segment_held WHERE seq = ? AND held_by = ?", (row[0], holder))

    def clear(self) -> None:
        """Switch everything off and drop held messages."""
        with self._tx() as db:
            db.execute("DELETE FROM segment_faults")
            db.execute("DELETE FROM segment_held")


class SqliteRateBucket:
    """The rate limit's token bucket in a SQLite file, on the wall clock (one per machine).

    The file is opened at the first take, so a worker with no rate limit set (which never
    takes) holds no connection for it.

    Args:
        path: The database file.
        wall: Seconds since the epoch (injected in tests).
    """

    def __init__(self, path: str | Path, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._wall = wall
        self._file: _BucketFile | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the file is open (after the first take, until :meth:`close`)."""
        return self._file is not None

    def take(self, name: str, rate: float) -> float:
        """Take a token: 0 when admitted, else the seconds until one is free."""
        with self._lock:
            if self._file is None:
                self._file = _BucketFile(self.path)
            file = self._file
        return file.take(name, rate, self._wall)

    def close(self) -> None:
        """Close the file, if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class _BucketFile(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, "normal", SCHEMA)

    def take(self, name: str, rate: float, wall: Callable[[], float]) -> float:
        with self._tx() as db:
            now = wall()
            row = db.execute(
                "SELECT tokens, last FROM rate_buckets WHERE name = ?", (name,)
            ).fetchone()
            tokens, wait = refill(rate, row, now)
            db.execute("INSERT OR REPLACE INTO rate_buckets VALUES (?, ?, ?)", (name, tokens, now))
        return wait
