"""The sandbox's HTTP/1.1 connections, on tornado: strict request heads, a cap on connections, bounded waits.

tornado's ``HTTP1Connection`` does the protocol work on one event loop: it reads each request head within a
deadline (``header_timeout``), reads bodies by ``Content-Length`` or chunked coding (refusing ``0x`` or signed
chunk sizes and unterminated chunks), bounds the time a body may take (``body_timeout``) and keeps connections
alive. This module adds what a class sandbox needs around it:

- a stricter screen of each head, before anything is routed (:func:`screen_head`): framing another parser could
  read differently (``Content-Length`` with ``Transfer-Encoding``, two lengths, a length not in digits, a transfer
  coding other than one ``chunked``, ``Transfer-Encoding`` on HTTP/1.0) is a 400, too long a request line a 414,
  too many header fields a 431, an HTTP version other than 1.0 and 1.1 a 505;
- JSON answers where tornado would send a bare ``400`` or nothing, each followed by a half-close and a short,
  bounded drain (a "lingering close"), so that the client reads the answer instead of a connection reset;
- a cap on open connections that cannot lock a class out (:class:`ClassServer`): at the cap, a new connection
  takes the place of the one that has waited longest without work for the server (idle between requests, still
  sending its head or body, not taking its reply for ``stall_timeout``, or in a ``slow`` fault's pause); only
  when every connection is busy computing or sending a reply is the newcomer refused, at once, with a 503;
- the head deadline, the body deadline and the reply deadline, kept by one sweep a second over the connections
  that wait (tornado's own ``header_timeout`` and ``body_timeout`` cost a timer, chained futures and a task for
  every request). A reply's progress is seen piece by piece (:meth:`ClassServer.send`): a client that stops
  reading holds nothing for long, one that reads slowly keeps its connection.

Three tornado internals are extended, each small and present since tornado 5: ``HTTP1Connection._parse_headers``
and ``._read_body`` (to screen heads and turn protocol errors into answers) and
``HTTP1ServerConnection._server_request_loop`` (to read requests with that connection class); and one attribute,
``HTTP1Connection._disconnect_on_finish``, is read and set (whether the connection ends with this reply). Checked
with tornado 6.5 and 6.6.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

from tornado import gen, httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters, HTTP1ServerConnection
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError, UnsatisfiableReadError
from tornado.tcpserver import TCPServer

from perplexity_sandbox.keys import scrub
from perplexity_sandbox.limits import LINGER_SLOTS, BodyBudget, Limits
from perplexity_sandbox.replies import Reply, error_reply

log = logging.getLogger("perplexity_sandbox")

CHUNK_BYTES = 64 * 1024  # what tornado reads at a time, and hands to a request's body in one piece
SEND_PIECE_BYTES = 64 * 1024  # a reply the socket cannot take at once is queued in pieces: each one taken is progress
MAX_REQUEST_LINE = 64 * 1024  # longer: 414 (as http.server had it)
MAX_HEADER_FIELDS = 100  # more: 431 (as http.server had it)
MAX_HEAD_BYTES = 96 * 1024  # a head that has not ended by then is cut off without an answer (tornado stops reading)
LINGER_SECONDS = 5.0  # after a refusal, read and drop what the client still sends, this long at most
BACKLOG = 2048  # a class pressing Send at once must fit in the kernel's queue of connections not yet accepted
NO_BODY_LIMIT = 1 << 62  # tornado's own body limit, left open: the sandbox's is checked first, with a JSON 413
WARN_EVERY_SECONDS = 60.0
SWEEP_SECONDS = 1.0  # how often deadlines are checked: a deadline is kept to within this (or a quarter of it)
# The whole Content-Length: no sign, "_", "0x" or inner space (int() takes some); 18 digits keep int() safe.
_DIGITS = re.compile(r"[0-9]{1,18}")
_VERSIONED = re.compile(r"\S+ \S+ HTTP/[0-9]+\.[0-9]+")  # a request line whose only fault is its version
_ERROR_TYPES = {
    400: "invalid_request",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    503: "service_unavailable",
    505: "http_version_not_supported",
}


class RefusalError(Exception):
    """A request answered at once and then hung up on; what it still sends is read and dropped, unparsed."""

    def __init__(
        self,
        reply: Reply,
        method: str = "-",
        target: str = "-",
        log_line: Callable[[int | str, int], None] | None = None,
    ) -> None:
        super().__init__(reply.status)
        self.reply, self.method, self.target, self.log_line = reply, method, target, log_line


class RefusedBody(httputil.HTTPInputError):
    """A :class:`RefusalError` raised while a body arrives: tornado lets only its own error type through to us."""

    def __init__(self, refusal: RefusalError) -> None:
        super().__init__(str(refusal.reply.status))
        self.refusal = refusal


def refusal(status: int, message: str, method: str = "-", target: str = "-") -> RefusalError:
    return RefusalError(error_reply(status, message, _ERROR_TYPES.get(status, "invalid_request")), method, target)


# --- the head, screened ---------------------------------------------------------------------


def screen_head(data: bytes) -> tuple[str, httputil.HTTPHeaders]:
    """The request line and headers of a head, or a :class:`RefusalError` raised for one the sandbox will not route.

    Parsed with tornado's own public functions, as ``HTTP1Connection._parse_headers`` does; the checks are
    the sandbox's: they give each fault its own status and a sentence, where tornado has one bare 400.
    """
    text = data.decode("latin1").lstrip("\r\n")  # blank lines before a request are to be ignored (RFC 9112)
    line, _, fields = text.partition("\n")
    line = line.rstrip("\r")
    method, _, rest = line.partition(" ")
    target = rest.rpartition(" ")[0] or rest
    if len(line) > MAX_REQUEST_LINE:
        raise refusal(414, f"The request line is longer than {MAX_REQUEST_LINE // 1024} KiB.", method)
    try:
        start = httputil.parse_request_start_line(line)
    except httputil.HTTPInputError:
        if _VERSIONED.fullmatch(line):
            raise _unsupported_version(method, target) from None
        raise refusal(400, "Malformed request line: expected 'METHOD /path HTTP/1.1'.") from None
    if start.version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _unsupported_version(method, target)
    if fields.count("\n") - 1 > MAX_HEADER_FIELDS:
        raise refusal(431, f"The request has more than {MAX_HEADER_FIELDS} header fields.", method, target)
    try:
        headers = httputil.HTTPHeaders.parse(fields)
    except httputil.HTTPInputError:
        message = "Malformed header line: each is 'Name: value', in printable characters, none folded."
        raise refusal(400, message, method, target) from None
    lengths, codings = headers.get_list("Content-Length"), headers.get_list("Transfer-Encoding")
    if problem := framing_problem(lengths, codings, start.version == "HTTP/1.0"):
        raise refusal(400, problem, method, target)
    return line, headers


def framing_problem(lengths: list[str], codings: list[str], http10: bool) -> str | None:
    """Why a body with these Content-Length and Transfer-Encoding headers cannot be delimited safely, or None.

    Two parsers that delimit a body differently is how requests are smuggled, so each doubtful case is refused.
    """
    if lengths and codings:
        return "The request has both Content-Length and Transfer-Encoding: send only one."
    if len(lengths) > 1:  # strict: even identical copies are refused (RFC 9112 allows it)
        return "The request has more than one Content-Length header: send exactly one."
    if lengths and not _DIGITS.fullmatch(lengths[0].strip(" \t")):
        return "Content-Length must be a whole number of bytes, written in digits only."
    if codings and http10:
        return "HTTP/1.0 requests cannot use Transfer-Encoding: send a Content-Length."
    if codings and (len(codings) > 1 or codings[0].strip(" \t").lower() != "chunked"):
        return "Only a single 'Transfer-Encoding: chunked' is supported."
    return None


def _unsupported_version(method: str, target: str) -> RefusalError:
    return refusal(505, "Only HTTP/1.0 and HTTP/1.1 are supported.", method, target)


def _body_refusal(problem: httputil.HTTPInputError) -> RefusalError:
    """The answer to a body tornado could not read: the request's own refusal, or a malformed chunked body."""
    if isinstance(problem, RefusedBody):
        return problem.refusal
    return refusal(
        400,
        "Malformed chunked request body: each chunk is a size in hex digits (no extensions) and CRLF, "
        "then that many bytes and CRLF.",
    )


# --- replies on the wire --------------------------------------------------------------------


def head_lines(reply: Reply, *, close: bool, http10: bool) -> list[str]:
    """Status line and headers, without the framing ones (Content-Length, Transfer-Encoding).

    An HTTP/1.0 client keeps a connection only when the reply says ``keep-alive`` (else it reads until the server
    closes), so the header is written whenever the connection stays open for one.
    """
    lines = [
        f"HTTP/1.1 {reply.status} {phrase(reply.status)}",
        "Server: perplexity-sandbox",
        f"Content-Type: {reply.content_type}",
    ]
    lines += [f"{name}: {value}" for name, value in reply.headers.items()]
    if close:
        lines.append("Connection: close")
    elif http10:
        lines.append("Connection: keep-alive")
    return lines


def whole_reply(reply: Reply, *, close: bool, http10: bool = False, head_only: bool = False) -> tuple[bytes, int]:
    """A reply with a Content-Length, as one piece of bytes (and the size of its body as sent).

    One write for head and body: written in two, a keep-alive reply waits for the client's delayed ACK.
    """
    body = reply.payload()
    head = [*head_lines(reply, close=close, http10=http10), f"Content-Length: {len(body)}"]
    sent = b"" if head_only else body
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + sent, len(sent)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- the request log: one line per request, never the key ----------------------------------


def log_request(
    peer: str, method: str, target: str, status: int | str, size: int, started: float | None, key_id: str
) -> None:
    elapsed = (time.perf_counter() - started) * 1000 if started else 0.0
    log.info(
        '%s "%s %s" %s %d %.1fms %s', peer, printable(method)[:16], safe_path(target), status, size, elapsed, key_id
    )


def safe_path(target: str) -> str:
    """The path without its query (where keys sometimes end up), key-shaped words cut, printable."""
    return scrub(printable((target or "-").split("?", 1)[0]))[:200]


def printable(text: str) -> str:
    if text.isprintable():  # nearly always: one C call instead of a loop over the characters
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


# --- tornado, extended ----------------------------------------------------------------------


class StrictConnection(HTTP1Connection):
    """One request on a connection: tornado's HTTP/1.x, with the sandbox's screen of the head."""

    refusal: RefusalError | None = None

    def refuse(self, refusal: RefusalError) -> None:
        """Answer with ``refusal`` instead of reading the body (while the head is being handled)."""
        self.refusal = refusal

    @property
    def closes_after_reply(self) -> bool:
        """Whether the connection ends with this reply: the client asked for it, or :meth:`close_after_reply`."""
        return self._disconnect_on_finish

    def close_after_reply(self) -> None:
        self._disconnect_on_finish = True

    def _parse_headers(self, data: bytes) -> tuple[str, httputil.HTTPHeaders]:
        return screen_head(data)

    def _read_body(
        self, code: int, headers: httputil.HTTPHeaders, delegate: httputil.HTTPMessageDelegate
    ) -> Awaitable[None] | None:
        if self.refusal is not None:
            raise self.refusal
        try:
            reading = super()._read_body(code, headers, delegate)
        except httputil.HTTPInputError as problem:
            raise _body_refusal(problem) from None
        # Only a chunked body can fail as it is read (a Content-Length one has its room reserved beforehand).
        return self._screened(reading) if reading is not None and "Transfer-Encoding" in headers else reading

    async def _screened(self, reading: Awaitable[None]) -> None:
        # A RefusalError is not an HTTPInputError, so it leaves tornado's loop instead of becoming a bare 400.
        try:
            await reading
        except httputil.HTTPInputError as problem:
            raise _body_refusal(problem) from None


class ServerConnection(HTTP1ServerConnection):
    """A client's connection: its requests one after another, each read by a :class:`StrictConnection`."""

    def __init__(self, stream: IOStream, params: HTTP1ConnectionParameters, peer: str) -> None:
        super().__init__(stream, params, peer)
        self.peer = peer

    async def _server_request_loop(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        # tornado's own loop, reading with StrictConnection; a RefusalError is answered here, then the loop ends.
        server: ClassServer = delegate  # type: ignore[assignment]
        try:
            while True:
                request = StrictConnection(self.stream, False, self.params, self.peer)
                try:
                    still_open = await request.read_response(server.start_request(self, request))
                except RefusalError as refused:
                    server.refuse(self.stream, refused, self.peer)
                    return
                except (StreamClosedError, UnsatisfiableReadError, asyncio.CancelledError):
                    return
                except Exception as error:  # tornado logs these as "Uncaught exception"; ours go to the errors
                    server.record(error, f"connection from {self.peer}")
                    request.close()
                    return
                if not still_open:
                    return
                await asyncio.sleep(0)  # as tornado does: a client whose next request is already here lets others go
        finally:
            server.on_close(self)


ExchangeFactory = Callable[["ClassServer", ServerConnection, StrictConnection], httputil.HTTPMessageDelegate]


class ClassServer(TCPServer, httputil.HTTPServerConnectionDelegate):
    """Accepts connections up to the cap, serves each with an exchange per request, and closes all on demand.

    Used from its event loop's thread only. ``errors`` keeps every unexpected exception (each is also logged with
    its traceback on the ``perplexity_sandbox`` logger), so that none is lost.
    """

    def __init__(self, limits: Limits, exchange: ExchangeFactory) -> None:
        super().__init__(max_buffer_size=MAX_HEAD_BYTES + 4 * CHUNK_BYTES, read_chunk_size=CHUNK_BYTES)
        self.limits, self.exchange = limits, exchange
        # No header_timeout or body_timeout here: the sweep keeps both deadlines (see _sweep).
        self.params = HTTP1ConnectionParameters(
            chunk_size=CHUNK_BYTES, max_header_size=MAX_HEAD_BYTES, max_body_size=NO_BODY_LIMIT
        )
        self.cap = limits.connection_cap()
        self.budget = BodyBudget(limits.max_total_body_size)
        self.connections: set[ServerConnection] = set()
        # Connections without work for the server, each kind longest-waiting first (dicts keep insertion order):
        self.heads: dict[ServerConnection, float] = {}  # waiting for a request head, since (loop time)
        self.bodies: dict[ServerConnection, float] = {}  # waiting for the rest of a body, since
        self.pauses: dict[ServerConnection, None] = {}  # in a slow fault's pause
        self.sends: dict[ServerConnection, float] = {}  # a reply queued for the client to take, since its last progress
        self.lingering: set[IOStream] = set()
        self.tasks: set[asyncio.Task] = set()
        self.errors: list[BaseException] = []
        self.replaced = self.refused = 0
        self._worker: ThreadPoolExecutor | None = None
        self._warned_at = -WARN_EVERY_SECONDS
        self._now = IOLoop.current().time
        period = min(SWEEP_SECONDS, limits.head_timeout / 4, limits.idle_timeout / 4)
        self._sweeper = PeriodicCallback(self._sweep, period * 1000)
        self._sweeper.start()

    # --- connections ------------------------------------------------------------------------

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        peer = str(address[0]) if isinstance(address, tuple) and address else "-"
        if not self._make_room():
            self._refuse_busy(stream)
            return
        connection = ServerConnection(stream, self.params, peer)
        self.connections.add(connection)
        connection.start_serving(self)

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        connection: ServerConnection = server_conn  # type: ignore[assignment]
        self.waiting(connection, self.heads)
        return self.exchange(self, connection, request_conn)  # type: ignore[arg-type]

    def on_close(self, server_conn: object) -> None:
        connection: ServerConnection = server_conn  # type: ignore[assignment]
        self.connections.discard(connection)
        self.working(connection)

    def waiting(self, connection: ServerConnection, kind: dict) -> None:
        """Mark a connection as waiting on its client (``heads``, ``bodies`` or ``pauses``): replaceable at the cap."""
        self.working(connection)
        if connection in self.connections:
            kind[connection] = self._now()

    def working(self, connection: ServerConnection) -> None:
        """Mark a connection as busy: computing or sending a reply. It is never replaced."""
        self.heads.pop(connection, None)
        self.bodies.pop(connection, None)
        self.pauses.pop(connection, None)
        self.sends.pop(connection, None)

    def send(self, connection: ServerConnection, data: bytes) -> bool:
        """Write ``data`` to ``connection``; True when it has all left at once.

        Straight to the socket when nothing waits before it in the stream: tornado's write path costs a future and
        callbacks per call, and a class streams thousands of small events a second. What the socket does not take
        at once is queued in the stream, behind nothing (so the order holds), in pieces of SEND_PIECE_BYTES: each
        piece the client takes is progress (:meth:`_progressed`), and a reply without progress for
        ``stall_timeout`` makes its connection replaceable at the cap, for ``idle_timeout`` closes it.
        """
        stream = connection.stream
        if stream.closed():
            return False
        sent = 0
        if not stream.writing():  # else earlier data still queued in the stream: keep the order
            try:
                sent = stream.socket.send(data)
            except BlockingIOError:
                pass
            except OSError:  # reset or gone: the stream notices and ends
                stream.close()
                return False
            if sent == len(data):
                return True
        rest = memoryview(data)[sent:]
        for start in range(0, len(rest), SEND_PIECE_BYTES):
            if stream.closed():  # a write can find the connection reset, and then it is over
                return False
            piece = stream.write(rest[start : start + SEND_PIECE_BYTES])
            piece.add_done_callback(lambda written: self._progressed(connection, written))
        if connection in self.connections and connection not in self.sends:
            self.sends[connection] = self._now()
        return False

    def _progressed(self, connection: ServerConnection, written: asyncio.Future) -> None:
        """A piece of a reply has been taken: the clock of the connection's reply starts again, if more is queued."""
        if written.cancelled() or written.exception() is not None or connection not in self.sends:
            return  # closed, or done with its reply
        del self.sends[connection]  # and back at the end: the dict stays in order of last progress
        if connection.stream.writing():
            self.sends[connection] = self._now()

    def _hang_up(self, connection: ServerConnection) -> None:
        self.on_close(connection)
        connection.stream.close()

    def _sweep(self) -> None:
        """Close connections past the head deadline, whose body stopped coming, or whose reply is not being taken
        (each kind oldest first, so the sweep stops early)."""
        now = self._now()
        for kind, allowed in (
            (self.heads, self.limits.head_timeout),
            (self.bodies, self.limits.idle_timeout),
            (self.sends, self.limits.idle_timeout),
        ):
            while kind:
                connection, since = next(iter(kind.items()))
                if now - since < allowed:
                    break
                self._hang_up(connection)

    def _make_room(self) -> bool:
        """True when a new connection may be served: below the cap, or after closing one that only waits."""
        if len(self.connections) + len(self.lingering) < self.cap:
            return True
        self._warn_at_cap()
        if self.lingering:  # a refused client being given time to read its answer: the least useful
            self.lingering.pop().close()
            return True
        for kind in (self.heads, self.bodies, self._stalled(), self.pauses):
            if kind:
                self._hang_up(next(iter(kind)))
                self.replaced += 1
                return True
        return False

    def _stalled(self) -> dict[ServerConnection, float]:
        """The connection whose reply has gone longest without progress, if that is ``stall_timeout`` or more.

        Its client has stopped reading (or reads next to nothing): it holds a place without using it, like an idle
        connection. One that is still taking its reply, however slowly, keeps its place.
        """
        if self.sends:
            connection, since = next(iter(self.sends.items()))
            if self._now() - since >= self.limits.stall_timeout:
                return {connection: since}
        return {}

    def _warn_at_cap(self) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "%d connections open, the cap: a new one replaces the longest-waiting idle one, or gets a 503 "
                "when all are busy (replaced so far: %d, refused: %d).",
                self.cap,
                self.replaced,
                self.refused,
            )

    # --- refusals: answer, half-close, drain a little, close -------------------------------

    def refuse(self, stream: IOStream, refused: RefusalError, peer: str) -> None:
        data, size = whole_reply(refused.reply, close=True, head_only=refused.method == "HEAD")
        if refused.log_line is not None:
            refused.log_line(refused.reply.status, size)
        else:
            log_request(peer, refused.method, refused.target, refused.reply.status, size, None, "-")
        self._linger(stream, data)

    def _refuse_busy(self, stream: IOStream) -> None:
        self.refused += 1
        message = f"The sandbox is serving its maximum of {self.cap} connections, all busy: retry in a moment."
        reply = error_reply(503, message, "service_unavailable")
        reply.headers["Retry-After"] = "1"
        self._linger(stream, whole_reply(reply, close=True)[0])

    def _linger(self, stream: IOStream, data: bytes) -> None:
        if stream.closed():
            return
        if len(self.lingering) >= LINGER_SLOTS:  # no time to spare: the answer, then the end
            stream.write(data).add_done_callback(lambda _: stream.close())
            return
        self.lingering.add(stream)
        self.spawn(self._drain(stream, data))

    async def _drain(self, stream: IOStream, data: bytes) -> None:
        """Write the answer, half-close, and read what still comes until the client closes or time is up.

        Closing with unread data would reset the connection, and a reset can destroy the answer before the
        client reads it (it is typically still sending the body that was refused).
        """
        deadline = IOLoop.current().time() + LINGER_SECONDS
        try:
            await gen.with_timeout(deadline, stream.write(data), quiet_exceptions=StreamClosedError)
            stream.socket.shutdown(socket.SHUT_WR)
            while True:
                reading = stream.read_bytes(CHUNK_BYTES, partial=True)
                await gen.with_timeout(deadline, reading, quiet_exceptions=StreamClosedError)
        except (StreamClosedError, TimeoutError, OSError, AttributeError):
            pass  # AttributeError: the stream was closed, its socket is gone
        finally:
            stream.close()
            self.lingering.discard(stream)

    # --- work beside the connections -------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping it until it ends (``stop`` cancels what is left)."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.record(task.exception(), "a reply in progress")

    async def in_worker(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` in the one worker thread: a large body's parsing does not stall the other clients.

        One thread, not more: large bodies are answered one at a time, so only one is ever expanded in memory.
        """
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perplexity-sandbox-worker")
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, *args)

    def record(self, error: BaseException, where: str) -> None:
        self.errors.append(error)
        log.error("sandbox error in %s", where, exc_info=(type(error), error, error.__traceback__))

    async def close_all(self) -> None:
        """Stop listening and hang up on every connection at once, keep-alive and lingering ones included."""
        self.stop()
        self._sweeper.stop()
        for connection in list(self.connections):
            connection.stream.close()
        for stream in list(self.lingering):
            stream.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
