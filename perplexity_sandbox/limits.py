"""The class-scale limits of the sandbox's HTTP layer, with their defaults, and the shared body budget.

A class sandbox is one process that hundreds of notebooks talk to at once. Each limit below keeps one client
(a stuck notebook, or a script that opens thousands of connections) from taking what the others need: file
descriptors, memory, or the server's attention. ``docs/sandbox.md`` ("Class scale") gives each value and what
happens when it is reached; ``Sandbox(...)`` and ``python -m perplexity_sandbox`` take them as options.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

try:
    import resource  # not on Windows, where the C runtime's descriptor limit does not apply to sockets
except ImportError:  # pragma: no cover - Windows
    resource = None

MiB = 1024 * 1024
MAX_CONNECTIONS = 1000
HEAD_TIMEOUT_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 60.0
STALL_TIMEOUT_SECONDS = 5.0
MAX_BODY_BYTES = 32 * MiB
MAX_TOTAL_BODY_BYTES = 128 * MiB
# File descriptors kept free under the process's open-file limit: the listening socket, stdio, the event loop,
# log files, and up to LINGER_SLOTS refused connections still being answered (see perplexity_sandbox.capped_server).
LINGER_SLOTS = 64
SPARE_DESCRIPTORS = 64


@dataclass(frozen=True)
class Limits:
    """What one client may take. Every value is checked when a sandbox is created.

    ``max_connections``: open connections at most (lowered to fit the open-file limit, see :meth:`connection_cap`).
    ``head_timeout``: seconds a connection has to send a complete request head, counted from when it opens or
    finishes its previous request (so it also closes idle keep-alive connections).
    ``idle_timeout``: seconds a request may wait on its client once its head is in: for the whole body to arrive,
    and for each part of the reply to be taken (a reply the client takes nothing of for this long is hung up on).
    ``stall_timeout``: seconds a reply may make no progress (the client takes none of it) before its connection
    counts as idle: at the cap, a newcomer may then take its place.
    ``max_body_size``: bytes in one request body (beyond: 413). ``max_total_body_size``: bytes of request bodies
    held at once, all clients together (beyond: 503, retry in a moment).
    """

    max_connections: int = MAX_CONNECTIONS
    head_timeout: float = HEAD_TIMEOUT_SECONDS
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    max_body_size: int = MAX_BODY_BYTES
    max_total_body_size: int = MAX_TOTAL_BODY_BYTES
    stall_timeout: float = STALL_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1.")
        if not (self.head_timeout > 0 and self.idle_timeout > 0 and self.stall_timeout > 0):
            raise ValueError("head_timeout, idle_timeout and stall_timeout must be positive numbers of seconds.")
        if self.max_body_size < 1:
            raise ValueError("max_body_size must be at least 1 byte.")
        if self.max_total_body_size < self.max_body_size:
            raise ValueError("max_total_body_size must be at least max_body_size, or no large body could ever fit.")

    def connection_cap(self) -> int:
        """``max_connections``, lowered so that every open connection has a file descriptor to spare.

        A server that runs out of descriptors cannot even accept a connection to refuse it: new clients would
        wait in the kernel's queue until they time out. Below the limit, it can always answer.
        """
        if resource is None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - LINGER_SLOTS - SPARE_DESCRIPTORS))


class BodyBudget:
    """Bytes of request bodies held at once, all connections together (used from the event loop only)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (and nothing reserved) when they would not fit."""
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


class RateLimiter:
    """At most ``per_second`` requests per key in any rolling second; safe across threads.

    A key is forgotten once its window has passed without a request, so the memory it takes is bounded by the
    keys seen within one window, not by every key ever seen (a script sending one request per made-up key would
    otherwise grow it without end). Keys are kept least recently used first: forgetting stops at the first key
    still inside its window, so each request costs O(1) on average however many keys there are.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, math.floor(per_second))
        self.window = self.limit / per_second  # e.g. 0.5/s -> 1 request per 2 s
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()  # each key's requests in its window
        self._lock = threading.Lock()

    def keys_remembered(self) -> int:
        """How many keys it holds now: at most those with a request within the last window.

        A method, not ``__len__``: a limiter that holds no key yet must still be truthy where it is optional.
        """
        with self._lock:
            return len(self._seen)

    def wait_needed(self, key_id: str) -> float:
        """0 when the request may go ahead (and counts it), else the seconds to wait."""
        now = self.clock()
        with self._lock:
            self._forget_before(now - self.window)
            times = self._seen.pop(key_id, None) or deque()
            self._seen[key_id] = times  # now the most recently used
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                return self.window - (now - times[0])
            times.append(now)
            return 0.0

    def _forget_before(self, horizon: float) -> None:
        """Drop the keys whose latest request is older than ``horizon``: least recently used first."""
        while self._seen:
            times = next(iter(self._seen.values()))
            if times and times[-1] > horizon:
                return
            self._seen.popitem(last=False)
