"""API-key auth on the webhook: only the account's live key gets in."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from harness.abtasty.records import ApiKeyRecord
from harness.abtasty.service import AbTasty
from harness.abtasty.spec import parse_webhook_message
from harness.abtasty.store import SqliteStore, Store
from harness.core.errors import HarnessError
from tests.support import World, basic, message


@pytest.fixture
def world() -> World:
    return World.build()


def _receive(world: World, authorization: str | None) -> str:
    return world.service.receive(
        authorization, json.dumps(message(traits={"a": 1})).encode()
    ).status


def _code(world: World, authorization: str | None) -> str:
    with pytest.raises(HarnessError) as caught:
        _receive(world, authorization)
    return caught.value.code


def test_key_auth_valid_key_accepted(world: World) -> None:
    assert _receive(world, world.auth) == "accepted"


@pytest.mark.parametrize(
    "header", [None, "", "   ", basic(""), "Basic " + base64.b64encode(b":secret").decode()]
)
def test_key_auth_missing_key(world: World, header: str | None) -> None:
    assert _code(world, header) == "missing_api_key"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
        "Digest x",
    ],
)
def test_key_auth_malformed_header(world: World, header: str) -> None:
    assert _code(world, header) == "invalid_api_key"


def test_key_auth_wrong_key(world: World) -> None:
    assert _code(world, basic(world.api_key + "x")) == "invalid_api_key"


def test_key_auth_other_accounts_key_files_under_other_account(world: World) -> None:
    other = world.service.create_account("Other")
    world.service.create_segment_connector(other.id, "Segment")
    other_key = world.service.generate_api_key(other.id)
    receipt = world.service.receive(
        basic(other_key), b'{"type":"identify","messageId":"x","anonymousId":"a"}'
    )
    assert receipt.account_id == other.id
    assert world.service.store.pending_messages(world.account.id, world.clock.now()) == []


def test_key_auth_revoked_key_refused(world: World) -> None:
    world.service.revoke_api_key(world.account.id)
    assert _code(world, world.auth) == "invalid_api_key"


def test_key_auth_rotated_key_old_refused_new_accepted(world: World) -> None:
    old = world.auth
    world.api_key = world.service.regenerate_api_key(world.account.id)
    assert _code(world, old) == "invalid_api_key"
    assert _receive(world, world.auth) == "accepted"


def test_key_auth_valid_key_without_connector_is_403(world: World) -> None:
    world.service.delete_connector(world.account.id, world.connector.id)
    assert _code(world, world.auth) == "no_segment_connector"


def test_key_auth_error_message_shows_only_last4(world: World) -> None:
    wrong = world.api_key[:-1] + ("A" if world.api_key[-1] != "A" else "B")
    with pytest.raises(HarnessError) as caught:
        _receive(world, basic(wrong))
    assert wrong not in caught.value.message
    assert wrong[-4:] in caught.value.message


def test_key_auth_key_has_at_least_128_bits_and_is_stored_as_digest(world: World) -> None:
    record = world.service.store.get_api_key(world.account.id)
    assert record is not None
    assert record.digest == hashlib.sha256(world.api_key.encode()).digest()
    assert world.api_key not in repr(record)
    assert len(world.api_key.removeprefix("abt_")) >= 22  # 32 bytes urlsafe: 43 chars, 256 bits


def test_key_auth_generate_twice_refused_regenerate_without_key_refused(world: World) -> None:
    with pytest.raises(HarnessError, match="regenerate") as caught:
        world.service.generate_api_key(world.account.id)
    assert caught.value.code == "api_key_exists"
    world.service.revoke_api_key(world.account.id)
    with pytest.raises(HarnessError) as missing:
        world.service.regenerate_api_key(world.account.id)
    assert missing.value.code == "api_key_not_found"


def test_key_auth_status_shows_last4_never_key(world: World) -> None:
    status = world.service.api_key_status(world.account.id)
    assert status.exists
    assert status.last4 == world.api_key[-4:]


# A repeated call with one key is served from a memo; these warm it first (several calls,
# a duplicate among them) so that a memo that outlived its key or connector would answer.
def _warm(world: World, service: AbTasty | None = None) -> None:
    service = service or world.service
    same = json.dumps(message(message_id="memo-dup")).encode()
    for body in (same, same, json.dumps(message()).encode()):
        service.receive(world.auth, body)


def test_key_auth_memo_revoked_key_refused_at_once(world: World) -> None:
    _warm(world)
    world.service.revoke_api_key(world.account.id)
    assert _code(world, world.auth) == "invalid_api_key"


def test_key_auth_memo_rotated_key_refused_at_once(world: World) -> None:
    _warm(world)
    old = world.auth
    world.api_key = world.service.regenerate_api_key(world.account.id)
    assert _code(world, old) == "invalid_api_key"


def test_key_auth_memo_deleted_connector_refused_at_once(world: World) -> None:
    _warm(world)
    world.service.delete_connector(world.account.id, world.connector.id)
    assert _code(world, world.auth) == "no_segment_connector"


def test_key_auth_memo_reset_account_refused_at_once(world: World) -> None:
    _warm(world)
    world.service.reset(world.account.id)
    assert _code(world, world.auth) == "invalid_api_key"


def test_key_auth_memo_key_revoked_by_other_worker_refused_at_once(world: World) -> None:
    other = AbTasty(world.service.store, world.clock)  # a second worker on the shared store
    _warm(world)
    _warm(world, other)
    other.revoke_api_key(world.account.id)
    assert _code(world, world.auth) == "invalid_api_key"


def test_key_auth_memo_connector_deleted_by_other_worker_refused_at_once(world: World) -> None:
    other = AbTasty(world.service.store, world.clock)
    _warm(world)
    other.delete_connector(world.account.id, world.connector.id)
    assert _code(world, world.auth) == "no_segment_connector"


def test_key_auth_memo_refresh_falling_due_still_runs(world: World) -> None:
    _warm(world)
    assert world.service.refreshes(world.account.id) == []
    world.clock.advance(24 * 3600)  # past the account's 03:00 run
    _receive(world, world.auth)
    assert len(world.service.store.refreshes(world.account.id)) == 1


def test_key_auth_memo_key_revoked_while_message_in_flight_refused_next(world: World) -> None:
    _warm(world)
    account, connector = world.service.authenticate(world.auth)
    world.service.revoke_api_key(world.account.id)  # while the body is still being read
    parsed = parse_webhook_message(json.dumps(message()).encode())
    world.service.ingest(account.id, connector.id, parsed)
    assert _code(world, world.auth) == "invalid_api_key"


def _count_key_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    reads: list[bytes] = []
    find = store.find_api_key

    def counting(digest: bytes) -> ApiKeyRecord | None:
        reads.append(digest)
        return find(digest)

    monkeypatch.setattr(store, "find_api_key", counting)
    return reads


def test_key_owner_memory_store_reads_a_repeated_key_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_key_reads(world.service.store, monkeypatch)
    owners = [world.service.key_owner(world.auth) for _ in range(3)]
    assert (owners, len(reads)) == ([world.account.id] * 3, 1)


def test_key_owner_revoked_key_has_no_owner_at_once(world: World) -> None:
    assert world.service.key_owner(world.auth) == world.account.id
    world.service.revoke_api_key(world.account.id)
    assert world.service.key_owner(world.auth) is None


def test_key_owner_rotated_key_old_has_none_new_has_the_account(world: World) -> None:
    old = world.auth
    assert world.service.key_owner(old) == world.account.id
    new = basic(world.service.regenerate_api_key(world.account.id))
    assert (world.service.key_owner(old), world.service.key_owner(new)) == (None, world.account.id)


def test_key_owner_unknown_key_found_once_it_is_issued(world: World) -> None:
    world.service.revoke_api_key(world.account.id)
    assert world.service.key_owner(world.auth) is None
    issued = basic(world.service.generate_api_key(world.account.id))
    assert world.service.key_owner(issued) == world.account.id


def test_key_owner_reset_account_has_no_owner_at_once(world: World) -> None:
    assert world.service.key_owner(world.auth) == world.account.id
    world.service.reset(world.account.id)
    assert world.service.key_owner(world.auth) is None


def test_key_owner_key_revoked_by_another_service_on_the_store_has_no_owner(world: World) -> None:
    other = AbTasty(world.service.store, world.clock)
    assert world.service.key_owner(world.auth) == world.account.id
    other.revoke_api_key(world.account.id)
    assert world.service.key_owner(world.auth) is None


def test_key_owner_shared_store_key_revoked_by_another_worker_has_no_owner_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "shared.sqlite"
    world = World.build(store=SqliteStore(database))
    other = AbTasty(SqliteStore(database), world.clock)  # another worker: its own connection
    reads = _count_key_reads(world.service.store, monkeypatch)
    assert world.service.key_owner(world.auth) == world.account.id
    other.revoke_api_key(world.account.id)
    assert world.service.key_owner(world.auth) is None
    assert len(reads) == 2  # a shared store is asked on every call
