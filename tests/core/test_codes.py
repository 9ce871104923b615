from __future__ import annotations

import msgspec
import pytest

from harness.core.codes import STATUS_BY_CODE, CommandCode, ErrorCode, as_code, status_of
from harness.core.errors import HarnessError


def test_codes_every_error_code_has_a_status() -> None:
    assert set(STATUS_BY_CODE) == set(ErrorCode)


def test_codes_error_and_command_codes_never_share_text() -> None:
    assert not {code.value for code in ErrorCode} & {code.value for code in CommandCode}


def test_codes_member_is_sent_as_its_text() -> None:
    assert msgspec.json.encode({"code": ErrorCode.INVALID_API_KEY}) == b'{"code":"invalid_api_key"}'


def test_codes_as_code_finds_the_member_for_its_text() -> None:
    assert as_code("invalid_store") is CommandCode.INVALID_STORE


def test_codes_harness_error_refuses_a_misspelt_code() -> None:
    with pytest.raises(ValueError, match="invalid_api_kye"):
        HarnessError("invalid_api_kye", "a typo")  # type: ignore[arg-type]


def test_codes_harness_error_keeps_the_member() -> None:
    assert HarnessError("invalid_json", "x").code is ErrorCode.INVALID_JSON  # type: ignore[arg-type]


def test_codes_status_of_a_command_code_is_a_server_fault() -> None:
    assert status_of(CommandCode.INVALID_ARGUMENTS) == 500
