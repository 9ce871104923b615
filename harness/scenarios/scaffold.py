"""``harness init``: example scenarios and a starter test, written into a project.

Everything written ships inside the package, so a non-editable install has something to
play and to read. Nothing is ever overwritten: if any file would be, nothing is written.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from harness.core.codes import CommandCode
from harness.core.errors import HarnessError


def _sources() -> dict[str, Traversable]:
    package = files("harness")
    sources: dict[str, Traversable] = {
        "conftest.py": package / "scenarios" / "starter" / "conftest.py.txt",
        "tests/test_harness_starter.py": package
        / "scenarios"
        / "starter"
        / "test_harness_starter.py.txt",
    }
    for example in sorted((package / "scenarios" / "examples").iterdir(), key=lambda e: e.name):
        if example.name.endswith(".yaml"):
            sources[f"scenarios/{example.name}"] = example
    return sources


def init_project(directory: Path) -> list[Path]:
    """Write the example scenarios and the starter files into ``directory``.

    Returns:
        The files written, in order.

    Raises:
        HarnessError: ``invalid_arguments`` naming the files that exist already (then
            nothing is written).
    """
    sources = _sources()
    targets = {directory / name: source for name, source in sources.items()}
    existing = sorted(str(path) for path in targets if path.exists())
    if existing:
        named = ", ".join(existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            f"harness init writes nothing over existing files, and {named} exist: "
            "move them, or run it in another folder (--dir).",
        )
    for path, source in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return list(targets)
