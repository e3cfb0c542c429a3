"""The canary: run every notebook with a made-up key, then look for that key everywhere it must not be.

The key (``pplx-`` plus 40 random letters and digits, made at run time, accepted by the sandbox)
is put in the environment as a learner's real key would be. The notebooks run in a separate
process, as ``make record`` runs them but with the widgets' state saved, so that the kernel's own
stdout and stderr can be captured; an IPython start-up file sends every log record to a file.
Then the executed notebooks (outputs, metadata, widget state), the captured streams, the log and
every file written under the project or the temporary folders are searched for the canary.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.keys import mask_key
from helpers.recording import isolated_environment, notebook_paths

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
    canary: str
    started: float
    notebooks: dict[str, str]  # name -> the executed notebook file's text
    stdout: str
    stderr: str
    log: str
    key_file: Path  # the .env the notebooks would save to
    folders: list[Path]  # the temporary key folder, and the one holding the results, log and IPython files


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CanaryRun:
    canary, started = make_canary(), time.time() - 1  # -1: file times can be a little coarse
    work = tmp_path_factory.mktemp("canary")
    out, ipython, runtime = work / "executed", work / "ipython", work / "runtime"
    for folder in (out, ipython / "profile_default" / "startup", runtime):
        folder.mkdir(parents=True)
    log = work / "kernel.log"
    (ipython / "profile_default" / "startup" / "00-log.py").write_text(KERNEL_STARTUP.format(log=str(log)))
    extra = {"PERPLEXITY_API_KEY": canary, "IPYTHONDIR": str(ipython), "JUPYTER_RUNTIME_DIR": str(runtime)}
    with isolated_environment(extra=extra) as env_file:
        result = subprocess.run([sys.executable, "-c", RUNNER, str(out), *map(str, NOTEBOOKS)], cwd=ROOT,
                                capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr.replace(canary, "<CANARY>")[-3000:]
    executed = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.ipynb"))}
    return CanaryRun(canary, started, executed, result.stdout, result.stderr,
                     log.read_text(encoding="utf-8", errors="replace") if log.exists() else "",
                     env_file, [env_file.parent, work])


def test_every_notebook_ran_with_the_canary_key(run: CanaryRun) -> None:
    assert sorted(run.notebooks) == [p.name for p in NOTEBOOKS]
    for name, text in run.notebooks.items():
        assert mask_key(run.canary) in text, f"{name} never used the canary key, so this test proves nothing"


def test_the_canary_is_in_no_executed_notebook(run: CanaryRun) -> None:
    leaks = [name for name, text in run.notebooks.items() if run.canary in text]
    assert leaks == []


def test_the_canary_is_in_no_saved_widget_state(run: CanaryRun) -> None:
    metadata = json.loads(run.notebooks["01_create_api_key.ipynb"])["metadata"]
    state = metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {model["model_name"] for model in state.values()}
    assert {"PasswordModel", "ButtonModel"} <= models  # the key widget's state really was saved
    assert run.canary not in json.dumps(state)


def test_the_canary_is_not_in_the_kernel_output_streams(run: CanaryRun) -> None:
    assert "canary kernel started" in run.stdout + run.stderr  # the kernel's own streams were captured
    assert run.canary not in run.stdout
    assert run.canary not in run.stderr


def test_the_canary_is_in_no_log_record(run: CanaryRun) -> None:
    assert "/v1/agent" in run.log  # requests were logged, so the log was really written
    assert run.canary not in run.log


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


def test_run_all_never_writes_the_key_file(run: CanaryRun) -> None:
    assert not run.key_file.exists()  # notebook 01 practises on a throw-away file, never on your .env
