"""Server-sent events: read a streamed answer's bytes into events, and fold them into an answer.

The parser follows the SSE specification (https://html.spec.whatwg.org/multipage/server-sent-events.html):
the stream is UTF-8 whatever the ``Content-Type`` says, lines end with CRLF, LF or CR, a leading
byte order mark is dropped, lines starting with ``:`` are comments, and several ``data:`` lines
make one event. Each event's data is JSON here, as the Perplexity API sends it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator

from helpers.errors import StreamInterruptedError, stream_interrupted
from helpers.responses import AgentResponse, Answer, ChatCompletion

DONE_EVENTS = ("response.completed", "response.incomplete")
_LINE_END = re.compile(r"\r\n|\r|\n")


def iter_sse(chunks: Iterable[bytes]) -> Iterator[dict]:
    """The events in a stream's bytes (chunks may split lines and characters anywhere), as dicts.

    An event whose data has no ``type`` gets the frame's ``event:`` name as its type; unknown types
    pass through untouched. Empty data and the OpenAI-style ``[DONE]`` end marker are skipped. An
    event cut off by the end of the stream is not yielded. Raises ValueError for data that is not a
    JSON object.
    """
    name, data = "", []
    for line in iter_lines(chunks):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not line:  # a blank line ends the event
            payload = "\n".join(data)
            if payload.strip() and payload != "[DONE]":
                yield _event(name, payload)
            name, data = "", []
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
        # Comments (no field name), "id", "retry" and unknown fields do not change an answer.


def _event(name: str, payload: str) -> dict:
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise ValueError(f"an event's data is JSON but not an object: {payload[:100]}")
    if name:
        event.setdefault("type", name)
    return event


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The stream's complete lines, decoded as UTF-8 without their line ends.

    An incremental decoder keeps a character split across chunks whole, turns invalid UTF-8 into
    U+FFFD as the specification asks, and drops a leading byte order mark ("utf-8-sig"). A CR at the
    end of what has arrived waits for the next chunk: with an LF there, the two are one line end.
    Bytes after the last line end are an unfinished line: the specification discards them.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pending = ""
    for chunk in chunks:
        text = pending + decoder.decode(chunk)
        held = text.endswith("\r")
        *lines, pending = _LINE_END.split(text[:-1] if held else text)
        pending += "\r" if held else ""
        yield from lines
    if pending.endswith("\r"):  # the stream ended: that CR ended a line after all
        yield pending[:-1]


def collect_answer(events: Iterable[dict], on_delta: Callable[[str], None] | None = None) -> Answer:
    """Fold a stream's events into its final answer, calling ``on_delta(text)`` with each new piece of text.

    It reads both endpoints' streams: the Agent API's events (its text in ``response.output_text.delta``,
    the answer in ``response.completed`` or ``response.incomplete``) and the legacy chunks (text in
    ``choices[0].delta``, ending with the chunk that has a ``finish_reason``). Only what it needs is
    read; any other event (new or unknown types) is ignored. A stream that ends before its answer, or
    breaks, raises :class:`~helpers.errors.StreamInterruptedError` carrying the text received so far.
    """
    text = ""
    try:
        for event in events:
            kind = event.get("type")
            choice = (event.get("choices") or [{}])[0]
            agent_delta = event.get("delta") if kind == "response.output_text.delta" else None
            delta = agent_delta or (choice.get("delta") or {}).get("content") or ""
            text += delta
            if delta and on_delta:
                on_delta(delta)
            if kind in DONE_EVENTS:
                return AgentResponse(event.get("response") or {})
            if choice.get("finish_reason"):
                final = {**choice, "message": {"role": "assistant", "content": text}}
                return ChatCompletion({**event, "object": "chat.completion", "choices": [final]})
        raise stream_interrupted()
    except StreamInterruptedError as error:
        error.partial_text = text
        raise
