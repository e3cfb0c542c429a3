"""``python -m helpers doctor``: check the set-up and say, for each problem, how to fix it.

The checks, in order: Python and package versions (the notebooks' own packages included), the
mode, where the key comes from and its format, the ``.env`` file's permissions and git-ignore status,
the proxy, which certificates HTTPS is checked against, whether the API host answers, and whether the
key is accepted (one tiny request: free in the sandbox, a fraction of a cent live). The report
passes through :func:`helpers.keys.redact`, so it never shows a key, nor a password or token that
``PERPLEXITY_BASE_URL`` may hold. Exit status 1 means at least one problem.

The report is about the notebooks: run from a terminal in another folder, the doctor checks what the
notebooks of the course folder it can find would use (see :func:`notebooks_folder`), or says that it
cannot know and how to point it there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from helpers import errors, keys
from helpers.client import CURRENT_MODEL, PerplexityClient, base_url_for
from helpers.errors import InvalidKeyError, TutorialError
from helpers.masking import url_credentials
from helpers.notebook import configured_key
from helpers.settings import BASE_URL_VARIABLE, MODE_VARIABLE, SANDBOX_DEMO_KEY, Settings, proxy_for, resolve_settings
from helpers.trust import ca_bundle_from_environment, describe_ca_source, use_system_store, verification_advice

OK, NOTE, PROBLEM, SKIPPED = "ok", "note", "PROBLEM", "skipped"
MIN_PYTHON = (3, 11)
DISTRIBUTION = "perplexity-onboarding-notebooks"
DOCTOR_COMMAND = "python -m helpers doctor"
# What the notebooks import beyond the runtime (pyproject.toml's optional "notebooks" dependencies), and
# the front end they open in (requirements.txt installs it; Colab and hubs bring their own).
NOTEBOOK_EXTRA = "notebooks"
FRONT_END = "jupyterlab"
# The cheapest authenticated request: no tools (no search fee), the smallest allowed answer.
PING = {"input": "Reply with OK.", "model": CURRENT_MODEL, "max_output_tokens": 16}
CONNECTION_CHECKS = ("API host", "Key accepted")
UNSURE = (
    "From this folder the doctor cannot know whether your notebooks run in a course folder (they would then "
    f"use its .env file): run `{DOCTOR_COMMAND}` in that folder, or point it there with `--project DIR` "
    f"(or set {keys.ENV_FILE_VARIABLE} to the key file, for the notebooks too)."
)
# The fix for each way the mode rule can fail, the most specific class first.
MODE_FIXES = (
    (errors.AuthenticationError, f"Save a key with notebook 01, or unset {MODE_VARIABLE} to use the sandbox."),
    (errors.TransportSecurityError, f"Set {BASE_URL_VARIABLE} to an https:// address, or unset it."),
    (TutorialError, f"Set {MODE_VARIABLE} to auto, live or sandbox, or unset it."),
)
# How the one tiny authenticated request can be refused: its status and fix, the most specific class first.
REFUSALS = (
    (
        errors.AuthenticationError,
        PROBLEM,
        f"Create a new key in the API portal, save it with notebook 01 (or set {keys.KEY_VARIABLE}), "
        f"then run `{DOCTOR_COMMAND}` again.",
    ),
    (errors.PermissionDeniedError, PROBLEM, "Add credits in the API portal (API Group > Billing)."),
    (errors.RateLimitError, NOTE, "The key works; wait a minute before the next request."),
    (errors.PerplexityError, PROBLEM, "Try again in a few minutes."),
)


@dataclass(frozen=True)
class Check:
    """The outcome of one check; ``fix`` says what to do when ``status`` is a problem (or a note)."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Vantage:
    """Where the report looks from: the folder whose notebooks it is about, and what the key file line adds.

    ``folder`` None is the working directory. ``how`` says how another folder was chosen; ``unsure``
    is the sentence saying the doctor cannot know which key file the notebooks use, and how to point it.
    """

    folder: Path | None = None
    how: str = ""
    unsure: str = ""


def run_doctor(call: bool = True, project: Path | None = None) -> int:
    """The command line's report; returns the exit status (0: all good, 1: at least one problem).

    Checked as the notebooks see it: those in ``project`` when given, else those :func:`notebooks_folder`
    finds; with the certificates a notebook's first cell makes requests trust.
    """
    use_system_store()  # as setup_notebook() does: an entry point may change the process, an import may not
    where = notebooks_folder(project)
    # From that folder every key lookup starts, as in a notebook there.
    with contextlib.chdir(where.folder) if where.folder else contextlib.nullcontext():
        return _print_report(run_checks(call=call, where=where))


def check_setup(call: bool = True) -> None:
    """The notebook version of ``python -m helpers doctor``: the same report, for this notebook's own folder."""
    _print_report(run_checks(call=call, in_notebook=True))


def _print_report(checks: list[Check]) -> int:
    """Print the report without the key, nor what may be a credential in ``PERPLEXITY_BASE_URL``.

    The settings sentence that refuses such a URL masks it already; this is the report's own guard.
    """
    secrets = [*url_credentials(os.environ.get(BASE_URL_VARIABLE, "").strip()), *configured_key()]
    print(keys.redact(format_report(checks), secrets))
    return 1 if any(c.status == PROBLEM for c in checks) else 0


def notebooks_folder(project: Path | None = None) -> Vantage:
    """Whose notebooks the command line's report is about.

    The working directory's course folder, or the package's own (an editable install): the key
    lookup finds those by itself. Else the course folder the package was installed from, when pip
    recorded one (the README's plain ``pip install -r requirements.txt``); else nobody knows where
    the notebooks run, and the report says so.
    """
    if project is not None:
        return Vantage(project, f"Checked for the notebooks in {project} (--project).")
    if os.environ.get(keys.ENV_FILE_VARIABLE, "").strip() or keys.find_checkout() is not None:
        return Vantage()
    installed_from = installed_from_checkout()
    if installed_from is None:
        return Vantage(unsure=UNSURE)
    return Vantage(
        installed_from, f"Checked for the notebooks in {installed_from}, the course folder this package came from."
    )


def installed_from_checkout() -> Path | None:
    """The course folder this very package was installed from by ``pip install .`` (not editable), if it still is one.

    pip records the folder in the distribution's ``direct_url.json`` (PEP 610). None for an editable
    install (its checkout is found through the package's own location), an install from a repository
    URL (Colab), or a record that belongs to another copy of the package than the one running.
    """
    try:
        distribution = metadata.distribution(DISTRIBUTION)
        record = json.loads(distribution.read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or not str(record.get("url", "")).startswith("file:"):
        return None
    here = Path(__file__).resolve().parent / "__init__.py"
    ours = Path(str(distribution.locate_file("helpers/__init__.py"))).resolve() == here
    if (record.get("dir_info") or {}).get("editable") or not ours:
        return None
    folder = Path(url2pathname(urlsplit(record["url"]).path))
    return folder if folder.is_dir() and keys.find_checkout(folder) == folder.resolve() else None


def run_checks(call: bool = True, *, where: Vantage = Vantage(), in_notebook: bool = False) -> list[Check]:
    """Every check, in order. ``call=False`` skips the one authenticated request.

    ``where`` qualifies the key file line (see :func:`notebooks_folder`); ``in_notebook``: the report
    is shown in a notebook, which is open already, so no front end needs to be installed here.
    """
    env_file = keys.env_file_path()
    checks = [check_python(), check_packages(front_end_needed=not in_notebook)]
    files = [check_key_file(where), check_env_file(env_file), check_git_ignore(env_file)]
    if env_file.is_file() and not os.access(env_file, os.R_OK):  # every key lookup would fail
        return checks + files + _skipped("the .env file can be read", "Mode", "Key", *CONNECTION_CHECKS)
    mode, settings = check_settings()
    checks += [mode, check_key(keys.find_api_key(), unsure=bool(where.unsure)), *files]
    return [*checks, check_proxy(settings), check_certificates(), *check_connection(settings, call)]


def _skipped(until: str, *names: str) -> list[Check]:
    return [Check(name, SKIPPED, f"not checked until {until}.") for name in names or CONNECTION_CHECKS]


def format_report(checks: list[Check]) -> str:
    """One line per check, a ``Fix:`` line under each problem, and a one-line verdict."""
    lines = ["Checking your set-up for the Perplexity tutorial"]
    for check in checks:
        lines.append(f"{check.status:<8} {check.name}: {check.detail}")
        if check.fix:
            lines.append(f"{'':<8} {'Fix' if check.status == PROBLEM else 'Tip'}: {check.fix}")
    problems = sum(c.status == PROBLEM for c in checks)
    if not problems:
        return "\n".join([*lines, "All good: no problems found."])
    fix = f"Fix {'them' if problems > 1 else 'it'}, then run `{DOCTOR_COMMAND}` again."
    return "\n".join([*lines, f"{problems} problem{'s' * (problems > 1)} found. {fix}"])


# --- Python and packages ------------------------------------------------------------------


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    found = ".".join(str(part) for part in version[:3])
    if tuple(version[:2]) >= MIN_PYTHON:
        return Check("Python", OK, f"{found} (3.11 or newer needed)")
    fix = (
        "Install Python 3.11, 3.12 or 3.13, delete the .venv folder and create it again with that Python "
        "(`make lab`, or `pip install -r requirements.txt` in a new virtual environment)."
    )
    return Check("Python", PROBLEM, f"{found} is too old: the tutorial needs Python 3.11 or newer.", fix)


def check_packages(requirements: list[str] | None = None, *, front_end_needed: bool = True) -> Check:
    """Each dependency is installed in a version the project accepts: the runtime's, the notebooks' and JupyterLab.

    ``front_end_needed`` False (the report is shown in a notebook, which is open already: Colab, a hub)
    lists JupyterLab without requiring it.
    """
    if requirements is None:
        requirements = [*_requirements(), FRONT_END]
        if sys.platform == "emscripten":  # the browser edition: no HTTP sandbox (it runs in-process), no SDK
            from helpers.browser import NOT_IN_BROWSER

            requirements = [text for text in requirements if _parse_requirement(text)[0] not in NOT_IN_BROWSER]
    found, wrong, install = [], [], []
    for requirement in requirements:
        name, specifier = _parse_requirement(requirement)
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        if version is None and name == FRONT_END and not front_end_needed:
            found.append(f"{name} not installed (not needed: this notebook is open already)")
        elif version is not None and specifier(version):
            found.append(f"{name} {version}")
        else:
            problem = f"{version} is installed, but {requirement} is needed" if version else "is not installed"
            wrong.append(f"{name} {problem}")
            install.append(requirement)
    if wrong:
        return Check("Packages", PROBLEM, "; ".join(wrong) + ".", _install_fix(install))
    return Check("Packages", OK, ", ".join(found))


def _install_fix(requirements: list[str]) -> str:
    """The command that installs exactly ``requirements`` into this Python, and the course folder's whole list."""
    quoted = " ".join(f'"{r}"' if re.search(r"[^A-Za-z0-9_.\-]", r) else r for r in requirements)
    everything = " (in the course folder, `pip install -r requirements.txt` installs them all)"
    return f"Run `python -m pip install {quoted}`{everything if keys.find_checkout() else ''}."


def _parse_requirement(text: str) -> tuple[str, Callable[[str], bool]]:
    """The package name, and a test of a version against the requirement."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging comes with JupyterLab; without it, only presence is checked
        return re.match(r"[A-Za-z0-9_.\-]+", text).group(0), lambda version: True
    requirement = Requirement(text)
    return requirement.name, lambda version: requirement.specifier.contains(version, prereleases=True)


def _requirements() -> list[str]:
    """The runtime dependencies and the notebooks' extra: from pyproject.toml, else the installed metadata."""
    pyproject = keys.project_root() / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return [*project["dependencies"], *project.get("optional-dependencies", {}).get(NOTEBOOK_EXTRA, [])]
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # helpers copied without its metadata: nothing declared to check
        return []
    wanted = [r for r in declared if "extra ==" not in r or re.search(rf"extra == ['\"]{NOTEBOOK_EXTRA}['\"]", r)]
    return [r.partition(";")[0].strip() for r in wanted]


# --- mode and key -------------------------------------------------------------------------


def check_settings() -> tuple[Check, Settings | None]:
    """The mode rule applied to this environment; the settings are None when it cannot be applied."""
    try:
        settings = resolve_settings()
    except TutorialError as error:  # a PERPLEXITY_BASE_URL refused is read as requests would connect to it
        fix = next(fix for kind, fix in MODE_FIXES if isinstance(error, kind))
        return Check("Mode", PROBLEM, str(error), fix), None
    return Check("Mode", OK, settings.describe().removeprefix("Mode: ")), settings


def check_key(found: keys.FoundKey | None, *, unsure: bool = False) -> Check:
    """Where the key comes from, and whether its format can work.

    ``unsure``: the doctor cannot know where the notebooks run (see :func:`notebooks_folder`), so "none" is
    only true of notebooks outside a course folder.
    """
    if found is None:
        whose = "notebooks outside a course folder" if unsure else "the notebooks"
        fix = "To use the real API, save a key with notebook 01."
        return Check("Key", NOTE, f"none configured, so {whose} use the sandbox.", fix)
    where = f"{found.masked} from the {found.source}"
    fix = "Save the key again with the widget in notebook 01: it checks the key before saving."
    if found.source.startswith("environment variable"):
        variable = found.source.split()[-1]
        fix = f"Set {variable} to the key exactly as the API portal shows it, or unset it "
        fix += "and save the key with notebook 01."
    try:
        _, cleaned = keys.validate_api_key(found.value)
    except InvalidKeyError as error:
        return Check("Key", PROBLEM, f"{where}: {error}", fix)
    if cleaned:  # e.g. "Bearer pplx-...": sent as it is, the header would say "Bearer Bearer ..."
        return Check("Key", PROBLEM, f"{where} is not the bare key ({cleaned}).", fix)
    if found.hint:
        return Check("Key", NOTE, f"{where}.", found.hint)
    return Check("Key", OK, f"{where}; its format looks right.")


# --- the .env file ------------------------------------------------------------------------


def check_key_file(where: Vantage = Vantage()) -> Check:
    """Where the key file is and why: the project's .env, or the per-user one (no checkout, or a shared one).

    ``where`` adds how the course folder was chosen, or that the doctor cannot know it (a note). A
    problem: the checkout's .env still holds a key although other users can write to the checkout.
    """
    detail = " ".join(filter(None, [keys.key_file_status().removeprefix("Your key file is "), where.how]))
    checkout, overridden = keys.find_checkout(), os.environ.get(keys.ENV_FILE_VARIABLE, "").strip()
    shared = checkout is not None and not overridden and keys.others_may_write(checkout)
    try:
        left = checkout / ".env" if shared and keys.find_api_key({}, checkout / ".env") is not None else None
    except OSError:  # not ours to read: nothing of the learner's is there
        left = None
    if left is None:
        return Check("Key file", NOTE, detail, where.unsure) if where.unsure else Check("Key file", OK, detail)
    detail += f" But {left} still holds a key, in a folder other users can write to."
    fix = f"Save your key again with notebook 01 (it now goes to your own folder), then delete {left}."
    return Check("Key file", PROBLEM, detail, fix)


def check_env_file(path: Path) -> Check:
    """A ``.env`` holding a key must be readable by its owner only; one not saved as UTF-8 gets a note."""
    if not path.is_file():
        return Check(".env file", OK, "not created yet. Saving a key in notebook 01 creates it, readable only by you.")
    if not os.access(path, os.R_OK):
        detail = f"you cannot read {path} (was it created with sudo?)."
        return Check(".env file", PROBLEM, detail, f"Run: sudo chown $USER {path}")
    mode = stat.S_IMODE(path.stat().st_mode)
    if keys.find_api_key({}, path) is None:
        fine = Check(".env file", OK, "holds no key.")
    elif os.name != "posix":
        fine = Check(".env file", OK, "exists (permissions are only checked on Linux and macOS).")
    elif mode & 0o077:
        detail = f"{path} has mode {mode:o}: other users of this computer can read it."
        return Check(".env file", PROBLEM, detail, f"Run: chmod 600 {path}")
    else:
        fine = Check(".env file", OK, f"mode {mode:o}: only you can read it.")
    if not keys.holds_non_utf8(path):
        return fine
    detail = f"{path} is not saved as UTF-8 (Notepad's ANSI?): the tutorial reads it, but other tools may not."
    return Check(".env file", NOTE, detail, "Save it again as UTF-8 (in Notepad: File > Save as, Encoding: UTF-8).")


def check_git_ignore(path: Path) -> Check:
    """A ``.env`` inside a git repository must be ignored and never tracked."""
    if shutil.which("git") is None:
        return Check("Git", NOTE, "git is not installed, so whether .env is ignored was not checked.")
    folder = next(p for p in (path.parent, *path.parent.parents) if p.is_dir())
    tracked = _git(folder, "ls-files", "--error-unmatch", "--", str(path))
    if "not a git repository" in tracked.stderr:
        return Check("Git", OK, f"the {path.name} file is not in a git repository, so it cannot be committed.")
    if tracked.returncode == 0:
        fix = (
            f"Run: git rm --cached {path}, commit, and create a new key in the API portal "
            "if the old one was ever pushed."
        )
        return Check("Git", PROBLEM, f"{path} is tracked by git: a commit would publish your key.", fix)
    ignored = _git(folder, "check-ignore", "-q", "--", str(path))
    if ignored.returncode == 0:
        return Check("Git", OK, f"git ignores the {path.name} file.")
    if ignored.returncode == 1:
        fix = f"Add a line `{path.name}` to the .gitignore file at the top of the repository."
        return Check("Git", PROBLEM, f"git does not ignore {path}: `git add .` would commit your key.", fix)
    detail = (ignored.stderr.strip().splitlines() or ["no details"])[0]
    return Check("Git", NOTE, f"could not ask git about {path.name}: {detail}")


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=15, check=False)


# --- the API host and the key -------------------------------------------------------------


def check_proxy(settings: Settings | None) -> Check:
    """Which proxy carries the requests (HTTPS_PROXY, NO_PROXY...): the one the client will use, by its rule."""
    if settings is None:
        return Check("Proxy", SKIPPED, "not checked until the mode problem is fixed.")
    url = settings.base_url or "http://127.0.0.1"  # no sandbox known: the doctor starts one on this computer
    try:
        proxy = proxy_for(url, secret=settings.api_key.reveal() != SANDBOX_DEMO_KEY)
    except errors.TransportSecurityError as error:
        return Check("Proxy", PROBLEM, str(error), "Write the proxy as http://host:port, or unset its variable.")
    if proxy is None:
        return Check("Proxy", OK, f"none; requests go straight to {settings.base_url or 'the built-in sandbox'}.")
    how = "an encrypted tunnel: it never sees the key" if url.startswith("https:") else "plain http: demo key only"
    return Check("Proxy", OK, f"{proxy.describe()}; requests to {url} pass through it in {how}.")


def check_certificates() -> Check:
    """Which certificates HTTPS connections are checked against; a CA file that does not exist is a problem."""
    if not _certificate_file_missing():
        return Check("Certificates", OK, describe_ca_source())
    variable = ca_bundle_from_environment()[1]
    fix = f"Set {variable} to the file that holds your network's root certificate (PEM), or unset it."
    return Check("Certificates", PROBLEM, describe_ca_source(), fix)


def _certificate_file_missing() -> bool:
    bundle = ca_bundle_from_environment()
    return bundle is not None and not os.path.isfile(bundle[0])


def check_connection(settings: Settings | None, call: bool) -> list[Check]:
    """Whether the host answers, then whether it accepts the key (one tiny request).

    In sandbox mode with no sandbox known (no ``PERPLEXITY_BASE_URL``, no notebook setup), the doctor,
    an entry point, starts a sandbox of its own for these two checks and stops it afterwards.
    """
    if settings is None:
        return _skipped("the mode problem is fixed")
    if settings.is_sandbox and settings.base_url is None:
        from perplexity_sandbox import Sandbox

        with Sandbox() as sandbox:
            return _check_connection_to(settings, sandbox.url, call)
    return _check_connection_to(settings, base_url_for(settings), call)


def _check_connection_to(settings: Settings, base_url: str, call: bool) -> list[Check]:
    if base_url.startswith("https:") and _certificate_file_missing():  # requests would fail on the missing file
        return _skipped("the certificate problem is fixed")
    try:
        client = PerplexityClient(settings.api_key, base_url, mode=settings.mode, timeout=(5.0, 30.0), max_retries=0)
    except errors.TransportSecurityError as error:
        return [
            Check("API host", PROBLEM, str(error), "Set PERPLEXITY_BASE_URL to an https:// address, or unset it."),
            Check("Key accepted", SKIPPED, "not checked: the key is never sent over an unsafe connection."),
        ]
    except InvalidKeyError:  # the Key check above already says what is wrong and how to fix it
        return _skipped("the key problem is fixed")
    with client:
        host = _check_host(client, settings)
        if host.status != OK:
            return [host, Check("Key accepted", SKIPPED, "not checked: the API host did not answer.")]
        if not call:
            return [host, Check("Key accepted", SKIPPED, "not checked (--skip-call).")]
        return [host, _check_authentication(client, settings)]


def _check_host(client: PerplexityClient, settings: Settings) -> Check:
    """``GET /v1/models``: the cheapest request there is, sent by the package's client (its proxy and CA rules)."""
    try:
        client.list_models()
    except errors.PerplexityError as error:
        # The client raises its own errors ``from None``: the ssl error is still in the chain's context.
        if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in errors.exception_chain(error)):
            detail = f"{client.base_url} answered, but its certificate could not be verified."
            return Check(
                "API host", PROBLEM, detail, verification_advice(urlsplit(client.base_url).hostname or client.base_url)
            )
        if isinstance(error, errors.NetworkError):
            return Check("API host", PROBLEM, f"could not reach {client.base_url}.", _unreachable_fix(settings))
        return Check("API host", PROBLEM, str(error), "Check PERPLEXITY_BASE_URL, or unset it.")
    return Check("API host", OK, f"{client.base_url} answers.")


def _unreachable_fix(settings: Settings) -> str:
    if settings.is_sandbox:
        return (
            "Start the shared sandbox (`python -m perplexity_sandbox`), or unset PERPLEXITY_BASE_URL "
            "to use the built-in one."
        )
    return (
        "Check your internet connection (a proxy or firewall may block api.perplexity.ai), "
        "or unset PERPLEXITY_BASE_URL if you set it."
    )


def _check_authentication(client: PerplexityClient, settings: Settings) -> Check:
    """One tiny ``POST /v1/agent``: the cheapest call that needs a valid key."""
    try:
        client.create_response(**PING)
    except errors.PerplexityError as error:
        status, fix = next((status, fix) for kind, status, fix in REFUSALS if isinstance(error, kind))
        # A refused key: the server's own words say why (e.g. revoked).
        detail = (error.detail or str(error)) if isinstance(error, errors.AuthenticationError) else str(error)
        return Check("Key accepted", status, detail, fix)
    cost = "free in the sandbox" if settings.is_sandbox else "one tiny request that costs a fraction of a cent"
    key = "the demo key" if settings.key is None else "the key"
    return Check("Key accepted", OK, f"the server accepted {key} ({cost}).")
