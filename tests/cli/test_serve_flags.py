"""harness serve with every flag its --help shows, in a real subprocess on loopback free ports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from harness.runtime.server import ServeProcess, free_port, wait_until_serving
from harness.testing.handles import basic_auth

TOKEN = "serve-flags-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_serve_flags_every_flag_takes_effect(tmp_path: Path) -> None:
    port, segment_port = free_port(), free_port()
    store = tmp_path / "state.db"
    command = [
        sys.executable, "-m", "harness.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--segment-port", str(segment_port),
        "--clock", "manual", "--now", "2026-03-02T12:00:00Z", "--admin-token", TOKEN,
        "--store", f"sqlite:{store}", "--journal-size", "2", "--segment-rate-limit", "5",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    abtasty, segment = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{segment_port}"
    try:
        wait_until_serving(f"{abtasty}/_harness/health", 30, process)
        wait_until_serving(f"{segment}/_harness/health", 30, process)
        # --clock manual --now: the clock is where it was told, and stays there.
        clock = requests.get(f"{abtasty}/_harness/clock", headers=ADMIN, timeout=10).json()
        assert clock == {"now": "2026-03-02T12:00:00Z", "mode": "manual"}
        # --admin-token: setup routes need it.
        assert (
            requests.post(f"{abtasty}/api/accounts", json={"name": "S"}, timeout=10).status_code
            == 401
        )
        account = requests.post(
            f"{abtasty}/api/accounts", json={"name": "S"}, headers=ADMIN, timeout=10
        ).json()["id"]
        # --journal-size 2: only the last two requests are kept.
        for _ in range(3):
            requests.get(f"{abtasty}/api/accounts/{account}", headers=ADMIN, timeout=10)
        journal = requests.get(f"{abtasty}/_harness/requests", headers=ADMIN, timeout=10).json()
        assert len(journal["requests"]) == 2
        # --segment-rate-limit 5: a burst past 5 a second gets 429 with Retry-After.
        source = requests.post(
            f"{segment}/_segment/sources", json={"name": "web"}, headers=ADMIN, timeout=10
        ).json()
        answers = [
            requests.post(
                f"{segment}/v1/identify",
                json={"anonymousId": "a1", "traits": {"plan": "pro"}},
                headers={"Authorization": basic_auth(source["write_key"])},
                timeout=10,
            )
            for _ in range(20)
        ]
        limited = [a for a in answers if a.status_code == 429]
        assert limited and all(a.headers["Retry-After"] for a in limited)
        assert any(a.status_code == 200 for a in answers)
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
    # --store sqlite:PATH: a server started again on the file has the account.
    with ServeProcess("--store", f"sqlite:{store}") as again:
        assert requests.get(f"{again.url}/api/accounts/{account}", timeout=10).status_code == 200
