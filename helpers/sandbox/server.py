"""The sandbox server: a real HTTP server on loopback that speaks the Perplexity API.

Lifecycle in the manner of ``pytest-httpserver``: port 0 by default (the OS picks a free
one), a daemon thread, ``start()`` / ``stop()`` / ``is_running``, usable as a context manager,
and ``url_for(path)``. It checks ``Authorization: Bearer <key>`` as the real service does, never
logs or echoes the key, and answers every failure with a status and a body, never a traceback.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.sandbox import api
from helpers.sandbox.api import Reply, error_reply
from helpers.sandbox.faults import DEFAULT_DELAY_SECONDS, DELAY_HEADER, FAULT_HEADER, FAULTS, status_fault_reply

log = logging.getLogger("helpers.sandbox")

MAX_BODY_BYTES = 32 * 1024 * 1024
LEGACY_401_PAGE = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.25.3.1</center>\r\n"
    "</body>\r\n</html>\r\n"
)
ROUTES = {
    ("GET", "/v1/models"): ("models", False),
    ("POST", "/v1/agent"): ("agent", True),
    ("POST", "/v1/responses"): ("agent", True),
    ("POST", "/chat/completions"): ("legacy", True),
    ("POST", "/v1/chat/completions"): ("legacy", True),
}


class Sandbox:
    """A local Perplexity-compatible server. ``with Sandbox() as sb: sb.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fault: str | None = None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"Unknown fault '{fault}'. Faults: {', '.join(FAULTS)}.")
        self.host, self.port, self.fault = host, port, fault
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (use it as ``PERPLEXITY_BASE_URL``)."""
        if self._server is None:
            raise RuntimeError("The sandbox is not running: call start() first.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def start(self) -> Sandbox:
        if self._server is None:
            self._server = _Server((self.host, self.port), _Handler)
            self._server.default_fault = self.fault
            self._thread = threading.Thread(target=self._server.serve_forever, name="perplexity-sandbox", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.is_running else "stopped"
        return f"Sandbox({state})"


_shared: Sandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox() -> Sandbox:
    """One sandbox per process (per notebook kernel), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sandbox().start()
        return _shared


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    default_fault: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "perplexity-sandbox"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self.fault = self.headers.get(FAULT_HEADER) or self.server.default_fault
        try:
            reply = self._route(method)
        except Exception:  # the server never dies and never leaks a traceback
            log.exception("sandbox error on %s %s", method, self.path.split("?")[0])
            reply = error_reply(500, "Internal server error.", "internal_error")
        if reply is None:  # the "drop" fault: hang up without a word
            self.close_connection = True
            return
        self._send(reply)

    def _route(self, method: str) -> Reply | None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        target = ROUTES.get((method, path))
        if target is None:
            self._discard_body()
            if any(p == path for _, p in ROUTES):
                return error_reply(405, f"Method {method} is not allowed on {path}.", "method_not_allowed")
            return error_reply(404, f"No route for {method} {path}.", "not_found")
        name, needs_auth = target
        if needs_auth and (denied := self._check_auth(legacy=name == "legacy")):
            self._discard_body()
            return denied
        if name == "models":
            return api.list_models()
        body = self._read_json()
        if isinstance(body, Reply):
            return body
        fault = self._apply_fault()
        if fault is not None or self.fault == "drop":
            return fault
        if name == "agent":
            return api.agent(body, fail=self.fault == "failed")
        if self.fault == "failed":
            return error_reply(500, "Internal server error.", "internal_error")
        return api.chat_completions(body)

    def _apply_fault(self) -> Reply | None:
        """A reply that replaces the normal one, or None (after any pause) to answer normally."""
        if self.fault is None:
            return None
        if self.fault not in FAULTS:
            return error_reply(400, f"Unknown {FAULT_HEADER} '{self.fault}'. Faults: {', '.join(FAULTS)}.",
                               "invalid_request", FAULT_HEADER)
        if self.fault == "slow":
            time.sleep(_delay(self.headers.get(DELAY_HEADER)))
        return status_fault_reply(self.fault)

    def _check_auth(self, legacy: bool) -> Reply | None:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not _well_formed(key.strip()):
            if legacy:  # the real legacy endpoint answered with openresty's HTML page
                return Reply(401, LEGACY_401_PAGE, content_type="text/html")
            return error_reply(401, "Missing or invalid API key. Send 'Authorization: Bearer <key>'.", "unauthorized")
        if "revoked" in key:
            message = "This API key has been revoked. Create a new key in the API portal."
            return error_reply(401, message, "invalid_api_key")
        if "blocked" in key:
            return error_reply(403, "This API key is not allowed to use this API (no credits or blocked).", "forbidden")
        return None

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return error_reply(413, "Request body is larger than 32 MiB.", "payload_too_large")
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            return error_reply(400, "Request body is not valid JSON.", "invalid_request")

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        head = [f"{self.protocol_version} {reply.status} {HTTPStatus(reply.status).phrase}",
                f"Server: {self.server_version}", f"Content-Type: {reply.content_type}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if self.close_connection:
            head.append("Connection: close")
        self.log_request(reply.status)
        if reply.events is not None:
            self._send_stream(head, reply.events)
            return
        body = reply.payload()
        head.append(f"Content-Length: {len(body)}")
        # One write for head and body: written in pieces, keep-alive replies hit the 40 ms delayed-ACK stall.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _send_stream(self, head: list[str], events: list[bytes]) -> None:
        """Server-Sent Events as HTTP chunks, one event per chunk, flushed as it goes."""
        head += ["Cache-Control: no-cache", "Transfer-Encoding: chunked"]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
        cut = len(events) // 2 if self.fault == "truncate_stream" else None
        for event in events[:cut]:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        if cut is not None:  # hang up mid-answer: no terminal event, no closing chunk
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # The request line holds no key (keys travel in headers); log through logging, not stderr.
        log.info("%s %s", self.address_string(), format % args)


def _delay(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), 120.0) if value else DEFAULT_DELAY_SECONDS
    except ValueError:
        return DEFAULT_DELAY_SECONDS


def _well_formed(key: str) -> bool:
    return key.startswith("pplx-") and 20 <= len(key) <= 200 and key.isascii() and not any(c.isspace() for c in key)
