"""``python -m perplexity_sandbox``: serve the local Perplexity API sandbox until stopped.

Options: ``--host``, ``--port`` (0 picks a free one), ``--fault``, ``--rate-limit``, ``--stream-delay``.
The first line printed gives the base URL; each request is logged as one line on stderr, never the key.
``python -m helpers sandbox`` is an alias that calls :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from perplexity_sandbox.faults import FAULTS
from perplexity_sandbox.server import Sandbox

PROG = "python -m perplexity_sandbox"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Parse the command line and serve; returns the exit status (2 when the server cannot start)."""
    args = build_parser(prog).parse_args(argv)
    return serve(args.host, args.port, args.fault, rate_limit=args.rate_limit, stream_delay=args.stream_delay)


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
    return parser


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
) -> int:
    """Run the sandbox in the foreground, one log line per request on stderr; Ctrl+C or ``kill`` stops it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        sandbox = Sandbox(host, port, fault=fault, rate_limit=rate_limit, stream_delay=stream_delay).start()
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
    print(f"Sandbox serving at {sandbox.url}  (set PERPLEXITY_BASE_URL={sandbox.url}; Ctrl+C stops)", flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops it as cleanly as Ctrl+C
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        print("Sandbox stopped.", flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
