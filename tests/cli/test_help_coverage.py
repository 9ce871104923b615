"""Every command and flag that ``harness ... --help`` or README.md shows is run by a named test.

The registry below maps each option of each command to the test that passes it on a real
command line (against real receivers, a real ``harness serve`` or real files where the command
sends or writes anything). The checks: every option of every command is registered; every
option README.md shows is registered; every registered test exists and its source names the
option. A new flag without an end-to-end test fails here: that gap let ``simulate --target``
send nothing for a long time.
"""

from __future__ import annotations

import argparse
import ast
import re
from functools import cache
from pathlib import Path

import pytest

from harness.cli import _parser, main

ROOT = Path(__file__).resolve().parents[2]
SERVE_ALL = "tests/cli/test_serve_flags.py::test_serve_flags_every_flag_takes_effect"
TARGET = "tests/cli/test_simulate_target.py::"
PLAY = "tests/scenarios_engine/test_play.py::"
VERIFY = "tests/runtime/test_verify.py::"

REGISTRY: dict[str, dict[str, str]] = {
    "harness": {"--version": "tests/cli/test_serve.py::test_cli_version_names_the_package"},
    "serve": {
        "--host": SERVE_ALL,
        "--port": SERVE_ALL,
        "--segment-port": SERVE_ALL,
        "--clock": SERVE_ALL,
        "--now": SERVE_ALL,
        "--admin-token": SERVE_ALL,
        "--store": SERVE_ALL,
        "--journal-size": SERVE_ALL,
        "--segment-rate-limit": SERVE_ALL,
        "--workers": "tests/runtime/test_workers.py::test_workers_share_engage_state_and_keep_it_across_kill_9",
    },
    "play": {
        "paths": PLAY + "test_play_passing_file_exits_0",
        "--list-steps": "tests/scenarios_engine/test_reference.py::test_reference_in_the_docs_is_the_one_list_steps_prints",
        "--url": PLAY + "test_play_live_with_restart_plays_a_whole_folder",
        "--segment-url": PLAY + "test_play_live_with_restart_plays_a_whole_folder",
        "--restart": PLAY + "test_play_live_with_restart_plays_a_whole_folder",
        "--admin-token": "tests/cli/test_play_verify_flags.py::test_play_live_admin_token_and_quiet",
        "--report": PLAY + "test_play_reports_json_and_junit",
        "--quiet": "tests/cli/test_play_verify_flags.py::test_play_live_admin_token_and_quiet",
        "--clock": "tests/scenarios_engine/test_play_freezegun.py::test_play_cli_with_freezegun_clock",
    },
    "init": {
        "--dir": "tests/test_scaffold.py::test_scaffold_init_writes_every_example_and_the_starter",
    },
    "verify": {
        "capture": VERIFY + "test_verify_cli_exit_status_and_json",
        "--api-key": "tests/cli/test_play_verify_flags.py::test_verify_api_key_refuses_another_key",
        "--json": VERIFY + "test_verify_cli_exit_status_and_json",
    },
    "simulate": {
        "--users": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--days": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--seed": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--start": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--target": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--api-key": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--visitors-url": TARGET + "test_simulate_target_live_serve_builder_shows_the_runs_traits",
        "--admin-token": TARGET + "test_simulate_target_visitors_url_with_admin_token",
        "--out": VERIFY + "test_verify_accepts_simulate_capture",
        "--scenario-out": "tests/cli/test_simulate.py::test_cli_simulate_scenario_out_plays_back",
        "--failure-rate": "tests/cli/test_simulate.py::test_cli_simulate_prints_summary",
        "--duplicate-rate": TARGET + "test_simulate_target_duplicates_reach_the_receiver",
        "--reorder-window": TARGET + "test_simulate_target_duplicates_reach_the_receiver",
        "--late-share": TARGET + "test_simulate_target_late_share_arrives_late_but_arrives",
        "--audiences": "tests/simulate/test_audiences.py::test_simulate_cli_audiences_flag_reports_changes",
        "--progress": TARGET + "test_simulate_progress_bar_still_prints_the_summary",
        "--senders": TARGET
        + "test_simulate_target_senders_deliver_each_message_once_in_each_users_order",
    },
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"harness": parser, **subparsers.choices}


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each option (by its first long name, or its dest for a positional) -> every spelling."""
    options = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        names = list(action.option_strings)
        if isinstance(action, argparse.BooleanOptionalAction):
            names = [n for n in names if not n.startswith("--no-")] + [
                n for n in names if n.startswith("--no-")
            ]
        long = [n for n in names if n.startswith("--")]
        options[long[0] if long else names[0] if names else action.dest] = names or [action.dest]
    return options


ALL = [(command, option) for command, p in _commands().items() for option in _options(p)]


@cache
def _test_source(node: str) -> str | None:
    path, _, name = node.partition("::")
    file = ROOT / path
    if not file.exists():
        return None
    tree = ast.parse(file.read_text())
    for item in ast.walk(tree):
        if isinstance(item, ast.FunctionDef) and item.name == name:
            return ast.get_source_segment(file.read_text(), item)
    return None


@pytest.mark.parametrize(("command", "option"), ALL, ids=[f"{c} {o}" for c, o in ALL])
def test_help_coverage_every_option_has_an_end_to_end_test(command: str, option: str) -> None:
    node = REGISTRY.get(command, {}).get(option)
    assert node is not None, (
        f"`harness {command}` shows {option} in --help but no test runs it: write one that passes "
        f"it on a real command line (against a real receiver if it sends anything) and register "
        f"it in {Path(__file__).relative_to(ROOT)}"
    )
    source = _test_source(node)
    assert source is not None, f"{node} does not exist"
    spellings = _options(_commands()[command])[option]
    if option.startswith("-"):
        assert any(f'"{s}"' in source for s in spellings), f"{node} never passes {option}"
    else:  # a positional: the test runs the command itself
        assert f'"{command}"' in source, f"{node} never runs harness {command}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_coverage_help_output_shows_every_registered_option(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"] if command == "harness" else [command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in REGISTRY.get(command, {}):
        if option.startswith("-"):
            assert option in text, f"harness {command} --help does not show {option}"
    assert set(REGISTRY.get(command, {})) <= set(_options(_commands()[command])), (
        "the registry names an option the command no longer has"
    )


README_COMMAND = re.compile(r"harness (serve|play|verify|simulate)\b([^`\n]*)")
README_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def test_help_coverage_every_readme_command_flag_is_registered() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = {
        (command, flag)
        for command, rest in README_COMMAND.findall(readme)
        for flag in README_FLAG.findall(rest)
    }
    assert shown, "README.md shows no harness command"
    every_flag = {
        spelling
        for p in _commands().values()
        for names in _options(p).values()
        for spelling in names
    }
    plugin_flags = set(  # the pytest plugin's options (--harness-url, ...), not a command's
        re.findall(r'"(--harness-[a-z-]+)"', (ROOT / "harness/testing/plugin.py").read_text())
    )
    tool_flags = {  # the install and test commands' tools (ruff format --check), not harness's
        flag
        for line in readme.splitlines()
        if line.startswith("python3 -m venv ")
        for flag in README_FLAG.findall(line)
    }
    loose = set(README_FLAG.findall(readme)) - every_flag - plugin_flags - tool_flags - {"--help"}
    assert not loose, f"README.md shows flags no command has: {sorted(loose)}"
    unregistered = {
        (command, flag)
        for command, flag in shown
        if not any(
            flag in _options(_commands()[command]).get(option, []) for option in REGISTRY[command]
        )
    }
    assert not unregistered, f"README.md shows commands no test runs: {sorted(unregistered)}"
