"""Every example in the README is run: Python blocks here, test files as tests/examples/*."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from harness.scenarios.loader import LineDict, read_yaml
from harness.scenarios.model import parse_scenario
from tests.examples.conftest import SharedFake

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PYTHON = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
FILES = [block for block in PYTHON if block.startswith("# file: ")]
SNIPPETS = [block for block in PYTHON if not block.startswith("# file: ")]
YAML = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert FILES
    assert SNIPPETS
    assert YAML


@pytest.mark.parametrize("block", FILES, ids=lambda b: b.splitlines()[0].removeprefix("# file: "))
def test_readme_test_file_is_the_one_pytest_runs(block: str) -> None:
    header, _, body = block.partition("\n")
    path = ROOT / header.removeprefix("# file: ").strip()
    assert path.read_text() == body, f"{path} and the README example differ"


@pytest.mark.parametrize("source", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(source: str) -> None:
    exec(compile(source, str(ROOT / "README.md"), "exec"), {"__name__": "readme_example"})  # noqa: S102


@pytest.mark.parametrize("source", YAML, ids=[f"scenario-{i}" for i in range(len(YAML))])
def test_readme_scenario_plays(source: str, tmp_path: Path) -> None:
    from harness.scenarios import run_scenario, shared_in_process_driver

    path = tmp_path / "readme.yaml"
    path.write_text(source)
    document = read_yaml(path)
    assert isinstance(document, LineDict)
    result = run_scenario(parse_scenario(document, str(path)), shared_in_process_driver())
    assert result.passed, str(result.failure)


def test_readme_shared_fake_command_serves_with_its_workers(shared_fake: SharedFake) -> None:
    from tests.examples.conftest import readme_serve_arguments

    arguments = readme_serve_arguments("postgresql://x/y")
    assert arguments[arguments.index("--workers") + 1] == "4"
    token = {"Authorization": f"Bearer {shared_fake.admin_token}"}
    assert requests.get(f"{shared_fake.url}/_harness/clocks", timeout=10).status_code == 401
    answer = requests.get(f"{shared_fake.url}/_harness/clocks", headers=token, timeout=10)
    assert answer.status_code == 200
    assert isinstance(answer.json()["clocks"], list)
