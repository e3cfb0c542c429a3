"""The sandbox's listening side: a cap on connections that cannot lock a class out, deadlines, and refusals.

- :class:`CappedServer` accepts connections up to the cap. At the cap, a new connection takes the place of the one
  that has waited longest without work for the server (idle between requests, still sending its head or body, not
  taking its reply for ``stall_timeout``, or in a ``slow`` fault's pause); only when every connection is busy
  computing or sending a reply is the newcomer refused, at once, with a 503.
- The head deadline, the body deadline and the reply deadline are kept by one sweep a second over the connections
  that wait, instead of a timer per request. A reply's progress is seen piece by piece (:meth:`CappedServer.send`):
  a client that stops reading holds nothing for long, one that reads slowly keeps its connection.
- :class:`Refusals` answers a refused request, half-closes and drains what the client still sends for a moment
  (a "lingering close"), so that the client reads the answer instead of a connection reset.
- :class:`Background` runs replies in progress as tasks, and large JSON bodies in one worker thread.

Built on tornado's public ``TCPServer``, ``IOStream`` and ``PeriodicCallback``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado import gen
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpserver import TCPServer

from perplexity_sandbox.core import SandboxCore, response_of
from perplexity_sandbox.http1 import CHUNK_BYTES, MAX_HEAD_BYTES, RefusalError, log_request, whole_reply
from perplexity_sandbox.limits import LINGER_SLOTS, BodyBudget, Limits
from perplexity_sandbox.pacer import Pacer
from perplexity_sandbox.replies import error_reply
from perplexity_sandbox.wire_request import Connection

log = logging.getLogger("perplexity_sandbox")

SEND_PIECE_BYTES = 64 * 1024  # a reply the socket cannot take at once is queued in pieces: each one taken is progress
LINGER_SECONDS = 5.0  # after a refusal, read and drop what the client still sends, this long at most
BACKLOG = 2048  # a class pressing Send at once must fit in the kernel's queue of connections not yet accepted
WARN_EVERY_SECONDS = 60.0
SWEEP_SECONDS = 1.0  # how often deadlines are checked: a deadline is kept to within this (or a quarter of it)


class CappedServer(TCPServer):
    """Accepts connections up to the cap and serves each with the core; used from its event loop's thread only."""

    def __init__(self, limits: Limits, core: SandboxCore, pacer: Pacer | None = None) -> None:
        super().__init__(max_buffer_size=MAX_HEAD_BYTES + 4 * CHUNK_BYTES, read_chunk_size=CHUNK_BYTES)
        self.limits, self.core, self.pacer = limits, core, pacer
        self.cap = limits.connection_cap()
        self.budget = BodyBudget(limits.max_total_body_size)
        self.background = Background(core)
        self.refusals = Refusals(self.background)
        self.connections: set[Connection] = set()
        # Connections without work for the server, each kind longest-waiting first (dicts keep insertion order):
        self.heads: dict[Connection, float] = {}  # waiting for a request head, since (loop time)
        self.bodies: dict[Connection, float] = {}  # waiting for the rest of a body, since
        self.pauses: dict[Connection, float] = {}  # in a slow fault's pause
        self.sends: dict[Connection, float] = {}  # a reply queued for the client to take, since its last progress
        self.replaced = self.refused = 0
        self._warned_at = -WARN_EVERY_SECONDS
        self._now = IOLoop.current().time
        period = min(SWEEP_SECONDS, limits.head_timeout / 4, limits.idle_timeout / 4)
        self._sweeper = PeriodicCallback(self._sweep, period * 1000)
        self._sweeper.start()

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        peer = str(address[0]) if isinstance(address, tuple) and address else "-"
        if not self._make_room():
            self._refuse_busy(stream)
            return
        connection = Connection(self, stream, peer)
        self.connections.add(connection)
        self.background.spawn(connection.serve())

    def on_close(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.working(connection)

    def waiting(self, connection: Connection, kind: dict[Connection, float]) -> None:
        """Mark a connection as waiting on its client (``heads``, ``bodies`` or ``pauses``): replaceable at the cap."""
        self.working(connection)
        if connection in self.connections:
            kind[connection] = self._now()

    def working(self, connection: Connection) -> None:
        """Mark a connection as busy: computing or sending a reply. It is never replaced."""
        self.heads.pop(connection, None)
        self.bodies.pop(connection, None)
        self.pauses.pop(connection, None)
        self.sends.pop(connection, None)

    def send(self, connection: Connection, data: bytes) -> bool:
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

    def _progressed(self, connection: Connection, written: asyncio.Future) -> None:
        """A piece of a reply has been taken: the clock of the connection's reply starts again, if more is queued."""
        if written.cancelled() or written.exception() is not None or connection not in self.sends:
            return  # closed, or done with its reply
        del self.sends[connection]  # and back at the end: the dict stays in order of last progress
        if connection.stream.writing():
            self.sends[connection] = self._now()

    def _hang_up(self, connection: Connection) -> None:
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
        if len(self.connections) + len(self.refusals.lingering) < self.cap:
            return True
        self._warn_at_cap()
        if self.refusals.lingering:  # a refused client being given time to read its answer: the least useful
            self.refusals.lingering.pop().close()
            return True
        for kind in (self.heads, self.bodies, self._stalled(), self.pauses):
            if kind:
                self._hang_up(next(iter(kind)))
                self.replaced += 1
                return True
        return False

    def _stalled(self) -> dict[Connection, float]:
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

    def _refuse_busy(self, stream: IOStream) -> None:
        self.refused += 1
        message = f"The sandbox is serving its maximum of {self.cap} connections, all busy: retry in a moment."
        reply = response_of(error_reply(503, message, "service_unavailable"))
        reply.headers["Retry-After"] = "1"
        self.refusals.linger(stream, whole_reply(reply, close=True)[0])

    async def close_all(self) -> None:
        """Stop listening and hang up on every connection at once, keep-alive and lingering ones included."""
        self.stop()
        self._sweeper.stop()
        for connection in list(self.connections):
            connection.stream.close()
        for stream in list(self.refusals.lingering):
            stream.close()
        await self.background.stop()


class Refusals:
    """Refused requests: the answer, a half-close, a short and bounded drain of what still comes, the end."""

    def __init__(self, background: Background) -> None:
        self.background = background
        self.lingering: set[IOStream] = set()

    def refuse(self, stream: IOStream, refused: RefusalError, peer: str) -> None:
        data, size = whole_reply(refused.reply, close=True, head_only=refused.method == "HEAD")
        if refused.log_line is not None:
            refused.log_line(refused.reply.status, size)
        else:
            log_request(peer, refused.method, refused.target, refused.reply.status, size, None, "-")
        self.linger(stream, data)

    def linger(self, stream: IOStream, data: bytes) -> None:
        if stream.closed():
            return
        if len(self.lingering) >= LINGER_SLOTS:  # no time to spare: the answer, then the end
            stream.write(data).add_done_callback(lambda _: stream.close())
            return
        self.lingering.add(stream)
        self.background.spawn(self._drain(stream, data))

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


class Background:
    """Work beside the connections: tasks kept until they end, and the one worker thread for large bodies."""

    def __init__(self, core: SandboxCore) -> None:
        self.core = core
        self.tasks: set[asyncio.Task] = set()
        self._worker: ThreadPoolExecutor | None = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping it until it ends (``stop`` cancels what is left)."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.core.record(task.exception(), "a reply in progress")

    async def in_worker(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` in the one worker thread: a large body's parsing does not stall the other clients.

        One thread, not more: large bodies are answered one at a time, so only one is ever expanded in memory.
        """
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perplexity-sandbox-worker")
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, *args)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
