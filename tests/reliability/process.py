"""``harness serve`` as a subprocess (the class lives in ``harness.server`` for users too)."""

from harness.server import ServeProcess

__all__ = ["ServeProcess"]
