"""What the sandbox sends back: :class:`Reply`, and the documented error envelope.

Error envelope (status = code): ``{"error": {"message", "type", "code", "param"?}}``. Messages
never carry an API key: anything key-shaped that a client sent (in a path, a field name, a
model name) is cut down to ``pplx-...`` before it is echoed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_KEY_SHAPED = re.compile(r"pplx-[^\s\"'/?&#]{15,}", re.IGNORECASE)  # 20+ characters, as keys are


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
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def scrub(text: str) -> str:
    """``text`` with every key-shaped word cut to ``pplx-...``."""
    return _KEY_SHAPED.sub("pplx-...", text)


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
