"""The pytest plugin (registered by the ``pytest11`` entry point ``harness``).

Fixtures, from cheapest to most real:

- ``harness``: both fakes in-process, built once per session (per xdist worker) and
  restarted for each test: fresh state, the manual clock at ``harness_start``.
- ``harness_clock``: ``move_to``, ``advance``, ``now`` on that clock.
- ``abtasty_account``: an account with a Segment connector and an API key.
- ``simulated_segment``: a Segment source delivering to that account.
- ``abtasty_client`` / ``segment_client``: HTTP to the in-process apps, no socket.
- ``harness_live``: both fakes on free loopback ports (uvicorn), for code that needs a URL.
- ``segment_intercept``: Segment's real hosts answered by the in-process fake Segment.

A crash inside either fake's app (an unexpected exception, answered with a 500) fails the
test that caused it with the original traceback, as pytest-httpserver's
``check_assertions`` does; ``harness.check()`` raises it earlier (see ``harness`` below).

Mark a test with ``@pytest.mark.harness_clock("2026-03-02T12:00:00Z")`` to start the
clock there, or override the ``harness_start`` fixture. While freezegun's ``freeze_time`` is
active the clock follows it (see :mod:`harness.core.freezegun_clock`). Scenario files in a
``scenarios`` folder are collected as tests, one per file (``--harness-clock=freezegun``
plays them with freezegun moving the time).

pytest imports this module on every run in an environment where the package is installed,
so it imports nothing heavy: the runtime (Litestar, uvicorn), the scenario engine (YAML)
and the handles are imported by the fixtures and items that use them, on first use
(``tests/testing/test_plugin_startup.py`` checks it; ``bench/plugin_startup.py`` times it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from harness.core.clock import TEST_START, parse_instant

if TYPE_CHECKING:
    from harness.runtime.asgi import AsgiClient
    from harness.runtime.server import ServerGroup
    from harness.runtime.stack import Harness
    from harness.scenarios.driver import ClockDriver, Driver
    from harness.testing.handles import AccountHandle, ClockControl, SourceHandle
    from harness.testing.intercept import SegmentIntercept


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options: where scenario files live, and a live server to play them against."""
    group = parser.getgroup("harness", "segment-abtasty-harness")
    group.addoption(
        "--harness-url", default=None, help="play scenario files against this live harness serve"
    )
    group.addoption(
        "--harness-segment-url",
        default=None,
        help="the live fake Segment (default: --harness-url port + 1)",
    )
    group.addoption("--harness-admin-token", default=None, help="the live server's admin token")
    group.addoption(
        "--harness-restart",
        action="store_true",
        help="wipe the live server and restart its clock for each scenario",
    )
    group.addoption(
        "--harness-clock",
        choices=("manual", "freezegun"),
        default="manual",
        help="how scenario files move time in-process: the manual clock (default) or freezegun",
    )
    parser.addini(
        "harness_scenario_dirs",
        "folder names whose YAML files are scenarios",
        type="args",
        default=["scenarios"],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers", "harness_clock(start): start the harness clock at this ISO-8601 instant"
    )


# scenario files as tests ------------------------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``*.yaml`` files inside a scenarios folder, one test each."""
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    folders = parent.config.getini("harness_scenario_dirs")
    if not any(part in folders for part in file_path.parent.parts):
        return None
    file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return file


class ScenarioFile(pytest.File):
    """A scenario file: one test."""

    def collect(self) -> Iterator[pytest.Item]:
        """The scenario, named after the file."""
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    """Plays one scenario file; a failure cites the file, line, expected and actual."""

    def runtest(self) -> None:
        """Load and play the scenario; a crash inside a fake fails it (with its traceback)."""
        from harness.http.errors import describe_crash
        from harness.scenarios.driver import InProcessDriver
        from harness.scenarios.model import load_scenario
        from harness.scenarios.runner import run_scenario

        scenario = load_scenario(self.path)
        driver = self._driver()
        harness = driver.harness if isinstance(driver, InProcessDriver) else None
        if harness is not None:
            harness.crashes.clear()
        result = run_scenario(scenario, driver)
        if result.failure is not None:
            if harness is not None:  # the step saw a 500: say why
                for crash in harness.crashes.take():
                    result.failure.add_note(
                        "A fake crashed during this scenario:\n" + describe_crash(crash)
                    )
            raise result.failure
        if harness is not None:
            harness.check()

    def _driver(self) -> Driver:
        from harness.scenarios.driver import InProcessDriver, LiveDriver

        options = self.config.option
        clock: ClockDriver = (
            "freezegun" if getattr(options, "harness_clock", None) == "freezegun" else "manual"
        )
        if options.harness_url:
            if clock == "freezegun":
                raise pytest.UsageError(
                    "--harness-clock=freezegun plays in-process: freezegun cannot move the "
                    "clock of a separate harness serve (drop --harness-url or the option)."
                )
            return LiveDriver(
                options.harness_url,
                options.harness_segment_url,
                options.harness_admin_token,
                restart=options.harness_restart,
            )

        drivers: dict[str, Driver] | None = getattr(self.config, "_harness_scenario_drivers", None)
        if drivers is None:
            drivers = self.config._harness_scenario_drivers = {}  # type: ignore[attr-defined]
        if clock not in drivers:
            drivers[clock] = InProcessDriver(clock=clock)
        return drivers[clock]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The step failure or file error as one clear paragraph, without a traceback."""
        from harness.scenarios.loader import ScenarioError
        from harness.scenarios.runner import StepFailure

        if isinstance(excinfo.value, StepFailure | ScenarioError):
            return "\n\n".join([str(excinfo.value), *getattr(excinfo.value, "__notes__", [])])
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is."""
        return self.path, 0, f"scenario {self.path.name}"


# fixtures --------------------------------------------------------------------------------
@dataclass
class _Session:
    harness: Harness
    abtasty: AsgiClient
    segment: AsgiClient


@pytest.fixture(scope="session")
def harness_session() -> Iterator[_Session]:
    """Both fakes and their apps, built once per session (per xdist worker)."""
    from harness.core.freezegun_clock import FreezegunClock
    from harness.runtime.asgi import AsgiClient
    from harness.runtime.stack import Harness

    harness = Harness(FreezegunClock(parse_instant(TEST_START)))
    session = _Session(
        harness, AsgiClient(harness.abtasty_app()), AsgiClient(harness.segment_app())
    )
    yield session
    session.abtasty.close()
    session.segment.close()


@pytest.fixture
def harness_start(request: pytest.FixtureRequest) -> datetime:
    """Where this test's clock starts.

    The ``harness_clock`` marker when there is one; else freezegun's time when
    ``freeze_time`` is active or decorates the test; else a Monday noon UTC.
    """
    marker = request.node.get_closest_marker("harness_clock")
    if marker is not None and marker.args:
        text = marker.args[0]
        return parse_instant(text) if isinstance(text, str) else text
    from harness.core.freezegun_clock import freezegun_now, freezegun_start_of

    frozen = freezegun_now() or freezegun_start_of(getattr(request, "function", None))
    return frozen if frozen is not None else parse_instant(TEST_START)


@pytest.fixture
def harness(harness_session: _Session, harness_start: datetime) -> Iterator[Harness]:
    """The in-process fakes with fresh state, the clock at ``harness_start``.

    A crash inside either fake's app (an unexpected exception answered with a 500) fails
    the test with the original exception after the test body; one left by later fixture
    teardown fails the test's teardown. ``harness.check()`` raises them earlier, and
    ``harness.crashes.clear()`` forgets the ones a test expects.
    """
    harness = harness_session.harness
    harness.crashes.clear()  # a previous test's were raised there; start clean
    harness.restart(harness_start)
    yield harness
    __tracebackhide__ = True
    harness.check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test that used the harness when a fake crashed during it.

    The crash is raised with its own traceback when the test body passed; when the test
    failed anyway (often on the 500 the crash produced), the crash's traceback is added to
    that failure as a note. Either way the crash is consumed.
    """
    __tracebackhide__ = True
    harness = _harness_of(item)
    try:
        result = yield
    except BaseException as failure:
        if harness is not None:
            from harness.http.errors import describe_crash

            for crash in harness.crashes.take():
                failure.add_note("A fake crashed during this test:\n" + describe_crash(crash))
        raise
    if harness is not None:
        harness.check()
    return result


def _harness_of(item: pytest.Item) -> Harness | None:
    """The harness the test's fixtures set up, if it used one (no import when it did not)."""
    value = getattr(item, "funcargs", {}).get("harness")
    stack = sys.modules.get("harness.runtime.stack")
    if stack is None or not isinstance(value, stack.Harness):
        return None
    return cast("Harness", value)


@pytest.fixture
def harness_clock(harness: Harness) -> ClockControl:
    """The shared clock: ``move_to``, ``advance``, ``now`` (freezegun moves it inside freeze_time)."""
    from harness.testing.handles import ClockControl

    return ClockControl(harness)


@pytest.fixture
def abtasty_account(harness: Harness) -> AccountHandle:
    """An AB Tasty account with a Segment pull connector and an API key."""
    from harness.testing.handles import AccountHandle

    return AccountHandle.create(harness)


@pytest.fixture
def simulated_segment(harness: Harness, abtasty_account: AccountHandle) -> SourceHandle:
    """A Segment source whose AB Tasty destination is ``abtasty_account``."""
    from harness.testing.handles import SourceHandle

    return SourceHandle.create(harness, abtasty_account)


@pytest.fixture
def abtasty_client(harness: Harness, harness_session: _Session) -> AsgiClient:
    """HTTP to the in-process fake AB Tasty (no socket)."""
    return harness_session.abtasty


@pytest.fixture
def segment_client(harness: Harness, harness_session: _Session) -> AsgiClient:
    """HTTP to the in-process fake Segment (no socket)."""
    return harness_session.segment


@dataclass(frozen=True)
class LiveHarness:
    """The fakes on loopback: their base URLs, and the harness behind them."""

    harness: Harness
    abtasty_url: str
    segment_url: str


@pytest.fixture(scope="session")
def _harness_servers(harness_session: _Session) -> Iterator[ServerGroup]:
    from harness.runtime.server import ServerGroup

    harness = harness_session.harness
    group = ServerGroup(
        [(harness.abtasty_app(), "127.0.0.1", 0), (harness.segment_app(), "127.0.0.1", 0)]
    )
    with group:
        yield group


@pytest.fixture
def harness_live(harness: Harness, _harness_servers: ServerGroup) -> LiveHarness:
    """Both fakes served by uvicorn on free loopback ports (started once, stopped at the end)."""
    abtasty_url, segment_url = _harness_servers.urls
    return LiveHarness(harness, abtasty_url, segment_url)


@pytest.fixture
def segment_intercept(
    harness_session: _Session, simulated_segment: SourceHandle
) -> Iterator[SegmentIntercept]:
    """Segment's real hosts (``api.segment.io``, the EU endpoint) answered in-process.

    Calls go to the fake Segment; an application's own write key is adopted by the
    ``simulated_segment`` source, whose destination is ``abtasty_account``. Other hosts are
    refused unless passed through (``segment_intercept.pass_through(prefix)``); the test's
    own ``responses`` mocks share the same ``RequestsMock``.
    """
    from harness.testing.intercept import intercept_segment

    with intercept_segment(
        harness_session.harness,
        source_id=simulated_segment.source.id,
        client=harness_session.segment,
    ) as intercept:
        yield intercept
