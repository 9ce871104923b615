"""The SQLite store: a real file, stdlib ``sqlite3`` in WAL mode, one transaction per call.

Every method commits before it returns, with ``synchronous=FULL`` by default, so a 2xx
from the webhook means the message is on disk: a ``kill -9`` (or a power cut) right after
loses nothing that was acknowledged. Instants are stored as fixed-width UTC ISO text, so
SQL's text order is time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    TraitValue,
    VisitorTraits,
    natural_trait_key,
)
from harness.abtasty.store.base import COHORT_CHANGE_RETENTION, MESSAGE_RETENTION
from harness.core.sqlite import SqliteFile, Synchronous

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL, refresh_hour INTEGER NOT NULL,
    created_at TEXT NOT NULL, input_version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS connectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, account_id TEXT NOT NULL,
    name TEXT NOT NULL, created_at TEXT NOT NULL, integration TEXT NOT NULL, direction TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    account_id TEXT PRIMARY KEY, digest BLOB UNIQUE NOT NULL, last4 TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, connector_id TEXT NOT NULL,
    message_id TEXT NOT NULL, type TEXT NOT NULL, anonymous_id TEXT, user_id TEXT, group_id TEXT,
    traits BLOB NOT NULL, timestamp TEXT NOT NULL, received_at TEXT NOT NULL, taken INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_pending ON messages (account_id, taken, received_at);
CREATE INDEX IF NOT EXISTS messages_anonymous ON messages (account_id, anonymous_id);
CREATE TABLE IF NOT EXISTS dedup (
    account_id TEXT NOT NULL, message_id TEXT NOT NULL, first_arrival TEXT NOT NULL,
    PRIMARY KEY (account_id, message_id));
CREATE INDEX IF NOT EXISTS dedup_age ON dedup (first_arrival);
CREATE TABLE IF NOT EXISTS sightings (
    account_id TEXT NOT NULL, visitor_id TEXT NOT NULL, anonymous_id TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (account_id, visitor_id, anonymous_id));
CREATE TABLE IF NOT EXISTS profiles (
    account_id TEXT NOT NULL, connector_id TEXT NOT NULL, anonymous_id TEXT NOT NULL,
    traits BLOB NOT NULL, groups BLOB NOT NULL, PRIMARY KEY (account_id, connector_id, anonymous_id));
CREATE TABLE IF NOT EXISTS groups (
    account_id TEXT NOT NULL, connector_id TEXT NOT NULL, group_id TEXT NOT NULL, traits BLOB NOT NULL,
    PRIMARY KEY (account_id, connector_id, group_id));
CREATE TABLE IF NOT EXISTS refreshes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, scheduled_for TEXT NOT NULL,
    cutoff TEXT NOT NULL, messages INTEGER NOT NULL, profiles INTEGER NOT NULL,
    matched_profiles INTEGER NOT NULL, cohorts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS refreshes_account ON refreshes (account_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS refreshes_once ON refreshes (account_id, scheduled_for);
CREATE TABLE IF NOT EXISTS activations (
    account_id TEXT PRIMARY KEY, scheduled_for TEXT NOT NULL, visitors BLOB NOT NULL, matched BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cohort_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, scheduled_for TEXT NOT NULL,
    visitor_id TEXT NOT NULL, connector_id TEXT NOT NULL, trait TEXT NOT NULL, value BLOB NOT NULL,
    change TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cohort_changes_run ON cohort_changes (account_id, scheduled_for, seq);
CREATE INDEX IF NOT EXISTS cohort_changes_visitor ON cohort_changes (account_id, visitor_id, seq);
CREATE TABLE IF NOT EXISTS segments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, account_id TEXT NOT NULL, name TEXT NOT NULL,
    match TEXT NOT NULL, conditions BLOB NOT NULL, created_at TEXT NOT NULL);
"""

REFRESH_COLUMNS_ADDED = {
    "ran_at": "TEXT",
    "entered": "INTEGER NOT NULL DEFAULT 0",
    "left_count": "INTEGER NOT NULL DEFAULT 0",
    "input_version": "INTEGER NOT NULL DEFAULT -1",
}
"""Columns of ``refreshes`` added after the first release; a file without them gains them."""
ACCOUNT_COLUMNS_ADDED = {
    "input_version": "INTEGER NOT NULL DEFAULT 0",
    "clock": "TEXT NOT NULL DEFAULT ''",
}
"""Columns of ``accounts`` added after the first release."""
COHORT_CHANGE_COLUMNS_ADDED = {"source": "TEXT", "path": "BLOB"}
"""Columns of ``cohort_changes`` added after the first release (NULL: read the printed key)."""
REFRESH_COLUMNS = "scheduled_for, cutoff, messages, profiles, matched_profiles, cohorts, ran_at, entered, left_count, input_version"

MESSAGE_COLUMNS = "seq, account_id, connector_id, message_id, type, anonymous_id, user_id, group_id, traits, timestamp, received_at, taken, engage"
MESSAGE_COLUMNS_ADDED = {"engage": "TEXT"}
TENANT_TABLES = (
    "accounts",
    "connectors",
    "api_keys",
    "messages",
    "dedup",
    "sightings",
    "profiles",
    "groups",
    "refreshes",
    "activations",
    "cohort_changes",
    "segments",
)
TIMES = {
    "accounts": "created_at",
    "messages": "received_at",
    "sightings": "seen_at",
    "refreshes": "scheduled_for",
    "segments": "created_at",
}

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def _text(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _traits_blob(traits: dict[str, TraitValue]) -> bytes:
    return _encode({k: [t.value, _text(t.timestamp), t.message_id] for k, t in traits.items()})


def _traits_of(blob: bytes) -> dict[str, TraitValue]:
    return {k: TraitValue(v, _instant(ts), mid) for k, (v, ts, mid) in _decode(blob).items()}


def _visitors_json(visitors: Mapping[str, VisitorTraits]) -> dict[str, dict[str, list[Any]]]:
    """Activated traits as JSON: per connector, a list of [source, path, values]."""
    return {
        visitor: {
            connector: [[key.source, key.path, values] for key, values in traits.items()]
            for connector, traits in by_connector.items()
        }
        for visitor, by_connector in visitors.items()
    }


def _visitors_of(stored: dict[str, dict[str, Any]]) -> dict[str, VisitorTraits]:
    """The inverse of :func:`_visitors_json`; also reads the older {printed key: values} form."""
    visitors: dict[str, VisitorTraits] = {}
    for visitor, by_connector in stored.items():
        decoded: VisitorTraits = {}
        for connector, traits in by_connector.items():
            if isinstance(traits, dict):
                decoded[connector] = {
                    natural_trait_key(label): tuple(values) for label, values in traits.items()
                }
            else:
                decoded[connector] = {
                    TraitKey(source, tuple(path)): tuple(values) for source, path, values in traits
                }
        visitors[visitor] = decoded
    return visitors


def _run(account_id: str, row: Any) -> RefreshRun:
    return RefreshRun(
        account_id,
        _instant(row[0]),
        _instant(row[1]),
        row[2],
        row[3],
        row[4],
        row[5],
        None if row[6] is None else _instant(row[6]),
        row[7],
        row[8],
        row[9],
    )


class SqliteStore(SqliteFile):
    """A store in one SQLite file (WAL), safe to share between threads.

    Args:
        path: The database file (created if missing).
        synchronous: ``full`` (default: committed means on disk) or ``normal`` (survives a
            crash of the process, not of the machine; faster).
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = "full") -> None:
        super().__init__(
            path,
            synchronous,
            SCHEMA,
            {
                "refreshes": REFRESH_COLUMNS_ADDED,
                "accounts": ACCOUNT_COLUMNS_ADDED,
                "cohort_changes": COHORT_CHANGE_COLUMNS_ADDED,
                "messages": MESSAGE_COLUMNS_ADDED,
            },
        )

    # accounts and setup
    def add_account(self, account: Account) -> None:
        """Keep a new account."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO accounts (id, name, timezone, refresh_hour, created_at, clock)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    account.id,
                    account.name,
                    account.timezone,
                    account.refresh_hour,
                    _text(account.created_at),
                    account.clock or "",
                ),
            )

    def input_version(self, account_id: str) -> int:
        """The account's count of changes to what the refresh reads."""
        row = self._one("SELECT input_version FROM accounts WHERE id = ?", account_id)
        return int(row[0]) if row else 0

    @staticmethod
    def _bump(db: sqlite3.Connection, account_id: str) -> None:
        db.execute(
            "UPDATE accounts SET input_version = input_version + 1 WHERE id = ?", (account_id,)
        )

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        row = self._one(
            "SELECT id, name, timezone, refresh_hour, created_at, clock FROM accounts WHERE id = ?",
            account_id,
        )
        return (
            Account(row[0], row[1], row[2], row[3], _instant(row[4]), row[5] or None)
            if row
            else None
        )

    def accounts(self, offset: int = 0, limit: int = 100) -> list[Account]:
        """A page of accounts, oldest first."""
        rows = self._all(
            "SELECT id, name, timezone, refresh_hour, created_at, clock FROM accounts ORDER BY rowid"
            " LIMIT ? OFFSET ?",
            limit,
            offset,
        )
        return [Account(r[0], r[1], r[2], r[3], _instant(r[4]), r[5] or None) for r in rows]

    def account_count(self) -> int:
        """How many accounts there are."""
        count: int = self._one("SELECT COUNT(*) FROM accounts")[0]
        return count

    def add_connector(self, connector: Connector) -> None:
        """Keep a new connector."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO connectors (id, account_id, name, created_at, integration, direction) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    connector.id,
                    connector.account_id,
                    connector.name,
                    _text(connector.created_at),
                    connector.integration,
                    connector.direction,
                ),
            )
            self._bump(db, connector.account_id)

    def connectors(self, account_id: str) -> list[Connector]:
        """The account's connectors, oldest first."""
        rows = self._all(
            "SELECT id, account_id, name, created_at, integration, direction FROM connectors WHERE account_id = ? ORDER BY seq",
            account_id,
        )
        return [Connector(r[0], r[1], r[2], _instant(r[3]), r[4], r[5]) for r in rows]

    def remove_connector(self, account_id: str, connector_id: str) -> bool:
        """Remove a connector."""
        with self._tx() as db:
            removed = (
                db.execute(
                    "DELETE FROM connectors WHERE account_id = ? AND id = ?",
                    (account_id, connector_id),
                ).rowcount
                > 0
            )
            if removed:
                self._bump(db, account_id)
            return removed

    def put_api_key(self, record: ApiKeyRecord) -> None:
        """Set the account's key, replacing the old one."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO api_keys VALUES (?, ?, ?, ?)",
                (record.account_id, record.digest, record.last4, _text(record.created_at)),
            )
            self._bump(db, record.account_id)

    def get_api_key(self, account_id: str) -> ApiKeyRecord | None:
        """The account's key record."""
        row = self._one(
            "SELECT account_id, digest, last4, created_at FROM api_keys WHERE account_id = ?",
            account_id,
        )
        return ApiKeyRecord(row[0], bytes(row[1]), row[2], _instant(row[3])) if row else None

    def find_api_key(self, digest: bytes) -> ApiKeyRecord | None:
        """The live key record with this digest."""
        row = self._one(
            "SELECT account_id, digest, last4, created_at FROM api_keys WHERE digest = ?", digest
        )
        return ApiKeyRecord(row[0], bytes(row[1]), row[2], _instant(row[3])) if row else None

    def remove_api_key(self, account_id: str) -> bool:
        """Revoke the account's key."""
        with self._tx() as db:
            removed = (
                db.execute("DELETE FROM api_keys WHERE account_id = ?", (account_id,)).rowcount > 0
            )
            if removed:
                self._bump(db, account_id)
            return removed

    # messages
    def add_message(self, message: StoredMessage, dedup_window: timedelta) -> int | None:
        """Store a message unless it is a duplicate within the window (one transaction)."""
        arrival = _text(message.received_at)
        with self._tx() as db:
            row = db.execute(
                "SELECT first_arrival FROM dedup WHERE account_id = ? AND message_id = ?",
                (message.account_id, message.message_id),
            ).fetchone()
            if row is not None and message.received_at - _instant(row[0]) < dedup_window:
                return None
            cursor = db.execute(
                "INSERT INTO messages (account_id, connector_id, message_id, type, anonymous_id, user_id, group_id,"
                " traits, timestamp, received_at, engage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.account_id,
                    message.connector_id,
                    message.message_id,
                    message.type,
                    message.anonymous_id,
                    message.user_id,
                    message.group_id,
                    _encode(message.traits),
                    _text(message.timestamp),
                    arrival,
                    message.engage,
                ),
            )
            db.execute(
                "INSERT OR REPLACE INTO dedup VALUES (?, ?, ?)",
                (message.account_id, message.message_id, arrival),
            )
            self._bump(db, message.account_id)
            db.execute(
                "DELETE FROM dedup WHERE first_arrival <= ?",
                (_text(message.received_at - dedup_window),),
            )
            seq: int = cursor.lastrowid or 0
            return seq

    def _messages(self, where: str, *args: Any) -> list[tuple[StoredMessage, bool]]:
        query = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY seq"  # noqa: S608 - ours
        rows = self._all(query, *args)
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
                    _instant(r[9]),
                    _instant(r[10]),
                    r[0],
                    r[12],
                ),
                bool(r[11]),
            )
            for r in rows
        ]

    def pending_messages(self, account_id: str, cutoff: datetime) -> list[StoredMessage]:
        """Untaken messages received before the cutoff, in arrival order."""
        return [
            m
            for m, _ in self._messages(
                "account_id = ? AND taken = 0 AND received_at < ?", account_id, _text(cutoff)
            )
        ]

    def messages_for(
        self, account_id: str, anonymous_ids: Collection[str]
    ) -> list[tuple[StoredMessage, bool]]:
        """Messages for these anonymousIds, with whether a refresh took each."""
        ids = list(anonymous_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._messages(f"account_id = ? AND anonymous_id IN ({marks})", account_id, *ids)

    # visitors
    def add_sighting(self, sighting: Sighting) -> bool:
        """Record a sighting; True when the visitor is new."""
        with self._tx() as db:
            known = db.execute(
                "SELECT 1 FROM sightings WHERE account_id = ? AND visitor_id = ? LIMIT 1",
                (sighting.account_id, sighting.visitor_id),
            ).fetchone()
            changed = db.execute(
                "INSERT INTO sightings VALUES (?, ?, ?, ?) ON CONFLICT (account_id, visitor_id, anonymous_id)"
                " DO UPDATE SET seen_at = excluded.seen_at WHERE excluded.seen_at < sightings.seen_at",
                (
                    sighting.account_id,
                    sighting.visitor_id,
                    sighting.anonymous_id,
                    _text(sighting.seen_at),
                ),
            ).rowcount
            if changed:
                self._bump(db, sighting.account_id)
            return known is None

    def visitor_sightings(self, account_id: str, visitor_id: str) -> list[Sighting]:
        """The visitor's sightings, one per anonymousId, oldest first."""
        rows = self._all(
            "SELECT anonymous_id, seen_at FROM sightings WHERE account_id = ? AND visitor_id = ? ORDER BY seen_at, anonymous_id",
            account_id,
            visitor_id,
        )
        return [Sighting(account_id, visitor_id, r[0], _instant(r[1])) for r in rows]

    def sightings_since(self, account_id: str, version: int) -> list[Sighting]:
        """Every sighting: the contract allows more than the changed ones, and a full read
        costs about what the refresh's commit (the whole activation) costs here anyway."""
        return self.sightings(account_id)

    def sightings(self, account_id: str) -> list[Sighting]:
        """Every sighting in the account."""
        rows = self._all(
            "SELECT visitor_id, anonymous_id, seen_at FROM sightings WHERE account_id = ?",
            account_id,
        )
        return [Sighting(account_id, r[0], r[1], _instant(r[2])) for r in rows]

    # nightly refresh
    def profiles(self, account_id: str) -> list[Profile]:
        """Every profile of the account (fresh objects)."""
        rows = self._all(
            "SELECT connector_id, anonymous_id, traits, groups FROM profiles WHERE account_id = ?",
            account_id,
        )
        return [Profile(r[0], r[1], _traits_of(r[2]), frozenset(_decode(r[3]))) for r in rows]

    def groups(self, account_id: str) -> list[GroupProfile]:
        """Every group profile of the account (fresh objects)."""
        rows = self._all(
            "SELECT connector_id, group_id, traits FROM groups WHERE account_id = ?", account_id
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
        """Apply one refresh in one transaction, unless another process already did."""
        account = run.account_id
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM refreshes WHERE account_id = ? AND scheduled_for >= ? LIMIT 1",
                (account, _text(run.scheduled_for)),
            ).fetchone():
                return False
            db.executemany("UPDATE messages SET taken = 1 WHERE seq = ?", ((seq,) for seq in taken))
            db.execute(
                "DELETE FROM messages WHERE account_id = ? AND taken = 1 AND received_at < ?",
                (account, _text(run.cutoff - MESSAGE_RETENTION)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?, ?)",
                (
                    (
                        account,
                        p.connector_id,
                        p.anonymous_id,
                        _traits_blob(p.traits),
                        _encode(sorted(p.groups)),
                    )
                    for p in profiles
                ),
            )
            db.executemany(
                "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?)",
                ((account, g.connector_id, g.group_id, _traits_blob(g.traits)) for g in groups),
            )
            db.execute(
                f"INSERT INTO refreshes (account_id, {REFRESH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant names
                (
                    account,
                    _text(run.scheduled_for),
                    _text(run.cutoff),
                    run.messages,
                    run.profiles,
                    run.matched_profiles,
                    run.cohorts,
                    None if run.ran_at is None else _text(run.ran_at),
                    run.entered,
                    run.left,
                    run.input_version,
                ),
            )
            db.execute(
                "DELETE FROM cohort_changes WHERE account_id = ? AND scheduled_for < ?",
                (account, _text(run.cutoff - COHORT_CHANGE_RETENTION)),
            )
            db.executemany(
                "INSERT INTO cohort_changes (account_id, scheduled_for, visitor_id, connector_id, trait, value,"
                " change, source, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        account,
                        _text(c.scheduled_for),
                        c.visitor_id,
                        c.connector_id,
                        c.trait,
                        _encode(c.value),
                        c.change,
                        c.source,
                        _encode(c.path),
                    )
                    for c in changes
                ),
            )
            if activation is not None:
                db.execute(
                    "INSERT OR REPLACE INTO activations VALUES (?, ?, ?, ?)",
                    (
                        account,
                        _text(activation.scheduled_for),
                        _encode(_visitors_json(activation.visitors)),
                        _encode(sorted(activation.matched)),
                    ),
                )
            return True

    def refreshes(self, account_id: str) -> list[RefreshRun]:
        """The account's runs, oldest first."""
        rows = self._all(
            f"SELECT {REFRESH_COLUMNS} FROM refreshes WHERE account_id = ? ORDER BY seq",  # noqa: S608 - constant names
            account_id,
        )
        return [_run(account_id, r) for r in rows]

    def last_refresh(self, account_id: str) -> RefreshRun | None:
        """The latest run."""
        row = self._one(
            f"SELECT {REFRESH_COLUMNS} FROM refreshes WHERE account_id = ? ORDER BY seq DESC LIMIT 1",  # noqa: S608 - constant names
            account_id,
        )
        return _run(account_id, row) if row else None

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
        where, args = ["account_id = ?"], [account_id]
        if scheduled_for is not None:
            where.append("scheduled_for = ?")
            args.append(_text(scheduled_for))
        if visitor_id is not None:
            where.append("visitor_id = ?")
            args.append(visitor_id)
        columns = "scheduled_for, visitor_id, connector_id, trait, value, change, source, path"
        clauses = " AND ".join(where)  # fixed text; the values are parameters
        query = (
            f"SELECT {columns} FROM cohort_changes WHERE {clauses} ORDER BY seq LIMIT ? OFFSET ?"  # noqa: S608
        )
        rows = self._all(
            query,
            *args,
            limit,
            offset,
        )
        changes = []
        for r in rows:
            # Rows written before changes carried source and path have NULL there.
            key = natural_trait_key(r[3]) if r[7] is None else TraitKey(r[6], tuple(_decode(r[7])))
            changes.append(
                CohortChange(
                    account_id,
                    _instant(r[0]),
                    r[1],
                    r[2],
                    r[3],
                    _decode(r[4]),
                    r[5],
                    key.source,
                    key.path,
                )
            )
        return changes

    def activation(self, account_id: str) -> Activation | None:
        """The latest activated data."""
        row = self._one(
            "SELECT scheduled_for, visitors, matched FROM activations WHERE account_id = ?",
            account_id,
        )
        if row is None:
            return None
        visitors = _visitors_of(_decode(row[1]))
        return Activation(
            account_id, _instant(row[0]), visitors, frozenset((c, a) for c, a in _decode(row[2]))
        )

    # segments
    def add_segment(self, segment: Segment) -> None:
        """Keep a new segment."""
        conditions = [
            [c.connector_id, c.trait, c.operator, c.value, c.source, list(c.path)]
            for c in segment.conditions
        ]
        with self._tx() as db:
            db.execute(
                "INSERT INTO segments (id, account_id, name, match, conditions, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    segment.id,
                    segment.account_id,
                    segment.name,
                    segment.match,
                    _encode(conditions),
                    _text(segment.created_at),
                ),
            )

    def _segment(self, row: Any) -> Segment:
        conditions = tuple(
            Condition(c[0], c[1], c[2], c[3], c[4], tuple(c[5]))
            if len(c) == 6
            else Condition(c[0], c[1], c[2], c[3], *natural_trait_key(c[1]))  # stored before paths
            for c in _decode(row[4])
        )
        return Segment(row[0], row[1], row[2], row[3], conditions, _instant(row[5]))

    def get_segment(self, account_id: str, segment_id: str) -> Segment | None:
        """The segment, if the account has it."""
        row = self._one(
            "SELECT id, account_id, name, match, conditions, created_at FROM segments WHERE account_id = ? AND id = ?",
            account_id,
            segment_id,
        )
        return self._segment(row) if row else None

    def segments(self, account_id: str) -> list[Segment]:
        """The account's segments, oldest first."""
        rows = self._all(
            "SELECT id, account_id, name, match, conditions, created_at FROM segments WHERE account_id = ? ORDER BY seq",
            account_id,
        )
        return [self._segment(r) for r in rows]

    # control
    def reset(self, account_id: str | None = None) -> None:
        """Forget everything, or one account."""
        with self._tx() as db:
            for table in TENANT_TABLES:
                column = "id" if table == "accounts" else "account_id"
                if account_id is None:
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are constants
                else:
                    db.execute(f"DELETE FROM {table} WHERE {column} = ?", (account_id,))  # noqa: S608

    def latest_instant(self) -> datetime | None:
        """The latest time anything stored was recorded at: a manual clock resumes from here."""
        latest = [
            self._one(f"SELECT MAX({column}) FROM {table}")[0]  # noqa: S608 - constant names
            for table, column in TIMES.items()
        ]

        found = [value for value in latest if value]
        return _instant(max(found)) if found else None
