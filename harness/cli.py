"""The ``harness`` command: thin wiring over the package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.clock import Clock, ManualClock, SystemClock, format_instant, parse_instant
from harness.errors import HarnessError


def _instant(text: str) -> object:
    try:
        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 timestamp with an offset"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Fakes of Segment and AB Tasty for tests."
    )
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
    serve.add_argument("--store", default="memory", help="where state lives: memory (default)")
    serve.add_argument(
        "--journal-size", type=int, default=1_000, help="requests kept in the journal"
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from harness.server import ServerGroup, check_bind
    from harness.stack import Harness

    check_bind(args.host, args.admin_token)
    if args.store != "memory":
        raise HarnessError(
            "invalid_store", f"--store {args.store!r} is not supported; use 'memory'."
        )
    if args.now is not None and args.clock != "manual":
        raise HarnessError("clock_not_manual", "--now needs --clock manual.")
    clock: Clock = ManualClock(args.now) if args.clock == "manual" else SystemClock()
    abtasty_url = f"http://{args.host}:{args.port}"
    harness = Harness(clock, abtasty_url=abtasty_url, journal_size=args.journal_size)
    group = ServerGroup(
        [
            (harness.abtasty_app(args.admin_token), args.host, args.port),
            (harness.segment_app(args.admin_token), args.host, args.segment_port),
        ]
    )
    print(
        f"Fake AB Tasty on {abtasty_url}, fake Segment on http://{args.host}:{args.segment_port} "
        f"(clock: {clock.mode}, now {format_instant(clock.now())}; schemas at /schema)",
        flush=True,
    )
    group.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``harness`` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
    except HarnessError as error:
        print(f"harness: {error.message}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
