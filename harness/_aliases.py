"""Former module paths that moved in the one-package-per-fake layout, still importable.

``import harness.strategies`` (documented) and ``harness.pytest_plugin`` (the old pytest11
entry point, still named in environments installed before the move) resolve to the module
that now holds the code: the very same module object, so nothing is imported twice.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

ALIASES = {
    "harness.strategies": "harness.testing.strategies",
    "harness.pytest_plugin": "harness.testing.plugin",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module ran when it was imported; nothing more to do."""


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds each former path in :data:`ALIASES` and hands out the module it moved to."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Answer for the former paths only.

        Args:
            fullname: The module being imported.
            path: The parent package's search path (unused).
            target: The module being reloaded, if any (unused).

        Returns:
            A spec whose loader returns the moved module, or None for any other name.
        """
        moved_to = ALIASES.get(fullname)
        if moved_to is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(moved_to))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(AliasFinder())
