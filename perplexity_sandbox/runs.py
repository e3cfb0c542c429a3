"""Stored agent runs: what ``GET /v1/agent/{id}`` reads back and what ``POST .../cancel`` acts on.

The real API keeps every response created with ``store`` omitted or ``true`` and answers a GET of its id; a run
created with ``background: true`` answers at once with ``status: "queued"``, is ``in_progress`` for a while and then
finishes (docs.perplexity.ai changelog, "Added 2026-12-01"; api-reference agent-get and agent-cancel-post).

The sandbox computes each answer when the request arrives, so a background run is only a timeline over a finished
response: its status is derived from the time elapsed since creation (``queued_seconds``, then
``in_progress_seconds``), read from an injectable ``clock``. No thread runs anything, and a test can step the clock
to see each status in turn.

:class:`RunStore` is safe to share between threads (one lock guards every read and write) and bounded twice: it keeps
the latest ``max_runs`` runs (:data:`MAX_RUNS` by default) and at most ``max_bytes`` of them (:data:`MAX_STORED_BYTES`,
measured by :func:`footprint`), and forgets the oldest first, so neither many runs nor a few large ones can grow a
long-lived sandbox without limit. A forgotten run answers 404, as an unknown id does.

What a run keeps of its request is bounded too: the response echoes the request's settings (``instructions``,
``tools``, ``text.format``, ...), and a client may send megabytes of them, so the stored copy keeps at most
:data:`MAX_STORED_ECHO_BYTES` of each (:func:`within`: a long string is cut, a long list or object keeps its first
items). The reply to the request itself echoes everything; only what is kept for a later GET is cut.

Each run belongs to whoever made it: ``owner`` (a one-way digest of the key that made it) must match for a GET or a
cancel, and a run of another owner reads as absent, exactly like an unknown id, so that nothing tells a stranger
whether an id exists. Ids are random (see ``api.agent``): in a class every learner sends the same demo key, and the
id is what keeps one learner's runs from another's.
"""

from __future__ import annotations

import hmac
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_RUNS = 10_000
MAX_STORED_BYTES = 64 * 1024 * 1024  # all stored runs together, as measured by footprint()
MAX_STORED_ECHO_BYTES = 16 * 1024  # what a stored run keeps of each setting its request echoes
QUEUED_SECONDS = 0.2
IN_PROGRESS_SECONDS = 0.5
QUEUED, IN_PROGRESS, CANCELLED = "queued", "in_progress", "cancelled"
UNFINISHED = (QUEUED, IN_PROGRESS)
# A cancelled run comes back as a 200 with ``error`` set, like a failed one (docs.perplexity.ai agent-get); in a
# response object ``error.code`` is a string (the SDK's ErrorInfo).
CANCELLED_ERROR = {"message": "The run was cancelled before it finished.", "type": "cancelled", "code": "cancelled"}


@dataclass
class _Run:
    final: dict  # the finished response: completed, incomplete or failed
    created: float  # clock reading at creation
    background: bool
    owner: str  # who may read or cancel it: a digest of the key that made it ("" for callers without keys)
    size: int  # its footprint, counted against max_bytes
    cancelled: bool = False


def footprint(value: Any) -> int:
    """The bytes a JSON-like value takes in memory: ``sys.getsizeof`` of it and of everything inside it.

    Counted the way Python holds it, not as JSON text: ``[{}, {}, ...]`` is 3 bytes of JSON per item but about 70
    in memory, and that is what a store bounded in bytes must count. Walked with a list, not recursion.
    """
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return total


def within(value: Any, room: int) -> Any:
    """``value`` if it takes at most about ``room`` bytes (see :func:`footprint`), else a copy cut to fit.

    The copy keeps the shape, so a client reading it still finds each type where it expects it: a string is cut
    and ends with "…", a list keeps its first items, an object its first members, each cut to fit in turn.
    The work stops where the room ends, however large the value is.
    """
    return _cut(value, room)[0]


def _cut(value: Any, room: int) -> tuple[Any, int]:
    """``value`` cut to about ``room`` bytes, and the bytes the result takes."""
    size = sys.getsizeof(value)
    if isinstance(value, str) and size > room:
        per_character = max(1, (size - sys.getsizeof("")) // max(1, len(value)))
        cut = value[: max(0, room - sys.getsizeof("")) // per_character] + "\u2026"
        return cut, sys.getsizeof(cut)
    if isinstance(value, list):
        return _cut_items(value, room, list)
    if isinstance(value, dict):
        return _cut_items(value, room, dict)
    return value, size


def _cut_items(value: list | dict, room: int, kind: type) -> tuple[list | dict, int]:
    """A list or dict whose first items (cut in turn) fit in ``room``; ``value`` itself when all of it fits."""
    pairs = value.items() if kind is dict else enumerate(value)
    kept: list[tuple[Any, Any]] = []
    used, whole = sys.getsizeof(kind()), True
    for name, item in pairs:
        name_size = sys.getsizeof(name) if kind is dict else 0
        slot = 8 * (3 if kind is dict else 1)  # the pointers a member takes in its container
        if used + name_size + slot >= room:
            whole = False
            break
        piece, size = _cut(item, room - used - name_size - slot)
        whole = whole and piece is item
        kept.append((name, piece))
        used += name_size + slot + size
    if whole:
        return value, used
    return (dict(kept) if kind is dict else [piece for _, piece in kept]), used


def pending_view(final: dict, status: str) -> dict:
    """A run that has not finished: no output, usage or completion time yet (a GET of an in_progress run has
    ``output: []``, per perplexityai/api-platform-developers response-and-streaming.md)."""
    unset = {"output": [], "usage": None, "completed_at": None, "error": None, "incomplete_details": None}
    return {**final, **unset, "status": status}


def cancelled_view(final: dict) -> dict:
    """A run stopped by a cancel: status ``cancelled`` with ``error`` set, and nothing of the answer."""
    return {**pending_view(final, CANCELLED), "error": dict(CANCELLED_ERROR)}


def stored_form(response: dict, echoed: tuple[str, ...]) -> tuple[dict, int]:
    """What a store keeps of ``response``, and its footprint: each of the ``echoed`` settings within its room.

    Each setting is cut to :data:`MAX_STORED_ECHO_BYTES` on its own (long instructions leave the tools their room);
    everything the sandbox made itself (output, usage, ...) is kept whole, being small by construction.
    """
    kept = dict(response)
    for name in echoed:
        if name in kept:
            kept[name] = within(kept[name], MAX_STORED_ECHO_BYTES)
    return kept, footprint(kept)


class RunStore:
    """Stored runs keyed by response id, oldest forgotten first beyond ``max_runs`` or ``max_bytes``; thread-safe."""

    def __init__(
        self,
        max_runs: int = MAX_RUNS,
        queued_seconds: float = QUEUED_SECONDS,
        in_progress_seconds: float = IN_PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = MAX_STORED_BYTES,
    ) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_runs, self.max_bytes = max_runs, max_bytes
        self.held = 0  # the footprints of the runs kept, added up
        self.queued_seconds = queued_seconds
        self.in_progress_seconds = in_progress_seconds
        self.clock = clock
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def __contains__(self, run_id: object) -> bool:
        with self._lock:
            return run_id in self._runs

    def add(self, response: dict, background: bool = False, owner: str = "", size: int | None = None) -> str:
        """Store a finished ``response`` under its id for ``owner`` and return the id.

        ``size`` is its footprint when the caller knows it already (the sandbox measures a shared answer once, not
        once per learner); the oldest runs are forgotten until the store is within both of its bounds again, the
        newest run always staying. Ids are random, so each request makes a run of its own.
        """
        size = footprint(response) if size is None else size
        with self._lock:
            run_id = response["id"]
            earlier = self._runs.pop(run_id, None)  # only a caller reusing an id: the sandbox's never repeat
            if earlier is not None:
                self.held -= earlier.size
            self._runs[run_id] = _Run(response, self.clock(), background, owner, size)
            self.held += size
            while len(self._runs) > 1 and (len(self._runs) > self.max_runs or self.held > self.max_bytes):
                self.held -= self._runs.popitem(last=False)[1].size
            return run_id

    def get(self, run_id: str, owner: str = "") -> dict | None:
        """The run as it stands now, or None if there is none for ``owner`` (never stored, ``store: false``,
        forgotten, or made with another key)."""
        with self._lock:
            run = self._find(run_id, owner)
            return None if run is None else self._view(run)

    def cancel(self, run_id: str, owner: str = "") -> str | None:
        """Cancel a queued or in_progress run; return the status it had then, or None if ``owner`` has no such run.

        Any other status is final and the run is left as it is: the caller answers 400, as the real API does.
        """
        with self._lock:
            run = self._find(run_id, owner)
            if run is None:
                return None
            status = self._status(run)
            if status in UNFINISHED:
                run.cancelled = True  # for good: the timeline is not consulted again
            return status

    def _find(self, run_id: str, owner: str) -> _Run | None:
        run = self._runs.get(run_id)
        if run is None or not hmac.compare_digest(run.owner.encode(), owner.encode()):
            return None  # another key's run reads as no run at all
        return run

    def _view(self, run: _Run) -> dict:
        status = self._status(run)
        if status == CANCELLED:
            return cancelled_view(run.final)
        if status in UNFINISHED:
            return pending_view(run.final, status)
        return dict(run.final)  # a copy: a caller changing it cannot change the stored run

    def _status(self, run: _Run) -> str:
        """Where the run is on its timeline; a run created without ``background`` was finished when it was stored."""
        if run.cancelled:
            return CANCELLED
        if not run.background:
            return run.final["status"]
        elapsed = self.clock() - run.created
        if elapsed < self.queued_seconds:
            return QUEUED
        if elapsed < self.queued_seconds + self.in_progress_seconds:
            return IN_PROGRESS
        return run.final["status"]
