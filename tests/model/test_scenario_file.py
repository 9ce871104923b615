"""The stateful test prints a failure as a scenario file that replays it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.abtasty.records import StoredMessage
from harness.abtasty.store.memory import MemoryStore
from harness.scenarios import InProcessDriver, ScenarioResult, load_scenario, run_scenario
from harness.scenarios.specs import (
    AccountSpec,
    AtSpec,
    IdentifySpec,
    OutcomeSpec,
    VisitorSpec,
)
from tests.model.machine import CURRENT, ModelDiscrepancy, ModelMachine, machine_for
from tests.model.reference import ReferenceModel
from tests.model.scenario_file import Recorded, final_checks, outcome_of, render_scenario
from tests.model.systems import memory_system

START = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _story() -> tuple[list[Recorded], ReferenceModel]:
    """A short story, run on the model: the steps a machine would have recorded."""
    model = ReferenceModel(START)
    model.create_account("shop", "Europe/Paris", 3)
    model.create_connector("shop", "con1", "Segment")
    model.generate_key("shop", "key1")
    model.see("shop", "v1", "anon-1", START)
    body: dict[str, Any] = {
        "type": "identify",
        "messageId": "m1",
        "anonymousId": "anon-1",
        "traits": {"plan": "pro", "seats": 1, "vip": True},
        "timestamp": "2026-03-02T12:00:00Z",
    }
    answer, _ = model.webhook("key1", body)
    refused, _ = model.webhook(None, {**body, "messageId": "m2"})
    model.move_to(datetime(2026, 3, 3, 2, tzinfo=UTC))  # 03:00 in Paris
    steps = [
        Recorded(AccountSpec(name="shop", timezone="Europe/Paris")),
        Recorded(
            VisitorSpec(account="shop", visitor_id="v1", anonymous_id="anon-1"),
            OutcomeSpec(status=201),
        ),
        Recorded(
            IdentifySpec(
                account="shop",
                anonymous_id="anon-1",
                traits=body["traits"],
                timestamp=body["timestamp"],
                message_id="m1",
            ),
            outcome_of(answer.status, answer.code, answer.body),
        ),
        Recorded(
            IdentifySpec(
                account="shop",
                anonymous_id="anon-1",
                traits=body["traits"],
                message_id="m2",
                key="none",
            ),
            outcome_of(refused.status, refused.code, refused.body),
        ),
        Recorded(AtSpec(model.now)),
    ]
    return steps, model


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "discrepancy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_render_scenario_loads_back_with_every_step_and_check(tmp_path: Path) -> None:
    steps, model = _story()
    text = render_scenario("A story", START, steps + final_checks(model))
    scenario = load_scenario(_write(tmp_path, text))
    assert [s.action for s in scenario.steps] == [
        "account",
        "visitor",
        "identify",
        "identify",
        "at",
        "expect",
    ]
    assert scenario.steps[3].outcome == OutcomeSpec(status=401, code="missing_api_key")
    assert scenario.format == 2


def test_render_scenario_states_what_the_model_expects(tmp_path: Path) -> None:
    steps, model = _story()
    text = render_scenario("A story", START, steps + final_checks(model))
    assert "exactly: {plan: {pro: 1}, seats: {1: 1}, vip: {true: 1}}" in text
    assert "scheduled_for: '2026-03-03T02:00:00Z'" in text
    assert "expect: {status: 401, code: missing_api_key}" in text


def test_render_scenario_replays_on_the_fake(tmp_path: Path) -> None:
    steps, model = _story()
    scenario = load_scenario(
        _write(tmp_path, render_scenario("A story", START, steps + final_checks(model)))
    )
    driver = InProcessDriver()
    try:
        result = run_scenario(scenario, driver)
    finally:
        driver.close()
    assert result.passed, result.failure


class Given:
    """Stands in for Hypothesis's ``data`` in a scripted run: hands out these values in turn."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return self.values.pop(0)


def _scripted_run() -> ModelMachine:
    """A machine run, step by step: a visitor seen, an identify for it, 03:00 passes."""
    machine = machine_for(memory_system())()
    shop = machine.begin("UTC", 3, Given(START))
    machine.see(shop, "v1", "anon-2", seen_at_now=False)
    machine.identify(shop, CURRENT, 0, "identify", Given("anon-2", None, {"plan": "pro"}))
    machine.move_near(shop, "refresh", 0)
    return machine


def _lose_anon_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inject a discrepancy: the store never hands anon-2's messages to the refresh."""
    pending = MemoryStore.pending_messages

    def losing(self: MemoryStore, account_id: str, cutoff: datetime) -> list[StoredMessage]:
        return [m for m in pending(self, account_id, cutoff) if m.anonymous_id != "anon-2"]

    monkeypatch.setattr(MemoryStore, "pending_messages", losing)


def _play(path: Path) -> ScenarioResult:
    driver = InProcessDriver()
    try:
        return run_scenario(load_scenario(path), driver)
    finally:
        driver.close()


def test_scripted_run_agrees_with_model() -> None:
    machine = _scripted_run()
    machine.views_agree()
    machine.teardown()


def test_printed_scenario_of_an_injected_discrepancy_fails_on_it_and_passes_without(
    tmp_path: Path,
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _lose_anon_2(monkeypatch)
        machine = _scripted_run()
        with pytest.raises(ModelDiscrepancy, match="the refresh history differs") as found:
            machine.views_agree()
        machine.teardown()
        path = _write(tmp_path, str(found.value).split("harness play FILE):\n\n", 1)[1])
        broken = _play(path)
    assert broken.failure is not None
    assert "plan" in str(broken.failure)
    fixed = _play(path)
    assert fixed.passed, fixed.failure
