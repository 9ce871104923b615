"""pytest support: the plugin, the handles its fixtures return, Hypothesis strategies.

This package is imported by pytest's entry point on every run, so it stays light: the
handles are re-exported lazily (``from harness.testing import AccountHandle`` imports the
runtime only then).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.testing.handles import AccountHandle, ClockControl, SourceHandle
    from harness.testing.intercept import SegmentIntercept, intercept_segment

__all__ = [
    "AccountHandle",
    "ClockControl",
    "SegmentIntercept",
    "SourceHandle",
    "intercept_segment",
]

_LAZY = {
    **dict.fromkeys(["AccountHandle", "ClockControl", "SourceHandle"], "harness.testing.handles"),
    **dict.fromkeys(["SegmentIntercept", "intercept_segment"], "harness.testing.intercept"),
}


def __getattr__(name: str) -> Any:
    """Import a re-exported name on first use.

    Args:
        name: The attribute asked for.

    Returns:
        The object from the module that defines it.

    Raises:
        AttributeError: The name is not exported here.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
