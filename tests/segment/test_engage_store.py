"""One contract for every Engage store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.segment.engage import Computation, EngageStore, MemoryEngageStore
from harness.segment.store.sqlite_engage import SqliteEngageStore
from tests.postgres import migrated_pool

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngageStore]:
    if request.param == "memory":
        yield MemoryEngageStore()
        return
    if request.param == "postgresql":
        from harness.segment.store.postgres_engage import PostgresEngageStore

        with migrated_pool(request.getfixturevalue("postgres_url")) as pool:
            yield PostgresEngageStore(pool)
        return
    sqlite = SqliteEngageStore(tmp_path / "engage.sqlite")
    yield sqlite
    sqlite.close()


def _audience(id: str = "aud_1", key: str = "vip", source: str = "src_1") -> Computation:
    return Computation(id, source, "audience", key, key, "user", NOW)


def test_engage_store_add_get_and_list(store: EngageStore) -> None:
    assert store.add(_audience())
    assert store.get("aud_1") == _audience()
    assert store.get("aud_missing") is None
    assert store.computations("src_1") == [_audience()]
    assert store.computations("src_2") == []


def test_engage_store_live_key_is_unique_per_source(store: EngageStore) -> None:
    assert store.add(_audience())
    assert not store.add(_audience("aud_2"))
    assert store.add(_audience("aud_3", source="src_2"))
    store.mark_deleted("aud_1", NOW)
    assert store.add(_audience("aud_2"))
    assert [c.deleted_at for c in store.computations("src_1")] == [NOW, None]


def test_engage_store_change_state_only_on_change(store: EngageStore) -> None:
    store.add(_audience())
    assert not store.change_state("aud_1", "anon-1", False, only_if_known=True)
    assert store.change_state("aud_1", "anon-1", True, only_if_known=False)
    assert not store.change_state("aud_1", "anon-1", True, only_if_known=False)
    assert store.change_state("aud_1", "anon-1", False, only_if_known=True)
    assert store.change_state("aud_1", "anon-2", 1, only_if_known=False)
    assert store.change_state("aud_1", "anon-2", True, only_if_known=False)  # 1 is not true
    assert store.change_state("aud_1", "anon-2", 1.0, only_if_known=False)
    assert store.states("aud_1") == {"anon-1": False, "anon-2": 1.0}


def test_engage_store_reset_one_source_or_all(store: EngageStore) -> None:
    store.add(_audience())
    store.add(_audience("aud_2", source="src_2"))
    store.change_state("aud_1", "anon-1", True, only_if_known=False)
    store.reset("src_1")
    assert store.get("aud_1") is None
    assert store.states("aud_1") == {}
    assert store.get("aud_2") is not None
    store.reset()
    assert store.computations("src_2") == []


def test_engage_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    first = SqliteEngageStore(tmp_path / "engage.sqlite")
    first.add(_audience())
    first.change_state("aud_1", "anon-1", True, only_if_known=False)
    first.close()
    again = SqliteEngageStore(tmp_path / "engage.sqlite")
    assert again.get("aud_1") == _audience()
    assert again.states("aud_1") == {"anon-1": True}
    assert not again.add(_audience("aud_2"))
    again.close()


def test_engage_postgres_store_survives_reopening(postgres_url: str) -> None:
    from harness.segment.store.postgres_engage import PostgresEngageStore

    with migrated_pool(postgres_url) as pool:
        first = PostgresEngageStore(pool)
        first.add(_audience())
        first.change_state("aud_1", "anon-1", True, only_if_known=False)
    with migrated_pool(postgres_url) as pool:
        again = PostgresEngageStore(pool)
        assert again.get("aud_1") == _audience()
        assert again.states("aud_1") == {"anon-1": True}
        assert not again.add(_audience("aud_2"))


def test_engage_store_concurrent_entries_send_one_change(store: EngageStore) -> None:
    store.add(_audience())
    with ThreadPoolExecutor(8) as pool:
        changed = list(
            pool.map(
                lambda _: store.change_state("aud_1", "anon-1", True, only_if_known=False),
                range(16),
            )
        )
    assert changed.count(True) == 1
