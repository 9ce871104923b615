"""Every error code the fakes answer, and the HTTP status each one gets: one enumeration, one table.

``ErrorCode`` is the only way to name a code: :class:`~harness.core.errors.HarnessError`
takes one (mypy refuses a plain string, and a misspelt string raises ``ValueError`` at
once), ``STATUS_BY_CODE`` gives every member its status, and ``docs/errors.md`` lists every
member with that status (``tests/core/test_codes.py``, ``tests/test_docs_errors.py``).
The HTTP apps and the in-process senders both answer with this table. Failures of the
command line have codes of their own (:class:`CommandCode`), which never reach HTTP.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class ErrorCode(StrEnum):
    """A stable snake_case error code: integrators match on it. Compares equal to its text."""

    # 400: the request itself is at fault
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"
    INVALID_MESSAGE = "invalid_message"
    MISSING_IDENTITY = "missing_identity"
    MESSAGE_TOO_LARGE = "message_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    INVALID_TIMEZONE = "invalid_timezone"
    INVALID_NAME = "invalid_name"
    INVALID_VISITOR_ID = "invalid_visitor_id"
    CRITERION_NOT_AVAILABLE = "criterion_not_available"
    UNKNOWN_CONNECTOR = "unknown_connector"
    AMBIGUOUS_TRAIT = "ambiguous_trait"
    # 401 / 403: who is asking
    MISSING_API_KEY = "missing_api_key"
    INVALID_API_KEY = "invalid_api_key"
    MISSING_ADMIN_TOKEN = "missing_admin_token"  # noqa: S105 - a code, not a secret
    INVALID_ADMIN_TOKEN = "invalid_admin_token"  # noqa: S105 - a code, not a secret
    INVALID_WRITE_KEY = "invalid_write_key"
    NO_SEGMENT_CONNECTOR = "no_segment_connector"
    CROSS_SITE_REQUEST = "cross_site_request"
    # 404 / 405
    NOT_FOUND = "not_found"
    ACCOUNT_NOT_FOUND = "account_not_found"
    CONNECTOR_NOT_FOUND = "connector_not_found"
    API_KEY_NOT_FOUND = "api_key_not_found"
    SEGMENT_NOT_FOUND = "segment_not_found"
    VISITOR_NOT_FOUND = "visitor_not_found"
    SOURCE_NOT_FOUND = "source_not_found"
    CLOCK_NOT_FOUND = "clock_not_found"
    AUDIENCE_NOT_FOUND = "audience_not_found"
    COMPUTED_TRAIT_NOT_FOUND = "computed_trait_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409: the state does not allow it
    CONNECTOR_EXISTS = "connector_exists"
    API_KEY_EXISTS = "api_key_exists"
    CLOCK_BACKWARDS = "clock_backwards"
    CLOCK_NOT_MANUAL = "clock_not_manual"
    COMPUTATION_KEY_EXISTS = "computation_key_exists"
    # 413, 429, 431, 500, 501
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    HEADERS_TOO_LARGE = "headers_too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    INTERNAL_ERROR = "internal_error"
    """The fake itself failed (a bug): never caused by what a client sends."""


@unique
class CommandCode(StrEnum):
    """A failure of the ``harness`` command line: printed with exit status 2, never sent over HTTP."""

    INVALID_ARGUMENTS = "invalid_arguments"
    INVALID_STORE = "invalid_store"
    INVALID_CAPTURE = "invalid_capture"
    ADMIN_TOKEN_REQUIRED = "admin_token_required"  # noqa: S105 - a code, not a secret
    PORT_IN_USE = "port_in_use"
    UNREACHABLE = "unreachable"
    SIGHTING_REFUSED = "sighting_refused"
    """``simulate --visitors-url``: the server refused a sighting (the run stops there)."""


STATUS_BY_CODE: dict[ErrorCode, int] = {
    # 400: the request itself is at fault
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_BODY: 400,
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.MISSING_IDENTITY: 400,
    ErrorCode.MESSAGE_TOO_LARGE: 400,
    ErrorCode.BATCH_TOO_LARGE: 400,
    ErrorCode.INVALID_TIMEZONE: 400,
    ErrorCode.INVALID_NAME: 400,
    ErrorCode.INVALID_VISITOR_ID: 400,
    ErrorCode.CRITERION_NOT_AVAILABLE: 400,
    ErrorCode.UNKNOWN_CONNECTOR: 400,
    ErrorCode.AMBIGUOUS_TRAIT: 400,
    # 401 / 403: who is asking
    ErrorCode.MISSING_API_KEY: 401,
    ErrorCode.INVALID_API_KEY: 401,
    ErrorCode.MISSING_ADMIN_TOKEN: 401,
    ErrorCode.INVALID_ADMIN_TOKEN: 401,
    ErrorCode.INVALID_WRITE_KEY: 401,
    ErrorCode.NO_SEGMENT_CONNECTOR: 403,
    ErrorCode.CROSS_SITE_REQUEST: 403,
    # 404 / 405
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ACCOUNT_NOT_FOUND: 404,
    ErrorCode.CONNECTOR_NOT_FOUND: 404,
    ErrorCode.API_KEY_NOT_FOUND: 404,
    ErrorCode.SEGMENT_NOT_FOUND: 404,
    ErrorCode.VISITOR_NOT_FOUND: 404,
    ErrorCode.SOURCE_NOT_FOUND: 404,
    ErrorCode.CLOCK_NOT_FOUND: 404,
    ErrorCode.AUDIENCE_NOT_FOUND: 404,
    ErrorCode.COMPUTED_TRAIT_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    # 409: the state does not allow it
    ErrorCode.CONNECTOR_EXISTS: 409,
    ErrorCode.API_KEY_EXISTS: 409,
    ErrorCode.CLOCK_BACKWARDS: 409,
    ErrorCode.CLOCK_NOT_MANUAL: 409,
    ErrorCode.COMPUTATION_KEY_EXISTS: 409,
    # 413, 429, 501
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNSUPPORTED_TYPE: 501,
}

AUTH_CHALLENGES: dict[ErrorCode, str] = {
    ErrorCode.MISSING_API_KEY: "Basic",
    ErrorCode.INVALID_API_KEY: "Basic",
    ErrorCode.INVALID_WRITE_KEY: "Basic",
    ErrorCode.MISSING_ADMIN_TOKEN: "Bearer",
    ErrorCode.INVALID_ADMIN_TOKEN: "Bearer",
}
"""The ``WWW-Authenticate`` scheme sent with each 401 code."""


Code = ErrorCode | CommandCode
"""Any code a :class:`~harness.core.errors.HarnessError` can carry."""


def as_code(code: str) -> Code:
    """The member for a code's text.

    Raises:
        ValueError: ``code`` is not an error code (a misspelling, say).
    """
    if isinstance(code, ErrorCode | CommandCode):
        return code
    for kind in (ErrorCode, CommandCode):
        try:
            return kind(code)
        except ValueError:
            continue
    raise ValueError(f"{code!r} is not an error code; see harness.core.codes.ErrorCode")


def status_of(code: Code) -> int:
    """The HTTP status for an error code; a command-line code is a bug here (500)."""
    return STATUS_BY_CODE.get(code, 500) if isinstance(code, ErrorCode) else 500
