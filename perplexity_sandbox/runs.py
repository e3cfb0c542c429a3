"""Stored agent runs: what ``GET /v1/agent/{id}`` reads back and what ``POST .../cancel`` acts on.

The real API keeps every response created with ``store`` omitted or ``true`` and answers a GET of its id; a run
created with ``background: true`` answers at once with ``status: "queued"``, is ``in_progress`` for a while and then
finishes (shared reference, "Added 2026-12-01"; docs.perplexity.ai api-reference agent-get and agent-cancel-post).

The sandbox computes each answer when the request arrives, so a background run is only a timeline over a finished
response: its status is derived from the time elapsed since creation (``queued_seconds``, then
``in_progress_seconds``), read from an injectable ``clock``. No thread runs anything, and a test can step the clock
to see each status in turn.

:class:`RunStore` is safe to share between threads (one lock guards every read and write) and bounded: it keeps the
latest ``max_runs`` runs (:data:`MAX_RUNS` by default) and forgets the oldest first, so a long-lived sandbox cannot
grow without limit. A forgotten run answers 404, as an unknown id does.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_RUNS = 10_000
QUEUED_SECONDS = 0.2
IN_PROGRESS_SECONDS = 0.5
QUEUED, IN_PROGRESS, CANCELLED = "queued", "in_progress", "cancelled"
UNFINISHED = (QUEUED, IN_PROGRESS)
# A cancelled run comes back as a 200 with ``error`` set, like a failed one (shared reference); in a response object
# ``error.code`` is a string (the SDK's ErrorInfo).
CANCELLED_ERROR = {"message": "The run was cancelled before it finished.", "type": "cancelled", "code": "cancelled"}


@dataclass
class _Run:
    final: dict  # the finished response: completed, incomplete or failed
    created: float  # clock reading at creation
    background: bool
    cancelled: bool = False


def pending_view(final: dict, status: str) -> dict:
    """A run that has not finished: no output, usage or completion time yet (a GET of an in_progress run has
    ``output: []``, per perplexityai/api-platform-developers response-and-streaming.md)."""
    unset = {"output": [], "usage": None, "completed_at": None, "error": None, "incomplete_details": None}
    return {**final, **unset, "status": status}


def cancelled_view(final: dict) -> dict:
    """A run stopped by a cancel: status ``cancelled`` with ``error`` set, and nothing of the answer."""
    return {**pending_view(final, CANCELLED), "error": dict(CANCELLED_ERROR)}


class RunStore:
    """Stored runs keyed by response id, oldest forgotten first beyond ``max_runs``; safe across threads."""

    def __init__(
        self,
        max_runs: int = MAX_RUNS,
        queued_seconds: float = QUEUED_SECONDS,
        in_progress_seconds: float = IN_PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self.max_runs = max_runs
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

    def add(self, response: dict, background: bool = False) -> str:
        """Store a finished ``response`` under its id and return the id.

        The sandbox derives ids from the request (same request, same id), so sending a request again replaces its
        earlier run, which had the same answer; a background one starts its timeline again.
        """
        with self._lock:
            run_id = response["id"]
            self._runs.pop(run_id, None)  # re-added at the end: it is now the newest
            self._runs[run_id] = _Run(response, self.clock(), background)
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
            return run_id

    def get(self, run_id: str) -> dict | None:
        """The run as it stands now, or None if there is none (never stored, ``store: false``, or forgotten)."""
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else self._view(run)

    def cancel(self, run_id: str) -> str | None:
        """Cancel a queued or in_progress run; return the status it had then, or None if there is no such run.

        Any other status is final and the run is left as it is: the caller answers 400, as the real API does.
        """
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return None
            status = self._status(run)
            if status in UNFINISHED:
                run.cancelled = True  # for good: the timeline is not consulted again
            return status

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
