"""The ``harness`` command: thin wiring over the package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core.clock import SIMULATION_START, ManualClock, parse_instant
from harness.core.codes import CommandCode, ErrorCode
from harness.core.errors import HarnessError

DEFAULT_SENDERS = 4
"""Lanes of ``simulate --target`` (see harness.simulate.parallel)."""


def _instant(text: str) -> object:
    try:
        return parse_instant(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("segment-abtasty-harness")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Fakes of Segment and AB Tasty for tests.",
        epilog=(
            "Start with `harness init` (example scenarios and a starter test in this folder), "
            "`harness play --list-steps` (the scenario format) and `harness contract` (every "
            "route, code and limit of both fakes)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the fake AB Tasty and the fake Segment on loopback"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8080, help="fake AB Tasty port (default 8080)")
    serve.add_argument(
        "--segment-port", type=int, default=8081, help="fake Segment port (default 8081)"
    )
    serve.add_argument(
        "--clock",
        choices=["system", "manual"],
        default="system",
        help="system: wall-clock time; manual: time moves only through /_harness/clock",
    )
    serve.add_argument("--now", type=_instant, help="start time of the manual clock (ISO-8601)")
    serve.add_argument(
        "--admin-token", help="require Authorization: Bearer TOKEN on /api/ and /_harness/"
    )
    serve.add_argument(
        "--store",
        default="memory",
        help="where both fakes keep their state, clocks and journal: memory (default), "
        "sqlite:PATH or postgresql://USER@HOST/DB",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the store (sqlite: or postgresql:; default 1)",
    )
    serve.add_argument(
        "--journal-size", type=int, default=1_000, help="requests kept in the journal"
    )
    serve.add_argument(
        "--segment-rate-limit",
        type=float,
        default=None,
        help="answer 429 past this many Tracking API requests a second, as Segment does past about 1000; one limit for the workspace, shared by every worker (default: off)",
    )
    play = commands.add_parser(
        "play", help="play scenario files (YAML) and check their expectations"
    )
    play.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders")
    play.add_argument(
        "--list-steps",
        action="store_true",
        help="print every step, check and field of the scenario format (from its schema)",
    )
    play.add_argument(
        "--url",
        help="play against a live harness serve (the fake AB Tasty's URL) instead of in-process",
    )
    play.add_argument(
        "--segment-url", help="the live fake Segment's URL (default: --url's port + 1)"
    )
    play.add_argument("--admin-token", help="the live server's admin token")
    play.add_argument(
        "--restart",
        action="store_true",
        help="live: wipe the server and restart its clock before each scenario",
    )
    play.add_argument(
        "--clock",
        choices=("manual", "freezegun"),
        default="manual",
        help="in-process: move time with the manual clock (default) or with freezegun",
    )
    play.add_argument(
        "--report",
        nargs=2,
        action="append",
        default=[],
        metavar=("FORMAT", "FILE"),
        help="write a json or junit report",
    )
    play.add_argument(
        "-q", "--quiet", action="store_true", help="print failures and the total only"
    )

    check = commands.add_parser(
        "verify",
        help="check captured webhook requests (JSON lines or HAR) against the contract",
        description=(
            "Judge each captured request as the fake AB Tasty's webhook would, and report every "
            "one it would refuse, with its status and code."
        ),
        epilog=(
            'Formats read: JSON lines, one request a line: {"headers": {...}, "body": '
            '<the JSON message, or its text>, "method"?: "POST", "path"?: '
            '"/segment/webhook"} (what harness simulate --out writes); or a HAR 1.2 file '
            "(its POSTs to .../segment/webhook). A key masked in the capture (****abcd) cannot "
            "be checked: verify says so, and with --api-key compares only its last 4 characters."
        ),
    )
    check.add_argument("capture", help="the capture file (JSON lines or HAR)")
    check.add_argument("--api-key", help="the account's API key, to check requests carry it")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    init = commands.add_parser(
        "init",
        help="write example scenarios and a starter conftest.py and test into this project",
    )
    init.add_argument("--dir", default=".", help="the project folder (default: the current one)")
    commands.add_parser(
        "contract",
        help="print the HTTP contract of both fakes: routes, codes, limits, documented choices",
    )

    simulate = commands.add_parser(
        "simulate", help="generate users and their calls, delivered the way Segment delivers"
    )
    simulate.add_argument("--users", type=int, default=1_000, help="synthetic users (default 1000)")
    simulate.add_argument("--days", type=int, default=3, help="simulated days (default 3)")
    simulate.add_argument(
        "--seed", type=int, default=0, help="same seed, same users, calls and faults"
    )
    simulate.add_argument(
        "--start",
        type=_instant,
        help=f"midnight of the first day (default {SIMULATION_START}; with --target, the "
        "UTC midnight --days days before today, so every call lies in the past)",
    )
    simulate.add_argument(
        "--audiences",
        type=int,
        default=0,
        metavar="N",
        help="N Engage audiences whose members enter and exit day by day (default 0)",
    )
    where = simulate.add_mutually_exclusive_group()
    where.add_argument(
        "--target", metavar="URL", help="deliver to this webhook URL (needs --api-key)"
    )
    where.add_argument(
        "--out", metavar="FILE.jsonl", help="write every delivery as a JSON line instead"
    )
    simulate.add_argument("--api-key", help="the API key the target expects")
    simulate.add_argument(
        "--visitors-url",
        metavar="URL",
        help="with --target: post the tag's sightings here too, e.g. a live harness serve's "
        "http://127.0.0.1:8080/api/accounts/ACC/visitors",
    )
    simulate.add_argument(
        "--admin-token", help="with --visitors-url: the live server's admin token"
    )
    simulate.add_argument(
        "--senders",
        type=int,
        metavar="N",
        help="with --target: users split into N lanes delivering at once, one request in "
        f"flight each (default {DEFAULT_SENDERS}; 1 to 64)",
    )
    simulate.add_argument(
        "--scenario-out",
        metavar="FILE.yaml",
        help="also write the run as a scenario that plays back to the same result",
    )
    simulate.add_argument(
        "--failure-rate",
        type=float,
        default=0.0,
        help="share of attempts failing with 5xx/429/timeout",
    )
    simulate.add_argument(
        "--duplicate-rate", type=float, default=0.0, help="share of messages delivered twice"
    )
    simulate.add_argument(
        "--reorder-window", type=float, default=0.0, help="seconds a message may be held back"
    )
    simulate.add_argument(
        "--late-share", type=float, default=0.0, help="share of messages delivered 2 hours late"
    )
    simulate.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal)",
    )
    return parser


def _simulate(args: argparse.Namespace) -> int:
    import json
    from datetime import timedelta

    from harness.simulate import FaultConfig, PopulationConfig, StreamConfig
    from harness.simulate.audiences import AudienceConfig, audience_keys
    from harness.simulate.runner import SimulationConfig

    if args.target and not args.api_key:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS, "--target needs --api-key: the key the receiver expects."
        )
    for name in ("failure_rate", "duplicate_rate", "late_share"):
        if not 0 <= getattr(args, name) <= 1:
            raise HarnessError(
                CommandCode.INVALID_ARGUMENTS,
                f"--{name.replace('_', '-')} must be between 0 and 1.",
            )
    if args.users < 1 or args.days < 1:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--users and --days must be at least 1.")
    if not 0 <= args.audiences <= 100:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--audiences must be from 0 to 100.")
    if args.senders is not None and not args.target:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--senders goes with --target (in-process and --out runs have one sender).",
        )
    if args.senders is not None and not 1 <= args.senders <= 64:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--senders must be from 1 to 64.")
    if args.visitors_url and not args.target:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--visitors-url goes with --target (without it, sightings go to the in-process AB Tasty).",
        )
    start = args.start
    if start is None and args.target:
        # A live receiver reads the calls' timestamps against its own clock: put the whole
        # run in the past, ending at today's UTC midnight.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=args.days)
    stream = (
        StreamConfig(days=args.days, seed=args.seed)
        if start is None
        else StreamConfig(start=start, days=args.days, seed=args.seed)
    )
    config = SimulationConfig(
        PopulationConfig(users=args.users, seed=args.seed),
        stream,
        FaultConfig(
            failure_rate=args.failure_rate,
            duplicate_rate=args.duplicate_rate,
            reorder_window=timedelta(seconds=args.reorder_window),
            late_share=args.late_share,
            seed=args.seed,
        ),
        AudienceConfig(audience_keys(args.audiences), seed=args.seed),
    )
    if args.scenario_out and (args.out or args.target):
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--scenario-out records the in-process AB Tasty: use it without --out and --target.",
        )
    # --out is written beside itself and renamed when the run is done: a refused or broken
    # run leaves no empty or half-written capture behind.
    partial = Path(f"{args.out}.partial") if args.out else None
    try:
        summary, simulation = _run_simulation(args, config, stream.start, partial)
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if partial is not None:
        partial.replace(args.out)
    if args.scenario_out:
        from harness.scenarios.recorded import write_recorded_run

        write_recorded_run(Path(args.scenario_out), simulation.recorded_run())
    print(json.dumps(summary.as_dict()))
    if summary.failed:
        where = args.target or "the in-process AB Tasty"
        print(
            f"harness simulate: {summary.failed} of {summary.generated} messages failed "
            f"delivery to {where}; what it answered last:",
            file=sys.stderr,
        )
        for reason, count in summary.failures.items():
            print(f"  {count} x {reason}", file=sys.stderr)
        for example in summary.failure_examples:
            print(
                f"  e.g. message {example['message_id']} after {example['attempts']} attempt(s): "
                f"{example['status'] or 'no answer'} {example['answer']}",
                file=sys.stderr,
            )
    return 1 if summary.failed else 0


def _run_simulation(
    args: argparse.Namespace, config: Any, start: datetime, partial: Path | None
) -> tuple[Any, Any]:
    from contextlib import ExitStack

    from harness.simulate.capture import CaptureRecorder
    from harness.simulate.runner import Simulation

    with ExitStack() as stack:
        if partial is not None:
            try:
                capture = stack.enter_context(open(partial, "w", encoding="utf-8"))
            except OSError as error:
                raise HarnessError(
                    CommandCode.INVALID_ARGUMENTS,
                    f"Cannot write --out {args.out}: {error.strerror}.",
                ) from None
            clock = ManualClock(start)
            recorder = CaptureRecorder(capture, clock)
            simulation = Simulation(
                config, destination=recorder, api_key=args.api_key or "abt_simulated", clock=clock
            )
        elif args.target:
            from harness.simulate.parallel import ParallelSimulation

            simulation = ParallelSimulation(  # type: ignore[assignment]
                config,
                endpoint=args.target,
                api_key=args.api_key,
                senders=args.senders or DEFAULT_SENDERS,
                visitors_url=args.visitors_url,
                admin_token=args.admin_token,
            )
        else:
            simulation = Simulation(config, record=bool(args.scenario_out))
        events = simulation.events()
        show = sys.stderr.isatty() if args.progress is None else args.progress
        if show:
            from rich.progress import Progress

            progress = stack.enter_context(Progress(transient=True))
            task = progress.add_task("simulating", total=len(events))
            summary = simulation.run(
                events, on_progress=lambda done: progress.update(task, completed=done)
            )
        else:
            summary = simulation.run(events)
    return summary, simulation


def _play(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from harness.scenarios import (
        LiveDriver,
        ScenarioError,
        load_scenario,
        run_scenario,
        scenario_files,
        shared_in_process_driver,
    )
    from harness.scenarios.driver import Driver
    from harness.scenarios.report import json_report, junit_report
    from harness.scenarios.runner import ScenarioResult

    if args.list_steps:
        from harness.scenarios.reference import reference

        print(reference(), end="")
        return 0
    if not args.paths:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "Name scenario files or folders to play (or --list-steps).",
        )
    for fmt, _ in args.report:
        if fmt not in ("json", "junit"):
            raise HarnessError(
                CommandCode.INVALID_ARGUMENTS, f"--report {fmt!r}: use json or junit."
            )
    files = scenario_files([Path(p) for p in args.paths])
    missing = [f for f in files if not f.exists()]
    if missing or not files:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            f"No scenario file at {', '.join(map(str, missing or args.paths))}.",
        )
    scenarios, results = [], []
    for file in files:  # validate every file before anything runs
        try:
            scenarios.append(load_scenario(file))
        except ScenarioError as error:
            results.append(ScenarioResult(file.stem, str(file), passed=False, error=str(error)))
    if results:
        problems = 0
        for result in results:
            for line in (result.error or "").splitlines():
                print(f"INVALID {line}", file=sys.stderr)
                problems += 1
        print(
            f"{len(results)} invalid scenario file(s), {problems} problem(s); nothing was played.",
            file=sys.stderr,
        )
        return 2
    if args.url and args.clock == "freezegun":
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--clock freezegun plays in-process: freezegun cannot move a separate harness "
            "serve's clock (drop --url, or --clock).",
        )
    driver: Driver
    if args.url:
        live = LiveDriver(args.url, args.segment_url, args.admin_token, restart=args.restart)
        problem = live.unreachable()
        if problem is not None:
            raise HarnessError(CommandCode.UNREACHABLE, problem)
        driver = live
    else:
        driver = shared_in_process_driver(args.clock)
    if args.url and not args.restart:
        scenarios.sort(key=lambda s: s.start)  # a live clock only moves forward
    started = time.perf_counter()
    for scenario in scenarios:
        result = run_scenario(scenario, driver)
        results.append(result)
        mark = "PASS" if result.passed else "FAIL"
        if not args.quiet or not result.passed:
            print(f"{mark} {scenario.name}  ({scenario.file}, {result.seconds * 1000:.0f} ms)")
        if not args.quiet:
            for step in result.steps:
                if step.status != "skipped":
                    note = f"  {step.message}" if step.message and step.status == "passed" else ""
                    print(
                        f"  {'ok ' if step.status == 'passed' else 'X  '} line {step.line}: {step.action}{note}"
                    )
        if result.failure is not None:
            print(f"  {result.failure}")
    passed = sum(r.passed for r in results)
    print(
        f"{passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.2f}s ({driver.mode})"
    )
    for fmt, target in args.report:
        Path(target).write_text(
            json_report(results) if fmt == "json" else junit_report(results), encoding="utf-8"
        )
    return 0 if passed == len(results) else 1


def _verify(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from harness.runtime.verify import read_capture, verify

    report = verify(read_capture(Path(args.capture)), args.api_key)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for finding in report.deviations:
            print(
                f"{args.capture}:{finding.position}: {finding.status} {finding.code}: {finding.message}"
            )
        for finding in report.notes:
            print(f"{args.capture}:{finding.position}: note {finding.code}: {finding.message}")
        print(
            f"{report.requests} requests: {report.accepted} accepted, {len(report.deviations)} refused, {len(report.notes)} notes"
        )
        if report.masked_keys:
            print(
                f"Authentication not checked for {report.masked_keys} request(s): the capture "
                "masks their keys (****); capture the Authorization header whole to check it."
            )
    return 0 if report.passed else 1


def _serve(args: argparse.Namespace) -> int:
    from harness.runtime.server import check_bind, check_port_free
    from harness.runtime.workers import ServePlan, serve

    check_bind(args.host, args.admin_token)
    if args.port == args.segment_port:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--port and --segment-port must differ.")
    for port in (args.port, args.segment_port):
        check_port_free(args.host, port)
    if args.journal_size < 0:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--journal-size must be 0 or more.")
    if args.now is not None and args.clock != "manual":
        raise HarnessError(ErrorCode.CLOCK_NOT_MANUAL, "--now needs --clock manual.")
    if args.segment_rate_limit is not None and args.segment_rate_limit <= 0:
        raise HarnessError(
            CommandCode.INVALID_ARGUMENTS,
            "--segment-rate-limit must be a positive number of requests a second.",
        )
    if not 1 <= args.workers <= 64:
        raise HarnessError(CommandCode.INVALID_ARGUMENTS, "--workers must be from 1 to 64.")
    serve(
        ServePlan(
            host=args.host,
            port=args.port,
            segment_port=args.segment_port,
            store=args.store,
            clock=args.clock,
            now=args.now,
            admin_token=args.admin_token,
            journal_size=args.journal_size,
            segment_rate_limit=args.segment_rate_limit,
            workers=args.workers,
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``harness`` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "play":
            return _play(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "init":
            from harness.scenarios.scaffold import init_project

            written = init_project(Path(args.dir))
            for path in written:
                print(f"wrote {path}")
            print(
                f"{len(written)} files. Next: harness play scenarios/, pytest, "
                "harness play --list-steps, harness contract."
            )
            return 0
        if args.command == "contract":
            from importlib.resources import files

            print(files("harness").joinpath("contract.md").read_text(encoding="utf-8"), end="")
            return 0
    except HarnessError as error:
        print(f"harness: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C is how a server is stopped: one line, no traceback.
        if args.command == "serve":
            print("harness serve: stopped (Ctrl-C).", file=sys.stderr)
            return 0
        print(f"harness {args.command}: interrupted (Ctrl-C).", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
