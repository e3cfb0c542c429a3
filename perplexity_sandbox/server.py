"""The sandbox server: a real HTTP server on loopback that speaks the Perplexity API.

Lifecycle in the manner of ``pytest-httpserver``: port 0 by default (the OS picks a free
one), a daemon thread, ``start()`` / ``stop()`` / ``is_running``, usable as a context manager,
and ``url_for(path)``. It checks ``Authorization: Bearer <key>`` as the real service does, never
logs or echoes the key, and answers every failure with a status and a JSON error body, never a
traceback: bad JSON (400), a wrong content type (415), a body over 32 MiB (413, without reading
it), an unknown path (404), a wrong method (405), a malformed request line or header (400/431).
JSON nested deeper than 64 levels, a lone surrogate escape, NaN or Infinity: 400 (see
:func:`perplexity_sandbox.validation.parse_body`).

Framing is strict, because two parsers that delimit a body differently is how requests are smuggled:
a request with both ``Content-Length`` and ``Transfer-Encoding``, more than one ``Content-Length``
(even with identical values: refused, the strict choice RFC 9112 allows), a length that is not plain
digits (``+5``, ``5x``, ``1_0``), a transfer coding other than one ``chunked``, a chunk size that is
not plain hex (``0x5``, ``+5``, `` 5``), chunk data not followed by CRLF, or ``Transfer-Encoding`` on
an HTTP/1.0 request is a 400, checked before routing; the connection is then closed.

HTTP/1.0 clients: ``Connection: Keep-Alive`` is honoured and answered with ``Connection: keep-alive``
and a ``Content-Length``; a streamed reply, which HTTP/1.0 cannot chunk, is a body that ends when the
connection closes (``Connection: close``).

Logging: one line per request on the ``perplexity_sandbox`` logger (client, method, path without
query, status, bytes, milliseconds, and ``key#<8 hex>``, a one-way fingerprint, never the key).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from perplexity_sandbox import api
from perplexity_sandbox.faults import DEFAULT_DELAY_SECONDS, DELAY_HEADER, FAULT_HEADER, FAULTS, status_fault_reply
from perplexity_sandbox.keys import is_well_formed, key_fingerprint, scrub
from perplexity_sandbox.replies import RejectedRequestError, Reply, error_reply
from perplexity_sandbox.validation import parse_body

log = logging.getLogger("perplexity_sandbox")

MAX_BODY_BYTES = 32 * 1024 * 1024
SKIP_BODY_BYTES = 1024 * 1024  # an unwanted body up to this size is read and dropped, keeping the connection
IDLE_TIMEOUT_SECONDS = 75.0  # a keep-alive connection idle this long is closed (nginx's default)
POLL_SECONDS = 0.05
LINGER_SECONDS = 5.0  # after a 413, keep reading (and dropping) this long so the client sees the answer
LEGACY_401_PAGE = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.25.3.1</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# The whole Content-Length: no sign, "_", "0x" or inner space (int() takes some); 18 digits keep int() safe.
_DIGITS = re.compile(r"[0-9]{1,18}")
# A chunk-size line: hex digits only (int(x, 16) would also take "0x5", "+5", " 5", "1_0"), an optional extension.
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
ROUTES = {
    ("GET", "/v1/models"): ("models", False),
    ("POST", "/v1/agent"): ("agent", True),
    ("POST", "/v1/responses"): ("agent", True),
    ("POST", "/chat/completions"): ("legacy", True),
    ("POST", "/v1/chat/completions"): ("legacy", True),
}
_ERROR_TYPES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "request_rate_limit_exceeded",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class Sandbox:
    """A local Perplexity-compatible server. ``with Sandbox() as sb: sb.url``.

    ``fault``: fail every request this way (see :mod:`perplexity_sandbox.faults`).
    ``rate_limit``: at most this many requests per second per key, then 429 with ``Retry-After``.
    ``stream_delay``: seconds between streamed events, to make streaming visible (default 0).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fault: str | None = None,
        rate_limit: float | None = None,
        stream_delay: float = 0.0,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"Unknown fault '{fault}'. Faults: {', '.join(FAULTS)}.")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be a positive number of requests per second per key.")
        if stream_delay < 0:
            raise ValueError("stream_delay must be zero or a positive number of seconds.")
        self.host, self.port, self.fault = host, port, fault
        self.rate_limit, self.stream_delay = rate_limit, stream_delay
        self._server: _Server | None = None
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
            self._server.limiter = _RateLimiter(self.rate_limit) if self.rate_limit else None
            self._server.stream_delay = self.stream_delay
            # A short poll interval makes stop() quick (tests start and stop many sandboxes).
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(POLL_SECONDS,), name="perplexity-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and hang up on every open connection (keep-alive ones included)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
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


# The notebooks' sandbox streams at a readable pace, so a learner sees the answer arrive.
NOTEBOOK_STREAM_DELAY = 0.04


def shared_sandbox(port: int = 0) -> Sandbox:
    """One sandbox per process (per notebook kernel), started on first use on ``port`` (0: a free one).

    A fixed port is for recording notebooks: outputs that show the URL are then the same on every run.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sandbox(port=port, stream_delay=NOTEBOOK_STREAM_DELAY).start()
        return _shared


# --- server internals ---------------------------------------------------------------------


class _RateLimiter:
    """At most ``per_second`` requests per key in any rolling second."""

    def __init__(self, per_second: float) -> None:
        self.limit = max(1, math.floor(per_second))
        self.window = self.limit / per_second  # e.g. 0.5/s -> 1 request per 2 s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_needed(self, key_id: str) -> float:
        """0 when the request may go ahead (and counts it), else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            times = self._seen.setdefault(key_id, deque())
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                return self.window - (now - times[0])
            times.append(now)
            return 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # 64 clients connecting at once must not overflow the listen backlog
    default_fault: str | None = None
    limiter: _RateLimiter | None = None
    stream_delay: float = 0.0

    def server_activate(self) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal; one line at debug level, no traceback on stderr.
        log.debug("connection from %s ended: %r", client_address[0], sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "perplexity-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True  # streamed events go out at once, not after the 40 ms delayed ACK
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def __getattr__(self, name: str) -> Any:
        # Every method (GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD, ...) goes through one router,
        # so a wrong method is a JSON 405 rather than the standard library's HTML 501 page.
        if name.startswith("do_"):
            return lambda: self._dispatch(name[3:])
        raise AttributeError(name)

    # --- one request ----------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        self._started, self._key_id, self._linger = time.perf_counter(), "-", False
        self.fault = self.headers.get(FAULT_HEADER) or self.server.default_fault
        try:
            reply = self._route(method)
        except OSError:  # the client went away or stalled mid-body: nobody to answer
            self.close_connection = True
            return
        except Exception:  # the server never dies and never leaks a traceback
            log.exception("sandbox error on %s %s", method, self._safe_path())
            self.close_connection = True
            reply = error_reply(500, "Internal server error.", "internal_error")
        if reply is None:  # the "drop" fault: hang up without a word
            self.close_connection = True
            self._log_line("dropped", 0)
            return
        self._send(reply)
        if self._linger:
            self._drain_and_close()

    def _route(self, method: str) -> Reply | None:
        if (refused := self._check_framing()) is not None:
            return refused
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        target = ROUTES.get((method, path))
        if target is None:
            self._skip_body()
            return _no_route(method, path)
        name, needs_auth = target
        if needs_auth and (refused := self._check_auth(legacy=name == "legacy")):
            self._skip_body()
            return refused
        if name == "models":  # a body is not expected, but one may come: read it, or it would pass for the next request
            self._skip_body()
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
            return error_reply(
                400,
                f"Unknown {FAULT_HEADER} '{self.fault}'. Faults: {', '.join(FAULTS)}.",
                "invalid_request",
                FAULT_HEADER,
            )
        if self.fault == "slow":
            time.sleep(_delay(self.headers.get(DELAY_HEADER)))
        return status_fault_reply(self.fault)

    def _check_auth(self, legacy: bool) -> Reply | None:
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not is_well_formed(key):
            if legacy:  # the real legacy endpoint answered with openresty's HTML page
                return Reply(401, LEGACY_401_PAGE, content_type="text/html")
            return error_reply(401, "Missing or invalid API key. Send 'Authorization: Bearer <key>'.", "unauthorized")
        self._key_id = key_fingerprint(key)
        if "revoked" in key:
            message = "This API key has been revoked. Create a new key in the API portal."
            return error_reply(401, message, "invalid_api_key")
        if "blocked" in key:
            return error_reply(403, "This API key is not allowed to use this API (no credits or blocked).", "forbidden")
        return self._check_rate(self._key_id)

    def _check_rate(self, key_id: str) -> Reply | None:
        wait = self.server.limiter.wait_needed(key_id) if self.server.limiter else 0.0
        if not wait:
            return None
        reply = error_reply(
            429,
            f"Rate limit exceeded: at most {self.server.limiter.limit} requests per "
            f"{self.server.limiter.window:g} s per key. Retry after a short wait.",
            "request_rate_limit_exceeded",
        )
        reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        reply.headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return reply

    # --- request bodies -------------------------------------------------------------------

    def _read_json(self) -> Any:
        """The JSON body, or the error reply for a body that is too big, not JSON, or unreadable."""
        media_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            self._skip_body()
            return error_reply(
                415,
                f"Content-Type '{media_type}' is not supported: send the body as JSON with "
                "'Content-Type: application/json'.",
                "unsupported_media_type",
            )
        raw = self._read_body()
        if isinstance(raw, Reply):
            return raw
        try:
            return parse_body(raw)
        except RejectedRequestError as rejected:
            return rejected.reply

    def _check_framing(self) -> Reply | None:
        """A 400 for a body whose end another parser could place elsewhere (see the module docstring)."""
        problem = _framing_problem(
            self.headers.get_all("Content-Length") or [],
            self.headers.get_all("Transfer-Encoding") or [],
            self._http10(),
        )
        if problem is None:
            return None
        self.close_connection = self._linger = True  # what follows the head cannot be trusted as a request
        return error_reply(400, problem, "invalid_request")

    def _read_body(self) -> bytes | Reply:
        if self.headers.get("Transfer-Encoding"):
            return self._read_chunked()
        length = self._declared_length()
        if isinstance(length, Reply):
            return length
        if length > MAX_BODY_BYTES:  # answered from the header alone: the body is never read into memory
            self.close_connection = self._linger = True
            return error_reply(413, "Request body is larger than 32 MiB.", "payload_too_large")
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            self.close_connection = True
            return error_reply(400, "The request body is shorter than its Content-Length.", "invalid_request")
        return raw

    def _declared_length(self) -> int:
        """The Content-Length, already checked by :meth:`_check_framing` (plain digits, one header)."""
        return int(self.headers.get("Content-Length", "").strip(" \t") or 0)

    def _read_chunked(self) -> bytes | Reply:
        parts, total = [], 0
        while size := self._chunk_size():
            if size < 0:
                return self._malformed_chunks()
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = self._linger = True
                return error_reply(413, "Request body is larger than 32 MiB.", "payload_too_large")
            parts.append(self.rfile.read(size))
            if len(parts[-1]) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                return self._malformed_chunks()  # cut short, or the size did not match the data
        while self.rfile.readline(1024).strip():  # trailers, up to the blank line
            pass
        return b"".join(parts)

    def _chunk_size(self) -> int:
        """The next chunk's size, or -1 when its line is not strictly ``HEX[;extension]CRLF``."""
        line = _CHUNK_LINE.fullmatch(self.rfile.readline(1024))
        return int(line[1], 16) if line else -1

    def _malformed_chunks(self) -> Reply:
        self.close_connection = self._linger = True
        return error_reply(
            400,
            "Malformed chunked request body: each chunk is a hex size line, then that many bytes, then CRLF.",
            "invalid_request",
        )

    def _skip_body(self) -> None:
        """Drop a body we will not use: read a small one (keeping the connection), else hang up after answering."""
        length = self._declared_length() if not self.headers.get("Transfer-Encoding") else None
        if length is not None and length <= SKIP_BODY_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = self._linger = True

    def _drain_and_close(self) -> None:
        """Half-close, then read and drop what the client still sends, so it can read our answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(1 << 16):
                pass
        except OSError:
            pass

    # --- replies --------------------------------------------------------------------------

    def _send(self, reply: Reply) -> None:
        head = [
            f"{self.protocol_version} {reply.status} {_phrase(reply.status)}",
            f"Server: {self.server_version}",
            f"Content-Type: {reply.content_type}",
        ]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        head += self._connection_header(streamed=reply.events is not None)
        if reply.events is not None:
            self._send_stream(head, reply.events)
            return
        body = reply.payload()
        head.append(f"Content-Length: {len(body)}")
        if getattr(self, "command", None) == "HEAD":
            body = b""
        self._log_line(reply.status, len(body))  # before the last write, so the line exists once the client has it
        # One write for head and body: written in pieces, keep-alive replies hit the 40 ms delayed-ACK stall.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _connection_header(self, streamed: bool) -> list[str]:
        """The Connection header, deciding first whether the connection ends with this reply.

        An HTTP/1.0 client keeps a connection only when the reply says ``keep-alive`` (else it reads until
        the server closes), and cannot read chunked encoding, so a stream to it ends by closing.
        """
        if streamed and self._http10():
            self.close_connection = True
        if self.close_connection:
            return ["Connection: close"]
        return ["Connection: keep-alive"] if self._http10() else []

    def _http10(self) -> bool:
        """True for an HTTP/1.0 (or 0.9) request: no chunked encoding either way, keep-alive only on request."""
        major, _, minor = getattr(self, "request_version", "HTTP/0.9").removeprefix("HTTP/").partition(".")
        return not (major.isdigit() and minor.isdigit()) or (int(major), int(minor)) < (1, 1)

    def _send_stream(self, head: list[str], events: list[bytes]) -> None:
        """Server-Sent Events written as they go: one HTTP chunk each, or for HTTP/1.0 a close-delimited body."""
        chunked = not self._http10()
        head += ["Cache-Control: no-cache", *(["Transfer-Encoding: chunked"] if chunked else [])]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
        cut = len(events) // 2 if self.fault == "truncate_stream" else None
        sent = 0
        for n, event in enumerate(events[:cut]):
            if n and self.server.stream_delay:
                time.sleep(self.server.stream_delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
            sent += len(event)
        if cut is not None:  # hang up mid-answer: no terminal event, no closing chunk
            self.close_connection = True
            self._log_line("200 truncated", sent)
            return
        self._log_line(200, sent)
        if chunked:  # the closing chunk; an HTTP/1.0 body ends when the connection closes
            self.wfile.write(b"0\r\n\r\n")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own rejections (bad request line, huge headers...) as JSON errors."""
        self.close_connection = True
        self._started, self._key_id = getattr(self, "_started", time.perf_counter()), "-"
        text = f"{_phrase(code)}: {message}." if message else f"{_phrase(code)}."
        self._send(error_reply(code, text, _ERROR_TYPES.get(code, "invalid_request")))

    # --- logging: one line per request, never the key -------------------------------------

    def _log_line(self, status: int | str, size: int) -> None:
        elapsed = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
        method = getattr(self, "command", None) or "-"
        log.info(
            '%s "%s %s" %s %d %.1fms %s',
            self.client_address[0],
            _printable(method)[:16],
            self._safe_path(),
            status,
            size,
            elapsed,
            getattr(self, "_key_id", "-"),
        )

    def _safe_path(self) -> str:
        """The path without its query (where keys sometimes end up), key-shaped words cut, printable."""
        return scrub(_printable((getattr(self, "path", None) or "-").split("?", 1)[0]))[:200]

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Replaced by :meth:`_log_line`, which knows the duration and the key's fingerprint."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.client_address[0], scrub(_printable(format % args)))


def _no_route(method: str, path: str) -> Reply:
    allowed = sorted(m for m, p in ROUTES if p == path)
    shown = scrub(_printable(path))[:200]
    if not allowed:
        return error_reply(404, f"No route for {_printable(method)[:16]} {shown}.", "not_found")
    reply = error_reply(
        405,
        f"Method {_printable(method)[:16]} is not allowed on {shown}: use {' or '.join(allowed)}.",
        "method_not_allowed",
    )
    reply.headers["Allow"] = ", ".join(allowed)
    return reply


def _framing_problem(lengths: list[str], codings: list[str], http10: bool) -> str | None:
    """Why a body with these Content-Length and Transfer-Encoding headers cannot be delimited safely, or None."""
    if lengths and codings:
        return "The request has both Content-Length and Transfer-Encoding: send only one."
    if len(lengths) > 1:  # strict: even identical copies are refused
        return "The request has more than one Content-Length header: send exactly one."
    if lengths and not _DIGITS.fullmatch(lengths[0].strip(" \t")):
        return "Content-Length must be a whole number of bytes, written in digits only."
    if codings and http10:
        return "HTTP/1.0 requests cannot use Transfer-Encoding: send a Content-Length."
    if codings and (len(codings) > 1 or codings[0].strip(" \t").lower() != "chunked"):
        return "Only a single 'Transfer-Encoding: chunked' is supported."
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _delay(value: str | None) -> float:
    try:
        seconds = float(value) if value else DEFAULT_DELAY_SECONDS
    except ValueError:
        return DEFAULT_DELAY_SECONDS
    return min(max(seconds, 0.0), 120.0) if math.isfinite(seconds) else DEFAULT_DELAY_SECONDS
