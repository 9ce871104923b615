"""The store contract (harness/abtasty/store/base.py), run against every backend."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harness.abtasty.records import (
    Account,
    Activation,
    ApiKeyRecord,
    CohortChange,
    CohortChangeKind,
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
)
from harness.abtasty.store import MemoryStore, SqliteStore, Store
from tests.postgres import migrated_pool
from tests.support import START

DAY = timedelta(hours=24)
PLAN = TraitKey("identify", ("plan",))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        from harness.abtasty.store.postgres import PostgresStore

        with migrated_pool(request.getfixturevalue("postgres_url")) as pool:
            yield PostgresStore(pool)
        return
    backend: Store = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "h.sqlite")
    )
    yield backend
    backend.close()


def _account(store: Store, account_id: str = "acc_1") -> Account:
    account = Account(account_id, "Shop", "UTC", 3, START)
    store.add_account(account)
    return account


def _message(
    message_id: str = "m1", account_id: str = "acc_1", minutes: int = 0, anonymous_id: str = "a1"
) -> StoredMessage:
    return StoredMessage(
        account_id=account_id,
        connector_id="con_1",
        message_id=message_id,
        type="identify",
        anonymous_id=anonymous_id,
        user_id=None,
        group_id=None,
        traits={"plan": "pro", "nested": {"x": [1, 2]}},
        timestamp=START,
        received_at=START + timedelta(minutes=minutes),
    )


def test_store_account_round_trip_and_missing(store: Store) -> None:
    account = _account(store)
    assert store.get_account("acc_1") == account
    assert store.get_account("nope") is None


def test_store_connectors_oldest_first_and_removal(store: Store) -> None:
    _account(store)
    first = Connector("con_1", "acc_1", "A", START)
    second = Connector("con_2", "acc_1", "B", START + DAY)
    store.add_connector(first)
    store.add_connector(second)
    assert store.connectors("acc_1") == [first, second]
    assert store.remove_connector("acc_1", "con_1") is True
    assert store.remove_connector("acc_1", "con_1") is False
    assert store.connectors("acc_1") == [second]


def test_store_api_key_replace_makes_old_digest_unknown(store: Store) -> None:
    _account(store)
    store.put_api_key(ApiKeyRecord("acc_1", b"old", "1111", START))
    store.put_api_key(ApiKeyRecord("acc_1", b"new", "2222", START))
    assert store.find_api_key(b"old") is None
    assert store.find_api_key(b"new") == ApiKeyRecord("acc_1", b"new", "2222", START)
    assert store.remove_api_key("acc_1") is True
    assert store.find_api_key(b"new") is None
    assert store.remove_api_key("acc_1") is False


def test_store_dedup_within_window_from_first_arrival(store: Store) -> None:
    _account(store)
    assert store.add_message(_message(minutes=0), DAY) is not None
    assert store.add_message(_message(minutes=60), DAY) is None
    assert store.add_message(_message(minutes=24 * 60 - 1), DAY) is None
    assert store.add_message(_message(minutes=24 * 60), DAY) is not None


def test_store_dedup_is_per_account(store: Store) -> None:
    _account(store, "acc_1")
    _account(store, "acc_2")
    assert store.add_message(_message(account_id="acc_1"), DAY) is not None
    assert store.add_message(_message(account_id="acc_2"), DAY) is not None


def test_store_pending_messages_before_cutoff_in_arrival_order(store: Store) -> None:
    _account(store)
    for index, minutes in enumerate([30, 10, 90]):
        store.add_message(_message(f"m{index}", minutes=minutes), DAY)
    pending = store.pending_messages("acc_1", START + timedelta(minutes=60))
    assert [m.message_id for m in pending] == ["m0", "m1"]
    assert pending[0].traits == {"plan": "pro", "nested": {"x": [1, 2]}}


def test_store_commit_refresh_takes_messages_and_keeps_profiles(store: Store) -> None:
    _account(store)
    seq = store.add_message(_message(), DAY)
    assert seq is not None
    profile = Profile("con_1", "a1", {"plan": TraitValue("pro", START, "m1")}, frozenset({"g1"}))
    run = RefreshRun("acc_1", START + DAY, START, 1, 1, 1, 1)
    activation = Activation(
        "acc_1", START + DAY, {"v1": {"con_1": {PLAN: ("pro",)}}}, frozenset({("con_1", "a1")})
    )
    store.commit_refresh(run, [seq], [profile], [], activation)
    assert store.pending_messages("acc_1", START + DAY) == []
    assert store.messages_for("acc_1", ["a1"])[0][1] is True
    assert store.profiles("acc_1") == [profile]
    assert store.refreshes("acc_1") == [run]
    assert store.activation("acc_1") == activation


def test_store_profiles_round_trip(store: Store) -> None:
    _account(store)
    profile = Profile("con_1", "a1", {"plan": TraitValue("pro", START, "m1")})
    store.commit_refresh(
        RefreshRun("acc_1", START, START, 0, 1, 0, 0),
        [],
        [profile],
        [],
        Activation("acc_1", START, {}, frozenset()),
    )
    assert store.profiles("acc_1") == [profile]
    assert store.profiles("acc_1")[0].traits["plan"].order == (START, "m1")


def test_store_sightings_keep_earliest_per_pair_and_report_new_visitor(store: Store) -> None:
    _account(store)
    assert store.add_sighting(Sighting("acc_1", "v1", "a1", START + DAY)) is True
    assert store.add_sighting(Sighting("acc_1", "v1", "a1", START)) is False
    assert store.add_sighting(Sighting("acc_1", "v1", "a2", START + DAY)) is False
    assert store.visitor_sightings("acc_1", "v1") == [
        Sighting("acc_1", "v1", "a1", START),
        Sighting("acc_1", "v1", "a2", START + DAY),
    ]
    assert len(store.sightings("acc_1")) == 2


def test_store_sightings_since_holds_every_later_change(store: Store) -> None:
    _account(store)
    _account(store, "acc_2")
    store.add_sighting(Sighting("acc_1", "v1", "a1", START + DAY))
    version = store.input_version("acc_1")
    store.add_sighting(Sighting("acc_1", "v2", "a2", START))
    store.add_sighting(Sighting("acc_1", "v1", "a1", START))  # moved earlier
    store.add_sighting(Sighting("acc_1", "v1", "a1", START + DAY))  # later: no change
    store.add_sighting(Sighting("acc_2", "v9", "a9", START))
    since = store.sightings_since("acc_1", version)
    assert {Sighting("acc_1", "v2", "a2", START), Sighting("acc_1", "v1", "a1", START)} <= set(
        since
    )
    assert set(since) <= set(store.sightings("acc_1"))  # current records of this account only
    assert store.sightings_since("acc_1", 0) and not store.sightings_since("acc_3", 0)


def test_store_segments_round_trip(store: Store) -> None:
    _account(store)
    segment = Segment("seg_1", "acc_1", "Pros", "all", (), START)
    store.add_segment(segment)
    assert store.get_segment("acc_1", "seg_1") == segment
    assert store.segments("acc_1") == [segment]
    assert store.get_segment("acc_2", "seg_1") is None


def test_store_reset_one_tenant_keeps_others(store: Store) -> None:
    _account(store, "acc_1")
    _account(store, "acc_2")
    store.put_api_key(ApiKeyRecord("acc_1", b"k1", "1111", START))
    store.put_api_key(ApiKeyRecord("acc_2", b"k2", "2222", START))
    store.reset("acc_1")
    assert store.get_account("acc_1") is None
    assert store.find_api_key(b"k1") is None
    assert store.get_account("acc_2") is not None
    assert store.find_api_key(b"k2") is not None
    store.reset()
    assert store.get_account("acc_2") is None


def test_store_reads_of_unknown_account_are_empty(store: Store) -> None:
    assert store.connectors("x") == []
    assert store.pending_messages("x", START) == []
    assert store.sightings("x") == []
    assert store.refreshes("x") == []
    assert store.activation("x") is None
    assert store.segments("x") == []


def test_store_last_refresh_and_keeping_activation(store: Store) -> None:
    _account(store)
    assert store.last_refresh("acc_1") is None
    first = RefreshRun("acc_1", START, START, 1, 1, 1, 1)
    activation = Activation(
        "acc_1", START, {"v1": {"con_1": {PLAN: ("pro",)}}}, frozenset({("con_1", "a1")})
    )
    store.commit_refresh(first, [], [], [], activation)
    idle = RefreshRun("acc_1", START + DAY, START + DAY, 0, 1, 1, 1)
    store.commit_refresh(idle, [], [], [], None)
    assert store.last_refresh("acc_1") == idle
    assert store.refreshes("acc_1") == [first, idle]
    assert store.activation("acc_1") == activation


def test_store_drops_taken_messages_after_retention_keeps_pending(store: Store) -> None:
    from harness.abtasty.store.base import MESSAGE_RETENTION

    _account(store)
    old = store.add_message(_message("old", minutes=0), DAY)
    store.add_message(_message("old-pending", minutes=1), DAY)
    recent = store.add_message(_message("recent", minutes=60 * 24 * 10), DAY)
    assert old is not None and recent is not None
    cutoff = START + MESSAGE_RETENTION + DAY * 4
    run = RefreshRun("acc_1", cutoff, cutoff, 2, 1, 0, 0)
    store.commit_refresh(run, [old, recent], [], [], None)
    kept = {m.message_id for m, _ in store.messages_for("acc_1", ["a1"])}
    assert kept == {"old-pending", "recent"}


def test_store_commit_refresh_applies_each_night_once(store: Store) -> None:
    _account(store)
    seq = store.add_message(_message(), DAY)
    assert seq is not None
    run = RefreshRun("acc_1", START + DAY, START + DAY, 1, 0, 0, 0)
    assert store.commit_refresh(run, [seq], [], [], None) is True
    again = RefreshRun("acc_1", START + DAY, START + DAY, 0, 0, 0, 0)
    assert store.commit_refresh(again, [], [], [], None) is False  # another worker's copy
    assert store.refreshes("acc_1") == [run]


def test_store_accounts_paged_oldest_first(store: Store) -> None:
    made = [_account(store, f"acc_{n}") for n in range(5)]
    assert store.account_count() == 5
    assert store.accounts(0, 2) == made[:2]
    assert store.accounts(2, 2) == made[2:4]
    assert store.accounts(4, 10) == made[4:]
    assert store.accounts(5, 10) == []


def test_store_refresh_run_keeps_when_it_ran_and_its_changes_counts(store: Store) -> None:
    _account(store)
    run = RefreshRun("acc_1", START, START, 1, 1, 1, 1, START + DAY, entered=3, left=2)
    store.commit_refresh(run, [], [], [], None)
    assert store.refreshes("acc_1") == [run]
    assert store.last_refresh("acc_1") == run


def _change(
    visitor: str, when: datetime = START, change: CohortChangeKind = "entered"
) -> CohortChange:
    value = {"pro": True} if visitor == "v3" else "pro"
    return CohortChange("acc_1", when, visitor, "con_1", "plan", value, change)


def test_store_cohort_changes_filtered_by_run_and_visitor_and_paged(store: Store) -> None:
    _account(store)
    first = [_change("v1"), _change("v2"), _change("v3")]
    second = [_change("v1", START + DAY, "left")]
    store.commit_refresh(RefreshRun("acc_1", START, START, 1, 1, 1, 1), [], [], [], None, first)
    store.commit_refresh(
        RefreshRun("acc_1", START + DAY, START + DAY, 1, 1, 1, 1), [], [], [], None, second
    )
    assert store.cohort_changes("acc_1") == first + second
    assert store.cohort_changes("acc_1", scheduled_for=START) == first
    assert store.cohort_changes("acc_1", visitor_id="v1") == [first[0], second[0]]
    assert store.cohort_changes("acc_1", offset=1, limit=2) == first[1:3]
    assert store.cohort_changes("acc_2") == []


def test_store_drops_cohort_changes_after_retention(store: Store) -> None:
    from harness.abtasty.store.base import COHORT_CHANGE_RETENTION

    _account(store)
    old = [_change("v1")]
    store.commit_refresh(RefreshRun("acc_1", START, START, 1, 1, 1, 1), [], [], [], None, old)
    later = START + COHORT_CHANGE_RETENTION + DAY
    new = [_change("v2", later)]
    store.commit_refresh(RefreshRun("acc_1", later, later, 1, 1, 1, 1), [], [], [], None, new)
    assert store.cohort_changes("acc_1") == new


def test_store_reset_forgets_cohort_changes(store: Store) -> None:
    _account(store)
    store.commit_refresh(
        RefreshRun("acc_1", START, START, 1, 1, 1, 1), [], [], [], None, [_change("v1")]
    )
    store.reset("acc_1")
    assert store.cohort_changes("acc_1") == []


def test_store_input_version_bumps_on_every_write_the_refresh_reads(store: Store) -> None:
    _account(store)
    _account(store, "acc_2")
    seen: list[int] = [store.input_version("acc_1")]

    def bumped() -> bool:
        seen.append(store.input_version("acc_1"))
        return seen[-1] > seen[-2]

    store.add_connector(Connector("con_1", "acc_1", "A", START))
    assert bumped()
    store.put_api_key(ApiKeyRecord("acc_1", b"k", "1111", START))
    assert bumped()
    store.add_message(_message(), DAY)
    assert bumped()
    store.add_sighting(Sighting("acc_1", "v1", "a1", START + DAY))
    assert bumped()
    store.add_sighting(
        Sighting("acc_1", "v1", "a1", START)
    )  # the pair's first sighting moves earlier
    assert bumped()
    store.remove_api_key("acc_1")
    assert bumped()
    store.remove_connector("acc_1", "con_1")
    assert bumped()
    assert store.input_version("acc_2") == 0


def test_store_input_version_unchanged_by_no_ops_and_the_refresh(store: Store) -> None:
    _account(store)
    seq = store.add_message(_message(), DAY)
    store.add_sighting(Sighting("acc_1", "v1", "a1", START))
    before = store.input_version("acc_1")
    assert store.add_message(_message(minutes=1), DAY) is None  # a duplicate
    store.add_sighting(Sighting("acc_1", "v1", "a1", START + DAY))  # later: keeps the first
    assert store.remove_connector("acc_1", "con_nope") is False
    assert store.remove_api_key("acc_1") is False
    assert seq is not None
    run = RefreshRun("acc_1", START + DAY, START + DAY, 1, 1, 1, 1, input_version=before)
    store.commit_refresh(run, [seq], [Profile("con_1", "a1")], [], None)
    assert store.input_version("acc_1") == before
    assert store.last_refresh("acc_1") == run


def test_sqlite_store_opens_a_file_written_before_input_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL,"
            " refresh_hour INTEGER NOT NULL, created_at TEXT NOT NULL);"
            "CREATE TABLE refreshes (seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL,"
            " scheduled_for TEXT NOT NULL, cutoff TEXT NOT NULL, messages INTEGER NOT NULL,"
            " profiles INTEGER NOT NULL, matched_profiles INTEGER NOT NULL, cohorts INTEGER NOT NULL);"
            "INSERT INTO accounts VALUES ('acc_1', 'Shop', 'UTC', 3, '2026-03-02T12:00:00.000000');"
            "INSERT INTO refreshes (account_id, scheduled_for, cutoff, messages, profiles,"
            " matched_profiles, cohorts) VALUES ('acc_1', '2026-03-03T03:00:00.000000',"
            " '2026-03-03T00:00:00.000000', 1, 1, 1, 1);"
        )
    store = SqliteStore(path)
    try:
        last = store.last_refresh("acc_1")
        assert last is not None and last.input_version == -1  # unknown: the next night recomputes
        assert store.input_version("acc_1") == 0
        store.add_sighting(Sighting("acc_1", "v1", "a1", START))
        assert store.input_version("acc_1") == 1
    finally:
        store.close()


def test_store_latest_instant_of_an_empty_store_is_none(store: Store) -> None:
    assert store.latest_instant() is None


def test_store_latest_instant_is_the_latest_recorded_time(store: Store) -> None:
    _account(store)
    store.add_message(_message(minutes=90), timedelta(hours=24))
    store.add_sighting(Sighting("acc_1", "v1", "a1", START + timedelta(minutes=30)))
    assert store.latest_instant() == START + timedelta(minutes=90)


def test_store_contract_suite_calls_every_protocol_method() -> None:
    methods = {
        name
        for name, _ in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_")
    }
    source = Path(__file__).read_text()
    assert methods
    assert {name for name in methods if f".{name}(" not in source} == set()


def test_store_get_api_key_is_the_accounts_current_key(store: Store) -> None:
    _account(store)
    assert store.get_api_key("acc_1") is None
    store.put_api_key(ApiKeyRecord("acc_1", b"k", "1111", START))
    assert store.get_api_key("acc_1") == ApiKeyRecord("acc_1", b"k", "1111", START)


def test_store_commit_refresh_keeps_group_profiles(store: Store) -> None:
    _account(store)
    group = GroupProfile("con_1", "g1", {"industry": TraitValue("retail", START, "m9")})
    store.commit_refresh(RefreshRun("acc_1", START + DAY, START, 0, 0, 0, 0), [], [], [group], None)
    assert store.groups("acc_1") == [group]


LOOK_ALIKES = {
    TraitKey("group", ("plan",)): ("enterprise",),
    TraitKey("identify", ("group.plan",)): ("literal",),
    TraitKey("identify", ("company", "name")): ("Acme",),
    TraitKey("identify", ("company.name",)): ("Beta",),
}


def test_store_keeps_look_alike_traits_apart(store: Store) -> None:
    _account(store)
    activation = Activation("acc_1", START, {"v1": {"con_1": dict(LOOK_ALIKES)}}, frozenset())
    conditions = tuple(
        Condition("con_1", key.label, "exists", None, key.source, key.path) for key in LOOK_ALIKES
    )
    change = CohortChange(
        "acc_1",
        START,
        "v1",
        "con_1",
        "group.plan",
        "literal",
        "entered",
        "identify",
        ("group.plan",),
    )
    store.commit_refresh(
        RefreshRun("acc_1", START, START, 1, 1, 1, 4), [], [], [], activation, [change]
    )
    store.add_segment(Segment("seg_1", "acc_1", "Looks", "all", conditions, START))
    assert store.activation("acc_1") == activation
    segment = store.get_segment("acc_1", "seg_1")
    assert segment is not None and [c.key for c in segment.conditions] == list(LOOK_ALIKES)
    assert store.cohort_changes("acc_1") == [change]


def test_sqlite_store_reads_traits_stored_before_sources_and_paths(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "old.sqlite")
    try:
        _account(store)
        with store._tx() as db:  # rows as the previous version wrote them
            db.execute(
                "INSERT INTO activations VALUES ('acc_1', ?, ?, '[]')",
                (
                    "2026-03-02T12:00:00.000000",
                    b'{"v1": {"con_1": {"group.plan": ["x"], "company.name": ["y"]}}}',
                ),
            )
            db.execute(
                "INSERT INTO segments (id, account_id, name, match, conditions, created_at)"
                " VALUES ('seg_1', 'acc_1', 'Old', 'all', ?, '2026-03-02T12:00:00.000000')",
                (b'[["con_1", "group.plan", "exists", null]]',),
            )
            db.execute(
                "INSERT INTO cohort_changes (account_id, scheduled_for, visitor_id, connector_id,"
                " trait, value, change) VALUES ('acc_1', '2026-03-02T12:00:00.000000', 'v1',"
                " 'con_1', 'company.name', '\"y\"', 'entered')"
            )
        activation = store.activation("acc_1")
        assert activation is not None
        assert activation.visitors["v1"]["con_1"] == {
            TraitKey("group", ("plan",)): ("x",),
            TraitKey("identify", ("company", "name")): ("y",),
        }
        segment = store.get_segment("acc_1", "seg_1")
        assert segment is not None
        assert segment.conditions[0].key == TraitKey("group", ("plan",))
        (change,) = store.cohort_changes("acc_1")
        assert change.key == TraitKey("identify", ("company", "name"))
    finally:
        store.close()
