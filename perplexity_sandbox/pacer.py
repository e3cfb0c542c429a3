"""Streamed answers sent at the sandbox's pace: one timer for every stream, not one per event.

A class that presses Send at once has hundreds of answers streaming together, each event ``stream_delay``
seconds after the previous one. With a timer, a task step and a write future per event, keeping time costs more
than sending. The pacer keeps one heap of streams ordered by when their next event falls due, and one timer set
for the earliest; each turn sends what is due, for a few milliseconds at most, then lets the event loop read new
requests first. While new requests keep arriving (a class pressing Send), later events wait, at most
``HOLD_SECONDS``: every learner's first event comes before anyone's tenth.

Event ``k`` of a stream is due ``k * stream_delay`` after its first, so an answer never streams faster than that
pace. When the loop has fallen behind (a burst of new requests), the events that fell due meanwhile leave in
one write: fewer system calls exactly when they are dearest, and the stream catches up with its schedule.

Each event is sent (with ``TCP_NODELAY``) as soon as it is due, straight to the socket when nothing is queued
before it (``CappedServer.send``); a client that stops reading is left to the server, which hangs up on it once its
reply has made no progress for ``idle_timeout``. Meanwhile its stream waits here, costing nothing.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

TURN_SECONDS = 0.004  # the longest one turn sends events before new requests get a look in
ARRIVAL_GAP_SECONDS = 0.005  # a request head this recent means more are arriving: later events wait
HOLD_SECONDS = 0.5  # the longest a due event waits for arriving requests


@dataclass
class PacedStream:
    """An answer being streamed: its frames (the first already sent), and what to do with the last of them."""

    stream: IOStream
    events: list[bytes]  # each one SSE event; the first has been sent
    chunked: bool  # each event is sent as one HTTP chunk (HTTP/1.1), or as it is (HTTP/1.0)
    last: Callable[[bytes], None]  # sends the final piece and ends the reply (logs, then finishes or hangs up)
    send: Callable[[bytes], bool]  # writes to the client; True when all of it has left at once
    start: float = 0.0  # loop time of the first event
    next: int = field(default=1)  # index of the next event to send

    def frames(self, upto: int) -> bytes:
        """Events ``next`` to ``upto`` as they go on the wire (framed here, when due, not all up front)."""
        events = self.events[self.next : upto]
        return b"".join(frame(event) for event in events) if self.chunked else b"".join(events)


class Pacer:
    """Sends the later events of every streamed answer, ``delay`` seconds apart, from one heap and one timer."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.loop = IOLoop.current()
        self.heap: list[tuple[float, int, PacedStream]] = []  # (due, tie-breaker, stream)
        self.order = itertools.count()
        self.timer: object | None = None  # the one timer, set for the earliest due event
        self.timer_due = 0.0
        self.turning = False
        self.last_arrival = -1.0

    def note_arrival(self) -> None:
        """A request head has just been read (so more may be coming: see HOLD_SECONDS)."""
        self.last_arrival = self.loop.time()

    def add(self, paced: PacedStream) -> None:
        """Pace a stream whose first frame has just been sent."""
        paced.start = self.loop.time()
        self._push(paced)

    def stop(self) -> None:
        if self.timer is not None:
            self.loop.remove_timeout(self.timer)
            self.timer = None
        self.heap.clear()

    def _push(self, paced: PacedStream) -> None:
        due = paced.start + paced.next * self.delay
        heapq.heappush(self.heap, (due, next(self.order), paced))
        if self.timer is not None and due < self.timer_due:  # sooner than the timer: set it again
            self.loop.remove_timeout(self.timer)
            self.timer = None
        if self.timer is None and not self.turning:
            self._arm()

    def _arm(self) -> None:
        if self.heap:
            self.timer_due = self.heap[0][0]
            self.timer = self.loop.call_at(self.timer_due, self._turn)

    def _turn(self) -> None:
        self.timer = None
        now = self.loop.time()
        if self.heap and now - self.last_arrival < ARRIVAL_GAP_SECONDS and now - self.heap[0][0] < HOLD_SECONDS:
            self.timer_due = min(self.heap[0][0] + HOLD_SECONDS, now + ARRIVAL_GAP_SECONDS)
            self.timer = self.loop.call_at(self.timer_due, self._turn)
            return
        self.turning, stop = True, time.perf_counter() + TURN_SECONDS
        try:
            while self.heap and self.heap[0][0] <= now and time.perf_counter() < stop:
                self._send_due(heapq.heappop(self.heap)[2], now)
        finally:
            self.turning = False
        # Set again for the earliest due event; if it is due already (the turn ran out of time), the loop first
        # reads whatever new requests have arrived, then comes back here.
        self._arm()

    def _send_due(self, paced: PacedStream, now: float) -> None:
        """Send every frame of ``paced`` that is due by ``now`` (one, unless the loop fell behind), in one write."""
        if paced.stream.closed():  # the client went away, or the server stopped
            return
        upto = min(len(paced.events), math.floor((now - paced.start) / self.delay + 1e-9) + 1)
        data = paced.frames(upto)
        paced.next = upto
        if upto == len(paced.events):
            paced.last(data)
        elif paced.send(data):
            self._push(paced)
        else:  # the client is slow to read: resume when it has taken this (the server hangs up if it never does)
            paced.stream.write(b"").add_done_callback(lambda _: self._push(paced))


def frame(event: bytes) -> bytes:
    """One event as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)
