"""A real JupyterHub on this computer, as a class would use one, driven the way learners drive it.

The hub runs on 127.0.0.1 with configurable-http-proxy (from npm), the DummyAuthenticator and the
SimpleLocalProcessSpawner (each learner's server is a local process with its own home folder under a
temporary directory). A learner logs in through the login form, follows the instructor's nbgitpuller
link, which pulls the course into their home, and runs notebooks in their own server's kernels
over the kernel websocket, as JupyterLab does.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
import requests
import websocket

from tests.hub.course import ROOT

START_TIMEOUT = 60  # the hub and its proxy
SPAWN_TIMEOUT = 120  # one learner's server
CELL_TIMEOUT = 180  # one notebook cell
SERVICE = "course-check"  # the test's own service: creates learners, starts servers, issues tokens


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (the OS just freed it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proxy_command() -> str | None:
    """configurable-http-proxy from this repository's dev/node_modules (``npm ci --prefix dev``), or from PATH."""
    local = ROOT / "dev" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.is_file():
        return str(local)
    from shutil import which

    return which("configurable-http-proxy")


@dataclass
class Hub:
    """A running hub: its public URL, the service token, and each learner's home folder."""

    url: str
    token: str
    homes: Path
    process: subprocess.Popen
    log: Path
    started: list[int] = field(default_factory=list)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A hub REST API call as the test's service."""
        headers = {"Authorization": f"token {self.token}"}
        reply = requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)
        reply.raise_for_status()
        return reply

    def home(self, name: str) -> Path:
        return self.homes / name


def hub_config(folder: Path, ports: dict[str, int], token: str, learners: list[str], runtime_root: Path) -> str:
    """jupyterhub_config.py: loopback only, dummy logins for ``learners``, one local process per server."""
    server = Path(sys.executable).with_name("jupyterhub-singleuser")
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["public"]}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports["hub"]}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.command = [{proxy_command()!r}]
c.JupyterHub.db_url = "sqlite:///{folder / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(folder / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(folder / "jupyterhub.pid")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(learners)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(folder / "homes" / "{username}")!r}
c.Spawner.cmd = [{str(server)!r}]
# Kernels over IPC (Unix sockets), as teaching/README.md advises for a hub on one machine: over TCP each server
# picks its kernels' ports free, and the kernel binds them a moment later, so with many learners starting kernels
# at once another process can take a port first; that kernel dies at start and its websocket closes (seen here).
c.Spawner.args = {["--allow-root"] if root else []!r} + ["--KernelManager.transport=ipc"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = {SPAWN_TIMEOUT}
c.Spawner.http_timeout = {SPAWN_TIMEOUT}
c.Spawner.environment = {{
    "PERPLEXITY_MODE": "sandbox",
    "JUPYTER_PLATFORM_DIRS": "1",
    # A kernel's sockets live beside its connection file, and a Unix socket's path is at most 107 bytes:
    # a short folder per learner, not one under this test's long temporary path.
    "JUPYTER_RUNTIME_DIR": lambda spawner: {str(runtime_root)!r} + "/" + spawner.user.name,
}}
c.JupyterHub.services = [{{"name": "{SERVICE}", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "{SERVICE}",
    "scopes": ["admin:users", "admin:servers", "tokens", "read:users", "access:servers"],
    "services": ["{SERVICE}"],
}}]
"""


@contextmanager
def running_hub(folder: Path, learners: list[str], env: dict[str, str]) -> Iterator[Hub]:
    """Start a hub in ``folder``; stop it, its proxy and every server it started on the way out."""
    ports = {name: free_port() for name in ("public", "hub", "proxy_api")}
    token = secrets.token_hex(24)
    runtime_root = Path(tempfile.mkdtemp(prefix="hub-", dir="/tmp"))  # short: see JUPYTER_RUNTIME_DIR
    (folder / "jupyterhub_config.py").write_text(hub_config(folder, ports, token, learners, runtime_root))
    log = folder / "jupyterhub.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(folder / "jupyterhub_config.py")],
            cwd=folder,
            env={**env, "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(24)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(f"http://127.0.0.1:{ports['public']}", token, folder / "homes", process, log)
    try:
        wait_until_up(hub)
        yield hub
    finally:
        stop(hub)
        shutil.rmtree(runtime_root, ignore_errors=True)


def wait_until_up(hub: Hub) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise AssertionError(f"jupyterhub exited with {hub.process.returncode}:\n{tail(hub.log)}")
        with suppress(requests.RequestException):
            if requests.get(f"{hub.url}/hub/api", timeout=2).ok:
                return
        time.sleep(0.5)
    raise AssertionError(f"jupyterhub did not answer within {START_TIMEOUT}s:\n{tail(hub.log)}")


def stop(hub: Hub) -> None:
    """SIGTERM the hub (it stops the proxy and the servers), then end whatever it started that is left."""
    with suppress(psutil.NoSuchProcess):
        hub.started.extend(p.pid for p in psutil.Process(hub.process.pid).children(recursive=True))
    hub.process.send_signal(signal.SIGTERM)
    try:
        hub.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait(timeout=30)
    for pid in hub.started:
        with suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


# --- one learner ----------------------------------------------------------------------------


def start_server(hub: Hub, name: str) -> None:
    """Start the learner's server (as "Start my server" does), then wait until it is ready.

    The hub created the learner already: ``allowed_users`` are added to its database when it starts.
    """
    hub.api("POST", f"/users/{name}/server")
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while time.monotonic() < deadline:
        server = hub.api("GET", f"/users/{name}").json()["servers"].get("", {})
        if server.get("ready"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}'s server was not ready within {SPAWN_TIMEOUT}s:\n{tail(hub.log)}")


def log_in(hub: Hub, name: str) -> requests.Session:
    """The login form, as a browser fills it in (with the form's XSRF token); a session with its cookies."""
    browser = requests.Session()
    browser.headers["Sec-Fetch-Mode"] = "navigate"  # page loads, as a browser marks them
    page = browser.get(f"{hub.url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
    form = {"username": name, "password": f"{name}-password", "_xsrf": xsrf.group(1) if xsrf else ""}
    reply = browser.post(f"{hub.url}/hub/login", data=form, timeout=60)
    assert reply.ok and "jupyterhub-session-id" in browser.cookies, f"{name} could not log in: {reply.status_code}"
    return browser


def follow_pull_link(hub: Hub, browser: requests.Session, link: str) -> str:
    """Open the nbgitpuller link, then run the pull its page starts; return the page it then opens.

    The link goes through the hub (``/hub/user-redirect``) to the learner's own server, whose page runs
    the pull through ``git-pull/api`` (an event stream) and then opens ``urlpath``; without a browser,
    this does the same two requests.
    """
    page = browser.get(link, timeout=120)
    assert page.ok and "/git-pull" in page.url and "/hub/" not in urlsplit(page.url).path, page.url
    fields = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    server = page.url.split("/git-pull", 1)[0]
    pull = {k: fields[k] for k in ("repo", "branch", "targetpath")}
    with browser.get(f"{server}/git-pull/api", params=pull, stream=True, timeout=300) as events:
        phases = [json.loads(line[6:]) for line in events.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert phases and phases[-1].get("phase") == "finished", phases[-3:]
    return f"{server}/{fields['urlpath']}"


def learner_token(hub: Hub, name: str) -> str:
    """A token for the learner's own server, as JupyterLab's requests carry the learner's identity."""
    return hub.api("POST", f"/users/{name}/tokens", json={"note": "course check"}).json()["token"]


@dataclass
class Kernel:
    """One notebook's kernel in a learner's server, spoken to over its websocket as JupyterLab does."""

    server: str
    token: str
    id: str
    connection: websocket.WebSocket
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    def execute(self, code: str) -> list[dict[str, Any]]:
        """Run ``code``; return its outputs (iopub messages) once the kernel is idle again."""
        msg_id = uuid.uuid4().hex
        self.connection.send(json.dumps(execute_request(code, msg_id, self.session)))
        outputs, deadline = [], time.monotonic() + CELL_TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(self.connection.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id or message.get("channel") != "iopub":
                continue
            kind = message["msg_type"]
            if kind == "status" and message["content"]["execution_state"] == "idle":
                return outputs
            if kind in ("stream", "error", "execute_result", "display_data"):
                outputs.append({"type": kind, **message["content"]})
        raise AssertionError(f"a cell ran longer than {CELL_TIMEOUT}s: {code[:80]!r}")


def execute_request(code: str, msg_id: str, session: str) -> dict[str, Any]:
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": {**content, "stop_on_error": True}}


@contextmanager
def notebook_kernel(server: str, token: str, path: str) -> Iterator[Kernel]:
    """A session for the notebook at ``path`` (its kernel runs in the notebook's folder), and its websocket."""
    auth = {"Authorization": f"token {token}"}
    body = {"path": path, "type": "notebook", "name": Path(path).name, "kernel": {"name": "python3"}}
    session = requests.post(f"{server}/api/sessions", json=body, headers=auth, timeout=120)
    session.raise_for_status()
    kernel_id = session.json()["kernel"]["id"]
    socket_url = server.replace("http://", "ws://", 1) + f"/api/kernels/{kernel_id}/channels"
    connection = websocket.create_connection(socket_url, header=[f"Authorization: token {token}"], timeout=CELL_TIMEOUT)
    try:
        yield Kernel(server, token, kernel_id, connection)
    finally:
        connection.close()


def notebook_cells(server: str, token: str, path: str) -> list[str]:
    """The code cells of a notebook, read from the learner's server (so, from their pulled copy)."""
    reply = requests.get(f"{server}/api/contents/{path}", headers={"Authorization": f"token {token}"}, timeout=60)
    reply.raise_for_status()
    return [cell["source"] for cell in reply.json()["content"]["cells"] if cell["cell_type"] == "code"]


def problems(outputs: list[dict[str, Any]]) -> list[str]:
    """Error outputs and anything written to stderr."""
    return [
        f"{o.get('ename')}: {o.get('evalue')}" if o["type"] == "error" else o.get("text", "")
        for o in outputs
        if o["type"] == "error" or (o["type"] == "stream" and o.get("name") == "stderr")
    ]


# --- memory ---------------------------------------------------------------------------------


def learner_processes(hub: Hub, name: str) -> list[psutil.Process]:
    """The learner's server process and everything it started (its kernels)."""
    for process in psutil.Process(hub.process.pid).children(recursive=True):
        with suppress(psutil.Error):
            if process.environ().get("JUPYTERHUB_USER") == name and "singleuser" in " ".join(process.cmdline()):
                return [process, *process.children(recursive=True)]
    raise AssertionError(f"no server process found for {name}")


def memory_mib(processes: list[psutil.Process]) -> tuple[float, float]:
    """(RSS, PSS) summed, in MiB. RSS counts shared libraries once per process (an upper bound); PSS shares them."""
    rss = pss = 0
    for process in processes:
        with suppress(psutil.Error):
            info = process.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20
