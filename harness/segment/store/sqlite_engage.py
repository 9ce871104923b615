"""Engage's SQLite store: audiences, computed traits and states in the fake's SQLite file.

Each method is one transaction (``BEGIN IMMEDIATE`` serialises writers across processes),
so two workers never both send the same membership change, and a restarted server knows
every audience, its key and who is in it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from harness.core.clock import format_instant, parse_instant
from harness.core.sqlite import SqliteFile, Synchronous
from harness.segment.engage import (
    COMPUTATION_COLUMNS,
    Computation,
    computation_of,
    new_computation_row,
    same_state,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS engage_computations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, source_id TEXT NOT NULL,
    computation_class TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, level TEXT NOT NULL,
    created_at TEXT NOT NULL, deleted_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS engage_live_keys ON engage_computations (source_id, key)
    WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS engage_states (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, computation_id TEXT NOT NULL, subject TEXT NOT NULL,
    value BLOB NOT NULL, UNIQUE (computation_id, subject));
"""


class SqliteEngageStore(SqliteFile):
    """An :class:`~harness.segment.engage.EngageStore` in a SQLite file (WAL).

    Args:
        path: The database file; the fakes' other stores may use the same file.
        synchronous: ``full`` (default: committed means on disk) or ``normal``.
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = "full") -> None:
        super().__init__(path, synchronous, SCHEMA)

    def add(self, computation: Computation) -> bool:
        """Keep a new computation; False when a live one of the source has its key."""
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO engage_computations ({COMPUTATION_COLUMNS})"  # noqa: S608 - ours
                    " VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    new_computation_row(computation, format_instant),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get(self, computation_id: str) -> Computation | None:
        """The computation, deleted ones included."""
        row = self._one(
            f"SELECT {COMPUTATION_COLUMNS} FROM engage_computations WHERE id = ?",  # noqa: S608 - ours
            computation_id,
        )
        return computation_of(row, parse_instant) if row is not None else None

    def mark_deleted(self, computation_id: str, at: datetime) -> None:
        """Mark a computation deleted."""
        with self._tx() as db:
            db.execute(
                "UPDATE engage_computations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (format_instant(at), computation_id),
            )

    def computations(self, source_id: str) -> list[Computation]:
        """The source's computations, deleted ones included, oldest first."""
        rows = self._all(
            f"SELECT {COMPUTATION_COLUMNS} FROM engage_computations WHERE source_id = ? ORDER BY seq",  # noqa: S608 - ours
            source_id,
        )
        return [computation_of(row, parse_instant) for row in rows]

    def change_state(
        self, computation_id: str, subject: str, value: Any, *, only_if_known: bool
    ) -> bool:
        """Set the subject's state unless it already is that (or is unknown, with only_if_known)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT value FROM engage_states WHERE computation_id = ? AND subject = ?",
                (computation_id, subject),
            ).fetchone()
            if row is not None:
                if same_state(msgspec.json.decode(row[0]), value):
                    return False
                db.execute(
                    "UPDATE engage_states SET value = ? WHERE computation_id = ? AND subject = ?",
                    (msgspec.json.encode(value), computation_id, subject),
                )
                return True
            if only_if_known:
                return False
            db.execute(
                "INSERT INTO engage_states (computation_id, subject, value) VALUES (?, ?, ?)",
                (computation_id, subject, msgspec.json.encode(value)),
            )
            return True

    def states(self, computation_id: str) -> dict[str, Any]:
        """Every subject's state, in the order first set."""
        rows = self._all(
            "SELECT subject, value FROM engage_states WHERE computation_id = ? ORDER BY seq",
            computation_id,
        )
        return {subject: msgspec.json.decode(value) for subject, value in rows}

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source's computations."""
        with self._tx() as db:
            if source_id is None:
                db.execute("DELETE FROM engage_states")
                db.execute("DELETE FROM engage_computations")
                return
            db.execute(
                "DELETE FROM engage_states WHERE computation_id IN "
                "(SELECT id FROM engage_computations WHERE source_id = ?)",
                (source_id,),
            )
            db.execute("DELETE FROM engage_computations WHERE source_id = ?", (source_id,))
