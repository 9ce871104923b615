"""Error codes and the HTTP status each one gets: shared by the HTTP apps and in-process senders.

This is the single table; ``harness.http.errors`` applies it to responses.
"""

from __future__ import annotations

STATUS_BY_CODE: dict[str, int] = {
    # 400: the request itself is at fault
    "invalid_json": 400,
    "invalid_body": 400,
    "invalid_message": 400,
    "missing_identity": 400,
    "message_too_large": 400,
    "batch_too_large": 400,
    "invalid_timezone": 400,
    "invalid_name": 400,
    "invalid_visitor_id": 400,
    "criterion_not_available": 400,
    "unknown_connector": 400,
    # 401 / 403: who is asking
    "missing_api_key": 401,
    "invalid_api_key": 401,
    "missing_admin_token": 401,
    "invalid_admin_token": 401,
    "invalid_write_key": 401,
    "no_segment_connector": 403,
    "cross_site_request": 403,
    # 404 / 405
    "not_found": 404,
    "account_not_found": 404,
    "connector_not_found": 404,
    "api_key_not_found": 404,
    "segment_not_found": 404,
    "visitor_not_found": 404,
    "source_not_found": 404,
    "method_not_allowed": 405,
    # 409: the state does not allow it
    "connector_exists": 409,
    "api_key_exists": 409,
    "clock_backwards": 409,
    "clock_not_manual": 409,
    # 413, 429, 501
    "body_too_large": 413,
    "rate_limited": 429,
    "headers_too_large": 431,
    "unsupported_type": 501,
}

AUTH_CHALLENGES: dict[str, str] = {
    "missing_api_key": "Basic",
    "invalid_api_key": "Basic",
    "invalid_write_key": "Basic",
    "missing_admin_token": "Bearer",
    "invalid_admin_token": "Bearer",
}


def status_of(code: str) -> int:
    """The HTTP status for an error code (400 for a code this table does not know)."""
    return STATUS_BY_CODE.get(code, 400)
