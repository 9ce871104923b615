"""No answer, journal entry or log line carries any part of a secret but its last 4 characters.

Both fakes run on real sockets (uvicorn, loopback) with an admin token, their logs turned up
to DEBUG and captured. Every request below carries a real secret (the account's API key, the
source's write key, the admin token) mangled into a malformed ``Authorization`` header, and
the test looks for every 5-character window of the secret, of its base64 forms and of the part
of the header value derived from it, in the response (status line, headers, body), in both
fakes' whole journals and in every log line. A 5-character window is enough: any longer leaked
substring contains one.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from hypothesis import assume, given
from hypothesis import strategies as st

from harness import ManualClock
from harness.runtime.server import ServeProcess, ServerGroup
from harness.runtime.stack import Harness
from tests.support import START, basic, message

WINDOW = 5
ADMIN_TOKEN = "adm-" + base64.urlsafe_b64encode(random.Random(20_260_302).randbytes(24)).decode()
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "litestar", "harness")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


Segments = list[tuple[str, bool]]
"""A header value as pieces of text, each marked True when it is derived from the secret."""


@dataclass(frozen=True)
class Form:
    """A malformed (or valid) Authorization header built around a secret: prefix + payload + suffix."""

    name: str
    build: Callable[[str], tuple[str, str, str]]

    def segments(self, secret: str) -> Segments:
        prefix, payload, suffix = self.build(secret)
        return [(prefix, False), (payload, True), (suffix, False)]


def encoded(segments: Segments) -> bytes:
    return "".join(text for text, _ in segments).encode()


FORMS = [
    Form("valid_basic", lambda s: ("Basic ", b64(f"{s}:"), "")),
    Form("valid_bearer", lambda s: ("Bearer ", s, "")),
    Form("bare_key", lambda s: ("", s, "")),
    Form("bare_key_then_space_word", lambda s: ("", s, " x")),
    Form("bearer_key", lambda s: ("Bearer ", s, "")),
    Form("bearer_tab_key", lambda s: ("Bearer\t", s, "")),
    Form("bearer_lowercase", lambda s: ("bearer ", s, "")),
    Form("bearer_base64", lambda s: ("Bearer ", b64(f"{s}:"), "")),
    Form("basic_tab", lambda s: ("Basic\t", b64(f"{s}:"), "")),
    Form("basic_no_space", lambda s: ("Basic", b64(f"{s}:"), "")),
    Form("basic_equals", lambda s: ("Basic=", b64(f"{s}:"), "")),
    Form("basic_raw_key", lambda s: ("Basic ", s, "")),
    Form("basic_broken_base64", lambda s: ("Basic ", b64(f"{s}:")[:-3], "")),
    Form(
        "basic_base64_bad_char",
        lambda s: ("Basic ", b64(f"{s}:")[:-6] + "%" + b64(f"{s}:")[-5:], ""),
    ),
    Form("basic_base64_without_colon", lambda s: ("Basic ", b64(s), "")),
    Form(
        "basic_urlsafe_base64",
        lambda s: ("Basic ", base64.urlsafe_b64encode(f"{s}:".encode()).decode(), ""),
    ),
    Form("basic_no_padding", lambda s: ("Basic ", b64(f"{s}:").rstrip("="), "")),
    Form("basic_lowercase", lambda s: ("basic ", b64(f"{s}:"), "")),
    Form("basic_uppercase", lambda s: ("BASIC ", b64(f"{s}:"), "")),
    Form("basic_extra_spaces", lambda s: ("Basic   ", b64(f"{s}:"), "   ")),
    Form("basic_two_credentials", lambda s: ("Basic ", b64(f"{s}:") + " " + b64(f"{s}:"), "")),
    Form("basic_quoted", lambda s: ('Basic "', b64(f"{s}:"), '"')),
    Form("basic_key_as_password", lambda s: ("Basic ", b64(f":{s}"), "")),
    Form("basic_user_and_key_as_password", lambda s: ("Basic ", b64(f"user:{s}"), "")),
    Form("basic_double_base64", lambda s: ("Basic ", b64(b64(f"{s}:")), "")),
    Form("basic_key_plus_char", lambda s: ("Basic ", b64(f"{s}x:"), "")),
    Form("basic_key_minus_last_char", lambda s: ("Basic ", b64(f"{s[:-1]}:"), "")),
    Form("basic_base64_of_non_ascii", lambda s: ("Basic ", b64(f"{s}\u00e9:"), "")),
    Form("basic_non_ascii_after", lambda s: ("Basic ", b64(f"{s}:"), "\u00e9\u00fc")),
    Form("non_ascii_scheme", lambda s: ("B\u00e4sic ", b64(f"{s}:"), "")),
    Form("bare_key_non_ascii", lambda s: ("", s, "\u00fc")),
    Form("digest_username", lambda s: ('Digest username="', s, '", realm="x"')),
    Form("token_scheme", lambda s: ("Token ", s, "")),
    Form("key_as_scheme", lambda s: ("", s, " " + b64("x:"))),
    Form("very_long_basic", lambda s: ("Basic ", b64(f"{s}:") * 150, "")),
    Form("very_long_bare", lambda s: ("", s * 400, "")),
    Form("over_header_limit", lambda s: ("Basic ", b64(f"{s}:") * 1_200, "")),
]


def forbidden_windows(secret: str, segments: Segments) -> set[str]:
    """Every 5-character window that would betray the secret.

    That is every window of the secret and of its base64 forms, and every window of the header
    value holding at least 3 characters derived from the secret (a window of the scheme and a
    character or two of the key could be ordinary text such as "Basic b").
    """
    derived = [
        secret,
        b64(secret),
        b64(f"{secret}:"),
        base64.urlsafe_b64encode(f"{secret}:".encode()).decode(),
    ]
    windows = {text[i : i + WINDOW] for text in derived for i in range(len(text) - WINDOW + 1)}
    header = "".join(text for text, _ in segments)
    derived_chars = [derived for text, derived in segments for _ in text]
    for i in range(len(header) - WINDOW + 1):
        if sum(derived_chars[i : i + WINDOW]) >= 3:
            windows.add(header[i : i + WINDOW])
    return windows


def leaks(text: str, forbidden: set[str]) -> set[str]:
    """The forbidden windows found in ``text``."""
    return {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)} & forbidden


class LogCapture(logging.Handler):
    """Keeps every formatted log line of the servers and the app."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@dataclass
class Live:
    """Both fakes on sockets with an account, connector, API key and a source."""

    abtasty: str
    segment: str
    account_id: str
    source_id: str
    api_key: str
    write_key: str
    logs: LogCapture
    admin: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    def journals(self) -> str:
        """Both fakes' whole journals as JSON text."""
        return "\n".join(
            requests.get(f"{url}/_harness/requests", headers=self.admin, timeout=10).text
            for url in (self.abtasty, self.segment)
        )


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    harness = Harness(ManualClock(START))
    group = ServerGroup(
        [
            (harness.abtasty_app(ADMIN_TOKEN), "127.0.0.1", 0),
            (harness.segment_app(ADMIN_TOKEN), "127.0.0.1", 0),
        ]
    )
    capture = LogCapture()
    levels = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    try:
        with group:
            abtasty, segment = group.urls
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            account = requests.post(
                f"{abtasty}/api/accounts", json={"name": "Shop"}, headers=admin, timeout=10
            ).json()["id"]
            base = f"{abtasty}/api/accounts/{account}"
            requests.post(
                f"{base}/integrations/pull/segment",
                json={"name": "Segment"},
                headers=admin,
                timeout=10,
            )
            key = requests.post(
                f"{base}/settings/integrations/api-key", headers=admin, timeout=10
            ).json()["api_key"]
            source = requests.post(
                f"{segment}/_segment/sources", json={"name": "web"}, headers=admin, timeout=10
            ).json()
            requests.post(
                f"{segment}/_segment/sources/{source['id']}/destinations",
                json={"type": "ab_tasty", "api_key": key},
                headers=admin,
                timeout=10,
            )
            yield Live(abtasty, segment, account, source["id"], key, source["write_key"], capture)
    finally:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(capture)
            logger.setLevel(levels[name])


_probes = itertools.count()


def _send(live: Live, route: str, header: bytes, probe: str) -> requests.Response:
    """Send ``header`` to ``route``, marking the request (query and body) with ``probe``."""
    headers = {"Authorization": header}
    query = {"probe": probe}
    if route == "webhook":
        return requests.post(
            f"{live.abtasty}/segment/webhook",
            params=query,
            json=message(anonymous_id=probe),
            headers=headers,
            timeout=10,
        )
    if route == "tracking_api":
        return requests.post(
            f"{live.segment}/v1/identify",
            params=query,
            json={"anonymousId": probe, "traits": {"plan": "pro"}},
            headers=headers,
            timeout=10,
        )
    if route == "admin_abtasty":
        url = f"{live.abtasty}/api/accounts/{live.account_id}"
    else:
        url = f"{live.segment}/_segment/sources/{live.source_id}/delivery-overview"
    return requests.get(url, params=query, headers=headers, timeout=10)


ROUTES = ["webhook", "tracking_api", "admin_abtasty", "admin_segment"]


def _secret(live: Live, route: str) -> str:
    return {"webhook": live.api_key, "tracking_api": live.write_key}.get(route, ADMIN_TOKEN)


def assert_nothing_leaks(live: Live, route: str, name: str, segments: Segments) -> None:
    secret = _secret(live, route)
    live.logs.lines.clear()
    probe = f"probe-{next(_probes)}-end"
    response = _send(live, route, encoded(segments), probe)
    forbidden = forbidden_windows(secret, segments)
    answer = f"{response.status_code} {response.reason}\n{response.headers}\n{response.text}"
    assert response.status_code < 500, answer
    assert not leaks(answer, forbidden), (
        f"the response to {name} carries {leaks(answer, forbidden)}: {answer}"
    )
    # The request's own entry, and the delivery to AB Tasty a Tracking API call may cause.
    journals = "\n".join(
        json.dumps(entry)
        for url in (live.abtasty, live.segment)
        for entry in requests.get(
            f"{url}/_harness/requests?limit=5", headers=live.admin, timeout=10
        ).json()["requests"]
        if probe in json.dumps(entry)
    )
    if response.status_code != 431:  # refused before the journal, with the header block
        assert probe in journals
    assert not leaks(journals, forbidden), (
        f"the journal after {name} carries {leaks(journals, forbidden)}"
    )
    logs = "\n".join(live.logs.lines)
    assert not leaks(logs, forbidden), (
        f"the logs after {name} carry {leaks(logs, forbidden)}: {logs}"
    )


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
@pytest.mark.parametrize("route", ROUTES)
def test_secret_masking_malformed_authorization_leaks_nothing(
    live: Live, route: str, form: Form
) -> None:
    assert_nothing_leaks(live, route, form.name, form.segments(_secret(live, route)))


def test_secret_masking_check_finds_a_quoted_key(live: Live) -> None:
    # The check itself can fail: a text quoting the key's first characters is caught.
    secret = live.api_key
    forbidden = forbidden_windows(secret, [(secret, True)])
    assert leaks(f"The Authorization scheme is {secret[:20]!r}", forbidden)
    assert not leaks(f"The API key ****{secret[-4:]} is not live", forbidden)


def test_secret_masking_whole_journals_carry_no_secret(live: Live) -> None:
    # Setup answers showed the API key and the write key once; the journal masks them.
    journals = live.journals()
    for secret in (live.api_key, live.write_key, ADMIN_TOKEN):
        assert not leaks(journals, forbidden_windows(secret, [(secret, True)]))


def test_secret_masking_journal_keeps_the_last_4(live: Live) -> None:
    _send(live, "webhook", basic(live.api_key).encode(), "probe-valid")
    entry = requests.get(
        f"{live.abtasty}/_harness/requests?limit=1", headers=live.admin, timeout=10
    ).json()["requests"][0]
    assert entry["headers"]["authorization"] == f"Basic ****{live.api_key[-4:]}"


SCHEMES = ["", "Basic", "basic", "BASIC", "Bearer", "Token", "B\u00e4sic", "Basic=", "Digest"]
SEPARATORS = ["", " ", "  ", "\t", " \t ", "="]
PAYLOADS: list[Callable[[str], str]] = [
    lambda s: s,
    lambda s: b64(f"{s}:"),
    lambda s: b64(s),
    lambda s: base64.urlsafe_b64encode(f"{s}:".encode()).decode(),
    lambda s: b64(f":{s}"),
    lambda s: s[::-1],
]


@st.composite
def mangled(draw: st.DrawFn, secret: str) -> Segments:
    """A header built from ``secret``: some scheme, separator, encoding, cut and damage."""
    payload = draw(st.sampled_from(PAYLOADS))(secret)
    start = draw(st.integers(0, len(payload) - 1))
    end = draw(st.integers(start + 1, len(payload)))
    payload = payload[start:end] * draw(st.integers(1, 3))
    at = draw(st.integers(0, len(payload)))
    junk = draw(st.sampled_from(["", "%", "\u00e9", "=", " ", "\t", ":", "==", "\u00ff"]))
    scheme = draw(st.sampled_from(SCHEMES))
    separator = draw(st.sampled_from(SEPARATORS)) if scheme else ""
    suffix = draw(st.sampled_from(["", " x", "=", "\u00fc", '"']))
    return [
        (scheme + separator, False),
        (payload[:at], True),
        (junk, False),
        (payload[at:], True),
        (suffix, False),
    ]


@pytest.mark.parametrize("route", ROUTES)
@given(data=st.data())
def test_secret_masking_mangled_headers_leak_nothing(
    live: Live, route: str, data: st.DataObject
) -> None:
    segments = data.draw(mangled(_secret(live, route)))
    assume(not encoded(segments)[:1].isspace())  # HTTP strips it; requests refuses to send it
    assert_nothing_leaks(live, route, "a mangled header", segments)


def test_secret_masking_serve_process_stderr_carries_no_secret() -> None:
    token = ADMIN_TOKEN
    server = ServeProcess("--clock", "manual", "--admin-token", token).start()
    sent: list[tuple[str, Segments]] = []
    try:
        admin = {"Authorization": f"Bearer {token}"}
        account = requests.post(
            f"{server.url}/api/accounts", json={"name": "Shop"}, headers=admin, timeout=10
        ).json()["id"]
        key = requests.post(
            f"{server.url}/api/accounts/{account}/settings/integrations/api-key",
            headers=admin,
            timeout=10,
        ).json()["api_key"]
        for form in FORMS:
            for url, secret in (
                (f"{server.url}/segment/webhook", key),
                (f"{server.url}/api/accounts/{account}", token),
            ):
                segments = form.segments(secret)
                requests.post(
                    url, json=message(), headers={"Authorization": encoded(segments)}, timeout=10
                )
                sent.append((secret, segments))
    finally:
        stderr = server.stop()
    for secret, segments in sent:
        assert not leaks(stderr, forbidden_windows(secret, segments)), stderr


def test_secret_masking_truncated_body_keeps_no_write_key(live: Live) -> None:
    # A body that does not parse is journaled as text: the write key in it is masked still.
    body = '{"anonymousId": "probe-body", "writeKey": "' + live.write_key + '", "traits": {'
    response = requests.post(
        f"{live.segment}/v1/identify",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    forbidden = forbidden_windows(live.write_key, [(live.write_key, True)])
    journal = live.journals()
    assert "probe-body" in journal
    assert not leaks(journal, forbidden)
    assert f"****{live.write_key[-4:]}" in journal


def test_secret_masking_key_in_other_headers_and_query_is_masked(live: Live) -> None:
    settings = base64.b64encode(json.dumps({"apiKey": live.api_key}).encode()).decode()
    requests.post(
        f"{live.abtasty}/segment/webhook",
        params={"api_key": live.api_key, "probe": "probe-elsewhere"},
        json=message(anonymous_id="probe-elsewhere"),
        headers={
            "Authorization": basic(live.api_key),
            "X-Api-Key": live.api_key,
            "Cookie": f"key={live.api_key}",
            "X-Segment-Settings": settings,
        },
        timeout=10,
    )
    entry = requests.get(
        f"{live.abtasty}/_harness/requests?limit=1", headers=live.admin, timeout=10
    ).json()["requests"][0]
    assert not leaks(json.dumps(entry), forbidden_windows(live.api_key, [(live.api_key, True)]))
    assert entry["path"] == "/segment/webhook?api_key=****&probe=probe-elsewhere"
    assert entry["headers"]["x-api-key"] == entry["headers"]["cookie"] == "****"
    assert json.loads(entry["headers"]["x-segment-settings"]) == {
        "apiKey": f"****{live.api_key[-4:]}"
    }
