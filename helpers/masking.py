"""The one way a key is hidden: :func:`mask_key` to show it, :func:`redact` for any text, :class:`Secret` to carry it.

Everything the package shows (error sentences, rendered requests, exports, log lines) passes
through :func:`redact`. A key travels through our code as a :class:`Secret`, whose ``repr`` and
``str`` are masked, so a traceback that prints local variables shows ``pplx-...abcd``; the plain
key exists only inside the header that requests builds at the last moment.
"""

from __future__ import annotations

import re

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
    if not key.startswith(KEY_PREFIX):
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


def find_key_shaped(text: str) -> list[str]:
    """Every key-shaped word in ``text``, in order (what :func:`redact` would mask without being told)."""
    return _KEY_SHAPE.findall(text)


def redact_log_text(text: str) -> str:
    """:func:`redact`, plus any value after ``Bearer``: a log line may quote a header of another API."""
    return redact(_BEARER_VALUE.sub(lambda m: m.group(1) + mask_key(m.group(2)), text))


class Secret:
    """A key on its way to a header. ``repr`` and ``str`` show the mask; :meth:`reveal` gives the key.

    Why a class and not a str: a debugger or ``%xmode Verbose`` prints every frame's local
    variables, and a plain string there is the whole key.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value = value.reveal() if isinstance(value, Secret) else value

    def reveal(self) -> str:
        """The plain key: call it only where the header is built."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self._value)!r})"

    def __str__(self) -> str:
        return mask_key(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

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
