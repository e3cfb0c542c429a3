"""What happened, said by the teaching core to whoever listens: the core itself knows no listener.

The client, the connector, the exercises, the playground and the notebook's error handler
:func:`emit` an event when a learner reaches a step or meets an error. Nobody listens unless a
listener was added with :func:`subscribe`: notebook setup adds the class-progress reporter
(:mod:`helpers.progress`) when, and only when, a class sandbox is in use. So the teaching core
imports no classroom tooling (``make test`` checks it), and without a listener an event costs one
empty loop.

Two kinds of events, with these facts (all optional):

``"step"``
    ``step``: what the learner reached (``"answer"``, ``"test"``, ``"exercise:02.1"``).
``"error"``
    ``error``: the sentence the learner saw; ``during``: the step it happened at; ``on_purpose``:
    whether the course made it fail on purpose, when the emitter knows; else what the failed
    request carried, from which a listener can tell: ``request`` (a requests or httpx request),
    or ``headers`` and ``body``; or ``exception``, the error raised.

Both may carry ``settings``, the :class:`~helpers.settings.Settings` the emitter already has, so
that a listener does not resolve them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

STEP = "step"
ERROR = "error"
Listener = Callable[..., None]  # called as listener(kind, **facts)

log = logging.getLogger(__name__)
_listeners: tuple[Listener, ...] = ()  # a tuple, replaced whole: an emit never sees a half-made change


def emit(kind: str, **facts: Any) -> None:
    """Tell every listener that ``kind`` happened; a listener that fails never reaches the learner."""
    for listener in _listeners:
        try:
            listener(kind, **facts)
        except Exception as problem:  # a listener's trouble is its own, never the learner's cell's
            log.debug("listener %r failed: %s", listener, type(problem).__name__)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(kind, **facts)`` on every event from now on; returns the function that stops it.

    Subscribing the same listener twice has no more effect than once.
    """
    global _listeners
    if listener not in _listeners:
        _listeners = (*_listeners, listener)
    return lambda: unsubscribe(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop calling ``listener`` (nothing happens when it was not subscribed)."""
    global _listeners
    _listeners = tuple(one for one in _listeners if one != listener)


def listeners() -> tuple[Listener, ...]:
    """Who listens now (notebook setup's choice can be checked, and a test can leave things as it found them)."""
    return _listeners
