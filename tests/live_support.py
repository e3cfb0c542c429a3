"""A drifted "live API" for the tests of ``check-live`` and ``make test-live`` (issue 22), on loopback.

:class:`DriftedServer` is the live API on the day it changed: a proxy to a sandbox that alters what the sandbox
answers (a model gone, ``usage.cost`` dropped, a stream event renamed, another error code, a new field).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import requests

from tests.support import LoopbackServer

DROPPED_MODEL = "openai/gpt-5.5"
RENAMED_EVENT = ("response.output_text.delta", "response.text.delta")
AGENT_PATHS = ("/v1/agent", "/v1/responses")  # the official SDKs post to the alias
# Another key-shaped word the drifted server echoes: redaction must catch keys nobody named too.
STRAY_KEY = "pplx-" + "str4y" * 10


class DriftedServer(LoopbackServer):
    """The live API on the day it changed: a proxy to a sandbox that alters what the sandbox answers.

    It also echoes the Authorization header it received, and a stray key-shaped word, in a response header
    and in the Agent API answer: a record of what "live" answered must still hold no key.
    """

    def __init__(self, upstream: str, *, legacy_removed: bool = False) -> None:
        super().__init__(_DriftHandler)
        self.upstream = upstream
        # The day public chat completions end: the guide's endpoint is a web server's HTML "404 Not Found".
        self.legacy_removed = legacy_removed


class _DriftHandler(BaseHTTPRequestHandler):
    server: DriftedServer

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with requests.Session() as session:
            session.trust_env = False
            upstream = session.request(
                self.command,
                self.server.upstream + self.path,
                data=body,
                headers={"Content-Type": "application/json", "Authorization": "Bearer pplx-sandbox-demo-key"},
                timeout=10,
            )
        content_type = upstream.headers.get("Content-Type", "")
        status, payload = self._drift(upstream.status_code, upstream.content, content_type)
        if self.server.legacy_removed and self.path == "/chat/completions":
            status, payload, content_type = 404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Echo", f"{self.headers.get('Authorization')} {STRAY_KEY}")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward  # noqa: N815 - http.server's names

    def _drift(self, status: int, payload: bytes, content_type: str) -> tuple[int, bytes]:
        if content_type.startswith("text/event-stream"):
            old, new = RENAMED_EVENT
            return status, payload.replace(old.encode(), new.encode())
        body = json.loads(payload)
        if self.path == "/v1/models":
            body["data"] = [model for model in body["data"] if model["id"] != DROPPED_MODEL]
        elif self.path in AGENT_PATHS and isinstance(body.get("usage"), dict):
            del body["usage"]["cost"]
            body["usage"]["search_context_size"] = "low"  # a field only live sends: reported, not failed
            body["echo"] = f"{self.headers.get('Authorization')} {STRAY_KEY}"
        elif self.path == "/chat/completions" and "error" in body:
            status = 422
            body["error"].update(type="invalid_request", code=422)
        return status, json.dumps(body).encode()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass
