"""What the fuzz tests aim at: both fakes in-process, with a real account, key and source."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.runtime.asgi import AsgiClient
from harness.testing import AccountHandle, SourceHandle


@dataclass(frozen=True)
class Target:
    """The plugin's two in-process apps, and real ids and keys so that some requests go deep."""

    clients: dict[str, AsgiClient]
    account_id: str
    api_key: str
    source_id: str
    write_key: str


@pytest.fixture
def target(
    abtasty_client: AsgiClient,
    segment_client: AsgiClient,
    abtasty_account: AccountHandle,
    simulated_segment: SourceHandle,
) -> Target:
    """An account with its key and a Segment source, on the plugin's fixtures."""
    return Target(
        {"abtasty": abtasty_client, "segment": segment_client},
        abtasty_account.id,
        abtasty_account.api_key,
        simulated_segment.source_id,
        simulated_segment.write_key,
    )
