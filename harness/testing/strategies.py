"""Hypothesis strategies for Segment messages and synthetic users (needs ``hypothesis``).

    from harness.testing.strategies import identify_messages, invalid_messages

    @given(identify_messages())
    def test_my_receiver_accepts(message): ...

``invalid_messages()`` pairs each bad message with the code the fake webhook answers, so
a receiver under test can be checked against the contract's codes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from harness.core.clock import format_instant
from harness.core.codes import ErrorCode
from harness.runtime.people import SyntheticUser

_KEY = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=40),
)


def trait_values() -> st.SearchStrategy[Any]:
    """Any JSON a trait can hold: scalars, lists and nested objects (a few levels deep)."""
    return st.recursive(
        _SCALAR,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=4),
        max_leaves=12,
    )


def traits() -> st.SearchStrategy[dict[str, Any]]:
    """A traits object: reserved traits and custom ones of any JSON type."""
    reserved = st.fixed_dictionaries(
        {},
        optional={
            "email": st.emails(),
            "plan": st.sampled_from(["free", "pro", "enterprise"]),
            "name": st.text(min_size=1, max_size=30),
            "age": st.integers(0, 120),
            "company": st.fixed_dictionaries(
                {"name": st.text(max_size=20), "plan": st.sampled_from(["a", "b"])}
            ),
        },
    )
    return st.builds(
        lambda r, c: {**c, **r}, reserved, st.dictionaries(_KEY, trait_values(), max_size=5)
    )


def _ids() -> st.SearchStrategy[str]:
    return st.uuids().map(str) | st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)


def _instants() -> st.SearchStrategy[str]:
    from datetime import UTC, datetime

    return st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        format_instant
    )


@st.composite
def _envelope(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    message: dict[str, Any] = {"type": kind, "messageId": draw(st.uuids().map(str))}
    identity = draw(st.sampled_from(["anonymous", "user", "both"]))
    if identity in ("anonymous", "both"):
        message["anonymousId"] = draw(_ids())
    if identity in ("user", "both"):
        message["userId"] = draw(_ids())
    when = draw(_instants())
    message.update(timestamp=when, originalTimestamp=when, sentAt=when, receivedAt=when)
    message["context"] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "library": st.just({"name": "analytics.js", "version": "2.11.1"}),
                "ip": st.ip_addresses().map(str),
            },
        )
    )
    message["integrations"] = draw(
        st.sampled_from([{}, {"All": True}, {"AB Tasty client side": True}])
    )
    message["traits"] = draw(traits())
    return message


def identify_messages() -> st.SearchStrategy[dict[str, Any]]:
    """Valid identify calls, as Segment delivers them to the AB Tasty destination."""
    return _envelope("identify")


def group_messages() -> st.SearchStrategy[dict[str, Any]]:
    """Valid group calls, as Segment delivers them to the AB Tasty destination."""
    return st.builds(
        lambda message, group_id: {**message, "groupId": group_id}, _envelope("group"), _ids()
    )


def _breaking(
    message: dict[str, Any], change: dict[str, Any], drop: tuple[str, ...] = ()
) -> dict[str, Any]:
    broken = {k: v for k, v in message.items() if k not in drop}
    broken.update(change)
    return broken


def invalid_messages() -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, code): a message the webhook refuses, and the code it refuses it with."""
    base = identify_messages()
    not_a_string = st.one_of(
        st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({"a": 1})
    )
    cases: list[st.SearchStrategy[tuple[dict[str, Any] | bytes, str]]] = [
        st.tuples(
            st.builds(
                _breaking,
                base,
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["track", "page", "screen", "alias"])}
                ),
            ),
            st.just(ErrorCode.UNSUPPORTED_TYPE),
        ),
        st.tuples(
            st.builds(
                _breaking,
                base,
                st.fixed_dictionaries(
                    {
                        "type": st.text(max_size=10).filter(
                            lambda t: (
                                t not in {"identify", "group", "track", "page", "screen", "alias"}
                            )
                        )
                    }
                ),
            ),
            st.just(ErrorCode.INVALID_MESSAGE),
        ),
        st.tuples(
            st.builds(
                _breaking,
                base,
                st.fixed_dictionaries({"messageId": st.text(min_size=101, max_size=150)}),
            ),
            st.just(ErrorCode.INVALID_MESSAGE),
        ),
        st.tuples(
            st.builds(
                _breaking,
                base,
                st.fixed_dictionaries(
                    {
                        "traits": st.one_of(
                            st.lists(st.integers(), max_size=2), st.text(), st.integers()
                        )
                    }
                ),
            ),
            st.just(ErrorCode.INVALID_MESSAGE),
        ),
        st.tuples(
            st.builds(_breaking, base, st.fixed_dictionaries({"anonymousId": not_a_string})),
            st.just(ErrorCode.INVALID_MESSAGE),
        ),
        st.tuples(
            st.builds(
                _breaking,
                base,
                st.fixed_dictionaries(
                    {"timestamp": st.text(max_size=12).filter(lambda t: not t[:4].isdigit())}
                ),
            ),
            st.just(ErrorCode.INVALID_MESSAGE),
        ),
        st.tuples(
            st.builds(_breaking, base, st.just({}), st.just(("anonymousId", "userId"))),
            st.just(ErrorCode.MISSING_IDENTITY),
        ),
        st.tuples(
            st.builds(_breaking, base, st.just({"traits": {"pad": "x" * 33_000}})),
            st.just(ErrorCode.MESSAGE_TOO_LARGE),
        ),
        st.tuples(
            st.binary(max_size=30).filter(lambda b: not _is_json_object(b)),
            st.just(ErrorCode.INVALID_JSON),
        ),
    ]
    return st.one_of(cases).map(
        lambda pair: (
            pair[0] if isinstance(pair[0], bytes) else json.dumps(pair[0]).encode(),
            pair[1],
        )
    )


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def synthetic_users() -> st.SearchStrategy[SyntheticUser]:
    """Synthetic users like the simulated population's (seen or not, userId-only, shared device)."""

    @st.composite
    def build(draw: st.DrawFn) -> SyntheticUser:
        index = draw(st.integers(0, 10_000_000))
        server_only = draw(st.integers(0, 9)) == 0  # one in ten: known only server-side
        visitors = (
            ()
            if server_only
            else draw(st.sampled_from([(), (f"v{index}",), (f"v{index}", f"v{index}-shared")]))
        )
        return SyntheticUser(
            index=index,
            anonymous_id=None if server_only else draw(st.uuids().map(str)),
            user_id=f"user-{index}" if server_only or draw(st.booleans()) else None,
            traits=draw(traits()),
            company_id=draw(st.none() | st.just(f"company-{index % 50:05d}")),
            visitor_ids=visitors,
            identify_day=draw(st.integers(0, 2)),
        )

    return build()
