"""Shared by the benchmarks: one JSON line per figure, with the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from typing import Any


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": sys.platform}


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report(figure: str, **values: Any) -> None:
    """Print one figure as one JSON line."""
    print(json.dumps({"figure": figure, **values, "machine": machine()}), flush=True)
