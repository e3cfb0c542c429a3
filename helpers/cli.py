"""Command line: ``python -m helpers <command>``.

Commands:
  sandbox   serve the local sandbox until stopped (``--host``, ``--port``, ``--fault``, ``--rate-limit``)
  record    re-run notebooks in sandbox mode and save their outputs (all, or the paths given)
  doctor    check Python, packages, the key, .env and the API; print one fix per problem
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from helpers.keys import project_root
from helpers.sandbox.faults import FAULTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("sandbox", help="serve the local Perplexity API sandbox until stopped")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--fault", choices=sorted(FAULTS), help="make every request fail this way (for teaching)")
    serve.add_argument("--rate-limit", type=float, metavar="N",
                       help="allow N requests per second per key, then answer 429 with Retry-After")
    serve.add_argument("--stream-delay", type=float, default=0.0, metavar="SECONDS",
                       help="pause between streamed events, to watch an answer arrive (default 0)")
    rec = commands.add_parser("record", help="re-run the notebooks in sandbox mode and save their outputs")
    rec.add_argument("paths", nargs="*", type=Path, help="notebooks to record (default: all in notebooks/)")
    doctor = commands.add_parser("doctor", help="check your set-up and print one fix per problem")
    doctor.add_argument("--skip-call", action="store_true", help="do not send the one tiny authenticated request")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from helpers.doctor import run_doctor

        return run_doctor(call=not args.skip_call)
    if args.command == "sandbox":
        return serve_sandbox(args.host, args.port, args.fault, rate_limit=args.rate_limit,
                             stream_delay=args.stream_delay)
    return 0 if _record(args.paths) else 1


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535, with a clear message otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535).") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: use 0 to 65535 (0 picks a free one).")
    return port


def serve_sandbox(host: str, port: int, fault: str | None = None, *, rate_limit: float | None = None,
                  stream_delay: float = 0.0) -> int:
    """Run the sandbox in the foreground, one log line per request on stderr; Ctrl+C stops it."""
    from helpers.sandbox import Sandbox

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        sandbox = Sandbox(host, port, fault=fault, rate_limit=rate_limit, stream_delay=stream_delay).start()
    except ValueError as problem:
        print(f"Could not start the sandbox: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"Could not listen on {host}:{port} ({problem.strerror or problem}). Try another --port "
              "(0 picks a free one).", file=sys.stderr)
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


def _record(paths: list[Path]) -> bool:
    from helpers.recording import notebook_paths, record

    wanted = paths or notebook_paths(project_root() / "notebooks")
    return len(record(wanted)) == len(wanted)
