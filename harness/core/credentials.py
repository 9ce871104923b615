"""Reading and masking ``Authorization`` headers, for every route that takes a secret.

The webhook (an API key), the Tracking API (a write key) and the admin token all read their
header here, and the journal and captures mask it here. Nothing in this module ever puts a
character of the header value into a message: a malformed header may be a bare key, its
base64 or a fragment of either. A problem is described in fixed words; a scheme is named
only by its registered spelling, never by what the client sent; a mask shows at most the
last 4 characters of the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from harness.core.errors import mask_secret

MASK = "****"

REGISTERED_SCHEMES = {
    name.lower(): name
    for name in (
        "Basic",
        "Bearer",
        "Digest",
        "HOBA",
        "Mutual",
        "Negotiate",
        "NTLM",
        "OAuth",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "vapid",
        "AWS4-HMAC-SHA256",
        "Token",
        "ApiKey",
    )
}
"""HTTP authentication schemes (the IANA registry and common others), by lower-case name."""

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an ``Authorization`` header holds, read without keeping a description of its value.

    Attributes:
        scheme: The registered spelling of its scheme (``Basic``), or None when the first
            word is not a registered scheme (or there is only one word: a bare secret).
        token: The one credential token after the scheme (or the bare word), when there is
            exactly one; None otherwise.
        problem: Why the header is not ``<scheme> <token>`` with one space, in words that
            quote nothing of it; None when it is well formed.
    """

    scheme: str | None
    token: str | None
    problem: str | None


def read_authorization(value: str) -> Credentials:
    """Split an ``Authorization`` header into its scheme and its one token.

    Surrounding spaces are ignored and several spaces between scheme and token are allowed
    (RFC 7235: ``1*SP``); a tab or other whitespace there, a missing scheme, a missing or
    doubled token are problems.
    """
    text = value.strip(" \t")
    first, _, rest = text.partition(" ")
    if _WHITESPACE.search(first):  # a tab (or stranger) between the scheme and the token
        word = _WHITESPACE.split(first, maxsplit=1)[0]
        return Credentials(
            REGISTERED_SCHEMES.get(word.lower()),
            None,
            "the scheme and the credentials must be separated by a space, not a tab or another character",
        )
    scheme = REGISTERED_SCHEMES.get(first.lower())
    token = rest.strip(" ")
    if not rest:
        if scheme is not None:
            return Credentials(scheme, None, f"the {scheme} scheme has no credentials after it")
        return Credentials(
            None,
            first or None,
            "the header has no scheme: it holds a single word where '<scheme> <credentials>' belongs",
        )
    if scheme is None:
        return Credentials(None, None, "the header does not start with a known HTTP auth scheme")
    if not token:
        return Credentials(scheme, None, f"the {scheme} scheme has no credentials after it")
    if _WHITESPACE.search(token):
        return Credentials(
            scheme, None, f"the {scheme} credentials must be one token, without spaces inside"
        )
    return Credentials(scheme, token, None)


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """Decoded HTTP Basic credentials; ``problem`` says (without quoting) why they are not."""

    user: str | None
    password: str | None
    problem: str | None


def decode_basic(token: str) -> BasicCredentials:
    """Decode a Basic token: base64 of ``user:password`` in UTF-8 (RFC 7617)."""
    if not _TOKEN68.fullmatch(token):
        return BasicCredentials(
            None, None, "the Basic credentials hold characters base64 never uses"
        )
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return BasicCredentials(None, None, "the Basic credentials are not valid base64")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return BasicCredentials(None, None, "the Basic credentials do not decode to UTF-8 text")
    user, colon, password = text.partition(":")
    if not colon:
        return BasicCredentials(
            None,
            None,
            "the Basic credentials decode to text without the ':' between user name and password",
        )
    return BasicCredentials(user, password, None)


def basic_user_of(authorization: str | None) -> tuple[str | None, str | None]:
    """The user name of a ``Basic`` header and, when there is none, why (in fixed words).

    Returns ``(user, None)`` for well-formed Basic credentials (the user may be empty), and
    ``(None, problem)`` otherwise; ``(None, None)`` when there is no header at all.
    """
    if authorization is None or not authorization.strip():
        return None, None
    credentials = read_authorization(authorization)
    if credentials.problem is not None:
        return None, credentials.problem
    if credentials.scheme != "Basic":
        return None, f"the scheme is {credentials.scheme}, not Basic"
    assert credentials.token is not None
    basic = decode_basic(credentials.token)
    if basic.problem is not None:
        return None, basic.problem
    return basic.user, None


def mask_authorization(value: str) -> str:
    """An ``Authorization`` header fit for a journal, a log or a capture file.

    Keeps the registered spelling of the scheme and, for well-formed credentials only, the
    last 4 characters of the secret itself (a Basic header's user name; another scheme's
    token; a bare word); everything else becomes ``****``.
    """
    credentials = read_authorization(value)
    scheme = f"{credentials.scheme} " if credentials.scheme else ""
    if credentials.token is None:
        return scheme + MASK
    if credentials.scheme == "Basic":
        basic = decode_basic(credentials.token)
        return scheme + (MASK if basic.user is None else mask_secret(basic.user))
    return scheme + mask_secret(credentials.token)  # another scheme's token, or a bare secret
