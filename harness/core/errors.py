"""The one error type the domain raises.

Every failure the fakes can report has a stable snake_case ``code`` and a sentence a
person can act on. The one table in ``harness.core.codes`` decides which HTTP status a code gets.
"""

from __future__ import annotations

from harness.core.codes import Code, as_code


class HarnessError(Exception):
    """A domain failure with a stable code.

    Args:
        code: The code integrators match on, e.g. ``ErrorCode.INVALID_API_KEY``.
        message: A sentence saying what went wrong and what to do about it.

    Raises:
        ValueError: ``code`` is a string that is not an error code (a misspelling).
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Code = as_code(code)
        self.message = message

    def __repr__(self) -> str:
        return f"HarnessError({self.code!r}, {self.message!r})"


def mask_secret(secret: str) -> str:
    """Show only the last 4 characters of a secret, as the contract requires."""
    return "****" + secret[-4:] if len(secret) > 4 else "****"
