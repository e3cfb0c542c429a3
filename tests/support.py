"""What several test modules share: the guide's requests, quick clients, loopback servers and keys.

The sandbox's own tests have their own support module (``sandbox_tests/support.py``)."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Self

from helpers.client import PerplexityClient
from helpers.connector import MAX_RESPONSE_BYTES

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


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on a free loopback port, served from a daemon thread inside ``with``.

    Subclasses keep their state as attributes; their handler reaches it through ``self.server``.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


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
