"""Every route of both fakes, fuzzed from their own OpenAPI schemas (schemathesis + Hypothesis).

Valid and invalid requests alike: never a 5xx (but the webhook's deliberate 501), and every
4xx is JSON with a code and a sentence. HARNESS_FUZZ_EXAMPLES sets the examples per route
and mode (default 70: about 5,500 requests in all); raise it for a longer run.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from litestar import Litestar
from schemathesis import GenerationMode

from harness import ManualClock
from harness.runtime.asgi import Reply
from harness.runtime.stack import Harness
from tests.reliability.conftest import Target
from tests.support import START, basic

EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "70"))
SENT: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_requests() -> Any:
    yield
    fivexx = sum(count for status, count in STATUSES.items() if status >= 500 and status != 501)
    summary = f"fuzz: {sum(SENT.values())} requests ({dict(SENT)}), 5xx other than 501: {fivexx}, statuses {dict(sorted(STATUSES.items()))}"
    print("\n" + summary)  # shown with -s / -rA; the closing note quotes it


def _schema(app: Litestar) -> Any:
    """The app's OpenAPI schema as it serves it at /schema/openapi.json (no request made)."""
    return schemathesis.openapi.from_dict(
        msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))
    )


def _operations() -> list[tuple[str, Any]]:
    """Every operation of both fakes, read at collection time from apps that serve nothing."""
    harness = Harness(ManualClock(START))
    schemas = {"abtasty": _schema(harness.abtasty_app()), "segment": _schema(harness.segment_app())}
    return [
        (fake, operation.ok())
        for fake, schema in schemas.items()
        for operation in schema.get_all_operations()
    ]


OPERATIONS = _operations()


def _send(target: Target, fake: str, kwargs: dict[str, Any]) -> Reply:
    url = urlsplit(kwargs["url"])
    body = kwargs.get("data")
    if "json" in kwargs:
        import json

        body = json.dumps(kwargs["json"]).encode()
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    params = {k: str(v) for k, v in (kwargs.get("params") or {}).items()}
    headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
    return target.clients[fake].request(
        kwargs["method"], url.path, content=body or b"", headers=headers, params=params
    )


def _aim(target: Target, case: Any, aim_at_real: bool) -> None:
    """Point half of the cases at real resources so they get past 404 and 401."""
    if not aim_at_real:
        return
    for name, value in (("account_id", target.account_id), ("source_id", target.source_id)):
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value
    if case.path in ("/segment/webhook",):
        case.headers = {**(case.headers or {}), "Authorization": basic(target.api_key)}
    if case.path.startswith("/v1/"):
        case.headers = {**(case.headers or {}), "Authorization": basic(target.write_key)}


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
@pytest.mark.parametrize(
    ("fake", "operation"),
    OPERATIONS,
    ids=[f"{f}:{o.method.upper()} {o.path}" for f, o in OPERATIONS],
)
def test_fuzz_route_never_5xx(
    target: Target, fake: str, operation: Any, mode: GenerationMode
) -> None:
    strategy = operation.as_strategy(mode)

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=strategy, aim=st.booleans())
    def fuzz(case: Any, aim: bool) -> None:
        _aim(target, case, aim)
        reply = _send(target, fake, case.as_transport_kwargs(base_url="http://harness.local"))
        SENT[fake] += 1
        STATUSES[reply.status] += 1

        if reply.status == 501:
            assert reply.json()["code"] == "unsupported_type"
            return
        assert reply.status < 500, (reply.status, reply.text[:300])
        if reply.status >= 400:
            body = reply.json()
            assert isinstance(body, dict), reply.text[:200]
            assert set(body) == {"code", "message"}, body
            assert isinstance(body["code"], str) and body["code"]
            assert isinstance(body["message"], str) and len(body["message"]) > 10

    try:
        fuzz()
    except Unsatisfiable:
        pytest.skip("nothing in this route's schema can be made invalid")
