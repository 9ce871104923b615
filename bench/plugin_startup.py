"""What the installed pytest plugin adds to every pytest start-up in its environment.

Two figures, each the median of interleaved runs in fresh interpreters (absolute start-up
times on shared machines drift, so each pair runs back to back):

- ``import``: ``import pytest, harness.testing.plugin`` against ``import pytest`` alone;
- ``session``: ``pytest --collect-only`` on an empty folder with the plugin (as pytest's
  pytest11 entry point loads it) against the same with ``-p no:harness``; the wall-clock
  difference, and the import time (``-X importtime``, self time) of the modules only the
  run with the plugin loads, which a loaded machine disturbs far less.

python -m bench.plugin_startup [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from bench.common import report

PLUGIN = "harness.testing.plugin"
NO_TESTS_COLLECTED = 5  # pytest's exit status on an empty folder


def _elapsed(command: Sequence[str], cwd: str | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=cwd, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, NO_TESTS_COLLECTED):
        raise subprocess.CalledProcessError(done.returncode, command)
    return elapsed


def paired_medians(
    base: Sequence[str], with_plugin: Sequence[str], runs: int, cwd: str | None = None
) -> tuple[float, float]:
    """Median seconds of ``base`` and of ``with_plugin``, run alternately ``runs`` times each."""
    _elapsed(base, cwd), _elapsed(with_plugin, cwd)  # warm the file cache
    bases, withs = [], []
    for _ in range(runs):
        bases.append(_elapsed(base, cwd))
        withs.append(_elapsed(with_plugin, cwd))
    return statistics.median(bases), statistics.median(withs)


def _import_times(command: Sequence[str], cwd: str) -> dict[str, int]:
    """Self import time in microseconds of every module ``command`` imports."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    times = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            self_us, _, name = line[len("import time:") :].split("|")
            if self_us.strip().isdigit():
                times[name.strip()] = int(self_us)
    return times


def added_import_ms(base: Sequence[str], with_plugin: Sequence[str], runs: int, cwd: str) -> float:
    """Median over ``runs`` of the self import time of modules only ``with_plugin`` loads."""
    added = []
    for _ in range(runs):
        without, within = _import_times(base, cwd), _import_times(with_plugin, cwd)
        added.append(sum(us for name, us in within.items() if name not in without) / 1000)
    return statistics.median(added)


def heavy_modules_loaded(module: str) -> list[str]:
    """Which heavy third-party modules importing ``module`` loads, in a fresh interpreter."""
    probe = (
        f"import sys, {module}; "
        "heavy = ('litestar', 'uvicorn', 'yaml', 'responses', 'faker', 'requests', 'hypothesis');"
        "print(' '.join(sorted(h for h in heavy if h in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--module", default=PLUGIN, help="the plugin module to import")
    args = parser.parse_args()

    python = sys.executable
    base, plugin = paired_medians(
        [python, "-c", "import pytest"], [python, "-c", f"import pytest, {args.module}"], args.runs
    )
    report(
        "plugin_import",
        runs=args.runs,
        pytest_ms=round(base * 1000, 1),
        with_plugin_ms=round(plugin * 1000, 1),
        added_ms=round((plugin - base) * 1000, 1),
        target_added_ms=30,
        heavy_loaded=heavy_modules_loaded(args.module),
    )
    with tempfile.TemporaryDirectory() as empty:
        pytest = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        without = [*pytest, "-p", "no:harness"]
        base, plugin = paired_medians(without, pytest, args.runs, empty)
        imports_ms = added_import_ms(without, pytest, max(3, args.runs // 4), empty)
    report(
        "plugin_session",
        runs=args.runs,
        without_plugin_ms=round(base * 1000, 1),
        with_plugin_ms=round(plugin * 1000, 1),
        added_ms=round((plugin - base) * 1000, 1),
        added_import_ms=round(imports_ms, 1),
        target_added_ms=30,
    )


if __name__ == "__main__":
    main()
