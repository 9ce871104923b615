"""The fake Segment's store contract (harness/segment/store/base.py), run against every backend."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from harness.segment.records import Attempt, DeliveryRecord, Destination, Source
from harness.segment.store import MemorySegmentStore, SegmentStore, SqliteSegmentStore
from tests.postgres import migrated_pool
from tests.support import START

MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SegmentStore]:
    if request.param == "postgresql":
        from harness.segment.store.postgres import PostgresSegmentStore

        url = request.getfixturevalue("postgres_url")
        with migrated_pool(url) as pool:
            backend: SegmentStore = PostgresSegmentStore(pool, url)
            yield backend
            backend.close()
        return
    if request.param == "memory":
        backend = MemorySegmentStore()
    else:
        backend = SqliteSegmentStore(tmp_path / "harness.sqlite")
    yield backend
    backend.close()


def _source(store: SegmentStore, source_id: str = "src_1", clock: str | None = None) -> Source:
    source = Source(source_id, "Web", source_id.encode() + b"-digest", "abcd", clock)
    store.add_source(source)
    store.add_destination(
        Destination(f"dst_{source_id}", source_id, "ab_tasty", "key", "http://x/hook")
    )
    return source


def _due(source_id: str = "src_1", message_id: str = "m1", minutes: int = 0) -> DeliveryRecord:
    return DeliveryRecord(
        source_id,
        message_id,
        "identify",
        f"dst_{source_id}",
        "retrying",
        payload=b'{"type":"identify"}',
        next_attempt_at=START + minutes * MINUTE,
        first_attempt_at=START,
    )


def _queue(store: SegmentStore, source_id: str, *records: DeliveryRecord) -> list[int]:
    """Receive records and let go of their first attempts: they are plain due attempts."""
    ids = store.receive(source_id, len(records), records)
    for record_id in ids:
        with store.claim(record_id):
            pass
    return ids


def test_segment_store_source_round_trip_by_id_and_digest(store: SegmentStore) -> None:
    source = _source(store, clock="team-a")
    assert store.get_source("src_1") == source
    assert store.find_source(b"src_1-digest") == source
    assert store.get_source("nope") is None
    assert store.find_source(b"nope") is None


def test_segment_store_destinations_oldest_first(store: SegmentStore) -> None:
    _source(store)
    second = Destination("dst_2", "src_1", "ab_tasty", "key2", "http://y/hook")
    store.add_destination(second)
    assert [d.id for d in store.destinations("src_1")] == ["dst_src_1", "dst_2"]
    assert store.get_destination("dst_2") == second
    assert store.get_destination("nope") is None


def test_segment_store_receive_counts_and_keeps_records_in_order(store: SegmentStore) -> None:
    _source(store)
    rejected = DeliveryRecord("src_1", None, None, None, "failed_on_ingest", last_body="bad")
    ids = store.receive("src_1", 3, [rejected, _due(message_id="m1"), _due(message_id="m2")])
    assert len(set(ids)) == 3
    received, records = store.overview("src_1")
    assert received == 3
    assert [r.message_id for r in records] == [None, "m1", "m2"]
    assert [r.id for r in records] == ids
    assert records[1].payload == b'{"type":"identify"}'
    assert records[1].first_attempt_at == START


def test_segment_store_claim_saves_the_outcome_once(store: SegmentStore) -> None:
    _source(store)
    (record_id,) = store.receive("src_1", 1, [_due()])
    with store.claim(record_id) as claim:
        assert claim is not None
        claim.save(
            replace(
                claim.record, stage="delivered", attempts=1, last_status=200, next_attempt_at=None
            )
        )
    with store.claim(record_id) as again:
        assert again is None  # attempted already
    (stored,) = store.overview("src_1")[1]
    assert (stored.stage, stored.attempts, stored.last_status) == ("delivered", 1, 200)


def test_segment_store_claim_without_save_leaves_the_record_due(store: SegmentStore) -> None:
    _source(store)
    (record_id,) = store.receive("src_1", 1, [_due()])
    with store.claim(record_id) as claim:
        assert claim is not None
    assert store.next_due(None) == START
    with store.claim_due(None, START) as due:
        assert due is not None
        assert due.record.id == record_id


def test_segment_store_first_attempts_are_held_for_the_receiver(store: SegmentStore) -> None:
    _source(store)
    (record_id,) = store.receive("src_1", 1, [_due()])
    with store.claim_due(None, START) as other:
        assert other is None  # held for the process that received it
    with store.claim(record_id) as claim:
        assert claim is not None


def test_segment_store_claim_due_earliest_first_and_only_when_due(store: SegmentStore) -> None:
    _source(store)
    _queue(store, "src_1", _due(message_id="late", minutes=5), _due(message_id="early", minutes=2))
    with store.claim_due(None, START + MINUTE) as nothing:
        assert nothing is None
    assert store.next_due(None) == START + 2 * MINUTE
    with store.claim_due(None, START + 10 * MINUTE) as claim:
        assert claim is not None
        assert claim.record.message_id == "early"


def test_segment_store_claim_due_skips_what_is_held(store: SegmentStore) -> None:
    _source(store)
    _queue(store, "src_1", _due(message_id="a"), _due(message_id="b", minutes=1))
    with store.claim_due(None, START + MINUTE) as first:
        assert first is not None
        with store.claim_due(None, START + MINUTE) as second:
            assert second is not None
            assert {first.record.message_id, second.record.message_id} == {"a", "b"}
            with store.claim_due(None, START + MINUTE) as third:
                assert third is None


def test_segment_store_saved_retry_falls_due_at_its_new_time(store: SegmentStore) -> None:
    _source(store)
    _queue(store, "src_1", _due())
    with store.claim_due(None, START) as claim:
        assert claim is not None
        claim.save(
            replace(claim.record, attempts=1, last_status=503, next_attempt_at=START + 3 * MINUTE)
        )
    assert store.next_due(None) == START + 3 * MINUTE
    with store.claim_due(None, START + 2 * MINUTE) as early:
        assert early is None


def test_segment_store_due_attempts_follow_their_sources_clock(store: SegmentStore) -> None:
    _source(store, "src_1")
    _source(store, "src_2", clock="team-a")
    _queue(store, "src_1", _due("src_1", minutes=1))
    _queue(store, "src_2", _due("src_2", minutes=2))
    assert store.next_due(None) == START + MINUTE
    assert store.next_due("team-a") == START + 2 * MINUTE
    assert store.next_due("team-b") is None
    with store.claim_due("team-a", START + 10 * MINUTE) as claim:
        assert claim is not None
        assert claim.record.source_id == "src_2"


def test_segment_store_reset_one_source_keeps_the_others(store: SegmentStore) -> None:
    _source(store, "src_1")
    _source(store, "src_2")
    store.receive("src_1", 1, [_due("src_1")])
    store.receive("src_2", 1, [_due("src_2")])
    store.reset("src_1")
    assert store.get_source("src_1") is None
    assert store.destinations("src_1") == []
    assert store.overview("src_1") == (0, [])
    assert store.overview("src_2")[0] == 1
    store.reset()
    assert store.get_source("src_2") is None
    assert store.next_due(None) is None


def test_segment_store_sqlite_survives_reopening(tmp_path: Path) -> None:
    first = SqliteSegmentStore(tmp_path / "h.sqlite")
    _source(first)
    first.receive("src_1", 1, [_due(minutes=3)])
    first.close()
    again = SqliteSegmentStore(tmp_path / "h.sqlite")
    assert again.get_source("src_1") is not None
    assert again.overview("src_1")[0] == 1
    assert again.next_due(None) == START + 3 * MINUTE
    again.close()


HOLD_AND_DIE = """
import os, sys
from datetime import datetime
from harness.segment.store import SqliteSegmentStore
store = SqliteSegmentStore(sys.argv[1])
with store.claim_due(None, datetime.fromisoformat(sys.argv[2])) as claim:
    assert claim is not None
    os._exit(0)  # dies holding the record, as kill -9 would leave it
"""


def test_segment_store_sqlite_record_held_by_a_dead_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = SqliteSegmentStore(path)
    _source(store)
    _queue(store, "src_1", _due())
    subprocess.run([sys.executable, "-c", HOLD_AND_DIE, str(path), START.isoformat()], check=True)
    with store.claim_due(None, START) as claim:
        assert claim is not None
        assert claim.record.message_id == "m1"
    store.close()


def test_segment_store_sources_oldest_first(store: SegmentStore) -> None:
    first = _source(store, "src_1")
    second = _source(store, "src_2", clock="team-b")
    assert store.sources() == [first, second]


def test_segment_store_saved_attempt_history_round_trips(store: SegmentStore) -> None:
    _source(store)
    (record_id,) = store.receive("src_1", 1, [replace(_due(), received_at=START)])
    attempts = (
        Attempt(START, 503, "retry", "busy", START + MINUTE),
        Attempt(START + MINUTE, None, "delivered", "timeout"),
    )
    with store.claim(record_id) as claim:
        assert claim is not None
        claim.save(replace(claim.record, stage="delivered", history=attempts))
    (record,) = store.overview("src_1")[1]
    assert record.history == attempts
    assert record.received_at == START


def test_segment_store_delivery_page_counts_and_pages_newest_first(store: SegmentStore) -> None:
    _source(store)
    rejected = DeliveryRecord("src_1", "bad", None, None, "failed_on_ingest", last_body="bad")
    store.receive("src_1", 4, [rejected, _due(message_id="m1"), _due(message_id="m2")])
    page = store.delivery_page("src_1", offset=1, limit=1)
    assert page.stages["received"] == 4
    assert page.stages["failed_on_ingest"] == 1
    assert page.retrying == 2
    assert page.total == 3
    assert [r.message_id for r in page.messages] == ["m1"]


def test_segment_store_delivery_page_filters_by_stage_and_message(store: SegmentStore) -> None:
    _source(store)
    rejected = DeliveryRecord("src_1", "bad", None, None, "failed_on_ingest", last_body="bad")
    store.receive("src_1", 3, [rejected, _due(message_id="m1"), _due(message_id="m2")])
    retrying = store.delivery_page("src_1", stage="retrying")
    assert [r.message_id for r in retrying.messages] == ["m2", "m1"]
    assert retrying.total == 2
    assert [r.message_id for r in store.delivery_page("src_1", message_id="m1").messages] == ["m1"]
    assert store.delivery_page("nope").total == 0
