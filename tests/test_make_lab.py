"""The README's main command: `make lab` serves the three notebooks, with no browser on a headless machine."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.support import unused_url

ROOT = Path(__file__).resolve().parent.parent


def test_make_lab_serves_the_notebooks_without_opening_a_browser(tmp_path: Path) -> None:
    port, token = int(unused_url().rsplit(":", 1)[1]), secrets.token_hex(16)
    headless = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env = {**headless, "JUPYTER_RUNTIME_DIR": str(tmp_path), "BROWSER": "false"}
    args = f"LAB_ARGS=--ServerApp.port={port} --IdentityProvider.token={token} --port-retries=0"
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "lab", args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        names = _notebooks_served(f"http://127.0.0.1:{port}", token, lab)
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        output = lab.communicate(timeout=30)[0]
    assert names == ["01_create_api_key.ipynb", "02_authenticate.ipynb", "03_creator_studio_connector.ipynb"]
    assert "--no-browser" in output


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
