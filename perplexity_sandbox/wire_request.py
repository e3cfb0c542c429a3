"""A client's connection to the HTTP server: its requests one after another, each from its head to its answer.

For each request, :class:`WireRequest` reads the head (screened by :mod:`perplexity_sandbox.http1`), asks the
core (:mod:`perplexity_sandbox.core`) what the head alone decides, reads the body within the limits (413, and the
class-wide body budget: 503), asks the core for the answer (in the worker thread when the body is much JSON work),
and writes it: whole, or as Server-Sent Events at the sandbox's pace. What can be answered from the head alone is
answered at once, before the body: a small body (up to 1 MiB) is then read and dropped, so the connection stays
usable; a larger or chunked one is drained unread and the connection closed. Every request leaves one line on the
``perplexity_sandbox`` logger, with ``key#<8 hex>`` and never the key.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING

from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError, UnsatisfiableReadError

from perplexity_sandbox.core import (
    Admission,
    EventStream,
    HangUp,
    Outcome,
    SandboxRequest,
    SandboxResponse,
    response_of,
)
from perplexity_sandbox.http1 import (
    RefusalError,
    declared_length,
    head_lines,
    keeps_alive,
    log_request,
    read_body,
    read_head,
    screen_head,
    whole_reply,
)
from perplexity_sandbox.limits import MiB
from perplexity_sandbox.pacer import PacedStream
from perplexity_sandbox.replies import error_reply
from perplexity_sandbox.validation import fits_on_the_loop

if TYPE_CHECKING:
    from perplexity_sandbox.capped_server import CappedServer

SKIP_BODY_BYTES = 1 * MiB  # an unwanted body up to this size is read and dropped, keeping the connection
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connection:
    """One client's connection: reads its requests one at a time, and ends when one of them ends it."""

    def __init__(self, server: CappedServer, stream: IOStream, peer: str) -> None:
        self.server, self.stream, self.peer = server, stream, peer
        self.reply_done: asyncio.Future | None = None  # set when a streamed reply ends, or the connection does
        stream.set_close_callback(self._closed)

    async def serve(self) -> None:
        try:
            while await self._next_request():
                await asyncio.sleep(0)  # a client whose next request is already here lets the others go first
            await self.stream.write(b"")  # what is still queued leaves before the end
            self.stream.close()
        except RefusalError as refused:
            self.server.refusals.refuse(self.stream, refused, self.peer)
        except (StreamClosedError, UnsatisfiableReadError, asyncio.CancelledError):
            self.stream.close()
        except Exception as error:  # kept in the sandbox's errors, never lost
            self.server.core.record(error, f"connection from {self.peer}")
            self.stream.close()
        finally:
            self.server.on_close(self)

    async def _next_request(self) -> bool:
        """Serve the next request; True when the connection stays open for another."""
        self.server.waiting(self, self.server.heads)
        start, headers = screen_head(await read_head(self.stream))
        return await WireRequest(self, start.method, start.path, start.version, headers).serve()

    def _closed(self) -> None:
        if self.reply_done is not None and not self.reply_done.done():
            self.reply_done.set_result(None)


class WireRequest:
    """One request on a connection: its head checked by the core, its body read, its answer written."""

    def __init__(
        self, connection: Connection, method: str, target: str, version: str, headers: httputil.HTTPHeaders
    ) -> None:
        self.connection, self.server, self.stream = connection, connection.server, connection.stream
        self.started = time.perf_counter()
        self.method, self.target, self.http10 = method, target, version == "HTTP/1.0"
        self.headers = headers
        self.request = SandboxRequest.from_target(method, target, headers.get_all(), client=connection.peer)
        self.keep = keeps_alive(version, self.request.headers)
        self.key_id = "-"
        self.held = self.received = 0  # bytes of body reserved in the class-wide budget, and received
        self.body = bytearray()

    async def serve(self) -> bool:
        """Answer the request; True when the connection stays open for another."""
        self.server.waiting(self.connection, self.server.bodies)  # for the body, if any
        if self.server.pacer is not None:
            self.server.pacer.note_arrival()
        try:
            admission = self.server.core.admit(self.request)
        except Exception as error:  # the server never dies and never leaks a traceback
            admission = Admission(self.request, None, early=self.server.core.crashed(error, self.request))
        self.key_id = admission.key_id
        if admission.early is not None:
            return await self._answer_from_head(admission.early)
        try:
            await self._receive_body()
            self.server.working(self.connection)
            outcome = await self._answer(admission)
        finally:
            self._release()
        return await self._deliver(outcome)

    # --- the head and the body --------------------------------------------------------------

    async def _answer_from_head(self, response: SandboxResponse) -> bool:
        """Answer now; then a small body is read and dropped (the connection stays), a larger one refused unread."""
        chunked = "Transfer-Encoding" in self.headers
        # A client that waits for "100 Continue" would send its body after our final answer: close instead.
        expects = self.headers.get("Expect") == "100-continue"
        if chunked or expects or declared_length(self.headers) > SKIP_BODY_BYTES:
            raise self._refusal(response)
        self.keep = self.keep and not response.closes
        await self._write_whole(response)
        await read_body(self.stream, self.headers, lambda piece: None)
        return self.keep

    async def _receive_body(self) -> None:
        """Read the body within the limits, room for it reserved in the class-wide budget as it is read."""
        if "Transfer-Encoding" not in self.headers:  # chunked (screened): room is taken as the chunks arrive
            length = declared_length(self.headers)
            if length > self.server.limits.max_body_size:  # answered from the header alone: the body is never read
                raise self._refusal(self._too_large())
            if not self.server.budget.take(length):
                raise self._refusal(self._budget_spent())
            self.held, self.body = length, bytearray(length)
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.stream.write(CONTINUE)
        try:
            await read_body(self.stream, self.headers, self._take)
        except RefusalError as refused:  # a malformed chunked body
            raise self._refusal(refused.reply) from None

    def _take(self, piece: bytes) -> None:
        size = len(piece)
        if self.held >= self.received + size:  # within the declared Content-Length, room reserved
            self.body[self.received : self.received + size] = piece
        elif self.received + size > self.server.limits.max_body_size:
            raise self._refusal(self._too_large())
        elif not self.server.budget.take(size):
            raise self._refusal(self._budget_spent())
        else:
            self.held += size
            self.body += piece
        self.received += size

    def _release(self) -> None:
        self.body = bytearray()
        if self.held:
            self.server.budget.give_back(self.held)
            self.held = 0

    def _refusal(self, response: SandboxResponse) -> RefusalError:
        return RefusalError(response, self.method, self.target, self._log_line)

    def _too_large(self) -> SandboxResponse:
        shown = _size(self.server.limits.max_body_size)
        return response_of(error_reply(413, f"Request body is larger than {shown}.", "payload_too_large"))

    def _budget_spent(self) -> SandboxResponse:
        total = _size(self.server.limits.max_total_body_size)
        message = f"The sandbox is receiving other large request bodies ({total} at most at once): retry in a moment."
        response = response_of(error_reply(503, message, "service_unavailable"))
        response.headers["Retry-After"] = "1"
        return response

    # --- the answer -------------------------------------------------------------------------

    async def _answer(self, admission: Admission) -> Outcome:
        """The core's answer: on the loop for a small body, in the worker thread for much JSON work."""
        core, body = self.server.core, self.body
        try:
            if fits_on_the_loop(body):
                outcome = core.answer(admission, body)
            else:
                outcome = await self.server.background.in_worker(core.answer, admission, body)
        except Exception as error:
            return core.crashed(error, self.request)
        if outcome.delay:  # the slow fault's pause: meanwhile the connection only waits, replaceable at the cap
            self.server.waiting(self.connection, self.server.pauses)
            await asyncio.sleep(outcome.delay)
            self.server.working(self.connection)
        return outcome

    async def _deliver(self, outcome: Outcome) -> bool:
        if self.stream.closed():  # gone, or replaced at the cap
            return False
        if isinstance(outcome, HangUp):  # the "drop" fault: hang up without a word
            self._log_line("dropped", 0)
            self.stream.close()
            return False
        if isinstance(outcome, EventStream):
            return await self._stream(outcome)
        self.keep = self.keep and not outcome.closes
        await self._write_whole(outcome)
        return self.keep

    async def _write_whole(self, response: SandboxResponse) -> None:
        data, size = whole_reply(response, close=not self.keep, http10=self.http10, head_only=self.method == "HEAD")
        self._log_line(response.status, size)  # before the write, so the line exists once the client has the reply
        if not self.server.send(self.connection, data):
            # The rest is queued in the stream; the next request waits for it. Should the client stop taking it,
            # the server makes its connection replaceable, then hangs up (CappedServer.send).
            await self.stream.write(b"")

    async def _stream(self, answer: EventStream) -> bool:
        """Server-Sent Events: one HTTP chunk each, or for HTTP/1.0 a body that ends when we close.

        The head and the first event leave together, at once; the others at the sandbox's pace (see
        :mod:`perplexity_sandbox.pacer`), or all together when there is no pause between events.
        """
        chunked = not self.http10
        self.keep = self.keep and chunked and not answer.truncated
        head = head_lines(answer, close=not self.keep, http10=self.http10)
        head += ["Cache-Control: no-cache", *(["Transfer-Encoding: chunked"] if chunked else [])]
        opening = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        self.stream.set_nodelay(True)  # each event leaves at once, not after the client's delayed ACK
        self.connection.reply_done = done = asyncio.get_running_loop().create_future()
        end = functools.partial(self._end_stream, answer, chunked, done)
        send = functools.partial(self.server.send, self.connection)
        paced = PacedStream(self.stream, answer.events, chunked, end, send, next=0)
        pacer = self.server.pacer
        if pacer is None or len(answer.events) < 2:
            end(opening + paced.frames(len(answer.events)))
        else:
            send(opening + paced.frames(1))
            paced.next = 1
            pacer.add(paced)
        await done
        return self.keep and not self.stream.closed()

    def _end_stream(self, answer: EventStream, chunked: bool, done: asyncio.Future, final: bytes) -> None:
        """Send the last frame, then end the reply: the closing chunk, or hanging up (HTTP/1.0, truncate_stream)."""
        sent = sum(len(event) for event in answer.events)
        if answer.truncated:  # hang up mid-answer: no terminal event, no closing chunk
            self._log_line("200 truncated", sent)
            self.server.send(self.connection, final)
        else:
            self._log_line(200, sent)  # before the last write, so the line exists once the client has the reply
            self.server.send(self.connection, final + b"0\r\n\r\n" if chunked else final)
        # The reply ends once what is queued has left (at once, nearly always); the connection's end follows.
        if self.stream.closed():
            done.done() or done.set_result(None)
        else:
            self.stream.write(b"").add_done_callback(lambda _: done.done() or done.set_result(None))

    # --- logging: one line per request, never the key --------------------------------------

    def _log_line(self, status: int | str, size: int) -> None:
        log_request(self.connection.peer, self.method, self.target, status, size, self.started, self.key_id)


def _size(size: int) -> str:
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size} bytes"
