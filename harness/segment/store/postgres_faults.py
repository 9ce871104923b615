"""Scripted faults and the Tracking API's rate limit in the shared PostgreSQL database.

The switches are one row, counted down in one statement; each held message is a row claimed
by one worker while it is handed over, as a delivery attempt is (``FOR UPDATE SKIP
LOCKED``, the worker's holder id, freed when its session ends); the rate limit is one
token bucket on the database server's clock, so workers on several hosts share one limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from psycopg_pool import ConnectionPool

from harness.core.postgres import PostgresRows
from harness.segment.ratelimit import refill
from harness.segment.scripted_faults import Counter, FaultChanges, FaultSettings, HeldMessage
from harness.segment.store.postgres import PostgresLiveness, release_dead
from harness.segment.store.sqlite_faults import SETTINGS, settings_of

COLUMNS_OF = {
    "outage": ("outage_status", "outage_until"),
    "duplicate_next": ("duplicate_next",),
    "hold_next": ("hold_next",),
    "hold_for": ("hold_seconds",),
}
"""The ``segment_faults`` columns of each switch."""


def _columns(settings: FaultSettings) -> tuple[Any, ...]:
    outage = settings.outage
    return (
        outage.status if outage else None,
        outage.until if outage else None,
        settings.duplicate_next,
        settings.hold_next,
        settings.hold_for.total_seconds(),
    )


_RELEASE_DEAD_HELD = release_dead("segment_held")


class PostgresFaultRows(PostgresRows):
    """:class:`~harness.segment.scripted_faults.FaultRows` in PostgreSQL.

    Args:
        pool: Connections to the migrated database.
        liveness: This worker's holder id and liveness lock, shared with its Segment store
            (:attr:`~harness.segment.store.postgres.PostgresSegmentStore.liveness`).
    """

    def __init__(
        self, pool: ConnectionPool[psycopg.Connection[Any]], liveness: PostgresLiveness
    ) -> None:
        super().__init__(pool)
        self._liveness = liveness

    def settings(self) -> FaultSettings:
        """The switches in force."""
        return settings_of(self._one(SETTINGS))

    def set(self, settings: FaultSettings) -> None:
        """Replace the switches."""
        self._run(
            "INSERT INTO segment_faults VALUES (1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO"
            " UPDATE SET outage_status = EXCLUDED.outage_status, outage_until ="
            " EXCLUDED.outage_until, duplicate_next = EXCLUDED.duplicate_next, hold_next ="
            " EXCLUDED.hold_next, hold_seconds = EXCLUDED.hold_seconds",
            *_columns(settings),
        )

    def update(self, changes: FaultChanges) -> FaultSettings:
        """Set only these switches' columns, in one upsert; the switches after."""
        if not changes:
            return self.settings()
        values = _columns(FaultSettings(**changes))
        changed = [column for name in changes for column in COLUMNS_OF[name]]
        row = self._one(
            "INSERT INTO segment_faults VALUES (1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO"  # noqa: S608 - constant column names
            f" UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in changed)}"
            " RETURNING outage_status, outage_until, duplicate_next, hold_next, hold_seconds",
            *values,
        )
        return settings_of(row)

    def take(self, counter: Counter) -> FaultSettings | None:
        """Count one off ``counter`` when above zero; the settings before, or None."""
        row = self._one(
            f"UPDATE segment_faults SET {counter} = {counter} - 1"  # noqa: S608 - a Literal
            f" WHERE id = 1 AND {counter} > 0 RETURNING outage_status, outage_until,"
            " duplicate_next, hold_next, hold_seconds"
        )
        if row is None:
            return None
        after = settings_of(row)
        # The row as it was before this take.
        if counter == "duplicate_next":
            return FaultSettings(
                after.outage, after.duplicate_next + 1, after.hold_next, after.hold_for
            )
        return FaultSettings(
            after.outage, after.duplicate_next, after.hold_next + 1, after.hold_for
        )

    def end_outage(self, until: datetime) -> None:
        """Switch the outage off if it is still the one ending at ``until``."""
        self._run(
            "UPDATE segment_faults SET outage_status = NULL, outage_until = NULL"
            " WHERE id = 1 AND outage_until = %s",
            until,
        )

    def hold(self, message: HeldMessage) -> None:
        """Keep a held message."""
        self._run(
            "INSERT INTO segment_held (due, url, headers, body) VALUES (%s, %s, %s, %s)",
            message.due,
            message.url,
            msgspec.json.encode(message.headers),
            message.body,
        )

    def held_count(self) -> int:
        """How many messages are held."""
        row = self._one("SELECT COUNT(*) FROM segment_held")
        return int(row[0]) if row else 0

    def next_held(self) -> datetime | None:
        """When the earliest held message falls due."""
        row = self._one("SELECT MIN(due) FROM segment_held")
        return row[0] if row else None

    @contextmanager
    def claim_held(self, now: datetime) -> Iterator[HeldMessage | None]:
        """Hold the earliest free message due by ``now``; removed when the block ends.

        Claimed as a delivery attempt is (``FOR UPDATE SKIP LOCKED``, marked with this
        worker's holder id, committed before the handover); freed once its holder's session
        ends.
        """
        holder = self._liveness.ensure()
        with self._transaction() as db:  # dead holders' claims freed before this one is made
            db.execute(_RELEASE_DEAD_HELD, (holder,))
            row = db.execute(
                "UPDATE segment_held SET held_by = %s WHERE seq = (SELECT seq FROM segment_held"
                " WHERE due <= %s AND held_by IS NULL ORDER BY due, seq LIMIT 1"
                " FOR UPDATE SKIP LOCKED) RETURNING seq, due, url, headers, body",
                (holder, now),
            ).fetchone()
        if row is None:
            yield None
            return
        try:
            yield HeldMessage(row[1], row[2], msgspec.json.decode(bytes(row[3])), bytes(row[4]))
        except BaseException:
            self._run(
                "UPDATE segment_held SET held_by = NULL WHERE seq = %s AND held_by = %s",
                row[0],
                holder,
            )
            raise
        self._run("DELETE FROM segment_held WHERE seq = %s AND held_by = %s", row[0], holder)

    def clear(self) -> None:
        """Switch everything off and drop held messages."""
        with self._transaction() as db:
            db.execute("DELETE FROM segment_faults")
            db.execute("DELETE FROM segment_held")


class PostgresRateBucket(PostgresRows):
    """The rate limit's token bucket in PostgreSQL, on the database server's clock.

    Args:
        pool: Connections to the migrated database.
    """

    def take(self, name: str, rate: float) -> float:
        """Take a token: 0 when admitted, else the seconds until one is free."""
        with self._transaction() as db:  # the row stays locked from read to write
            db.execute(
                "INSERT INTO rate_buckets VALUES (%s, %s, 0) ON CONFLICT (name) DO NOTHING",
                (name, rate),
            )
            row = db.execute(
                "SELECT tokens, last, extract(epoch FROM clock_timestamp())::float8"
                " FROM rate_buckets WHERE name = %s FOR UPDATE",
                (name,),
            ).fetchone()
            assert row is not None  # inserted above when missing
            now: float = row[2]
            tokens, wait = refill(rate, (row[0], row[1]), now)
            db.execute(
                "UPDATE rate_buckets SET tokens = %s, last = %s WHERE name = %s",
                (tokens, now, name),
            )
        return wait
