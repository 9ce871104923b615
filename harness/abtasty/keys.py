"""API keys: generation, digests, and reading them from a Basic Authorization header."""

from __future__ import annotations

import hashlib
import secrets

from harness.core.codes import ErrorCode
from harness.core.credentials import basic_user_of
from harness.core.errors import HarnessError

KEY_PREFIX = "abt_"


def new_api_key() -> str:
    """A fresh API key carrying 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(api_key: str) -> bytes:
    """The SHA-256 digest under which a key is stored.

    A key with 256 random bits needs no slow password hash: guessing it is hopeless, and the
    webhook checks it on every call, so it must be cheap.
    """
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).digest()


def digests_equal(a: bytes, b: bytes) -> bool:
    """Compare two digests in constant time."""
    return secrets.compare_digest(a, b)


def basic_username(authorization: str | None) -> str:
    """The user name of an HTTP Basic ``Authorization`` header: where Segment puts the key.

    The error messages never quote the header: a malformed one may hold the key itself.

    Raises:
        HarnessError: ``missing_api_key`` when there is no header or the user name is empty;
            ``invalid_api_key`` for another scheme or a value that is not base64 of ``user:pass``.
    """
    if authorization is None or not authorization.strip():
        raise HarnessError(
            ErrorCode.MISSING_API_KEY,
            "No API key: send Authorization: Basic base64('<api_key>:'), as Segment does "
            "with the key from the AB Tasty destination settings.",
        )
    username, problem = basic_user_of(authorization)
    if username is None:
        raise HarnessError(
            ErrorCode.INVALID_API_KEY,
            f"The Authorization header is not HTTP Basic credentials: {problem}. Send "
            "'Basic ' and base64('<api_key>:'), the API key as user name and an empty password, "
            "as Segment does (the header is not repeated here: it may hold the key).",
        )
    if not username:
        raise HarnessError(
            ErrorCode.MISSING_API_KEY,
            "The Basic credentials have an empty user name; put the API key there, "
            "followed by ':' and an empty password.",
        )
    return username
