"""Server-sent events: read a streamed answer's bytes into events, and fold Agent API events into an answer.

The parser follows the SSE specification (https://html.spec.whatwg.org/multipage/server-sent-events.html):
the stream is UTF-8 whatever the ``Content-Type`` says, lines end with CRLF, LF or CR, a leading
byte order mark is dropped, lines starting with ``:`` are comments, and several ``data:`` lines
make one event. Each event's data is JSON here, as the Perplexity API sends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from helpers.responses import AgentResponse

DONE_EVENTS = ("response.completed", "response.incomplete")
_LINE_END = re.compile(rb"\r\n|\r|\n")


def iter_sse(chunks: Iterable[bytes]) -> Iterator[dict]:
    """The events in a stream's bytes (chunks may split lines and characters anywhere), as dicts.

    An event whose data has no ``type`` gets the frame's ``event:`` name as its type; unknown types
    pass through untouched. Empty data and the OpenAI-style ``[DONE]`` end marker are skipped. An
    event cut off by the end of the stream is not yielded. Raises ValueError for data that is not a
    JSON object.
    """
    name, data = "", []
    for line in iter_lines(chunks):
        if not line:  # a blank line ends the event
            event = _event(name, data) if data else None
            if event is not None:
                yield event
            name, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        # Comments (no field name), "id", "retry" and unknown fields do not change an answer.


def _event(name: str, data: list[str]) -> dict | None:
    payload = "\n".join(data)
    if not payload.strip() or payload == "[DONE]":
        return None
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise ValueError(f"an event's data is JSON but not an object: {payload[:100]}")
    if name and "type" not in event:
        event["type"] = name
    return event


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The stream's complete lines, decoded as UTF-8 without their line ends.

    Lines are split on bytes, where a CR or LF can never be part of a multi-byte character, so a
    character split across chunks is decoded whole. Invalid UTF-8 becomes U+FFFD, as the
    specification asks. A CR that ends one chunk and an LF that starts the next are one line end.
    """
    pending, after_cr, first = bytearray(), False, True
    for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF that a chunk boundary split
            after_cr = False
        if not chunk:
            continue
        pending += chunk
        after_cr = chunk.endswith(b"\r")
        if b"\n" not in chunk and b"\r" not in chunk:
            continue  # the line goes on
        *lines, rest = _LINE_END.split(pending)
        pending = bytearray(rest)
        for line in lines:
            text = line.decode("utf-8", errors="replace")
            yield text.removeprefix("\ufeff") if first else text
            first = False
    # Bytes after the last line end are an unfinished line: the specification discards them.


class AnswerCollector:
    """Folds Agent API stream events into the text so far and, at the end, the final response.

    Only the events it needs are read; any other type (new or unknown ones) is ignored.
    """

    def __init__(self) -> None:
        self.text = ""
        self.response: AgentResponse | None = None

    def add(self, event: dict) -> str:
        """Take one event; return the new text it carries (often empty)."""
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = event.get("delta") or ""
            self.text += delta
            return delta
        if kind in DONE_EVENTS:
            self.response = AgentResponse(event.get("response") or {})
        return ""
