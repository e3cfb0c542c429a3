"""A JupyterLab server for the browser tests: a temporary project copy, sandbox mode, no process left behind."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from helpers.recording import CLEARED_ENV

# Never copied: environments, history, caches, and a developer's own key files (.env, .env.local, ...).
_IGNORED = shutil.ignore_patterns(
    ".venv",
    ".git",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "test-artifacts",
    "*.egg-info",
    "build",
    ".env",
    ".env.*",
)


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    return set(_IGNORED(folder, names)) - {".env.example"}


# Lab settings for a quiet, deterministic browser: no calls to the internet, every cell in the DOM
# (the default windowing skips rendering off-screen cells), and widget state saved into the notebook
# on Ctrl+S, so a key kept in a widget's state would end up in the file and fail the test.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
}
START_TIMEOUT = 90.0


def copy_project(source: Path, target: Path) -> Path:
    """Copy the project without .venv, .git, node_modules, caches or a developer's .env."""
    shutil.copytree(source, target, ignore=_copy_ignore)
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def server_environment(state_dir: Path) -> dict[str, str]:
    """Sandbox mode, no key, the copy's own .env, and Jupyter state kept inside ``state_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in (*CLEARED_ENV, "PERPLEXITY_ENV_FILE")}
    env["PERPLEXITY_MODE"] = "sandbox"
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[name] = str(state_dir / sub)
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    _write_lab_settings(state_dir / "settings")
    return env


@dataclass
class LabServer:
    """A running ``jupyter lab`` serving ``root``; ``url`` has no trailing slash."""

    root: Path
    state_dir: Path
    port: int
    token: str
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "jupyter-lab.log"

    def start(self) -> LabServer:
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [
            str(jupyter),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
        ]
        env = server_environment(self.state_dir)
        with self.log_path.open("wb") as log:
            # A session of its own, so that stop() can end the server and everything it started.
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/api/status", params={"token": self.token}, timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kernel_pids(self) -> list[int]:
        """Kernels started by this server: their command line names a connection file in its runtime dir."""
        marker = str(self.state_dir / "runtime").encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"kernel" in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> list[int]:
        """Shut down (kernels first, as the server does), then end the process group.

        Returns the pids of kernels that were still alive afterwards (they are killed too).
        """
        if self.process is None or self.process.poll() is not None:
            return self._kill_survivors()
        try:
            requests.post(f"{self.url}/api/shutdown", params={"token": self.token}, timeout=5)
            self.process.wait(timeout=20)
        except (requests.RequestException, subprocess.TimeoutExpired):
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        return self._kill_survivors()

    def _kill_survivors(self) -> list[int]:
        survivors = self.kernel_pids()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return survivors


def start_lab(root: Path, state_dir: Path) -> LabServer:
    return LabServer(root=root, state_dir=state_dir, port=free_port(), token=secrets.token_urlsafe(24)).start()
