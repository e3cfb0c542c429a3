"""What the sandbox sends back: :class:`Reply`, and the documented error envelope.

Error envelope (status = code): ``{"error": {"message", "type", "code", "param"?}}``. Messages
never carry an API key: anything key-shaped that a client sent (in a path, a field name, a
model name) is masked by :func:`perplexity_sandbox.keys.scrub` before it is echoed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from perplexity_sandbox.keys import scrub


@dataclass
class Reply:
    """What the server sends: a JSON body, an HTML page, or a list of SSE frames."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    events: list[bytes] | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8", "replace")  # a lone surrogate becomes "?" instead of an exception
        return json_bytes(self.body)


def json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes, non-ASCII characters as themselves, as the real API sends them.

    Input with a lone surrogate is refused before it gets here; should one still arrive (text no
    UTF-8 can carry), it falls back to ``\\uXXXX`` escapes, so serialising can never fail.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def scrub_all(value: Any) -> Any:
    """``value`` (JSON: strings, lists, objects) with :func:`scrub` applied to every string in it.

    What needs no masking is returned as it is, not copied: a request can echo megabytes of settings, and a copy
    of each of its million tiny objects would double what it holds in memory. (``scrub`` returns the very
    string it was given when there is nothing to mask.)
    """
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        items = [scrub_all(item) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = [(scrub(key), scrub_all(item)) for key, item in value.items()]
        same = all(
            key is old_key and item is old_item
            for (key, item), (old_key, old_item) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    return value


def error_reply(status: int, message: str, error_type: str, param: str | None = None) -> Reply:
    """The documented error envelope, with ``code`` equal to the HTTP status."""
    error: dict[str, Any] = {"message": scrub(message), "type": error_type, "code": status}
    if param is not None:
        error["param"] = scrub(param)
    return Reply(status, {"error": error})


class RejectedRequestError(Exception):
    """Raised inside validation; carries the error reply to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body)
        self.reply = reply


def reject(status: int, message: str, error_type: str, param: str | None = None) -> RejectedRequestError:
    """An exception carrying an error reply (``raise reject(...)``)."""
    return RejectedRequestError(error_reply(status, message, error_type, param))
