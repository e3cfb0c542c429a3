"""The README's main command: `make lab` serves the notebooks, with no browser on a headless machine.

It runs against a copy of the project (the files git tracks) and the virtual environment the tests
already run in, so it builds nothing: no 505 MB venv appears inside the checkout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from tornado import websocket

from tests.support import unused_url

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix).resolve()  # the environment running the tests, which `make test` built
STAMP = VENV / ".installed"


@pytest.mark.slow  # starts a JupyterLab server: make test, not test-quick
def test_make_lab_serves_the_notebooks_without_opening_a_browser(tmp_path: Path) -> None:
    project = copy_of_the_project(tmp_path / "project")
    stamp_before = STAMP.stat().st_mtime_ns if STAMP.exists() else None
    lab, url, token = start_make_lab(project, tmp_path)
    try:
        names = _notebooks_served(url, token, lab)
    finally:
        output = stop(lab)
    assert names == sorted(path.name for path in (project / "notebooks").glob("*.ipynb"))  # the copy's, all of them
    assert {"01_create_api_key.ipynb", "02_authenticate.ipynb", "03_creator_studio_connector.ipynb"} <= set(names)
    assert "--no-browser" in output
    assert "pip install" not in output and "-m venv" not in output, output
    assert not (project / ".venv").exists() and not (ROOT / "notebooks" / ".venv").exists()
    assert (STAMP.stat().st_mtime_ns if STAMP.exists() else None) == stamp_before


@pytest.mark.slow  # starts a JupyterLab server: make test, not test-quick
def test_a_kernel_of_make_lab_runs_without_the_encryption_warning(tmp_path: Path) -> None:
    """Each notebook opened printed "Kernel is running over TCP without encryption" in the terminal of `make lab`.

    A kernel is started as JupyterLab starts one, and code runs through the server's websocket: the kernel
    works with the keys it now gets, and the terminal shows no warning.
    """
    project = copy_of_the_project(tmp_path / "project")
    lab, url, token = start_make_lab(project, tmp_path)
    try:
        _notebooks_served(url, token, lab)
        kernel = requests.post(f"{url}/api/kernels", params={"token": token}, json={"name": "python3"}, timeout=60)
        # In a thread of its own, with its own event loop: the browser tests' Playwright owns this thread's loop.
        running = _run_in_kernel(url, token, kernel.json()["id"])
        with ThreadPoolExecutor(1) as thread:
            printed = thread.submit(asyncio.run, asyncio.wait_for(running, timeout=120)).result()
    finally:
        output = stop(lab)
    assert printed == "42\n"
    assert "without encryption" not in output and "WARNING" not in output, output
    assert "KernelManager.transport_encryption=auto" in output  # asked of helpers.recording, where it is explained


def start_make_lab(project: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str]:
    """`make lab` in ``project`` with the test environment, headless, on a free port: the process, URL and token."""
    port, token = int(unused_url().rsplit(":", 1)[1]), secrets.token_hex(16)
    headless = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env = {**headless, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "BROWSER": "false"}
    args = f"LAB_ARGS=--ServerApp.port={port} --IdentityProvider.token={token} --port-retries=0"
    # -o: the venv counts as installed even when the copied requirement files look newer than its stamp.
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "-o", str(STAMP), "lab", f"VENV={VENV}", args],
        cwd=project,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return lab, f"http://127.0.0.1:{port}", token


def stop(lab: subprocess.Popen) -> str:
    """Stop JupyterLab (and the kernels it started); what it printed."""
    os.killpg(lab.pid, signal.SIGTERM)
    return lab.communicate(timeout=30)[0]


async def _run_in_kernel(url: str, token: str, kernel_id: str) -> str:
    """Run ``print(6 * 7)`` through the server's kernel websocket, as JupyterLab does; what the kernel printed."""
    channels = url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?token={token}"
    socket = await websocket.websocket_connect(channels)
    request = {
        "header": {"msg_id": secrets.token_hex(8), "session": secrets.token_hex(8), "username": "test"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": "print(6 * 7)", "silent": False},
        "channel": "shell",
    }
    request["header"].update(msg_type="execute_request", version="5.3")
    await socket.write_message(json.dumps(request))
    try:
        while (message := await socket.read_message()) is not None:
            reply = json.loads(message)
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"] and reply["msg_type"] == "stream":
                return reply["content"]["text"]
        raise AssertionError("the kernel's websocket closed before it printed anything")
    finally:
        socket.close()


@pytest.mark.slow
def test_the_install_step_of_make_lab_prints_no_warning_block(tmp_path: Path) -> None:
    """The first `make lab` printed setuptools' "BuildBackendWarning: Editable installation." block, like a failure.

    It runs the Makefile's own install step (venv, pip, requirements.txt, the editable install) into a new
    virtual environment, for a copy of the project. That environment sees the test environment's packages
    through a .pth line, so pip installs the project itself and downloads little else (pip, setuptools).
    """
    project = copy_of_the_project(tmp_path / "project")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site_packages = sysconfig.get_paths()["purelib"]
    (Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"]) / "test_environment.pth").write_text(
        site_packages + "\n"
    )
    stamp = venv / ".installed"
    done = subprocess.run(
        ["make", "--no-print-directory", str(stamp), f"VENV={venv}", f"PYTHON={sys.executable}"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and stamp.exists(), output[-3000:]
    assert "pip install --quiet --no-deps -e ." in output  # the step that printed the block ran
    # A Python warning category ("BuildBackendWarning: ...") or the "!!" frame setuptools draws around its notices.
    assert not re.search(r"\w*Warning\b|!!", output), output
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import helpers, perplexity_sandbox; print(helpers.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert imported.stdout.strip() == str(project / "helpers" / "__init__.py")  # editable: the copy's own files


def copy_of_the_project(target: Path) -> Path:
    """The files git tracks, copied with their times; never .env, .venv or node_modules (git ignores them)."""
    if not (VENV / "bin" / "jupyter").exists():
        _unavailable(f"JupyterLab is not installed in {VENV}")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False)
    if listed.returncode != 0 or shutil.which("make") is None:
        _unavailable("this test needs git (to list the project's files) and make")
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():  # a file deleted in the working tree is still listed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _unavailable(reason: str) -> None:
    """Skip with the reason, except in CI, where a skipped test would hide a broken `make lab`."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _notebooks_served(url: str, token: str, lab: subprocess.Popen) -> list[str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and lab.poll() is None:
        try:
            reply = requests.get(f"{url}/api/contents", params={"token": token}, timeout=2)
            if reply.ok:
                return sorted(item["name"] for item in reply.json()["content"] if item["name"].endswith(".ipynb"))
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"make lab did not serve {url} (exit code {lab.poll()})")
