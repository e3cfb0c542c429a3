"""What several test modules share: the guide's requests, quick clients, loopback servers, keys and newman.

The sandbox's own tests have their own support module (``sandbox_tests/support.py``)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import select
import shutil
import socket
import socketserver
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Self

import pytest
import requests

from helpers.client import PerplexityClient
from helpers.connector import MAX_RESPONSE_BYTES
from helpers.exports import as_json
from helpers.settings import SANDBOX_DEMO_KEY
from perplexity_sandbox import Sandbox

# --- the guide's requests, as plain HTTP sends them ----------------------------------------

FAKE_KEY = "pplx-" + "t3st" * 12  # built at run time, so no key-shaped string sits in the source

AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}
GUIDE_QUESTION = "How many stars are there in our galaxy?"
GUIDE_AGENT = {
    "model": "perplexity/sonar",
    "input": GUIDE_QUESTION,
    "instructions": "Be precise and concise.",
    "tools": [{"type": "web_search"}],
}

OTHER_KEY = "k3y-" + "x9" * 10  # another vendor's key, built at run time


# --- clients and addresses ------------------------------------------------------------------


def fast_client(url: str, key: str = FAKE_KEY, **options: object) -> PerplexityClient:
    """A client whose retries take milliseconds (a 1 s Retry-After is then too long to wait for)."""
    settings = {"mode": "sandbox", "timeout": (1.0, 1.0), "retry_base_delay": 0.01, "retry_max_delay": 0.05, **options}
    return PerplexityClient(key, url, **settings)


def unused_url() -> str:
    """An address on this computer where nothing listens (the OS just freed the port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# --- loopback servers -----------------------------------------------------------------------


class ServedInThread:
    """``with server:`` serves from a daemon thread, and shuts down and closes the socket on leaving."""

    def __enter__(self) -> Self:
        Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class LoopbackServer(ServedInThread, ThreadingHTTPServer):
    """An HTTP server on a free loopback port, served from a daemon thread inside ``with``.

    Subclasses keep their state as attributes; their handler reaches it through ``self.server``.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class CannedServer(LoopbackServer):
    """A loopback server that gives every request the same reply: what a wrong base URL might answer."""

    def __init__(self, body: bytes, content_type: str, status: int = 200) -> None:
        super().__init__(_CannedHandler)
        self.reply = (body, content_type, status)


class _CannedHandler(BaseHTTPRequestHandler):
    server: CannedServer

    def do_POST(self) -> None:
        body, content_type, status = self.server.reply
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, *args: object) -> None:
        pass


class EchoServer(LoopbackServer):
    """A tiny loopback server that records each request and answers with what it received.

    ``GET /big`` answers with a body just over Creator Studio's 200 KB limit.
    """

    def __init__(self) -> None:
        super().__init__(_EchoHandler)
        self.requests: list[dict] = []


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        self.server.requests.append(record)
        payload = b"x" * (MAX_RESPONSE_BYTES + 10) if self.path == "/big" else json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path == "/big" else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


# --- a CONNECT proxy and a raw TCP target, on loopback --------------------------------------


class LoopbackTcpServer(ServedInThread, socketserver.ThreadingTCPServer):
    """A TCP server on a free loopback port, served from daemon threads inside ``with``.

    ``received`` holds, per connection, the bytes its handler recorded.
    """

    daemon_threads = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.received: list[bytes] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class TcpEcho(LoopbackTcpServer):
    """Records the first bytes of each connection and echoes them back; it speaks no TLS.

    An https client tunnelled to it fails its handshake, which is all a test of the tunnel needs,
    and ``received`` shows whether anything readable (a key) arrived.
    """

    def __init__(self) -> None:
        super().__init__(_EchoBytes)


class _EchoBytes(socketserver.BaseRequestHandler):
    server: TcpEcho

    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            data = self.request.recv(65536)
            self.server.received.append(data)
            self.request.sendall(data)
        except OSError:
            pass


class SilentServer(LoopbackTcpServer):
    """Accepts connections and never answers: a server (or a proxy, a firewall) that hangs."""

    def __init__(self) -> None:
        super().__init__(_Silent)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Silent(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass


class ConnectProxy(LoopbackTcpServer):
    """A tiny HTTP proxy that only tunnels: ``CONNECT host:port``, then bytes both ways.

    ``received`` holds, per connection, what the client sent before the tunnel opened (the CONNECT
    request and its headers, or a whole plain-http request, which is refused with 403): everything
    a proxy can read. It tunnels only to this computer.
    """

    def __init__(self) -> None:
        super().__init__(_Tunnel)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_lines(self) -> list[str]:
        """Method and target of each request, e.g. ``CONNECT 127.0.0.1:8443`` (the HTTP version left out)."""
        return [head.split(b"\r\n", 1)[0].decode("latin-1").rsplit(" ", 1)[0] for head in self.received]


class _Tunnel(socketserver.BaseRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(5)
        head = _read_head(client)
        self.server.received.append(head)
        method, target, *_ = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in ("127.0.0.1", "localhost") or not port.isdigit():
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(client, upstream)


def _read_head(sock: socket.socket) -> bytes:
    """The bytes up to the blank line that ends a request's headers (or all there is)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _pipe(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [one, other]
    while True:
        readable, _, _ = select.select(sockets, [], [], 5)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            (other if sock is one else one).sendall(data)


# --- newman, the Postman collection runner --------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
NEWMAN = ROOT / "dev" / "node_modules" / ".bin" / "newman"  # dev/package.json: the Node tools of the tests
NPM_TIMEOUT_SECONDS = 300


def newman() -> Path:
    """The newman of dev/package-lock.json; installed with ``npm ci`` once when missing.

    Where it cannot be installed (no npm, no network) the test skips with the reason, except in CI
    (``CI`` set), where a skipped consumer test would hide a broken export: there it fails.
    """
    problem = _install_newman()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"newman is needed in CI: {problem}")
        pytest.skip(f"newman is not installed: {problem} (`make test` installs it)")
    return NEWMAN


@functools.cache
def _install_newman() -> str:
    """Why newman is unavailable, or "" once it is there. Cached: ``npm ci`` is tried once per run."""
    if NEWMAN.exists():
        return ""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NEWMAN.parents[2],  # the folder of package.json, where npm ci puts node_modules/
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`npm ci` took longer than {NPM_TIMEOUT_SECONDS} seconds"
    if done.returncode != 0 or not NEWMAN.exists():
        return f"`npm ci` failed: {(done.stderr.strip().splitlines() or ['no message'])[-1]}"
    return ""


def run_newman(collection: dict, folder: Path, variables: dict[str, str]) -> dict:
    """Run a collection with newman; return its JSON report (the run's part)."""
    (folder / "collection.json").write_text(as_json(collection))
    report = folder / "report.json"
    command = [str(newman()), "run", str(folder / "collection.json"), "--reporters", "json"]
    command += ["--reporter-json-export", str(report)]
    for name, value in variables.items():
        command += ["--env-var", f"{name}={value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert report.exists(), f"newman wrote no report: {done.stderr or done.stdout}"
    return json.loads(report.read_text())["run"]


# --- learners of a class sandbox ---------------------------------------------------------------

CLASS_GUIDE = {"model": "perplexity/sonar", "input": "How many stars are there in our galaxy?"}
CLASS_RETIRED = {"model": "mistral-7b-instruct", "messages": [{"role": "user", "content": "Hi"}]}


def act_as(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Be the learner with this display name (what notebook 01's name box saves), on their own computer.

    Each learner has their own key file, beside the test's: that is where a kernel keeps the learner
    token the class sandbox gave it, and a learner's notebooks never see a classmate's. Their notebook
    setup found a class sandbox, so the progress reporter listens (tests/conftest.py stops it after the test).
    """
    from helpers import events, progress

    own = hashlib.sha256(name.encode()).hexdigest()[:12]
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(Path(os.environ["PERPLEXITY_ENV_FILE"]).parent / f"{own}.env"))
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", name)
    events.subscribe(progress.report_event)


def _post_demo(sandbox: Sandbox, path: str, body: dict) -> requests.Response:
    headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
    return requests.post(sandbox.url_for(path), headers=headers, json=body, timeout=5)


def play_three_learners(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ada finishes everything, Grace answers then hits an error, Linus only hits an error."""
    import helpers

    act_as(monkeypatch, "Ada")
    helpers.explain_response(_post_demo(sandbox, "/v1/agent", CLASS_GUIDE))
    helpers.run_test(helpers.guide_connector(SANDBOX_DEMO_KEY), helpers.agent_action(), send_to=sandbox.url)
    helpers.check_exercise("01.1", letter="B")
    act_as(monkeypatch, "Grace")
    helpers.explain_response(_post_demo(sandbox, "/v1/agent", CLASS_GUIDE))
    helpers.explain_response(_post_demo(sandbox, "/chat/completions", CLASS_RETIRED))
    act_as(monkeypatch, "Linus")
    helpers.explain_response(_post_demo(sandbox, "/chat/completions", CLASS_RETIRED))


# --- reading the doctor's report ---------------------------------------------------------------


def report_line(report: str, name: str) -> str:
    """The doctor's line for the check ``name`` (after its 9-character status column)."""
    (found,) = [text for text in report.splitlines() if text[9:].startswith(f"{name}:")]
    return found


def fix_under(report: str, name: str) -> str:
    """The fix the doctor printed under the line for ``name``."""
    lines = report.splitlines()
    return lines[lines.index(report_line(report, name)) + 1].strip()
