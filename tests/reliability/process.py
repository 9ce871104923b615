"""``harness serve`` as a subprocess (the class lives in ``harness.runtime.server`` for users too)."""

from harness.runtime.server import ServeProcess

__all__ = ["ServeProcess"]
