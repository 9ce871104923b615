"""A faithful fake of the Segment -> AB Tasty pull integration, for tests."""

from harness.core.clock import Clock, ManualClock, SystemClock
from harness.core.errors import HarnessError

__all__ = ["Clock", "HarnessError", "ManualClock", "SystemClock"]
__version__ = "0.1.0"
