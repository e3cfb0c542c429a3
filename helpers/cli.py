"""Command line: ``python -m helpers <command>``.

Commands:
  sandbox   an alias of ``python -m perplexity_sandbox``: serve the local sandbox until stopped
  record    re-run notebooks in sandbox mode and save their outputs (all, or the paths given)
  doctor    check Python, packages, the key, .env and the API; print one fix per problem
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.keys import project_root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # the sandbox parses its own options (and --help)
        return sandbox_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "sandbox", add_help=False, help="serve the local Perplexity API sandbox (alias of python -m perplexity_sandbox)"
    )
    rec = commands.add_parser("record", help="re-run the notebooks in sandbox mode and save their outputs")
    rec.add_argument("paths", nargs="*", type=Path, help="notebooks to record (default: all in notebooks/)")
    doctor = commands.add_parser("doctor", help="check your set-up and print one fix per problem")
    doctor.add_argument("--skip-call", action="store_true", help="do not send the one tiny authenticated request")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from helpers.doctor import run_doctor

        return run_doctor(call=not args.skip_call)
    return 0 if _record(args.paths) else 1


def sandbox_main(argv: list[str]) -> int:
    """``python -m helpers sandbox ...``: the sandbox's own command line, under this name."""
    from perplexity_sandbox.__main__ import main as serve_main

    return serve_main(argv, prog="python -m helpers sandbox")


def _record(paths: list[Path]) -> bool:
    from helpers.recording import notebook_paths, record

    wanted = paths or notebook_paths(project_root() / "notebooks")
    return len(record(wanted)) == len(wanted)
