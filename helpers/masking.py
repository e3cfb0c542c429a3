"""The one way a key is hidden: :func:`mask_key` to show it, :func:`redact` for any text, :class:`Secret` to carry it.

Everything the package shows (error sentences, rendered requests, exports, log lines) passes
through :func:`redact`; after notebook setup, so does everything printed (:class:`RedactingStream`).
A URL a sentence echoes goes through :func:`mask_url` (no user info, query or fragment). A key
travels through our code as a :class:`Secret`, whose ``repr`` and ``str`` are masked, so a
traceback that prints local variables shows ``pplx-...abcd``; the plain key exists only inside the
header that requests builds at the last moment.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

KEY_PREFIX = "pplx-"
# Real keys are "pplx-" plus 48 characters; allow some slack for future formats.
MIN_KEY_LENGTH = 20
MAX_KEY_LENGTH = 200

# Every key validate_api_key accepts has this shape, so redaction catches keys nobody named too.
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_\-]{{{MIN_KEY_LENGTH - len(KEY_PREFIX)},}}")
# In log lines only: whatever follows "Bearer" is a credential, even when it is not shaped like a key.
_BEARER_VALUE = re.compile(r"(?i)\b(bearer\s+)(?!pplx-\.\.\.)([^\s'\",;]+)")


def mask_key(key: str | Secret | None) -> str:
    """Show a key as ``pplx-...abcd``: enough to recognise it, never enough to use it."""
    if isinstance(key, Secret):
        key = key.reveal()
    if not key:
        return "(no key)"
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
        return "****"  # another API's secret or a password: even its last characters are too much
    tail = key[-4:] if len(key) >= 12 else ""
    return f"{KEY_PREFIX}...{tail}"


def redact(text: str, secrets: list | tuple = ()) -> str:
    """Replace each secret in ``text`` (and anything shaped like a key) by its mask.

    ``secrets`` may hold plain strings or :class:`Secret` values.
    """
    for secret in secrets:
        plain = secret.reveal() if isinstance(secret, Secret) else secret
        if plain and len(plain) >= 4:
            text = text.replace(plain, mask_key(plain))
    return _KEY_SHAPE.sub(lambda m: mask_key(m.group(0)), text)


def mask_url(url: str) -> str:
    """``url`` as a sentence may echo it: user info (``user:password@``), query and fragment hidden.

    Read by hand rather than by a URL parser, so that no parser's reading can leave a password in
    view: everything between ``//`` and the last ``@`` before the query, and everything after the
    first ``?`` or ``#``, becomes ``****``; key-shaped words anywhere are masked too, and characters
    that are not printable become ``?`` (a sentence stays one line).
    """
    before, user_info, after, tail = _url_text(url)
    shown = before + ("" if user_info is None else "****") + after + (f"{tail[0]}****" if tail else "")
    return redact("".join(ch if ch.isprintable() else "?" for ch in shown))


def url_credentials(url: str) -> tuple[str, ...]:
    """The parts of ``url`` that may be a credential (user info, password, query, fragment and their values).

    Empty when there are none: a URL without them holds no secret. For :func:`redact`, which masks
    each part wherever a sentence quotes it.
    """
    _, user_info, _, tail = _url_text(url)
    parts = [user_info, *user_info.split(":")] if user_info else []
    if tail:  # the whole query, and each value in it ("token=abc&x=1": "abc", "1"), never the names
        parts += [tail[1:], *(piece.partition("=")[2] or piece for piece in re.split(r"[?#&;]", tail[1:]))]
    return tuple(dict.fromkeys(part for part in parts if part))


def url_has_credentials(url: str) -> bool:
    """Whether ``url`` has user info (even an empty one: ``//@host``), a query or a fragment."""
    _, user_info, _, tail = _url_text(url)
    return bool(tail) or user_info is not None


def _url_text(url: str) -> tuple[str, str | None, str, str]:
    """``url`` cut by hand: what comes before the user info, the user info (None: there is none), what
    follows it up to the query, and the query or fragment from its ``?`` or ``#`` on.

    The user info runs from after the ``//`` that precedes the last ``@`` (from the start without one)
    up to that ``@``, as browsers read it.
    """
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    head, tail = url[:cut], url[cut:]
    end = head.rfind("@")
    if end < 0:
        return head, None, "", tail
    slashes = head.find("//", 0, end)
    start = slashes + 2 if slashes >= 0 else 0
    return head[:start], head[start:end], head[end:], tail


def find_key_shaped(text: str) -> list[str]:
    """Every key-shaped word in ``text``, in order (what :func:`redact` would mask without being told)."""
    return _KEY_SHAPE.findall(text)


def redact_log_text(text: str) -> str:
    """:func:`redact`, plus any value after ``Bearer``: a log line may quote a header of another API."""
    return redact(_BEARER_VALUE.sub(lambda m: m.group(1) + mask_key(m.group(2)), text))


@dataclass(unsafe_hash=True, slots=True)
class Secret:
    """A key on its way to a header. ``repr`` and ``str`` show the mask; :meth:`reveal` gives the key.

    Why a class and not a str: a debugger or ``%xmode Verbose`` prints every frame's local
    variables, and a plain string there is the whole key. A Secret of a Secret is the same Secret.
    """

    _value: str | None

    def __post_init__(self) -> None:
        if isinstance(self._value, Secret):
            self._value = self._value.reveal()

    def reveal(self) -> str:
        """The plain key: call it only where the header is built."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self._value)!r})"

    def __str__(self) -> str:
        return mask_key(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class MaskedHeaderValue(str):
    """A header value that is its real text to the network and masked text in any ``repr``.

    requests and urllib3 keep headers in dicts that their frames hold; this keeps a verbose
    traceback from their frames free of the key too.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_log_text(str.__str__(self)))


# --- what the process prints ------------------------------------------------------------------


class RedactingStream:
    """``sys.stdout`` or ``sys.stderr`` with every ``write`` passed through :func:`redact` first.

    Libraries print what they send when asked to (``http.client.HTTPConnection.debuglevel = 1``
    prints each request, ``Authorization`` header included). Wrapping the stream once catches all
    of them, whatever library it is. Other attributes (``flush``, ``fileno``, ipykernel's
    ``set_parent``) are the wrapped stream's, so a kernel's stream and a widget's Output capture keep
    working. Text written to ``.buffer`` or to the file descriptor bypasses it: print and logging do not.

    IPython (9 and later) records each cell's printed text for its history (and ``%notebook``) by
    replacing the stream's ``write`` during the cell and putting it back afterwards. ``write`` is
    therefore a property: what IPython puts in receives the text already redacted, then hands it back
    to this stream, which passes it on to the wrapped one.
    """

    def __init__(self, wrapped: TextIO, secrets: tuple[str | Secret, ...] = ()) -> None:
        self.wrapped = wrapped
        self.secrets = tuple(secrets)
        self._tap: Callable[[str], object] | None = None  # IPython's recorder, while a cell runs
        self._tapping = threading.local()

    @property
    def write(self) -> Callable[[str], int]:
        return self._write

    @write.setter
    def write(self, function: Callable[[str], object]) -> None:
        self._tap = None if function == self._write else function  # putting ours back removes the tap

    def _write(self, text: str) -> int:
        shown = redact(text, self.secrets) if isinstance(text, str) else text
        if self._tap is None or getattr(self._tapping, "active", False):
            self.wrapped.write(shown)
        else:  # the tap records the redacted text, then calls back here (active): on to the stream
            self._tapping.active = True
            try:
                self._tap(shown)
            finally:
                self._tapping.active = False
        return len(text)  # as many characters as the caller gave: the mask is not its business

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> object:
        if name in ("wrapped", "secrets", "_tap", "_tapping"):  # not set yet (a copy): no endless lookup
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"RedactingStream({self.wrapped!r})"


def redact_standard_streams(secrets: tuple[str | Secret, ...] = ()) -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` redact what is written to them (once; again only updates ``secrets``).

    ``secrets`` are keys to mask even when they are not shaped like a Perplexity key (see :func:`redact`).
    """
    with _streams_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is None:  # pythonw on Windows has no console streams
                continue
            if isinstance(stream, RedactingStream):
                stream.secrets = tuple(secrets)
            else:
                setattr(sys, name, RedactingStream(stream, secrets))


_streams_lock = threading.Lock()
