"""The sandbox server: a real HTTP server on loopback that speaks the Perplexity API, for one learner or a class.

Lifecycle in the manner of ``pytest-httpserver``: port 0 by default (the OS picks a free one), a daemon thread,
``start()`` / ``stop()`` / ``is_running``, usable as a context manager, and ``url_for(path)``. ``start()``
returns once the server listens; ``stop()`` hangs up on every connection at once; an exception in the server's
thread is logged with its traceback and kept in ``errors``, never lost.

The thread runs one asyncio event loop with the sandbox's HTTP/1.1 server on tornado's public API
(:mod:`perplexity_sandbox.capped_server` caps connections, :mod:`perplexity_sandbox.http1` screens every request
head strictly, :mod:`perplexity_sandbox.wire_request` carries each request), and the transport-neutral core
(:mod:`perplexity_sandbox.core`) answers each request. One loop serves every connection: a class's hundreds of
open connections cost a few kilobytes each, not a thread each. The limits that keep one client from locking the
others out (:class:`~perplexity_sandbox.limits.Limits`) are options of :class:`Sandbox` and of
``python -m perplexity_sandbox``.

It checks ``Authorization: Bearer <key>`` as the real service does, never logs or echoes the key, and answers
every failure with a status and a JSON error body, never a traceback. Logging: one line per request on the
``perplexity_sandbox`` logger (client, method, path without query, status, bytes, milliseconds, and
``key#<8 hex>``, a one-way fingerprint, never the key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any

from tornado.netutil import bind_sockets

from perplexity_sandbox.capped_server import BACKLOG, CappedServer
from perplexity_sandbox.classroom import Roster
from perplexity_sandbox.core import NOTEBOOK_STREAM_DELAY, SandboxCore
from perplexity_sandbox.faults import FAULTS
from perplexity_sandbox.limits import (
    HEAD_TIMEOUT_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_TOTAL_BODY_BYTES,
    STALL_TIMEOUT_SECONDS,
    Limits,
    RateLimiter,
)
from perplexity_sandbox.pacer import Pacer
from perplexity_sandbox.runs import RunStore

__all__ = ["MAX_BODY_BYTES", "NOTEBOOK_STREAM_DELAY", "Limits", "Sandbox", "shared_sandbox"]

log = logging.getLogger("perplexity_sandbox")

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0


class Sandbox:
    """A local Perplexity-compatible server. ``with Sandbox() as sb: sb.url``.

    ``fault``: fail every request this way (see :mod:`perplexity_sandbox.faults`).
    ``rate_limit``: at most this many requests per second per key, then 429 with ``Retry-After``.
    ``stream_delay``: seconds between streamed events, to make streaming visible (default 0).
    The class-scale limits (see :class:`~perplexity_sandbox.limits.Limits` and ``docs/sandbox.md``):
    ``max_connections`` (1000), ``head_timeout`` (10 s), ``idle_timeout`` (60 s), ``max_body_size`` (32 MiB per
    request), ``max_total_body_size`` (128 MiB of bodies held at once, all clients together) and ``stall_timeout``
    (5 s: a reply its client takes nothing of for this long leaves the connection replaceable at the cap).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fault: str | None = None,
        rate_limit: float | None = None,
        stream_delay: float = 0.0,
        max_connections: int = MAX_CONNECTIONS,
        head_timeout: float = HEAD_TIMEOUT_SECONDS,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        max_body_size: int = MAX_BODY_BYTES,
        max_total_body_size: int = MAX_TOTAL_BODY_BYTES,
        classroom: bool = False,
        stall_timeout: float = STALL_TIMEOUT_SECONDS,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"Unknown fault '{fault}'. Faults: {', '.join(FAULTS)}.")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be a positive number of requests per second per key.")
        if stream_delay < 0:
            raise ValueError("stream_delay must be zero or a positive number of seconds.")
        self.limits = Limits(
            max_connections, head_timeout, idle_timeout, max_body_size, max_total_body_size, stall_timeout
        )
        # A class sandbox keeps its learners' progress for the instructor page at /class (token: roster.token).
        self.roster = Roster() if classroom else None
        self.runs = RunStore()
        self.host, self.port, self.fault = host, port, fault
        self.rate_limit, self.stream_delay = rate_limit, stream_delay
        self.errors: list[BaseException] = []  # unexpected exceptions in the server's thread, oldest first
        self._sockets: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (use it as ``PERPLEXITY_BASE_URL``)."""
        if not self.is_running:
            raise RuntimeError("The sandbox is not running: call start() first.")
        host, port = self._sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def start(self) -> Sandbox:
        """Listen (an ``OSError`` here means the address is taken), serve from a daemon thread; return when ready."""
        if self._thread is not None:
            return self
        self._sockets = bind_sockets(self.port, self.host, backlog=BACKLOG)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="perplexity-sandbox", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_SECONDS) or not self.is_running:
            self.stop()
            failure = self.errors[-1] if self.errors else None
            raise RuntimeError("The sandbox's server thread did not start.") from failure
        return self

    def stop(self) -> None:
        """Stop listening and hang up on every open connection (keep-alive ones included), then end the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended (its thread died)
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        for sock in self._sockets:
            sock.close()
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.is_running else "stopped"
        return f"Sandbox({state})"

    # --- the server's thread ----------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as error:  # recorded, so that start() or the caller can see it
            self._record(error, "the server thread")
        finally:
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        self._loop.set_exception_handler(self._on_loop_error)
        limiter = RateLimiter(self.rate_limit) if self.rate_limit else None
        pacer = Pacer(self.stream_delay) if self.stream_delay else None
        core = SandboxCore(
            fault=self.fault, limiter=limiter, pace=self.stream_delay, runs=self.runs, roster=self.roster
        )
        core.errors = self.errors  # one list: what the core records, the sandbox shows
        server = CappedServer(self.limits, core, pacer)
        server.add_sockets(self._sockets)
        ready.set()
        await self._stopping.wait()
        if pacer is not None:
            pacer.stop()
        await server.close_all()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception") or RuntimeError(context.get("message", "event loop error"))
        self._record(error, "the event loop")

    def _record(self, error: BaseException, where: str) -> None:
        self.errors.append(error)
        log.error("sandbox error in %s", where, exc_info=(type(error), error, error.__traceback__))


_shared: Sandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox(port: int = 0) -> Sandbox:
    """One sandbox per process (per notebook kernel), started on first use on ``port`` (0: a free one).

    A fixed port is for recording notebooks: outputs that show the URL are then the same on every run.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sandbox(port=port, stream_delay=NOTEBOOK_STREAM_DELAY).start()
        return _shared
