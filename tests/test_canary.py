"""The canary: run every notebook with a made-up key, then look for that key everywhere it must not be.

The key (``pplx-`` plus 40 random letters and digits, made at run time, accepted by the sandbox)
is put in the environment as a learner's real key would be. The notebooks run in a separate
process, as ``make record`` runs them but with the widgets' state saved, so that the kernel's own
stdout and stderr can be captured; an IPython start-up file sends every log record to a file.
Then the executed notebooks (outputs, metadata, widget state), the captured streams, the log and
every file written under the project or the temporary folders are searched for the canary.

They run twice, against a sandbox in this process set as ``PERPLEXITY_BASE_URL``: in live mode,
where a base URL on this computer is one the key may go to, so every notebook really sends the
canary; and in sandbox mode, where the sandbox must never receive it (its log shows each request's
key as a one-way fingerprint).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.keys import mask_key
from helpers.recording import isolated_environment, notebook_paths
from helpers.settings import SANDBOX_DEMO_KEY
from perplexity_sandbox import Sandbox
from perplexity_sandbox.keys import key_fingerprint

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT / "notebooks")
SKIPPED_FOLDERS = {".git", ".venv", "node_modules"}
RUNNER = textwrap.dedent("""
    import sys
    from pathlib import Path

    import nbformat

    from helpers.recording import execute_notebook

    out = Path(sys.argv[1])
    for name in sys.argv[2:]:
        nbformat.write(execute_notebook(Path(name), store_widget_state=True), out / Path(name).name)
""")
KERNEL_STARTUP = textwrap.dedent("""
    import logging, os
    logging.basicConfig(filename={log!r}, level=logging.DEBUG, force=True)
    os.write(2, b"canary kernel started\\n")
""")


def make_canary() -> str:
    """A fresh key-shaped string. The sandbox treats keys containing these words specially."""
    alphabet = string.ascii_letters + string.digits
    while True:
        canary = "pplx-" + "".join(secrets.choice(alphabet) for _ in range(40))
        if not any(word in canary for word in ("revoked", "blocked")):
            return canary


@dataclass
class CanaryRun:
    mode: str  # PERPLEXITY_MODE of the run: live or sandbox
    canary: str
    started: float
    notebooks: dict[str, str]  # name -> the executed notebook file's text
    stdout: str
    stderr: str
    log: str
    key_file: Path  # the .env the notebooks would save to
    folders: list[Path]  # the temporary key folder, and the one holding the results, log and IPython files
    sandbox_log: list[str]  # the sandbox's request lines: each names the request's key as key#<8 hex>


@contextmanager
def sandbox_lines() -> Iterator[list[str]]:
    """The ``perplexity_sandbox`` logger's lines while inside ``with``."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("perplexity_sandbox")
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not .level =: only setLevel clears the logger's cached answers
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module", params=["live", "sandbox"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    mode = request.param
    canary, started = make_canary(), time.time() - 1  # -1: file times can be a little coarse
    work = tmp_path_factory.mktemp("canary")
    out, ipython, runtime = work / "executed", work / "ipython", work / "runtime"
    for folder in (out, ipython / "profile_default" / "startup", runtime):
        folder.mkdir(parents=True)
    log = work / "kernel.log"
    (ipython / "profile_default" / "startup" / "00-log.py").write_text(KERNEL_STARTUP.format(log=str(log)))
    extra = {"PERPLEXITY_API_KEY": canary, "IPYTHONDIR": str(ipython), "JUPYTER_RUNTIME_DIR": str(runtime)}
    with Sandbox() as sandbox, sandbox_lines() as lines:
        extra |= {"PERPLEXITY_MODE": mode, "PERPLEXITY_BASE_URL": sandbox.url}
        with isolated_environment(extra=extra) as env_file:
            result = subprocess.run(
                [sys.executable, "-c", RUNNER, str(out), *map(str, NOTEBOOKS)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
    assert result.returncode == 0, result.stderr.replace(canary, "<CANARY>")[-3000:]
    executed = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.ipynb"))}
    return CanaryRun(
        mode,
        canary,
        started,
        executed,
        result.stdout,
        result.stderr,
        log.read_text(encoding="utf-8", errors="replace") if log.exists() else "",
        env_file,
        [env_file.parent, work],
        lines,
    )


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_every_notebook_ran_with_the_canary_key(run: CanaryRun) -> None:
    """Live: every notebook used it. Sandbox: notebook 01 found it, and the others say the demo key went instead."""
    assert sorted(run.notebooks) == [p.name for p in NOTEBOOKS]
    for name, text in run.notebooks.items():
        if run.mode == "live" or name.startswith("01_"):
            assert mask_key(run.canary) in text, f"{name} never used the canary key, so this test proves nothing"
        else:
            assert "with the sandbox's demo key" in text, f"{name} does not say that the demo key goes instead"


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_a_sandbox_receives_the_canary_only_in_live_mode(run: CanaryRun) -> None:
    """In live mode the base URL is a server the learner chose; in sandbox mode no sandbox ever gets the key."""
    keys = {word for line in run.sandbox_log for word in line.split() if word.startswith("key#")}
    if run.mode == "live":
        assert key_fingerprint(run.canary) in keys  # so the fingerprints below would show the canary
    else:
        assert keys == {key_fingerprint(SANDBOX_DEMO_KEY)}


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_the_canary_is_in_no_executed_notebook(run: CanaryRun) -> None:
    leaks = [name for name, text in run.notebooks.items() if run.canary in text]
    assert leaks == []


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_the_canary_is_in_no_saved_widget_state(run: CanaryRun) -> None:
    metadata = json.loads(run.notebooks["01_create_api_key.ipynb"])["metadata"]
    state = metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {model["model_name"] for model in state.values()}
    assert {"PasswordModel", "ButtonModel"} <= models  # the key widget's state really was saved
    assert run.canary not in json.dumps(state)


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_the_canary_is_not_in_the_kernel_output_streams(run: CanaryRun) -> None:
    assert "canary kernel started" in run.stdout + run.stderr  # the kernel's own streams were captured
    assert run.canary not in run.stdout
    assert run.canary not in run.stderr


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_the_canary_is_in_no_log_record(run: CanaryRun) -> None:
    assert "/v1/agent" in run.log  # requests were logged, so the log was really written
    assert run.canary not in run.log


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_the_canary_is_in_no_file_written(run: CanaryRun) -> None:
    written = [p for p in files_under(ROOT) if p.stat().st_mtime >= run.started]
    for folder in run.folders:
        written += list(files_under(folder))
    temp_root = Path(tempfile.gettempdir())
    for folder in temp_root.glob("pplx-*"):  # practice key files, record folders
        if folder.is_dir() and folder.stat().st_mtime >= run.started:
            written += list(files_under(folder))
    assert {"kernel.log", "01_create_api_key.ipynb"} <= {p.name for p in written}  # the scan saw the run's files
    assert [str(p) for p in written if run.canary.encode() in p.read_bytes()] == []


def files_under(folder: Path):
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_FOLDERS]
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file():
                yield path


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_run_all_never_writes_the_key_file(run: CanaryRun) -> None:
    assert not run.key_file.exists()  # notebook 01 practises on a throw-away file, never on your .env


# --- every other path a key could leave by: one canary each, every output searched ---------------
# Each function takes the canary and returns everything the path showed (sentences, exports, logs,
# tracebacks, files). The test checks both that the path used the key and that it never shows it.


def _smuggling_base_url(canary: str) -> str:
    from helpers.errors import TutorialError
    from helpers.settings import resolve_settings

    shown = []
    for mode in ("live", "sandbox"):
        environ = {
            "PERPLEXITY_API_KEY": canary,
            "PERPLEXITY_MODE": mode,
            "PERPLEXITY_BASE_URL": f"http://{canary}.invalid:80\\@127.0.0.1",
        }
        try:
            resolve_settings(environ)
        except TutorialError as error:
            shown.append(f"{error} {error.detail}")
    return "\n".join(shown)


def _curl_import_errors(canary: str) -> str:
    from helpers.curl_import import import_curl
    from helpers.errors import TutorialError

    commands = [
        f"curl --header=Authorization: Bearer {canary} https://api.perplexity.ai/v1/agent",
        f"curl https://api.perplexity.ai/v1/agent -H 'Authorization: Bearer' \\ \n {canary} -d '{{}}'",
    ]
    shown = []
    for command in commands:
        try:
            import_curl(command)
        except TutorialError as error:
            shown.append(f"{error} {error.detail}")
    assert len(shown) == len(commands)  # both were refused, so their sentences were searched
    return "\n".join(shown)


def _connector_check_and_exports(canary: str) -> str:
    from helpers.connector import Connector, HeaderAuth, HttpAction, check_request
    from helpers.exports import as_json, to_curl, to_openapi, to_postman

    connector = Connector("Vendor", "https://api.example.com", HeaderAuth("X-API-Key", canary))
    action = HttpAction(
        "a",
        "/search",
        "POST",
        headers={"X-Other-Key": canary},
        query={"api_key": canary},
        body='{"key": "' + canary + '"}',
    )
    return "\n".join(
        [
            check_request(connector, action),
            to_curl(connector, action),
            as_json(to_postman(connector, action)),
            as_json(to_openapi(connector, action)),
        ]
    )


def _verbose_traceback_of_a_send(canary: str) -> str:
    import requests.adapters
    from IPython.core.ultratb import VerboseTB

    from helpers.client import PerplexityClient
    from perplexity_sandbox import Sandbox

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug below our code")

    real_send, requests.adapters.HTTPAdapter.send = requests.adapters.HTTPAdapter.send, fail
    try:
        with Sandbox() as sandbox, PerplexityClient(canary, sandbox.url, max_retries=0) as client:
            client.create_response("hello")
    except RuntimeError:
        etype, error, tb = sys.exc_info()
        # From the client's frame down: this function's own frame holds the canary as its argument.
        return "\n".join(VerboseTB(theme_name="nocolor").structured_traceback(etype, error, tb.tb_next))
    finally:
        requests.adapters.HTTPAdapter.send = real_send
    raise AssertionError("the send did not fail")


def _env_file_with_a_bom(canary: str) -> str:
    from helpers.keys import key_status, remove_api_key

    folder = Path(tempfile.mkdtemp(prefix="pplx-canary-"))
    (folder / "pyproject.toml").write_text("")
    env_file = folder / ".env"
    env_file.write_bytes(f"\ufeffPERPLEXITY_API_KEY={canary}\r\nOTHER=1\r\n".encode())
    removed = remove_api_key(env_file)
    shown = f"{removed} {key_status({}, env_file)} {env_file.read_text(encoding='utf-8')}"
    assert removed and b"OTHER=1\r\n" in env_file.read_bytes()
    return shown


def _sandbox_log_of_bad_input(canary: str) -> str:
    import logging

    import requests

    from perplexity_sandbox import Sandbox

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(logging.Formatter().format(record))
    logger = logging.getLogger("perplexity_sandbox")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with Sandbox() as sandbox:
            deep = '{"input": "x", "response_format": ' + "[" * 500 + "]" * 500 + "}"
            for body in (deep, '{"input": "\\ud800 ' + canary + '"}'):
                reply = requests.post(
                    sandbox.url_for("/v1/agent"),
                    data=body,
                    timeout=10,
                    headers={"Authorization": f"Bearer {canary}", "Content-Type": "application/json"},
                )
                records.append(reply.text)
                assert reply.status_code == 400
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return "\n".join(records)


OTHER_PATHS = [
    _smuggling_base_url,
    _curl_import_errors,
    _connector_check_and_exports,
    _verbose_traceback_of_a_send,
    _env_file_with_a_bom,
    _sandbox_log_of_bad_input,
]


@pytest.mark.parametrize("path", OTHER_PATHS, ids=lambda path: path.__name__.strip("_"))
def test_the_canary_leaves_by_no_other_path(path) -> None:
    canary = make_canary()
    shown = path(canary)
    assert shown.strip()  # the path really produced output to search
    assert canary not in shown
