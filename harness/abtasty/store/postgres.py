"""The fake AB Tasty's PostgreSQL store: psycopg 3 over a connection pool, one transaction per call.

Several workers and several hosts may share the database. What must be decided once is
decided by the database: the dedup window by the ``dedup`` primary key (an upsert that
only replaces an expired first arrival), each nightly run by the unique
``(account_id, scheduled_for)`` of ``refreshes``. The schema is created and migrated by
:func:`harness.runtime.postgres.open_database`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from harness.abtasty.records import (
    Account,
    Activation,
    ApiKeyRecord,
    CohortChange,
    Condition,
    Connector,
    GroupProfile,
    Profile,
    RefreshRun,
    Segment,
    Sighting,
    StoredMessage,
    TraitKey,
    natural_trait_key,
)
from harness.abtasty.store.base import COHORT_CHANGE_RETENTION, MESSAGE_RETENTION
from harness.abtasty.store.sqlite import (
    TENANT_TABLES,
    _traits_blob,
    _traits_of,
    _visitors_json,
    _visitors_of,
)
from harness.core.postgres import PostgresRows

MESSAGE_COLUMNS = (
    "seq, account_id, connector_id, message_id, type, anonymous_id, user_id, group_id, traits,"
    " timestamp, received_at, taken, engage"
)
REFRESH_COLUMNS = (
    "scheduled_for, cutoff, messages, profiles, matched_profiles, cohorts, ran_at, entered,"
    " left_count, input_version"
)
_BUMP = "UPDATE accounts SET input_version = input_version + 1 WHERE id = %s"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def _account(row: Any) -> Account:
    return Account(row[0], row[1], row[2], row[3], row[4], row[5] or None)


class PostgresStore(PostgresRows):
    """The fake AB Tasty's state in PostgreSQL, shared by every worker that opens it.

    Args:
        pool: Connections to a database whose schema is migrated.
    """

    def close(self) -> None:
        """Nothing of its own to release (the pool belongs to whoever opened it)."""

    # accounts and setup
    def add_account(self, account: Account) -> None:
        """Keep a new account."""
        self._run(
            "INSERT INTO accounts (id, name, timezone, refresh_hour, created_at, clock)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            account.id,
            account.name,
            account.timezone,
            account.refresh_hour,
            account.created_at,
            account.clock or "",
        )

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        row = self._one(
            "SELECT id, name, timezone, refresh_hour, created_at, clock FROM accounts WHERE id = %s",
            account_id,
        )
        return _account(row) if row else None

    def accounts(self, offset: int = 0, limit: int = 100) -> list[Account]:
        """A page of accounts, oldest first."""
        rows = self._all(
            "SELECT a.id, a.name, a.timezone, a.refresh_hour, a.created_at, a.clock FROM accounts a"
            " ORDER BY a.created_at, a.id LIMIT %s OFFSET %s",
            limit,
            offset,
        )
        return [_account(r) for r in rows]

    def account_count(self) -> int:
        """How many accounts there are."""
        count: int = self._one("SELECT COUNT(*) FROM accounts")[0]
        return count

    def input_version(self, account_id: str) -> int:
        """The account's count of changes to what the refresh reads."""
        row = self._one("SELECT input_version FROM accounts WHERE id = %s", account_id)
        return int(row[0]) if row else 0

    def add_connector(self, connector: Connector) -> None:
        """Keep a new connector."""
        with self._pool.connection() as db:
            db.execute(
                "INSERT INTO connectors (id, account_id, name, created_at, integration, direction)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    connector.id,
                    connector.account_id,
                    connector.name,
                    connector.created_at,
                    connector.integration,
                    connector.direction,
                ),
            )
            db.execute(_BUMP, (connector.account_id,))

    def connectors(self, account_id: str) -> list[Connector]:
        """The account's connectors, oldest first."""
        rows = self._all(
            "SELECT id, account_id, name, created_at, integration, direction FROM connectors"
            " WHERE account_id = %s ORDER BY seq",
            account_id,
        )
        return [Connector(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def remove_connector(self, account_id: str, connector_id: str) -> bool:
        """Remove a connector."""
        with self._pool.connection() as db:
            removed = db.execute(
                "DELETE FROM connectors WHERE account_id = %s AND id = %s",
                (account_id, connector_id),
            ).rowcount
            if removed:
                db.execute(_BUMP, (account_id,))
            return removed > 0

    def put_api_key(self, record: ApiKeyRecord) -> None:
        """Set the account's key, replacing the old one (which every worker refuses at once)."""
        with self._pool.connection() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (%s, %s, %s, %s) ON CONFLICT (account_id) DO UPDATE"
                " SET digest = EXCLUDED.digest, last4 = EXCLUDED.last4,"
                " created_at = EXCLUDED.created_at",
                (record.account_id, record.digest, record.last4, record.created_at),
            )
            db.execute(_BUMP, (record.account_id,))

    def _key(self, column: str, value: Any) -> ApiKeyRecord | None:
        row = self._one(
            f"SELECT account_id, digest, last4, created_at FROM api_keys WHERE {column} = %s",  # noqa: S608 - a constant column
            value,
        )
        return ApiKeyRecord(row[0], bytes(row[1]), row[2], row[3]) if row else None

    def get_api_key(self, account_id: str) -> ApiKeyRecord | None:
        """The account's key record."""
        return self._key("account_id", account_id)

    def find_api_key(self, digest: bytes) -> ApiKeyRecord | None:
        """The live key record with this digest."""
        return self._key("digest", digest)

    def remove_api_key(self, account_id: str) -> bool:
        """Revoke the account's key."""
        with self._pool.connection() as db:
            removed = db.execute(
                "DELETE FROM api_keys WHERE account_id = %s", (account_id,)
            ).rowcount
            if removed:
                db.execute(_BUMP, (account_id,))
            return removed > 0

    # messages
    def add_message(self, message: StoredMessage, dedup_window: timedelta) -> int | None:
        """Store a message unless it is a duplicate within the window (one transaction).

        The upsert on the ``dedup`` primary key is the one decision every worker shares: it
        inserts a first arrival, or replaces one that is at least ``dedup_window`` old, and
        returns nothing for a duplicate.
        """
        with self._pool.connection() as db:
            first = db.execute(
                "INSERT INTO dedup AS d VALUES (%s, %s, %s) ON CONFLICT (account_id, message_id)"
                " DO UPDATE SET first_arrival = EXCLUDED.first_arrival WHERE d.first_arrival <= %s"
                " RETURNING 1",
                (
                    message.account_id,
                    message.message_id,
                    message.received_at,
                    message.received_at - dedup_window,
                ),
            ).fetchone()
            if first is None:
                return None
            row = db.execute(
                "INSERT INTO messages (account_id, connector_id, message_id, type, anonymous_id,"
                " user_id, group_id, traits, timestamp, received_at, engage)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                (
                    message.account_id,
                    message.connector_id,
                    message.message_id,
                    message.type,
                    message.anonymous_id,
                    message.user_id,
                    message.group_id,
                    _encode(message.traits),
                    message.timestamp,
                    message.received_at,
                    message.engage,
                ),
            ).fetchone()
            assert row is not None
            db.execute(_BUMP, (message.account_id,))
            seq: int = row[0]
            return seq

    def _messages(self, where: str, *args: Any) -> list[tuple[StoredMessage, bool]]:
        rows = self._all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY seq",  # noqa: S608 - ours
            *args,
        )
        return [
            (
                StoredMessage(
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    _decode(r[8]),
                    r[9],
                    r[10],
                    r[0],
                    r[12],
                ),
                r[11],
            )
            for r in rows
        ]

    def pending_messages(self, account_id: str, cutoff: datetime) -> list[StoredMessage]:
        """Untaken messages received before the cutoff, in arrival order."""
        return [
            m
            for m, _ in self._messages(
                "account_id = %s AND NOT taken AND received_at < %s", account_id, cutoff
            )
        ]

    def messages_for(
        self, account_id: str, anonymous_ids: Collection[str]
    ) -> list[tuple[StoredMessage, bool]]:
        """Messages for these anonymousIds, with whether a refresh took each."""
        ids = list(anonymous_ids)
        if not ids:
            return []
        return self._messages("account_id = %s AND anonymous_id = ANY(%s)", account_id, ids)

    # visitors
    def add_sighting(self, sighting: Sighting) -> bool:
        """Record a sighting; True when the visitor is new."""
        with self._pool.connection() as db:
            known = db.execute(
                "SELECT 1 FROM sightings WHERE account_id = %s AND visitor_id = %s LIMIT 1",
                (sighting.account_id, sighting.visitor_id),
            ).fetchone()
            changed = db.execute(
                "INSERT INTO sightings AS s VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (account_id, visitor_id, anonymous_id)"
                " DO UPDATE SET seen_at = EXCLUDED.seen_at WHERE EXCLUDED.seen_at < s.seen_at",
                (sighting.account_id, sighting.visitor_id, sighting.anonymous_id, sighting.seen_at),
            ).rowcount
            if changed:
                db.execute(_BUMP, (sighting.account_id,))
            return known is None

    def visitor_sightings(self, account_id: str, visitor_id: str) -> list[Sighting]:
        """The visitor's sightings, one per anonymousId, oldest first."""
        rows = self._all(
            "SELECT anonymous_id, seen_at FROM sightings WHERE account_id = %s AND visitor_id = %s"
            " ORDER BY seen_at, anonymous_id",
            account_id,
            visitor_id,
        )
        return [Sighting(account_id, visitor_id, r[0], r[1]) for r in rows]

    def sightings_since(self, account_id: str, version: int) -> list[Sighting]:
        """Every sighting: the contract allows more than the changed ones, and a full read
        costs about what the refresh's commit (the whole activation) costs here anyway."""
        return self.sightings(account_id)

    def sightings(self, account_id: str) -> list[Sighting]:
        """Every sighting in the account."""
        rows = self._all(
            "SELECT visitor_id, anonymous_id, seen_at FROM sightings WHERE account_id = %s",
            account_id,
        )
        return [Sighting(account_id, r[0], r[1], r[2]) for r in rows]

    # nightly refresh
    def profiles(self, account_id: str) -> list[Profile]:
        """Every profile of the account (fresh objects)."""
        rows = self._all(
            "SELECT connector_id, anonymous_id, traits, groups FROM profiles WHERE account_id = %s",
            account_id,
        )
        return [Profile(r[0], r[1], _traits_of(r[2]), frozenset(_decode(r[3]))) for r in rows]

    def groups(self, account_id: str) -> list[GroupProfile]:
        """Every group profile of the account (fresh objects)."""
        rows = self._all(
            "SELECT connector_id, group_id, traits FROM groups WHERE account_id = %s", account_id
        )
        return [GroupProfile(r[0], r[1], _traits_of(r[2])) for r in rows]

    def commit_refresh(
        self,
        run: RefreshRun,
        taken: Sequence[int],
        profiles: Sequence[Profile],
        groups: Sequence[GroupProfile],
        activation: Activation | None,
        changes: Sequence[CohortChange] = (),
    ) -> bool:
        """Apply one refresh in one transaction, unless another worker already ran it."""
        account = run.account_id
        with self._pool.connection() as db:
            claimed = db.execute(
                f"INSERT INTO refreshes (account_id, {REFRESH_COLUMNS})"  # noqa: S608 - constant names
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id, scheduled_for) DO NOTHING RETURNING seq",
                (
                    account,
                    run.scheduled_for,
                    run.cutoff,
                    run.messages,
                    run.profiles,
                    run.matched_profiles,
                    run.cohorts,
                    run.ran_at,
                    run.entered,
                    run.left,
                    run.input_version,
                ),
            ).fetchone()
            if claimed is None:
                return False  # run by another worker: nothing of ours is written
            with db.cursor() as cursor:
                cursor.executemany(
                    "UPDATE messages SET taken = true WHERE seq = %s", [(seq,) for seq in taken]
                )
                horizon = run.cutoff - MESSAGE_RETENTION
                cursor.execute(
                    "DELETE FROM messages WHERE account_id = %s AND taken AND received_at < %s",
                    (account, horizon),
                )
                cursor.execute(
                    "DELETE FROM dedup WHERE account_id = %s AND first_arrival < %s",
                    (account, horizon),
                )
                cursor.executemany(
                    "INSERT INTO profiles VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (account_id, connector_id, anonymous_id)"
                    " DO UPDATE SET traits = EXCLUDED.traits, groups = EXCLUDED.groups",
                    [
                        (
                            account,
                            p.connector_id,
                            p.anonymous_id,
                            _traits_blob(p.traits),
                            _encode(sorted(p.groups)),
                        )
                        for p in profiles
                    ],
                )
                cursor.executemany(
                    "INSERT INTO groups VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (account_id, connector_id, group_id)"
                    " DO UPDATE SET traits = EXCLUDED.traits",
                    [(account, g.connector_id, g.group_id, _traits_blob(g.traits)) for g in groups],
                )
                cursor.execute(
                    "DELETE FROM cohort_changes WHERE account_id = %s AND scheduled_for < %s",
                    (account, run.cutoff - COHORT_CHANGE_RETENTION),
                )
                cursor.executemany(
                    "INSERT INTO cohort_changes (account_id, scheduled_for, visitor_id,"
                    " connector_id, trait, value, change, source, path)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            account,
                            c.scheduled_for,
                            c.visitor_id,
                            c.connector_id,
                            c.trait,
                            _encode(c.value),
                            c.change,
                            c.source,
                            _encode(c.path),
                        )
                        for c in changes
                    ],
                )
                if activation is not None:
                    cursor.execute(
                        "INSERT INTO activations VALUES (%s, %s, %s, %s) ON CONFLICT (account_id)"
                        " DO UPDATE SET scheduled_for = EXCLUDED.scheduled_for,"
                        " visitors = EXCLUDED.visitors, matched = EXCLUDED.matched",
                        (
                            account,
                            activation.scheduled_for,
                            _encode(_visitors_json(activation.visitors)),
                            _encode(sorted(activation.matched)),
                        ),
                    )
            return True

    @staticmethod
    def _run_of(account_id: str, row: Any) -> RefreshRun:
        return RefreshRun(account_id, *row)

    def refreshes(self, account_id: str) -> list[RefreshRun]:
        """The account's runs, oldest first."""
        rows = self._all(
            f"SELECT {REFRESH_COLUMNS} FROM refreshes WHERE account_id = %s ORDER BY scheduled_for",  # noqa: S608 - constant names
            account_id,
        )
        return [self._run_of(account_id, r) for r in rows]

    def last_refresh(self, account_id: str) -> RefreshRun | None:
        """The latest run."""
        row = self._one(
            f"SELECT {REFRESH_COLUMNS} FROM refreshes WHERE account_id = %s"  # noqa: S608 - constant names
            " ORDER BY scheduled_for DESC LIMIT 1",
            account_id,
        )
        return self._run_of(account_id, row) if row else None

    def cohort_changes(
        self,
        account_id: str,
        *,
        scheduled_for: datetime | None = None,
        visitor_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[CohortChange]:
        """A page of the kept cohort changes, in commit order."""
        rows = self._all(
            "SELECT scheduled_for, visitor_id, connector_id, trait, value, change, source, path"
            " FROM cohort_changes"
            " WHERE account_id = %s AND (%s::timestamptz IS NULL OR scheduled_for = %s)"
            " AND (%s::text IS NULL OR visitor_id = %s) ORDER BY seq LIMIT %s OFFSET %s",
            account_id,
            scheduled_for,
            scheduled_for,
            visitor_id,
            visitor_id,
            limit,
            offset,
        )
        changes = []
        for r in rows:
            key = natural_trait_key(r[3]) if r[7] is None else TraitKey(r[6], tuple(_decode(r[7])))
            changes.append(
                CohortChange(
                    account_id, r[0], r[1], r[2], r[3], _decode(r[4]), r[5], key.source, key.path
                )
            )
        return changes

    def activation(self, account_id: str) -> Activation | None:
        """The latest activated data."""
        row = self._one(
            "SELECT scheduled_for, visitors, matched FROM activations WHERE account_id = %s",
            account_id,
        )
        if row is None:
            return None
        visitors = _visitors_of(_decode(row[1]))
        return Activation(
            account_id, row[0], visitors, frozenset((c, a) for c, a in _decode(row[2]))
        )

    # segments
    def add_segment(self, segment: Segment) -> None:
        """Keep a new segment."""
        conditions = [
            [c.connector_id, c.trait, c.operator, c.value, c.source, list(c.path)]
            for c in segment.conditions
        ]
        self._run(
            "INSERT INTO segments (id, account_id, name, match, conditions, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            segment.id,
            segment.account_id,
            segment.name,
            segment.match,
            _encode(conditions),
            segment.created_at,
        )

    @staticmethod
    def _segment(row: Any) -> Segment:
        conditions = tuple(
            Condition(c[0], c[1], c[2], c[3], c[4], tuple(c[5])) for c in _decode(row[4])
        )
        return Segment(row[0], row[1], row[2], row[3], conditions, row[5])

    def get_segment(self, account_id: str, segment_id: str) -> Segment | None:
        """The segment, if the account has it."""
        row = self._one(
            "SELECT id, account_id, name, match, conditions, created_at FROM segments"
            " WHERE account_id = %s AND id = %s",
            account_id,
            segment_id,
        )
        return self._segment(row) if row else None

    def segments(self, account_id: str) -> list[Segment]:
        """The account's segments, oldest first."""
        rows = self._all(
            "SELECT id, account_id, name, match, conditions, created_at FROM segments"
            " WHERE account_id = %s ORDER BY seq",
            account_id,
        )
        return [self._segment(r) for r in rows]

    # control
    def reset(self, account_id: str | None = None) -> None:
        """Forget everything, or one account."""
        with self._pool.connection() as db:
            for table in TENANT_TABLES:
                column = "id" if table == "accounts" else "account_id"
                if account_id is None:
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are constants
                else:
                    db.execute(f"DELETE FROM {table} WHERE {column} = %s", (account_id,))  # noqa: S608

    def latest_instant(self) -> datetime | None:
        """The latest time anything stored was recorded at."""
        row = self._one(
            "SELECT GREATEST((SELECT MAX(created_at) FROM accounts),"
            " (SELECT MAX(received_at) FROM messages), (SELECT MAX(seen_at) FROM sightings),"
            " (SELECT MAX(scheduled_for) FROM refreshes), (SELECT MAX(created_at) FROM segments))"
        )
        latest: datetime | None = row[0]
        return latest
