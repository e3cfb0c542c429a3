"""``python -m perplexity_sandbox``: serve the local Perplexity API sandbox until stopped.

Options: ``--host``, ``--port`` (0 picks a free one), ``--fault``, ``--rate-limit``, ``--stream-delay``, and the
class-scale limits ``--max-connections``, ``--head-timeout``, ``--idle-timeout``, ``--stall-timeout``,
``--max-body-mib`` and ``--max-bodies-mib`` (see ``docs/sandbox.md``, "Class scale"). The first line printed gives
the base URL; each request is logged as one line on stderr, never the key.
``python -m helpers sandbox`` is an alias that calls :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import Any

from perplexity_sandbox.faults import FAULTS
from perplexity_sandbox.limits import (
    HEAD_TIMEOUT_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_TOTAL_BODY_BYTES,
    STALL_TIMEOUT_SECONDS,
    MiB,
)
from perplexity_sandbox.server import Sandbox

PROG = "python -m perplexity_sandbox"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Parse the command line and serve; returns the exit status (2 when the server cannot start)."""
    args = build_parser(prog).parse_args(argv)
    return serve(
        args.host,
        args.port,
        args.fault,
        rate_limit=args.rate_limit,
        stream_delay=args.stream_delay,
        **limits_given(args),
        **({"classroom": True} if args.classroom else {}),
    )


def limits_given(args: argparse.Namespace) -> dict[str, float]:
    """The class-scale limits set on the command line, as keyword options of Sandbox (sizes in bytes)."""
    given = {
        "max_connections": args.max_connections,
        "head_timeout": args.head_timeout,
        "idle_timeout": args.idle_timeout,
        "stall_timeout": args.stall_timeout,
        "max_body_size": None if args.max_body_mib is None else round(args.max_body_mib * MiB),
        "max_total_body_size": None if args.max_bodies_mib is None else round(args.max_bodies_mib * MiB),
    }
    return {name: value for name, value in given.items() if value is not None}


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Serve the local Perplexity API sandbox until stopped.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--fault", choices=sorted(FAULTS), help="make every request fail this way (for teaching)")
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="allow N requests per second per key, then answer 429 with Retry-After",
    )
    parser.add_argument(
        "--stream-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed events, to watch an answer arrive (default 0)",
    )
    parser.add_argument(
        "--class",
        dest="classroom",
        action="store_true",
        help="a class sandbox: learners' notebooks report their progress to the instructor page at /class",
    )
    add_limits(parser.add_argument_group("class-scale limits (docs/sandbox.md, 'Class scale')"))
    return parser


def add_limits(group: argparse._ArgumentGroup) -> None:
    """The options that keep one client from locking a class out; unset, Sandbox's defaults (shown here) apply."""
    group.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help=f"open connections at most; at the cap a new one replaces the longest-idle (default {MAX_CONNECTIONS})",
    )
    group.add_argument(
        "--head-timeout",
        type=float,
        metavar="SECONDS",
        help=f"time to send a whole request head, idle keep-alive included (default {HEAD_TIMEOUT_SECONDS:g})",
    )
    group.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help=f"time for a body to arrive, or a reply to be read (default {IDLE_TIMEOUT_SECONDS:g})",
    )
    group.add_argument(
        "--stall-timeout",
        type=float,
        metavar="SECONDS",
        help=f"a reply not read for this long leaves its connection replaceable (default {STALL_TIMEOUT_SECONDS:g})",
    )
    group.add_argument(
        "--max-body-mib",
        type=float,
        metavar="MIB",
        help=f"largest request body, then 413 (default {MAX_BODY_BYTES // MiB})",
    )
    group.add_argument(
        "--max-bodies-mib",
        type=float,
        metavar="MIB",
        help=f"request bodies held at once, all clients together, then 503 (default {MAX_TOTAL_BODY_BYTES // MiB})",
    )


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535, with a clear message otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535).") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: use 0 to 65535 (0 picks a free one).")
    return port


def serve(
    host: str,
    port: int,
    fault: str | None = None,
    *,
    rate_limit: float | None = None,
    stream_delay: float = 0.0,
    **limits: Any,
) -> int:
    """Run the sandbox in the foreground, one log line per request on stderr; Ctrl+C or ``kill`` stops it.

    ``limits``: the keyword options of :class:`Sandbox` for class scale (``max_connections``, ...).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("tornado").setLevel(logging.WARNING)  # its info lines (a client's timeout) add nothing here
    quicker_log_records()
    try:
        sandbox = Sandbox(host, port, fault=fault, rate_limit=rate_limit, stream_delay=stream_delay, **limits).start()
    except ValueError as problem:
        print(f"Could not start the sandbox: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(
            f"Could not listen on {host}:{port} ({problem.strerror or problem}). Try another --port "
            "(0 picks a free one).",
            file=sys.stderr,
        )
        return 2
    try:
        # `kill` stops it as cleanly as Ctrl+C; set before the first line, which tells a caller it may send requests
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print(f"Sandbox serving at {sandbox.url}  (set PERPLEXITY_BASE_URL={sandbox.url}; Ctrl+C stops)", flush=True)
        if sandbox.roster is not None:
            print_class_sign_in(sandbox)
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        print("Sandbox stopped.", flush=True)
    finally:
        sandbox.stop()
    return 0


def print_class_sign_in(sandbox: Sandbox) -> None:
    """How the instructor opens the class page without the token ever being on the projected screen."""
    print(
        f"Instructor page: open {sandbox.url_for(sandbox.roster.sign_in_path())} in your browser: the link "
        f"works once and signs that browser in, so the page's address is then {sandbox.url_for('/class')} with no "
        "token in it.",
        flush=True,
    )
    print(
        f"Class token, to sign in at {sandbox.url_for('/class')} from another browser (keep it off the "
        f"projector): {sandbox.roster.token}",
        flush=True,
    )


def quicker_log_records() -> None:
    """Leave out of each log record what the request log never shows (the logging HOWTO's "Optimization").

    Process-wide settings, so only here, where the sandbox owns the process: a class sandbox logs a line
    per request, and the caller's file and line, thread and process names cost more than the line itself.
    """
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


if __name__ == "__main__":
    sys.exit(main())
