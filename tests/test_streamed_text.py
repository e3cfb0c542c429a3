"""Streamed answers arrive as UTF-8 over real HTTP, whatever the ``Content-Type`` leaves out.

SSE is UTF-8 by definition, but requests decodes a ``text/event-stream`` without a charset as
Latin-1. These servers send exactly that, with accents, CJK and emoji, and one of them splits
every character across HTTP chunks.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from helpers.client import guide_messages
from tests.support import CannedServer, LoopbackServer, fast_client

# ✅ Café naïve — 中文的回答 🚀 ą: accents, CJK, an emoji (four bytes), and "ą" whose second byte is
# U+0085 in Latin-1, a line break to str.splitlines().
ANSWER = "\u2705 Caf\u00e9 na\u00efve \u2014 \u4e2d\u6587\u7684\u56de\u7b54 \U0001f680 \u0105"


class ChunkedServer(LoopbackServer):
    """Answers every request with ``pieces``, each one HTTP chunk of a ``text/event-stream`` without a charset."""

    def __init__(self, pieces: list[bytes]) -> None:
        super().__init__(_ChunkedHandler)
        self.pieces = pieces


class _ChunkedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked transfer needs it
    server: ChunkedServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in self.server.pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


def agent_stream(text: str, line_end: bytes = b"\n") -> bytes:
    """An Agent API stream: one delta per word, then ``response.completed`` with the whole text."""
    words = text.split(" ")
    deltas = [word if i == 0 else " " + word for i, word in enumerate(words)]
    events = [("response.output_text.delta", {"delta": delta}) for delta in deltas]
    message = {"type": "message", "content": [{"type": "output_text", "text": text}]}
    events.append(("response.completed", {"response": {"status": "completed", "output": [message]}}))
    frames = [f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n" for name, data in events]
    return "".join(frames).replace("\n", line_end.decode()).encode()


def legacy_stream(text: str) -> bytes:
    chunks = [{"choices": [{"delta": {"content": text}}]}, {"choices": [{"delta": {}, "finish_reason": "stop"}]}]
    return "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"


def split_everywhere(stream: bytes, size: int = 2) -> list[bytes]:
    """``stream`` in pieces of ``size`` bytes, so multi-byte characters and CRLFs fall across chunks."""
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def test_non_ascii_answer_without_a_charset_is_read_as_utf8() -> None:
    with CannedServer(agent_stream(ANSWER), "text/event-stream") as server, fast_client(server.url) as client:
        pieces = []
        answer = client.stream_answer("hi", on_delta=pieces.append)
    assert "".join(pieces) == ANSWER and answer.text == ANSWER


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_characters_split_across_http_chunks_arrive_whole(line_end: bytes) -> None:
    pieces = split_everywhere(b"\xef\xbb\xbf" + agent_stream(ANSWER, line_end))
    assert any(_cuts_a_character(piece) for piece in pieces)  # the test really splits characters
    with ChunkedServer(pieces) as server, fast_client(server.url) as client:
        received = []
        answer = client.stream_answer("hi", on_delta=received.append)
    assert "".join(received) == ANSWER and answer.text == ANSWER


def test_legacy_stream_without_a_charset_is_read_as_utf8() -> None:
    with ChunkedServer(split_everywhere(legacy_stream(ANSWER), 3)) as server, fast_client(server.url) as client:
        completion = client.stream_chat_completion(guide_messages())
    assert completion.text == ANSWER


def _cuts_a_character(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
