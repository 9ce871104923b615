"""Engage's PostgreSQL store: audiences, computed traits and states shared by every worker.

Each method is one transaction. A state change locks the subject's row (or inserts it,
the unique constraint deciding between two workers), so two workers never both send the
same membership change; a restarted fleet knows every audience, its key and who is in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from harness.core.postgres import PostgresRows
from harness.segment.engage import (
    COMPUTATION_COLUMNS,
    Computation,
    computation_of,
    new_computation_row,
    same_state,
)


class PostgresEngageStore(PostgresRows):
    """An :class:`~harness.segment.engage.EngageStore` in the shared PostgreSQL database.

    Args:
        pool: Connections to the migrated database (the fakes' other stores' pool).
    """

    def add(self, computation: Computation) -> bool:
        """Keep a new computation; False when a live one of the source has its key."""
        row = self._one(
            f"INSERT INTO engage_computations ({COMPUTATION_COLUMNS}) VALUES"  # noqa: S608 - ours
            " (%s, %s, %s, %s, %s, %s, %s, NULL) ON CONFLICT DO NOTHING RETURNING seq",
            *new_computation_row(computation),
        )
        return row is not None

    def get(self, computation_id: str) -> Computation | None:
        """The computation, deleted ones included."""
        row = self._one(
            f"SELECT {COMPUTATION_COLUMNS} FROM engage_computations WHERE id = %s",  # noqa: S608 - ours
            computation_id,
        )
        return computation_of(row) if row is not None else None

    def mark_deleted(self, computation_id: str, at: datetime) -> None:
        """Mark a computation deleted."""
        self._run(
            "UPDATE engage_computations SET deleted_at = %s WHERE id = %s AND deleted_at IS NULL",
            at,
            computation_id,
        )

    def computations(self, source_id: str) -> list[Computation]:
        """The source's computations, deleted ones included, oldest first."""
        rows = self._all(
            f"SELECT {COMPUTATION_COLUMNS} FROM engage_computations WHERE source_id = %s ORDER BY seq",  # noqa: S608 - ours
            source_id,
        )
        return [computation_of(row) for row in rows]

    def change_state(
        self, computation_id: str, subject: str, value: Any, *, only_if_known: bool
    ) -> bool:
        """Set the subject's state unless it already is that (or is unknown, with only_if_known)."""
        encoded = msgspec.json.encode(value)
        with self._transaction() as db:
            if not only_if_known:
                inserted = db.execute(
                    "INSERT INTO engage_states (computation_id, subject, value) VALUES (%s, %s, %s)"
                    " ON CONFLICT (computation_id, subject) DO NOTHING RETURNING seq",
                    (computation_id, subject, encoded),
                ).fetchone()
                if inserted is not None:
                    return True
            row = db.execute(
                "SELECT value FROM engage_states WHERE computation_id = %s AND subject = %s"
                " FOR UPDATE",
                (computation_id, subject),
            ).fetchone()
            if row is None or same_state(msgspec.json.decode(bytes(row[0])), value):
                return False
            db.execute(
                "UPDATE engage_states SET value = %s WHERE computation_id = %s AND subject = %s",
                (encoded, computation_id, subject),
            )
            return True

    def states(self, computation_id: str) -> dict[str, Any]:
        """Every subject's state, in the order first set."""
        rows = self._all(
            "SELECT subject, value FROM engage_states WHERE computation_id = %s ORDER BY seq",
            computation_id,
        )
        return {subject: msgspec.json.decode(bytes(value)) for subject, value in rows}

    def reset(self, source_id: str | None = None) -> None:
        """Forget everything, or one source's computations."""
        with self._transaction() as db:
            if source_id is None:
                db.execute("DELETE FROM engage_states")
                db.execute("DELETE FROM engage_computations")
                return
            db.execute(
                "DELETE FROM engage_states WHERE computation_id IN"
                " (SELECT id FROM engage_computations WHERE source_id = %s)",
                (source_id,),
            )
            db.execute("DELETE FROM engage_computations WHERE source_id = %s", (source_id,))
