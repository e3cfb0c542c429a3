"""Command line: ``python -m helpers <command>``.

Commands:
  sandbox   an alias of ``python -m perplexity_sandbox``: serve the local sandbox until stopped
  record    re-run notebooks in sandbox mode and save their outputs (all, or the paths given)
  doctor    check Python, packages, the key, .env and the API; print one fix per problem
  classroom-link  the nbgitpuller link that pulls the course into each learner's home on a JupyterHub
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
    _add_classroom_link(commands)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from helpers.doctor import run_doctor

        return run_doctor(call=not args.skip_call)
    if args.command == "classroom-link":
        return _classroom_link(parser, args)
    return 0 if _record(args.paths) else 1


def _add_classroom_link(commands: argparse._SubParsersAction) -> None:
    """``classroom-link``: its options default to this repository, its main branch and notebook 01."""
    from helpers import classroom

    link = commands.add_parser("classroom-link", help="print the nbgitpuller link that gives a class the notebooks")
    link.add_argument("--hub", required=True, help="the JupyterHub's address, e.g. https://hub.example.org")
    link.add_argument(
        "--repo", default=classroom.REPOSITORY_URL, help="the git repository to pull (default: %(default)s)"
    )
    link.add_argument("--branch", default=classroom.BRANCH, help="the branch to pull (default: %(default)s)")
    link.add_argument(
        "--notebook", default=classroom.FIRST_NOTEBOOK, help="the notebook to open (default: %(default)s)"
    )
    link.add_argument(
        "--app", choices=("lab", "notebook"), default="lab", help="JupyterLab or Notebook 7 (default: lab)"
    )


def _classroom_link(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from helpers.classroom import nbgitpuller_link

    try:
        print(nbgitpuller_link(args.hub, args.repo, args.branch, args.notebook, args.app))
    except ValueError as error:
        parser.error(str(error))  # one sentence and exit status 2, as for any wrong option
    return 0


def sandbox_main(argv: list[str]) -> int:
    """``python -m helpers sandbox ...``: the sandbox's own command line, under this name."""
    from perplexity_sandbox.__main__ import main as serve_main

    return serve_main(argv, prog="python -m helpers sandbox")


def _record(paths: list[Path]) -> bool:
    from helpers.recording import notebook_paths, record

    wanted = paths or notebook_paths(project_root() / "notebooks")
    return len(record(wanted)) == len(wanted)
