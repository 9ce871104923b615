"""The pytest plugin is imported by every pytest run in its environment: it must stay light."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

HEAVY = ("litestar", "uvicorn", "yaml", "responses", "faker", "requests", "hypothesis", "msgspec")


def _loaded_after(statement: str) -> set[str]:
    probe = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    )
    return set(out.stdout.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


def test_plugin_import_loads_no_heavy_module() -> None:
    loaded = _loaded_after("import pytest, harness.testing.plugin")
    assert _heavy(loaded) == []
    assert not any(name.startswith(("harness.runtime", "harness.scenarios")) for name in loaded)


def test_plugin_entry_point_names_the_light_module() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "harness"]
    assert plugin.value == "harness.testing.plugin"


def test_plugin_entry_point_load_loads_no_heavy_module() -> None:
    statement = (
        "from importlib.metadata import entry_points\n"
        "[ep.load() for ep in entry_points(group='pytest11') if ep.name == 'harness']"
    )
    assert _heavy(_loaded_after(statement)) == []
