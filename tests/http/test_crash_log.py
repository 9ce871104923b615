"""The crash log: unexpected exceptions the apps answered with 500, kept for a test to raise."""

from __future__ import annotations

import threading

import pytest

from harness.abtasty import AbTasty
from harness.abtasty.store import MemoryStore
from harness.http import create_abtasty_app
from harness.http.errors import CrashLog
from harness.runtime.asgi import AsgiClient


class Broken(Exception):
    """What the patched code raises."""


def _crash(message: str) -> Broken:
    try:
        raise Broken(message)
    except Broken as crash:
        return crash


def test_crash_log_check_raises_the_first_crash_and_notes_the_others() -> None:
    log = CrashLog()
    log.record(_crash("first"))
    log.record(_crash("second"))
    with pytest.raises(Broken, match="first") as raised:
        log.check()
    notes = "\n".join(raised.value.__notes__)
    assert "Broken: second" in notes
    assert raised.value.__traceback__ is not None


def test_crash_log_check_consumes_every_crash() -> None:
    log = CrashLog()
    log.record(_crash("once"))
    with pytest.raises(Broken):
        log.check()
    assert len(log) == 0
    log.check()  # nothing left: no raise


def test_crash_log_clear_forgets_without_raising() -> None:
    log = CrashLog()
    log.record(_crash("expected"))
    log.clear()
    log.check()
    assert list(log) == []


def test_crash_log_keeps_the_first_crashes_and_counts_the_rest() -> None:
    log = CrashLog(limit=2)
    for number in range(5):
        log.record(_crash(str(number)))
    crashes = log.take()
    assert [str(crash) for crash in crashes] == ["0", "1"]
    assert crashes[-1].__notes__ == ["... and 3 more crash(es) beyond the first 2."]


def test_crash_log_records_from_many_threads() -> None:
    log = CrashLog(limit=1_000)

    def record_fifty() -> None:
        for _ in range(50):
            log.record(_crash("x"))

    threads = [threading.Thread(target=record_fifty) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log) == 400


def _broken_app(crashes: CrashLog | None) -> tuple[AsgiClient, str]:
    service = AbTasty(MemoryStore())
    account_id = service.create_account("Shop").id

    def account(account_id: str) -> None:
        raise Broken(f"cannot read {account_id}")

    service.account = account  # type: ignore[method-assign,assignment]
    return AsgiClient(create_abtasty_app(service, crashes=crashes)), account_id


def test_crash_log_app_records_a_crash_beside_its_500() -> None:
    crashes = CrashLog()
    client, account_id = _broken_app(crashes)
    reply = client.get(f"/api/accounts/{account_id}")
    client.close()
    assert (reply.status, reply.json()["code"]) == (500, "internal_error")
    assert [str(crash) for crash in crashes] == [f"cannot read {account_id}"]


def test_crash_log_app_without_a_log_still_answers_500() -> None:
    client, account_id = _broken_app(None)
    reply = client.get(f"/api/accounts/{account_id}")
    client.close()
    assert (reply.status, reply.json()["code"]) == (500, "internal_error")


def test_crash_log_app_does_not_record_a_client_error() -> None:
    crashes = CrashLog()
    client, _ = _broken_app(crashes)
    reply = client.post("/segment/webhook", json={"type": "identify"})  # no API key
    client.close()
    assert 400 <= reply.status < 500
    assert len(crashes) == 0
