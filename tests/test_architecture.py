"""The layout draws the architecture (DESIGN.md, "The parts"); these tests hold it there.

Every ``import`` in the package is read with ``ast`` (function-level and ``TYPE_CHECKING``
imports included: a lazy import is still a dependency) and checked against the rules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"core"}),
    frozenset({"abtasty", "segment"}),
    frozenset({"http"}),
    frozenset({"runtime"}),
    frozenset({"simulate"}),
    frozenset({"scenarios"}),
    frozenset({"testing"}),
    frozenset({"cli"}),
)
"""Packages from the bottom up, in the order of DESIGN.md's table ("The parts"): each may
import its own layer's package and those below, and the rules below narrow that."""

FAKES = ("core", "abtasty", "segment")
FRAMEWORKS = ("litestar", "yaml", "requests", "uvicorn", "httpx", "responses", "harness.cli")

FORMER_PATHS = {"domain": {"abtasty"}, "strategies": {"testing"}, "pytest_plugin": {"testing"}}
"""Packages and modules kept only so documented imports work, and what each may re-export."""


@dataclass(frozen=True)
class Import:
    """One imported module, and where."""

    module: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(PACKAGE.parent)}:{self.line} imports {self.module}"


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@cache
def _imports() -> tuple[Import, ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(alias.name, path, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
                assert node.module is not None
                found.append(Import(node.module, path, node.lineno))
    return tuple(found)


def _of(*parts: str) -> list[Import]:
    return [found for found in _imports() if _part(found.path) in parts]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(part: str) -> int:
    (index,) = [i for i, layer in enumerate(LAYERS) if part in layer]
    return index


def _harness_part(module: str) -> str | None:
    names = module.split(".")
    return names[1] if names[0] == "harness" and len(names) > 1 else None


def test_architecture_every_part_has_a_layer() -> None:
    parts = {_part(path) for path in PACKAGE.rglob("*.py")}
    placed = set().union(*LAYERS) | set(FORMER_PATHS) | {"__init__"}
    assert parts <= placed, f"place {sorted(parts - placed)} in LAYERS"


@pytest.mark.parametrize("part", sorted(set().union(*LAYERS)))
def test_architecture_part_imports_only_its_layer_and_below(part: str) -> None:
    for found in _of(part):
        target = _harness_part(found.module)
        if target is None or target == part:
            continue
        assert target in set().union(*LAYERS), f"{found}: not a part of the layout"
        assert _layer(target) < _layer(part), f"{found}: {target} is not below {part}"


@pytest.mark.parametrize("part", FAKES)
def test_architecture_fake_imports_no_framework_network_or_cli(part: str) -> None:
    for found in _of(part):
        assert not any(_within(found.module, banned) for banned in FRAMEWORKS), str(found)


def test_architecture_core_imports_nothing_else_of_the_package() -> None:
    for found in _of("core"):
        target = _harness_part(found.module)
        assert found.module != "harness", str(found)
        assert target in (None, "core"), str(found)


def test_architecture_segment_never_imports_abtasty() -> None:
    for found in _of("segment"):
        assert not _within(found.module, "harness.abtasty"), str(found)


def test_architecture_abtasty_never_imports_segment() -> None:
    for found in _of("abtasty"):
        assert not _within(found.module, "harness.segment"), str(found)


def test_architecture_abtasty_records_import_nothing_of_the_package() -> None:
    for found in _imports():
        if found.path == PACKAGE / "abtasty" / "records.py":
            assert not _within(found.module, "harness"), str(found)


def test_architecture_abtasty_store_never_imports_the_service() -> None:
    for found in _imports():
        if found.path.is_relative_to(PACKAGE / "abtasty" / "store"):
            assert not _within(found.module, "harness.abtasty.service"), str(found)


@pytest.mark.parametrize("banned", ["harness.scenarios", "harness.simulate", "harness.cli"])
def test_architecture_http_imports_no_scenarios_simulate_or_cli(banned: str) -> None:
    for found in _of("http"):
        assert not _within(found.module, banned), str(found)


def test_architecture_simulate_reaches_the_fakes_only_through_their_public_api() -> None:
    """The simulated Segment uses the fake Segment's package API and the runtime's HTTP routes.

    No AB Tasty module at all, no Segment internals, no HTTP app code.
    """
    for found in _of("simulate"):
        assert not _within(found.module, "harness.abtasty"), str(found)
        assert not _within(found.module, "harness.http"), str(found)
        if _within(found.module, "harness.segment"):
            assert found.module == "harness.segment", f"{found}: import it from harness.segment"


@pytest.mark.parametrize("former", sorted(FORMER_PATHS))
def test_architecture_former_paths_only_reexport(former: str) -> None:
    for found in _of(former):
        if found.module == "sys":  # a former module hands out the new one via sys.modules
            continue
        assert _harness_part(found.module) in FORMER_PATHS[former], str(found)
    if (PACKAGE / former).is_dir():
        assert {path.name for path in (PACKAGE / former).iterdir() if path.suffix == ".py"} == {
            "__init__.py"
        }


def test_architecture_package_root_imports_only_core() -> None:
    for found in _imports():
        if found.path == PACKAGE / "__init__.py":
            target = _harness_part(found.module)
            assert found.module == "harness" or target == "core", str(found)


def test_architecture_scenarios_never_import_simulate() -> None:
    """Scenarios stand on the runtime alone (DESIGN.md: "may import runtime").

    A recorded simulation reaches a scenario file as plain data from the runtime
    (``harness.runtime.recording.RecordedRun``); the CLI hands one to the other.
    """
    for found in _of("scenarios"):
        assert not _within(found.module, "harness.simulate"), str(found)


LIGHT_ENTRY_POINTS = ("testing/__init__.py", "testing/plugin.py")
HEAVY = ("harness.runtime", "harness.scenarios", "harness.http", "litestar", "uvicorn", "yaml")


def _module_level_imports(path: Path) -> list[str]:
    """What a module imports when it is imported: top-level statements, not TYPE_CHECKING."""
    found: list[str] = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append(node.module)
    return found


@pytest.mark.parametrize("entry", LIGHT_ENTRY_POINTS)
def test_architecture_plugin_entry_point_imports_runtime_and_scenarios_lazily(entry: str) -> None:
    for module in _module_level_imports(PACKAGE / entry):
        assert not any(_within(module, heavy) for heavy in HEAVY), f"{entry} imports {module}"


def test_architecture_testing_never_imports_simulate() -> None:
    """Testing stands on the runtime and scenarios (DESIGN.md: "may import runtime, scenarios").

    So a test suite that uses the plugin, handles or strategies never loads Faker and the
    simulation. What strategies and the simulation share
    (:class:`~harness.runtime.people.SyntheticUser`) lives in the runtime, below both.
    """
    for found in _of("testing"):
        assert not _within(found.module, "harness.simulate"), str(found)
