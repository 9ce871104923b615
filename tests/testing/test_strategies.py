"""The exported Hypothesis strategies, checked against the fake webhook itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from harness.abtasty.spec import parse_webhook_message
from harness.core.errors import HarnessError
from harness.runtime.people import SyntheticUser
from harness.testing.strategies import (
    group_messages,
    identify_messages,
    invalid_messages,
    synthetic_users,
)
from tests.support import World


@given(message=identify_messages())
def test_strategies_identify_messages_are_accepted(message: dict[str, Any]) -> None:
    world = World.build()
    assert world.send(message) == "accepted"


@given(message=group_messages())
def test_strategies_group_messages_are_valid(message: dict[str, Any]) -> None:
    parsed = parse_webhook_message(json.dumps(message).encode())
    assert parsed.type == "group"
    assert parsed.group_id


@given(case=invalid_messages())
def test_strategies_invalid_messages_get_their_code(case: tuple[bytes, str]) -> None:
    body, code = case
    world = World.build()
    with pytest.raises(HarnessError) as refused:
        world.service.receive(world.auth, body)
    assert refused.value.code == code, refused.value.message


@given(user=synthetic_users())
def test_strategies_synthetic_users_are_consistent(user: SyntheticUser) -> None:
    assert user.anonymous_id is not None or user.user_id is not None
    if user.anonymous_id is None:
        assert user.visitor_ids == ()
