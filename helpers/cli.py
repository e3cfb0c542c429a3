"""Command line: ``python -m helpers <command>``.

Commands:
  sandbox   an alias of ``python -m perplexity_sandbox``: serve the local sandbox until stopped
  record    re-run notebooks in sandbox mode and save their outputs (all, or the paths given)
  doctor    check Python, packages, the key, .env and the API; print one fix per problem
  classroom-link  the nbgitpuller link that pulls the course into each learner's home on a JupyterHub
  check-live  compare the live API with the sandbox (four small requests with your key); exit 1 on a difference

This module imports nothing but the standard library at its top: ``helpers/__init__.py`` calls
:func:`require_dependencies` from here before it imports any other package, so that a Python without
the tutorial's packages (the virtual environment not activated) gets one sentence, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib.util import find_spec
from pathlib import Path

# How to activate .venv, as the README says, for both kinds of shell a learner may have.
ACTIVATE = "`source .venv/bin/activate` on Linux and macOS or `.venv\\Scripts\\activate` on Windows"
# The import names of the runtime dependencies (pyproject.toml's ``dependencies``; a test keeps them in step).
DEPENDENCY_MODULES = ("ipywidgets", "requests", "tornado", "dotenv", "pystache", "genson", "platformdirs", "truststore")


def main(argv: list[str] | None = None) -> int:
    """Run one command; a dependency found missing on the way is one sentence and exit status 1."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in DEPENDENCY_MODULES:
            raise  # one of our own modules, or an optional one: a bug to see in full
        print(missing_dependencies_sentence([missing]), file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    if argv[:1] == ["sandbox"]:  # the sandbox parses its own options (and --help), under this name
        from perplexity_sandbox.__main__ import main as serve_main

        return serve_main(argv[1:], prog="python -m helpers sandbox")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "check-live":  # with a sandbox of its own on this computer (only entry points start one)
        from helpers.live_check import run_check_live
        from perplexity_sandbox import Sandbox

        with Sandbox() as sandbox:
            return run_check_live(sandbox.url, base_url=args.base_url, record=args.record)
    if args.command == "doctor":
        from helpers.doctor import run_doctor

        return run_doctor(call=not args.skip_call, project=_course_folder_option(parser, args.project))
    if args.command == "classroom-link":
        from helpers.classroom import classroom_link

        try:
            print(classroom_link(args.hub, args.repo, args.branch, args.notebook, args.app))
        except ValueError as error:
            parser.error(str(error))  # one sentence and exit status 2, as for any wrong option
        return 0
    from helpers.keys import project_root
    from helpers.recording import notebook_paths, record

    wanted = args.paths or notebook_paths(project_root() / "notebooks")
    return 0 if len(record(wanted)) == len(wanted) else 1


def _parser() -> argparse.ArgumentParser:
    """The commands and their options; ``classroom-link`` defaults to this copy's git origin, main and notebook 01."""
    from helpers.classroom import BRANCH, FIRST_NOTEBOOK

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sandbox_help = "serve the local Perplexity API sandbox (alias of python -m perplexity_sandbox)"
    commands.add_parser("sandbox", add_help=False, help=sandbox_help)
    rec = commands.add_parser("record", help="re-run the notebooks in sandbox mode and save their outputs")
    rec.add_argument("paths", nargs="*", type=Path, help="notebooks to record (default: all in notebooks/)")
    doctor = commands.add_parser("doctor", help="check your set-up and print one fix per problem")
    doctor.add_argument("--skip-call", action="store_true", help="do not send the one tiny authenticated request")
    project_help = "the course folder whose notebooks to check for (default: the one the doctor can find from here)"
    doctor.add_argument("--project", type=Path, metavar="DIR", help=project_help)
    link = commands.add_parser("classroom-link", help="print the nbgitpuller link that gives a class the notebooks")
    link.add_argument("--hub", required=True, help="the JupyterHub's address, e.g. https://hub.example.org")
    repo_help = "the git repository learners pull (default: this folder's git remote 'origin', as https)"
    link.add_argument("--repo", help=repo_help)
    link.add_argument("--branch", default=BRANCH, help="the branch to pull (default: %(default)s)")
    link.add_argument("--notebook", default=FIRST_NOTEBOOK, help="the notebook to open (default: %(default)s)")
    link.add_argument(
        "--app", choices=("lab", "notebook"), default="lab", help="JupyterLab or Notebook 7 (default: lab)"
    )
    # Whether the sandbox (and so the recorded notebooks) still answers as the live API does.
    live_help = "compare the live API with the sandbox: exit 0 (same), 1 (differences, one line each), 2 (cannot check)"
    check = commands.add_parser("check-live", help=live_help)
    base_url_help = "the live server to compare, read as PERPLEXITY_BASE_URL in live mode (default: that, else the API)"
    check.add_argument("--base-url", metavar="URL", help=base_url_help)
    record_help = "write the live requests and answers there (keys removed)"
    check.add_argument("--record", type=Path, metavar="DIR", help=record_help)
    return parser


def _course_folder_option(parser: argparse.ArgumentParser, folder: Path | None) -> Path | None:
    """``--project DIR``, checked: a folder inside a copy of the course (else one sentence and exit status 2)."""
    if folder is None:
        return None
    from helpers.keys import find_checkout

    folder = folder.expanduser().resolve()
    checkout = find_checkout(folder) if folder.is_dir() else None
    if checkout is None or not (checkout == folder or checkout in folder.parents):
        parser.error(
            f"--project {folder}: that is not a copy of the course folder (no pyproject.toml and helpers "
            "folder in it or above it); give the folder you cloned or pulled the notebooks into."
        )
    return folder


# --- a Python without the tutorial's packages ---------------------------------------------


def require_dependencies() -> None:
    """Exit with one sentence when this Python lacks a runtime dependency; otherwise do nothing.

    ``python -m helpers ...`` run with a Python that is not the virtual environment's would otherwise end
    in ``ModuleNotFoundError: No module named 'platformdirs'``. Only the standard library is used here:
    it runs before any other import. ``find_spec`` looks a package up without importing it.
    """
    missing = [name for name in DEPENDENCY_MODULES if find_spec(name) is None]
    if missing:
        raise SystemExit(missing_dependencies_sentence(missing))


def missing_dependencies_sentence(missing: list[str]) -> str:
    """One sentence: which packages this Python lacks, and the way forward (activate, install, or create .venv)."""
    folder = Path(__file__).resolve().parent.parent  # `python -m helpers` found the package there
    lacks = " and ".join(missing) if len(missing) < 3 else "the tutorial's packages"
    this_python = f"This Python ({sys.executable}) lacks {lacks}"
    if not (folder / "pyproject.toml").is_file():  # an installed package without its dependencies: a broken install
        return (
            f"{this_python}, which the tutorial's package needs: run the command with the Python of the environment "
            "you installed the tutorial into (activate it first)."
        )
    go_there = "" if Path.cwd().resolve() == folder else f"go to the course folder (`cd {folder}`), "
    venv, again = folder / ".venv", "then run the command again."
    if venv.is_dir() and Path(sys.prefix).resolve() == venv.resolve():
        install = "run `python -m pip install -r requirements.txt`"
        return f"The tutorial's virtual environment lacks {lacks}: {go_there}{install}, {again}"
    if venv.is_dir():
        return f"{this_python}: {go_there}activate the tutorial's virtual environment with {ACTIVATE}, {again}"
    return (
        f"{this_python}, and the course folder has no virtual environment yet: {go_there}create it with "
        f"`python3 -m venv .venv` (`py -m venv .venv` on Windows), activate it with {ACTIVATE}, run "
        f"`pip install -r requirements.txt`, {again}"
    )
