"""The one error type the domain raises.

Every failure the fakes can report has a stable snake_case ``code`` and a sentence a
person can act on. Only ``harness.http.errors`` decides which HTTP status a code gets.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A domain failure with a stable code.

    Args:
        code: The snake_case code integrators match on, e.g. ``invalid_api_key``.
        message: A sentence saying what went wrong and what to do about it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"HarnessError({self.code!r}, {self.message!r})"


def mask_secret(secret: str) -> str:
    """Show only the last 4 characters of a secret, as the contract requires."""
    return "****" + secret[-4:] if len(secret) > 4 else "****"
