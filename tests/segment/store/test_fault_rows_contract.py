"""One contract for the scripted faults' rows and the rate limit's bucket: memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harness.segment.ratelimit import MemoryRateBucket, RateBucket
from harness.segment.scripted_faults import (
    FaultRows,
    FaultSettings,
    HeldMessage,
    MemoryFaultRows,
    Outage,
)
from harness.segment.store.sqlite_faults import SqliteFaultRows, SqliteRateBucket
from tests.postgres import migrated_pool
from tests.support import t

NOW = t("2026-03-02T12:00:00Z")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def rows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaultRows]:
    if request.param == "memory":
        yield MemoryFaultRows()
        return
    if request.param == "sqlite":
        sqlite = SqliteFaultRows(tmp_path / "harness.sqlite")
        yield sqlite
        sqlite.close()
        return
    from harness.segment.store.postgres import PostgresLiveness
    from harness.segment.store.postgres_faults import PostgresFaultRows

    url = request.getfixturevalue("postgres_url")
    liveness = PostgresLiveness(url)
    with migrated_pool(url) as pool:
        yield PostgresFaultRows(pool, liveness)
    liveness.close()


def _held(minutes: int, body: bytes = b"{}") -> HeldMessage:
    return HeldMessage(NOW + timedelta(minutes=minutes), "http://x/hook", {"A": "b"}, body)


def test_fault_rows_start_switched_off(rows: FaultRows) -> None:
    assert rows.settings() == FaultSettings()
    assert rows.held_count() == 0
    assert rows.next_held() is None


def test_fault_rows_settings_round_trip(rows: FaultRows) -> None:
    settings = FaultSettings(Outage(None, NOW), 2, 3, timedelta(seconds=90))
    rows.set(settings)
    assert rows.settings() == settings
    rows.set(FaultSettings(Outage(503, NOW)))
    assert rows.settings() == FaultSettings(Outage(503, NOW))


def test_fault_rows_update_sets_only_the_fields_given(rows: FaultRows) -> None:
    rows.set(FaultSettings(Outage(503, NOW), 2, 3, timedelta(seconds=90)))
    after = rows.update({"hold_next": 7})
    assert after == FaultSettings(Outage(503, NOW), 2, 7, timedelta(seconds=90))
    assert rows.settings() == after
    assert rows.update({"outage": None, "hold_for": timedelta(0)}) == FaultSettings(None, 2, 7)


def test_fault_rows_update_on_no_row_yet_starts_from_all_off(rows: FaultRows) -> None:
    assert rows.update({"duplicate_next": 4}) == FaultSettings(duplicate_next=4)


def test_fault_rows_update_of_nothing_changes_nothing(rows: FaultRows) -> None:
    assert rows.update({}) == FaultSettings()
    rows.set(FaultSettings(duplicate_next=2))
    assert rows.update({}) == FaultSettings(duplicate_next=2)


def test_fault_rows_updates_at_once_of_different_fields_both_hold(rows: FaultRows) -> None:
    def change(index: int) -> None:
        if index % 2:
            rows.update({"duplicate_next": index})
        else:
            rows.update({"hold_for": timedelta(seconds=index)})

    for start in range(0, 40, 2):  # bounded: 20 rounds of two updates at once
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(change, [start, start + 1]))
        settings = rows.settings()
        assert (settings.duplicate_next, settings.hold_for) == (
            start + 1,
            timedelta(seconds=start),
        )


def test_fault_rows_take_counts_down_to_zero_once_each(rows: FaultRows) -> None:
    rows.set(FaultSettings(duplicate_next=5, hold_next=1, hold_for=timedelta(hours=1)))
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: rows.take("duplicate_next"), range(20)))
    assert sum(1 for before in taken if before is not None) == 5
    held = rows.take("hold_next")
    assert held is not None and held.hold_for == timedelta(hours=1)
    assert rows.take("hold_next") is None
    assert rows.settings() == FaultSettings(hold_for=timedelta(hours=1))


def test_fault_rows_end_outage_only_the_same_one(rows: FaultRows) -> None:
    rows.set(FaultSettings(Outage(503, NOW + timedelta(hours=2))))
    rows.end_outage(NOW)  # an older outage's end: this one stays
    assert rows.settings().outage == Outage(503, NOW + timedelta(hours=2))
    rows.end_outage(NOW + timedelta(hours=2))
    assert rows.settings().outage is None


def _take_held(rows: FaultRows, now: datetime) -> HeldMessage | None:
    """Claim, hand over (nothing to do here) and so remove the earliest message due."""
    with rows.claim_held(now) as held:
        return held


def test_fault_rows_held_messages_taken_once_earliest_first(rows: FaultRows) -> None:
    rows.hold(_held(30, b"late"))
    rows.hold(_held(10, b"early"))
    rows.hold(_held(10, b"early-too"))
    assert rows.held_count() == 3
    assert rows.next_held() == NOW + timedelta(minutes=10)
    assert _take_held(rows, NOW) is None
    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(lambda _: _take_held(rows, NOW + timedelta(minutes=20)), range(8)))
    bodies = sorted(h.body for h in taken if h is not None)
    assert bodies == [b"early", b"early-too"]
    assert rows.held_count() == 1
    last = _take_held(rows, NOW + timedelta(hours=1))
    assert last == _held(30, b"late")
    assert rows.held_count() == 0


def test_fault_rows_held_message_stays_held_while_it_is_handed_over(rows: FaultRows) -> None:
    rows.hold(_held(10, b"early"))
    rows.hold(_held(20, b"next"))
    with rows.claim_held(NOW + timedelta(hours=1)) as first:
        assert first is not None and first.body == b"early"
        assert rows.held_count() == 2  # removed only once handed over
        assert rows.next_held() == NOW + timedelta(minutes=10)
        assert _take_held(rows, NOW + timedelta(hours=1)) == _held(20, b"next")  # skipped
        assert _take_held(rows, NOW + timedelta(hours=1)) is None
    assert rows.held_count() == 0
    assert rows.next_held() is None


def _interrupted_handover(rows: FaultRows, *, clear: bool = False) -> None:
    with rows.claim_held(NOW + timedelta(hours=1)) as held:
        assert held is not None
        if clear:
            rows.clear()
        raise ConnectionError("the handover was interrupted")


def test_fault_rows_held_message_let_go_when_its_handover_raises(rows: FaultRows) -> None:
    rows.hold(_held(10, b"early"))
    with pytest.raises(ConnectionError):
        _interrupted_handover(rows)
    assert rows.held_count() == 1
    assert _take_held(rows, NOW + timedelta(hours=1)) == _held(10, b"early")


def test_fault_rows_clear_during_a_handover_drops_the_message(rows: FaultRows) -> None:
    rows.hold(_held(10))
    with pytest.raises(ConnectionError):
        _interrupted_handover(rows, clear=True)
    assert rows.held_count() == 0


def test_fault_rows_clear_switches_off_and_drops_held(rows: FaultRows) -> None:
    rows.set(FaultSettings(Outage(503, NOW), 1, 1))
    rows.hold(_held(1))
    rows.clear()
    assert rows.settings() == FaultSettings()
    assert rows.held_count() == 0


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RateBucket]:
    if request.param == "memory":
        yield MemoryRateBucket()
        return
    if request.param == "sqlite":
        sqlite = SqliteRateBucket(tmp_path / "harness.sqlite")
        yield sqlite
        sqlite.close()
        return
    from harness.segment.store.postgres_faults import PostgresRateBucket

    with migrated_pool(request.getfixturevalue("postgres_url")) as pool:
        yield PostgresRateBucket(pool)


def test_rate_bucket_admits_a_burst_then_refuses_with_a_wait(bucket: RateBucket) -> None:
    # 2 a second: one token comes back every 500 ms, far longer than these takes last.
    waits = [bucket.take("", 2) for _ in range(4)]
    assert waits[:2] == [0, 0]
    assert all(0 < wait <= 0.5 for wait in waits[2:])


def test_rate_bucket_names_are_separate(bucket: RateBucket) -> None:
    assert bucket.take("a", 1) == 0
    assert bucket.take("b", 1) == 0
    assert bucket.take("a", 1) > 0
