"""What the scenario format can say: typed values, refusals, requests, journal and more.

Each test plays a small story in-process and checks that the step passes when the fakes do
what it says, and fails, with a message naming what differs, when they do not.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest

from harness.runtime.asgi import Reply
from harness.scenarios import ScenarioError, load_scenario, run_scenario, shared_in_process_driver
from harness.scenarios.runner import ScenarioResult

HEADER = "name: story\nstart: 2026-03-02T10:00:00Z\n"


def _play(tmp_path: Path, steps: str, *, version: int | None = 2) -> ScenarioResult:
    path = tmp_path / "story.yaml"
    head = HEADER + (f"format: {version}\n" if version is not None else "")
    path.write_text(head + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    return run_scenario(load_scenario(path), shared_in_process_driver())


def _passes(tmp_path: Path, steps: str, *, version: int | None = 2) -> None:
    result = _play(tmp_path, steps, version=version)
    assert result.passed, str(result.failure)


def _fails(tmp_path: Path, steps: str, *, version: int | None = 2) -> str:
    result = _play(tmp_path, steps, version=version)
    assert not result.passed
    assert result.failure is not None
    return str(result.failure)


FOUR_FLAGS = """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- visitor: {account: shop, visitor_id: v2, anonymous_id: a2}
- visitor: {account: shop, visitor_id: v3, anonymous_id: a3}
- visitor: {account: shop, visitor_id: v4, anonymous_id: a4}
- visitor: {account: shop, visitor_id: v5, anonymous_id: a5}
- identify: {account: shop, anonymous_id: a1, traits: {flag: true}}
- identify: {account: shop, anonymous_id: a2, traits: {flag: "true"}}
- identify: {account: shop, anonymous_id: a3, traits: {flag: 1}}
- identify: {account: shop, anonymous_id: a4, traits: {flag: "1"}}
- identify: {account: shop, anonymous_id: a5, traits: {flag: "1"}}
- at: 2026-03-03T03:00:00Z
"""


# typed values --------------------------------------------------------------------------------
def test_steps_format_2_tells_four_cohorts_apart(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        FOUR_FLAGS
        + """\
- expect:
    builder:
      account: shop
      exactly:
        flag:
          - {value: true, visitors: 1}
          - {value: "true", visitors: 1}
          - {value: 1, visitors: 1}
          - {value: "1", visitors: 2}
""",
    )


def test_steps_format_2_count_of_a_typed_value_fails_when_wrong(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        FOUR_FLAGS + '- expect:\n    builder: {account: shop, shows: {flag: {"1": 1}}}\n',
    )
    assert 'flag = "1" with 1 visitor(s); got 2 visitor(s)' in message


def test_steps_format_2_string_is_not_the_boolean(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        "- account: {name: shop}\n- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}\n"
        '- identify: {account: shop, anonymous_id: a1, traits: {flag: "true"}}\n'
        "- at: 2026-03-03T03:00:00Z\n"
        "- expect:\n    builder: {account: shop, shows: {flag: [true]}}\n",
    )
    assert 'expected flag = true shown; got flag values shown: {"true": 1}' in message


def test_steps_format_1_compares_values_as_text(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        "- account: {name: shop}\n- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}\n"
        '- identify: {account: shop, anonymous_id: a1, traits: {flag: "true", seats: "1"}}\n'
        "- at: 2026-03-03T03:00:00Z\n"
        "- expect:\n    builder: {account: shop, exactly: {flag: {true: 1}, seats: {1: 1}}}\n",
        version=None,
    )


def test_steps_format_2_hides_a_typed_value(tmp_path: Path) -> None:
    steps = (
        "- account: {name: shop}\n- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}\n"
        '- identify: {account: shop, anonymous_id: a1, traits: {flag: "1"}}\n'
        "- at: 2026-03-03T03:00:00Z\n"
    )
    _passes(
        tmp_path,
        steps + "- expect:\n    builder: {account: shop, hides: [{trait: flag, value: 1}, plan]}\n",
    )
    message = _fails(
        tmp_path,
        steps + '- expect:\n    builder: {account: shop, hides: [{trait: flag, value: "1"}]}\n',
    )
    assert 'expected flag = "1" hidden' in message


def test_steps_mapping_keys_true_and_1_are_refused_with_the_list_form(tmp_path: Path) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(
        HEADER
        + "format: 2\nsteps:\n  - expect:\n      builder: {account: s, shows: {f: {true: 1, 1: 1}}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "true and 1 are different values" in caught.value.message
    assert "[{value: true, visitors: 1}, {value: 1, visitors: 1}]" in caught.value.message


def test_steps_builder_source_keeps_only_group_traits(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- group: {account: shop, anonymous_id: a1, group_id: acme, traits: {plan: startup}}
- at: 2026-03-03T03:00:00Z
- expect:
    builder: {account: shop, source: group, exactly: {group.plan: {startup: 1}}}
- expect:
    builder: {account: shop, source: identify, exactly: {plan: {pro: 1}}}
""",
    )


# refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "steps",
    [
        "- account: {name: shop, timezone: Mars/Olympus}\n  expect: {status: 400, code: invalid_timezone}\n",
        "- account: {name: shop}\n- connector: {account: shop, name: Again}\n  expect: {status: 409, code: connector_exists}\n",
        "- account: {name: shop}\n- api_key: {account: shop, action: generate}\n  expect: {status: 409, code: api_key_exists}\n",
        "- account: {name: shop}\n- visitor: {account: shop, visitor_id: 'no way', anonymous_id: a}\n  expect: {status: 400, code: invalid_visitor_id}\n",
        "- account: {name: shop}\n- segment: {account: shop, as: s, conditions: [{trait: plan, operator: equals, value: pro}]}\n  expect: {status: 400, code: criterion_not_available}\n",
        "- account: {name: shop, connector: '   '}\n  expect: {status: 400, code: invalid_name}\n",
    ],
    ids=["account", "connector", "api_key", "visitor", "segment", "account-connector"],
)
def test_steps_setup_step_expects_a_refusal(tmp_path: Path, steps: str) -> None:
    _passes(tmp_path, steps)


def test_steps_refused_setup_without_expect_names_what_failed(tmp_path: Path) -> None:
    message = _fails(tmp_path, "- account: {name: shop, connector: '   '}\n")
    assert "expected setting up the Segment connector to succeed; got 400 invalid_name" in message


def test_steps_explain_expects_visitor_not_found(tmp_path: Path) -> None:
    steps = """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- at: 2026-03-03T03:00:00Z
- segment: {account: shop, as: pros, conditions: [{trait: plan, operator: equals, value: pro}]}
- expect:
    explain: {account: shop, segment: pros, visitor_id: nobody, status: 404, code: visitor_not_found}
- expect:
    explain: {account: shop, segment_id: seg-made-up, visitor_id: v1, status: 404, code: segment_not_found}
"""
    _passes(tmp_path, steps)


def test_steps_check_expecting_a_refusal_fails_on_success(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        "- account: {name: shop}\n- expect:\n    refreshes: {account: shop, status: 404}\n",
    )
    assert "expected reading the refreshes refused with 404; got 200" in message


def test_steps_visitor_check_expects_invalid_visitor_id(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        "- account: {name: shop}\n"
        "- expect:\n    visitor: {account: shop, visitor_id: NOT_OK!, status: 400, code: invalid_visitor_id}\n",
    )


def test_steps_refusal_and_other_fields_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(
        HEADER
        + "steps:\n  - expect:\n      visitor: {account: s, visitor_id: v, in: [x], status: 404}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == "steps[0].expect.visitor"
    assert caught.value.message.endswith("drop in")


# explain -------------------------------------------------------------------------------------
EXPLAIN = """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- at: 2026-03-03T03:00:00Z
- segment: {account: shop, as: free, conditions: [{trait: plan, operator: equals, value: free}]}
"""


def test_steps_explain_not_contains_passes_when_absent(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        EXPLAIN
        + "- expect:\n    explain: {account: shop, segment: free, visitor_id: v1, matches: false, "
        "contains: [plan], not_contains: [no visitor seen, not yet activated]}\n",
    )


def test_steps_explain_not_contains_fails_when_present(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        EXPLAIN
        + "- expect:\n    explain: {account: shop, segment: free, visitor_id: v1, not_contains: [PLAN]}\n",
    )
    assert "expected no reason saying 'PLAN'" in message


# request -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        ("Basic ${base64:${api_key:shop}:}", 200, None),
        ("Basic ${base64:${api_key:shop}}", 401, "invalid_api_key"),  # no colon: RFC 7617
        ("Basic ${api_key:shop}", 401, "invalid_api_key"),
        ("Bearer ${api_key:shop}", 401, "invalid_api_key"),
        ("Basic ${base64::${api_key:shop}}", 401, "missing_api_key"),
        ("basic ${base64:${api_key:shop}:}", 200, None),
    ],
)
def test_steps_request_sends_the_key_in_odd_forms(
    tmp_path: Path, authorization: str, status: int, code: str | None
) -> None:
    outcome = f"{{status: {status}" + (f", code: {code}" if code else "") + "}"
    _passes(
        tmp_path,
        f"""\
- account: {{name: shop}}
- request:
    to: abtasty
    method: POST
    path: /segment/webhook
    headers: {{Authorization: "{authorization}", User-Agent: Segment.io/1.0}}
    body: {{type: identify, messageId: m-1, anonymousId: a1, traits: {{plan: pro}}}}
  expect: {outcome}
""",
    )


def test_steps_request_checks_response_headers_and_body(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- request:
    to: abtasty
    method: POST
    path: /segment/webhook
    raw: '{"type": "identify"}'
  expect:
    status: 401
    headers: {WWW-Authenticate: Basic}
    body: {code: missing_api_key}
- request: {to: abtasty, path: "/api/accounts/${account_id:shop}"}
  expect: {body: {id: "${account_id:shop}", name: shop}}
""",
    )


def test_steps_request_header_mismatch_names_the_header(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        "- request: {to: abtasty, path: /_harness/health}\n  expect: {headers: {X-Nothing: yes}}\n",
    )
    assert "expected header X-Nothing: yes; got no X-Nothing header" in message


def test_steps_request_reaches_the_fake_segment_with_the_write_key(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- source: {name: web, destinations: [shop]}
- request:
    to: segment
    method: POST
    path: /v1/identify
    body: {writeKey: "${write_key:web}", anonymousId: a1, traits: {plan: pro}}
  expect: {status: 200, body: {success: true}}
- expect:
    delivery: {source: web, stages: {received: 1, delivered: 1}}
""",
    )


def test_steps_unknown_reference_fails_the_step(tmp_path: Path) -> None:
    message = _fails(
        tmp_path, '- request: {to: abtasty, path: "/api/accounts/${account_id:ghost}"}\n'
    )
    assert "an account named 'ghost' set up by an earlier step" in message


# journal -------------------------------------------------------------------------------------
def test_steps_journal_shows_the_masked_key(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- identify: {account: shop, anonymous_id: a1, key: abt_wrong_key_0000}
  expect: {status: 401}
- expect:
    journal:
      account: shop
      contains:
        - method: POST
          path: /segment/webhook
          status: 200
          headers: {authorization: "Basic ****${last4:${api_key:shop}}"}
          response: {status: accepted}
      not_contains:
        - {path: /segment/webhook, status: 500}
""",
    )


def test_steps_journal_count_counts_one_accounts_requests(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        "- account: {name: shop}\n- account: {name: other}\n"
        "- identify: {account: shop, anonymous_id: a1}\n"
        "- expect:\n    journal: {account: other, count: 99}\n",
    )
    assert "expected 99 journaled request(s); got" in message


def test_steps_journal_check_catches_a_secret_in_the_journal(tmp_path: Path) -> None:
    # The scenario leaks the key itself (as an account name): the check must notice.
    message = _fails(
        tmp_path,
        """\
- account: {name: shop}
- request: {to: abtasty, method: POST, path: /api/accounts, body: {name: "${api_key:shop}"}}
  expect: {status: 201}
- expect:
    journal: {}
""",
    )
    assert "no secret in the journal beyond its last 4 characters" in message


def test_steps_journal_of_the_fake_segment_masks_the_write_key(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- source: {name: web, destinations: [shop]}
- identify: {source: web, anonymous_id: a1, traits: {plan: pro}}
- expect:
    journal:
      fake: segment
      contains: [{path: /v1/identify, headers: {authorization: "Basic ****${last4:${write_key:web}}"}}]
""",
    )


# refreshes and delivery ----------------------------------------------------------------------
def test_steps_refreshes_runs_checks_every_run_of_a_catch_up(tmp_path: Path) -> None:
    steps = """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- at: 2026-03-05T12:00:00Z
- expect:
    refreshes:
      account: shop
      runs:
        - {scheduled_for: "2026-03-03T03:00:00Z", cutoff: "2026-03-03T00:00:00Z", messages: 1, matched_profiles: 1}
        - {scheduled_for: "2026-03-04T04:00:00+01:00", messages: 0}
        - {scheduled_for: "2026-03-05T03:00:00Z", messages: %s}
      next_refresh_at: "2026-03-06T03:00:00Z"
"""
    _passes(tmp_path, steps % 0)
    assert "expected refresh 3 messages = 5" in _fails(tmp_path, steps % 5)


def test_steps_delivery_checks_one_message_through_an_outage(tmp_path: Path) -> None:
    steps = """\
- account: {name: shop}
- source: {name: web, destinations: [shop]}
- deliver: {outage: {status: 503, for: 1h}}
- identify: {source: web, anonymous_id: a1, traits: {plan: pro}, message_id: m-1}
- expect:
    delivery:
      source: web
      messages:
        - {message_id: m-1, destination: shop, type: identify, stage: retrying, attempts: 1, last_status: 503}
- at: 2026-03-02T12:00:00Z
- expect:
    delivery:
      source: web
      messages: [{message_id: m-1, stage: delivered, last_status: 200, next_attempt_at: %s}]
"""
    _passes(tmp_path, steps % "null")
    message = _fails(tmp_path, steps % '"2026-03-02T12:30:00Z"')
    assert "expected message m-1 next attempt at 2026-03-02T12:30:00Z; got None" in message


def test_steps_delivery_last_code_of_a_refused_message(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- source: {name: web, destinations: [shop]}
- api_key: {account: shop, action: regenerate}
- identify: {source: web, anonymous_id: a1, message_id: m-1}
- expect:
    delivery:
      source: web
      messages: [{message_id: m-1, stage: failed_delivery, last_status: 401, last_code: invalid_api_key, next_attempt_at: null}]
""",
    )


# connectors ----------------------------------------------------------------------------------
def test_steps_condition_on_a_connector_by_name_after_it_was_replaced(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- visitor: {account: shop, visitor_id: v1, anonymous_id: a1}
- identify: {account: shop, anonymous_id: a1, traits: {plan: pro}}
- at: 2026-03-03T03:00:00Z
- segment:
    account: shop
    as: pros
    conditions: [{trait: plan, operator: equals, value: pro, connector: Segment}]
  expect: {status: 201}
- delete_connector: {account: shop}
- connector: {account: shop, name: Second}
- segment:
    account: shop
    as: stale
    conditions: [{trait: plan, operator: equals, value: pro, connector: Segment}]
  expect: {status: 400}
""",
    )


def test_steps_condition_on_another_accounts_connector_is_refused(tmp_path: Path) -> None:
    _passes(
        tmp_path,
        """\
- account: {name: shop}
- account: {name: other}
- visitor: {account: other, visitor_id: v1, anonymous_id: a1}
- identify: {account: other, anonymous_id: a1, traits: {plan: pro}}
- at: 2026-03-03T03:00:00Z
- segment:
    account: shop
    as: theirs
    conditions: [{trait: plan, operator: equals, value: pro, connector: {account: other}}]
  expect: {status: 400}
- segment:
    account: shop
    as: made-up
    conditions: [{trait: plan, operator: equals, value: pro, connector: {id: conn-made-up}}]
  expect: {status: 400}
""",
    )


def test_steps_builder_check_names_its_connector(tmp_path: Path) -> None:
    message = _fails(
        tmp_path,
        "- account: {name: shop}\n- connector: {account: shop, name: Other}\n"
        "  expect: {status: 409}\n"
        "- expect:\n    builder: {account: shop, connector: Other, exactly: {}}\n",
    )
    assert "a connector named 'Other' set up on that account" in message


# validation ----------------------------------------------------------------------------------
def test_steps_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(
        HEADER + "steps:\n"
        "  - account: {name: shop, timezone: 5}\n"
        "  - identify: {account: shop, anonymus_id: a}\n"
        "  - builder: {account: shop}\n"
        "  - at: tomorrow\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()
    assert [f.line for f in caught.value.findings] == [4, 5, 6, 7]
    assert lines[0].endswith("steps[0].account.timezone: expected text, got the number 5")
    assert "did you mean 'anonymous_id'?" in lines[1]
    assert "it is a check, and probably belongs under expect:" in lines[2]
    assert lines[3].startswith(f"{path}:7: steps[3].at:")


@pytest.mark.parametrize(
    ("step", "hint"),
    [
        ("  - identify: {account: s}\n    traits: {plan: pro}\n", "indent it under identify:"),
        ("  - identify: {account: s, expect: {status: 401}}\n", "belongs at the step's level"),
        ("  - expect: {status: 401}\n", "put `expect: {status: ...}` beside the action"),
        ("  - identfy: {account: s}\n", "did you mean 'identify'?"),
        (
            "  - visitor: {account: s, visitor_id: v, anonymous_id: a}\n    status: 201\n",
            "belongs under `expect:`",
        ),
    ],
)
def test_steps_wrong_indentation_gets_a_hint(tmp_path: Path, step: str, hint: str) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(HEADER + "steps:\n" + step)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("version", "words"), [("3", "newer than this harness"), ("'2'", "one of 1, 2")]
)
def test_steps_unknown_format_is_refused(tmp_path: Path, version: str, words: str) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(HEADER + f"format: {version}\nsteps:\n  - at: 2026-03-02T11:00:00Z\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == "format"
    assert words in caught.value.message


class _CannedDriver:
    """Answers like a fake AB Tasty whose builder carries each trait's source (issue 9)."""

    mode = "canned"

    def __init__(self, traits: list[dict[str, object]]) -> None:
        self.traits = traits

    def begin(self, start: object) -> None:
        return None

    def finish(self) -> None:
        return None

    def segment_host(self) -> object:
        raise NotImplementedError

    def call(self, fake: str, method: str, path: str, **kwargs: object) -> Reply:
        if path == "/api/accounts":
            body: object = {"id": "acc-1"}
        elif path.endswith("/integrations/pull/segment"):
            body = {"id": "conn-1"}
        elif path.endswith("/api-key"):
            body = {"api_key": "abt_canned_key_1234"}
        else:
            item = {"connector_id": "conn-1", "traits": self.traits}
            body = {"groups": [{"name": "EXTERNAL DATA", "items": [item]}]}
        return Reply(201, {"content-type": "application/json"}, msgspec.json.encode(body))


TWO_SOURCES = [
    {"key": "group.plan", "source": "identify", "values": [{"value": "literal", "visitors": 1}]},
    {"key": "group.plan", "source": "group", "values": [{"value": "startup", "visitors": 2}]},
]


def _play_canned(tmp_path: Path, check: str) -> ScenarioResult:
    path = tmp_path / "story.yaml"
    path.write_text(
        HEADER + "format: 2\nsteps:\n  - account: {name: shop}\n  - expect:\n"
        f"      builder: {{account: shop, {check}}}\n"
    )
    return run_scenario(load_scenario(path), _CannedDriver(TWO_SOURCES))  # type: ignore[arg-type]


def test_steps_builder_tells_a_group_trait_from_an_identify_trait_named_alike(
    tmp_path: Path,
) -> None:
    result = _play_canned(tmp_path, "source: group, exactly: {group.plan: {startup: 2}}")
    assert result.passed, str(result.failure)
    result = _play_canned(tmp_path, "source: identify, exactly: {group.plan: {literal: 1}}")
    assert result.passed, str(result.failure)


def test_steps_builder_without_source_refuses_an_ambiguous_trait(tmp_path: Path) -> None:
    result = _play_canned(tmp_path, "shows: {group.plan: [startup]}")
    assert "add source: identify or source: group" in str(result.failure)
