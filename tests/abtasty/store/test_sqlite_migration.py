"""A SQLite file written before a column existed opens and gains it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.abtasty.records import Account, RefreshRun
from harness.abtasty.store import SqliteStore
from tests.support import START

OLD_REFRESHES = """
CREATE TABLE refreshes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, scheduled_for TEXT NOT NULL,
    cutoff TEXT NOT NULL, messages INTEGER NOT NULL, profiles INTEGER NOT NULL,
    matched_profiles INTEGER NOT NULL, cohorts INTEGER NOT NULL);
INSERT INTO refreshes (account_id, scheduled_for, cutoff, messages, profiles, matched_profiles, cohorts)
VALUES ('acc_1', '2026-03-02T12:00:00.000000', '2026-03-02T12:00:00.000000', 4, 3, 2, 1);
"""


def test_sqlite_store_old_refreshes_table_gains_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_REFRESHES)
    store = SqliteStore(path)
    try:
        store.add_account(Account("acc_1", "Shop", "UTC", 3, START))
        assert store.refreshes("acc_1") == [RefreshRun("acc_1", START, START, 4, 3, 2, 1)]
    finally:
        store.close()
