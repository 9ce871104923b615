"""Reading and masking Authorization headers without ever repeating them."""

from __future__ import annotations

import base64

import pytest

from harness.core.credentials import (
    basic_user_of,
    decode_basic,
    mask_authorization,
    read_authorization,
)
from harness.core.protocol import basic_authorization as basic_header

KEY = "abt_0123456789abcdefghijWXYZ"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_read_authorization_basic_with_one_space() -> None:
    credentials = read_authorization(f"Basic {b64(KEY + ':')}")
    assert (credentials.scheme, credentials.token, credentials.problem) == (
        "Basic",
        b64(KEY + ":"),
        None,
    )


@pytest.mark.parametrize("value", ["basic xyz", "BASIC xyz", "Basic   xyz  "])
def test_read_authorization_scheme_any_case_and_several_spaces(value: str) -> None:
    credentials = read_authorization(value)
    assert (credentials.scheme, credentials.token, credentials.problem) == ("Basic", "xyz", None)


@pytest.mark.parametrize(
    ("value", "scheme", "problem"),
    [
        (KEY, None, "no scheme"),
        (f"Bearer\t{KEY}", "Bearer", "not a tab"),
        (f"Basic\t{b64(KEY)}", "Basic", "not a tab"),
        ("Basic", "Basic", "no credentials"),
        (f"{KEY} x", None, "known HTTP auth scheme"),
        (f"B\u00e4sic {b64(KEY)}", None, "known HTTP auth scheme"),
        (f"Basic {b64(KEY)} {b64(KEY)}", "Basic", "one token"),
    ],
)
def test_read_authorization_problem_never_quotes_the_value(
    value: str, scheme: str | None, problem: str
) -> None:
    credentials = read_authorization(value)
    assert credentials.scheme == scheme
    assert credentials.problem is not None and problem in credentials.problem
    assert KEY[:5] not in credentials.problem and b64(KEY)[:5] not in credentials.problem


def test_read_authorization_names_scheme_by_its_registered_spelling() -> None:
    assert read_authorization("bEaReR token").scheme == "Bearer"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("%%%", "characters base64 never uses"),
        (b64(KEY + ":")[:-3], "not valid base64"),
        (b64(KEY), "without the ':'"),
        (base64.b64encode(b"\xff\xfe:").decode(), "UTF-8"),
    ],
)
def test_decode_basic_problems(token: str, problem: str) -> None:
    basic = decode_basic(token)
    assert basic.user is None
    assert basic.problem is not None and problem in basic.problem


def test_decode_basic_user_and_password() -> None:
    basic = decode_basic(b64("user:pa:ss"))
    assert (basic.user, basic.password, basic.problem) == ("user", "pa:ss", None)


def test_basic_user_of_no_header_is_neither_user_nor_problem() -> None:
    assert basic_user_of(None) == (None, None)
    assert basic_user_of("  ") == (None, None)


def test_basic_user_of_other_scheme_names_it() -> None:
    assert basic_user_of(f"Bearer {KEY}") == (None, "the scheme is Bearer, not Basic")


def test_basic_header_round_trips() -> None:
    assert basic_user_of(basic_header(KEY)) == (KEY, None)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (basic_header(KEY), "Basic ****WXYZ"),
        (f"basic {b64(KEY + ':')}", "Basic ****WXYZ"),
        (f"Bearer {KEY}", "Bearer ****WXYZ"),
        (KEY, "****WXYZ"),
        (f"Basic {b64(KEY)}", "Basic ****"),  # no colon: not credentials, nothing shown
        (f"Basic {b64(KEY + ':')[:-3]}", "Basic ****"),
        (f"Bearer\t{KEY}", "Bearer ****"),
        (f"{KEY} x", "****"),
        (f"Basic {b64(':' + KEY)}", "Basic ****"),
        ("Basic", "Basic ****"),
        ("", "****"),
    ],
)
def test_mask_authorization_keeps_only_the_last_4_of_the_secret(value: str, masked: str) -> None:
    assert mask_authorization(value) == masked
