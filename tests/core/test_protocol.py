from __future__ import annotations

import base64
import json

import pytest

from harness.core.errors import HarnessError
from harness.core.protocol import (
    basic_authorization,
    decode_json_object,
    partner_headers,
    tracking_path,
)


def test_protocol_partner_headers_are_what_segment_sends() -> None:
    headers = partner_headers("abt_key")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"abt_key:").decode()
    assert headers["User-Agent"] == "Segment.io/1.0"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(base64.b64decode(headers["X-Segment-Settings"])) == {"apiKey": "abt_key"}


def test_protocol_basic_authorization_carries_a_password() -> None:
    header = basic_authorization("user", "secret")
    assert base64.b64decode(header.removeprefix("Basic ")) == b"user:secret"


def test_protocol_tracking_path_names_the_call() -> None:
    assert tracking_path("batch") == "/v1/batch"


@pytest.mark.parametrize("body", [b"[1]", b"{", b"\xff", b"[" * 100_000])
def test_protocol_decode_json_object_rejects_anything_but_an_object(body: bytes) -> None:
    with pytest.raises(HarnessError) as caught:
        decode_json_object(body)
    assert caught.value.code == "invalid_json"


def test_protocol_decode_json_object_names_what_it_read() -> None:
    with pytest.raises(HarnessError, match=r"^The message"):
        decode_json_object(b"1", what="The message")
