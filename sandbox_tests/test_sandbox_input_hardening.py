"""The sandbox never answers 500 to input, and never hangs or misreads a request's framing.

Over real sockets: JSON nested too deep or holding a lone surrogate is a 400 with the usual error envelope and
one log line (no traceback); HTTP/1.0 clients get replies they can read (keep-alive when asked, no chunked
encoding); a body whose length is ambiguous (the request-smuggling shapes) is a 400 and the connection ends.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from perplexity_sandbox import Sandbox, api
from perplexity_sandbox.replies import Reply
from perplexity_sandbox.validation import MAX_JSON_DEPTH
from sandbox_tests.support import (
    AUTH,
    FAKE_KEY,
    GUIDE_AGENT,
    GUIDE_LEGACY,
    assert_error_envelope,
    raw_exchange,
    read_response,
)

SONAR_LEGACY = {**GUIDE_LEGACY, "model": "sonar"}
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
SLOT = '"@@"'  # where a test splices raw JSON text into an otherwise valid request


def nested(depth: int) -> str:
    """JSON text of ``depth`` arrays inside one another."""
    return "[" * depth + "1" + "]" * depth


def spliced(body: dict, raw: str) -> bytes:
    """``body`` as JSON with the ``"@@"`` value replaced by ``raw`` (text json.dumps would never write)."""
    text = json.dumps(body)
    assert SLOT in text
    return text.replace(SLOT, raw).encode()


def post_logged(sandbox: Sandbox, path: str, data: bytes, caplog: pytest.LogCaptureFixture) -> requests.Response:
    """POST ``data``; check the request left exactly one log line and no traceback."""
    caplog.set_level(logging.DEBUG, logger="perplexity_sandbox")
    caplog.clear()
    reply = requests.post(sandbox.url_for(path), data=data, headers=JSON_HEADERS, timeout=5)
    records = [r for r in caplog.records if r.name.startswith("perplexity_sandbox")]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.INFO and records[0].exc_info is None
    assert f'"POST {path}" {reply.status_code} ' in records[0].getMessage()
    return reply


def assert_400(reply: requests.Response, words: str) -> None:
    assert reply.status_code == 400, reply.text[:300]
    assert_error_envelope(reply.content, 400)
    assert words in reply.json()["error"]["message"]


# --- 1. deep nesting and lone surrogates are refused when the body is read -------------------

DEEP = nested(500)
DEEP_BODIES = {
    "json_schema": ("/v1/agent", {**GUIDE_AGENT, "response_format": {"type": "json_schema", "json_schema": "@@"}}),
    "input": ("/v1/agent", {**GUIDE_AGENT, "input": "@@"}),
    "tools": ("/v1/agent", {**GUIDE_AGENT, "tools": "@@"}),
    "tool_choice": ("/v1/agent", {**GUIDE_AGENT, "tool_choice": {"any": "@@"}}),
    "streamed": ("/v1/agent", {**GUIDE_AGENT, "stream": True, "skills": "@@"}),
    "legacy": ("/chat/completions", {**SONAR_LEGACY, "response_format": "@@"}),
    "legacy messages": ("/chat/completions", {**SONAR_LEGACY, "messages": "@@"}),
}


@pytest.mark.parametrize("place", DEEP_BODIES)
def test_deep_nesting_anywhere_is_400(sandbox: Sandbox, caplog: pytest.LogCaptureFixture, place: str) -> None:
    path, body = DEEP_BODIES[place]
    reply = post_logged(sandbox, path, spliced(body, DEEP), caplog)
    assert_400(reply, f"nests deeper than {MAX_JSON_DEPTH} levels")


def test_nesting_up_to_the_limit_is_accepted(sandbox: Sandbox) -> None:
    # The body is level 1 and response_format level 2, so json_schema's arrays may go MAX_JSON_DEPTH - 2 deep.
    body = {**GUIDE_AGENT, "response_format": {"type": "json_schema", "json_schema": "@@"}}
    deepest = requests.post(
        sandbox.url_for("/v1/agent"), data=spliced(body, nested(MAX_JSON_DEPTH - 2)), headers=JSON_HEADERS, timeout=5
    )
    assert deepest.status_code == 200, deepest.text[:300]
    assert json.dumps(deepest.json()["text"]["format"]["json_schema"]) == nested(MAX_JSON_DEPTH - 2)
    too_deep = requests.post(
        sandbox.url_for("/v1/agent"), data=spliced(body, nested(MAX_JSON_DEPTH - 1)), headers=JSON_HEADERS, timeout=5
    )
    assert_400(too_deep, "nests deeper")


def test_nesting_beyond_the_parsers_own_limit_says_so(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    reply = post_logged(sandbox, "/v1/agent", spliced({**GUIDE_AGENT, "skills": "@@"}, nested(100_000)), caplog)
    assert_400(reply, "nests deeper")


LONE = {
    "input": ("/v1/agent", {**GUIDE_AGENT, "input": "@@"}, r'"\ud800"'),
    "instructions": ("/v1/agent", {**GUIDE_AGENT, "instructions": "@@"}, r'"Be precise \udc00"'),
    "high then letter": ("/v1/agent", {**GUIDE_AGENT, "input": "@@"}, r'"\ud800\u0041"'),
    "low then high": ("/v1/agent", {**GUIDE_AGENT, "input": "@@"}, r'"\udc00\ud800"'),
    "object key": (
        "/v1/agent",
        {**GUIDE_AGENT, "response_format": {"type": "json_schema", "json_schema": "@@"}},
        r'{"\ud800": 1}',
    ),
    "field name": ("/v1/agent", {**GUIDE_AGENT, "extra": "@@"}, r'{"\udfff": []}'),
    "input part": (
        "/v1/agent",
        {**GUIDE_AGENT, "input": "@@"},
        r'[{"role": "user", "content": [{"type": "input_text", "text": "\ud800"}]}]',
    ),
    "streamed": ("/v1/agent", {**GUIDE_AGENT, "stream": True, "input": "@@"}, r'"\ud800"'),
    "legacy": ("/chat/completions", {**SONAR_LEGACY, "messages": "@@"}, r'[{"role": "user", "content": "\ud800"}]'),
    "legacy streamed": (
        "/chat/completions",
        {**SONAR_LEGACY, "stream": True, "messages": "@@"},
        r'[{"role": "user", "content": "\udbff"}]',
    ),
}


@pytest.mark.parametrize("place", LONE)
def test_a_lone_surrogate_anywhere_is_400(sandbox: Sandbox, caplog: pytest.LogCaptureFixture, place: str) -> None:
    path, body, raw = LONE[place]
    reply = post_logged(sandbox, path, spliced(body, raw), caplog)
    assert_400(reply, "invalid Unicode escape (a lone surrogate)")


def test_a_surrogate_pair_is_a_character_and_is_accepted(sandbox: Sandbox) -> None:
    data = spliced({**GUIDE_AGENT, "input": "@@"}, r'"Why do people like \ud83d\ude00?"')
    reply = requests.post(sandbox.url_for("/v1/agent"), data=data, headers=JSON_HEADERS, timeout=5)
    assert reply.status_code == 200 and "\U0001f600" in reply.json()["output"][-1]["content"][0]["text"]


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e999"])
def test_numbers_json_cannot_carry_are_400(sandbox: Sandbox, caplog: pytest.LogCaptureFixture, number: str) -> None:
    # Echoed back, these would make the reply itself invalid JSON (NaN, Infinity).
    body = {**GUIDE_AGENT, "response_format": {"type": "json_schema", "json_schema": {"maximum": "@@"}}}
    reply = post_logged(sandbox, "/v1/agent", spliced(body, number), caplog)
    assert_400(reply, "number")


def test_the_reply_path_cannot_fail_on_lone_surrogates() -> None:
    # Defence in depth, below the server's refusal: the answer, its ids, its JSON and its SSE frames are
    # built and serialised without ever encoding a lone surrogate as UTF-8.
    for stream in (False, True):
        agent = api.agent({**GUIDE_AGENT, "input": "\ud800 sky", "stream": stream})
        legacy = api.chat_completions(
            {**SONAR_LEGACY, "stream": stream, "messages": [{"role": "user", "content": "\udc00 sky"}]}
        )
        for reply in (agent, legacy):
            frames = reply.events if stream else [reply.payload()]
            assert reply.status == 200 and all(frame.isascii() for frame in frames)
            assert b"\\ud" in b"".join(frames)  # escaped as JSON allows, not encoded
    assert Reply(200, "page \ud800", content_type="text/html").payload() == b"page ?"


# --- 2. HTTP/1.0 clients: keep-alive when asked, never chunked -------------------------------


def http10_request(path: str, body: dict, keep_alive: bool) -> bytes:
    data = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.0",
        "Host: sandbox",
        f"Authorization: Bearer {FAKE_KEY}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
    ]
    head += ["Connection: Keep-Alive"] if keep_alive else []
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


@contextmanager
def connection(sandbox: Sandbox, timeout: float = 2) -> Iterator[socket.socket]:
    """A raw connection whose reads give up after ``timeout`` seconds (a hang fails the test quickly)."""
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        yield conn


def test_http10_keep_alive_is_honoured_and_announced(sandbox: Sandbox) -> None:
    with connection(sandbox) as conn:
        reader = conn.makefile("rb")
        for _ in range(2):  # two requests on one connection: real keep-alive
            conn.sendall(http10_request("/v1/agent", GUIDE_AGENT, keep_alive=True))
            status, head, body = read_response(reader)
            assert status == 200 and b"\r\nconnection: keep-alive\r\n" in head.lower()
            assert json.loads(body)["status"] == "completed"
        conn.sendall(http10_request("/v1/agent", GUIDE_AGENT, keep_alive=False))  # no Keep-Alive: the last one
        status, head, body = read_response(reader)
        assert status == 200 and b"\r\nconnection: close\r\n" in head.lower()
        assert reader.read() == b""  # EOF, at once


def test_http10_client_reading_as_http10_does_not_hang(sandbox: Sandbox) -> None:
    # An HTTP/1.0 client reads to EOF unless the reply says keep-alive: either way this must end at once.
    with connection(sandbox) as conn:
        conn.sendall(http10_request("/v1/agent", GUIDE_AGENT, keep_alive=True))
        reader = conn.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n") and (line := reader.readline(65536)):
            head += line.lower()
        if b"\r\nconnection: keep-alive\r\n" in head:
            body = reader.read(int(head.split(b"content-length:")[1].split(b"\r\n")[0]))
        else:
            body = reader.read()  # until EOF
    assert head.startswith(b"http/1.1 200 ") and json.loads(body)["status"] == "completed"


STREAMS = {
    "agent": ("/v1/agent", {**GUIDE_AGENT, "stream": True}, b"event: response.completed\n"),
    "legacy": ("/chat/completions", {**SONAR_LEGACY, "stream": True}, b'"finish_reason":"stop"'),
}


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("kind", STREAMS)
def test_http10_stream_is_a_close_delimited_body(sandbox: Sandbox, kind: str, keep_alive: bool) -> None:
    path, body, last = STREAMS[kind]
    status, headers, payload = raw_exchange(sandbox, http10_request(path, body, keep_alive), timeout=2)
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert payload.startswith((b"event: response.created\n", b"data: {")) and payload.endswith(b"\n\n")
    assert last in payload.rsplit(b"\n\n", 2)[-2]


# --- 3. ambiguous framing: 400, and the connection ends --------------------------------------

AGENT_HEAD = f"POST /v1/agent HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FAKE_KEY}\r\n"
CHUNKED = "Transfer-Encoding: chunked\r\n"
SMALL = json.dumps(GUIDE_AGENT)
SMUGGLED = "GET /v1/models HTTP/1.1\r\nHost: sandbox\r\n\r\n"  # what a second parser might read as a request


def chunked_body(size_text: str, data: str = SMALL, after: str = "\r\n") -> str:
    return f"{size_text}\r\n{data}{after}0\r\n\r\n"


FRAMING = {
    "length and chunked": (f"Content-Length: 5\r\n{CHUNKED}\r\n" + chunked_body(f"{len(SMALL):x}"), "both"),
    "chunked and length": (f"{CHUNKED}Content-Length: 0\r\n\r\n" + chunked_body(f"{len(SMALL):x}"), "both"),
    "two lengths": (f"Content-Length: {len(SMALL)}\r\nContent-Length: 0\r\n\r\n{SMALL}{SMUGGLED}", "Content-Length"),
    "same length twice": (
        f"Content-Length: {len(SMALL)}\r\nContent-Length: {len(SMALL)}\r\n\r\n{SMALL}",
        "Content-Length",
    ),
    "signed length": (f"Content-Length: +{len(SMALL)}\r\n\r\n{SMALL}", "Content-Length"),
    "length with junk": (f"Content-Length:  {len(SMALL)}x\r\n\r\n{SMALL}", "Content-Length"),
    "length too long for int()": ("Content-Length: " + "9" * 5000 + f"\r\n\r\n{SMALL}", "Content-Length"),
    "length with underscore": (
        f"Content-Length: {len(SMALL) // 10}_{len(SMALL) % 10}\r\n\r\n{SMALL}",
        "Content-Length",
    ),
    "two transfer codings": (f"{CHUNKED}{CHUNKED}\r\n" + chunked_body(f"{len(SMALL):x}"), "Transfer-Encoding"),
    "hex prefix": (f"{CHUNKED}\r\n" + chunked_body(f"0x{len(SMALL):x}"), "chunk"),
    "signed chunk": (f"{CHUNKED}\r\n" + chunked_body(f"+{len(SMALL):x}"), "chunk"),
    "spaced chunk": (f"{CHUNKED}\r\n" + chunked_body(f" {len(SMALL):x}"), "chunk"),
    "underscored chunk": (f"{CHUNKED}\r\n" + chunked_body(f"{len(SMALL):x}".replace("", "_")[1:-1]), "chunk"),
    "chunk overruns": (f"{CHUNKED}\r\n" + chunked_body(f"{len(SMALL) - 2:x}"), "chunk"),
    # Refused as tornado's reader refuses them: parsers that disagree on extensions are a smuggling vector.
    "chunk extension": (f"{CHUNKED}\r\n" + chunked_body(f"{len(SMALL):X};note=1"), "no extensions"),
}


@pytest.mark.parametrize("case", FRAMING)
def test_ambiguous_framing_is_400_and_closes(sandbox: Sandbox, case: str) -> None:
    rest, words = FRAMING[case]
    status, headers, body = raw_exchange(sandbox, (AGENT_HEAD + rest).encode(), timeout=2)  # to EOF
    assert status == 400 and headers["connection"] == "close", body[:300]
    assert_error_envelope(body, 400)
    assert words in json.loads(body)["error"]["message"]
    assert body.count(b"HTTP/1.1") == 0  # nothing smuggled was answered
    assert requests.get(sandbox.url_for("/v1/models"), timeout=5).status_code == 200


def test_framing_is_checked_before_the_route(sandbox: Sandbox) -> None:
    request = f"GET /v1/models HTTP/1.1\r\nHost: sandbox\r\nContent-Length: 0\r\n{CHUNKED}\r\n0\r\n\r\n"
    status, headers, body = raw_exchange(sandbox, request.encode(), timeout=2)
    assert status == 400 and headers["connection"] == "close"
    assert_error_envelope(body, 400)


def test_http10_chunked_request_is_400(sandbox: Sandbox) -> None:
    # HTTP/1.0 has no chunked coding: such a request's framing is faulty (RFC 9112, section 6.1).
    request = AGENT_HEAD.replace("HTTP/1.1", "HTTP/1.0") + CHUNKED + "\r\n" + chunked_body(f"{len(SMALL):x}")
    status, headers, body = raw_exchange(sandbox, request.encode(), timeout=2)
    assert status == 400 and headers["connection"] == "close"
    assert "HTTP/1.0" in json.loads(body)["error"]["message"]


def test_strict_framing_still_accepts_well_formed_bodies(sandbox: Sandbox) -> None:
    plain = f"Content-Length: {len(SMALL)} \r\nConnection: close\r\n\r\n{SMALL}"  # trailing space: allowed
    upper = f"{CHUNKED}Connection: close\r\n\r\n" + chunked_body(f"{len(SMALL):X}")  # hex in capitals
    split = f"{CHUNKED}Connection: close\r\n\r\n{10:x}\r\n{SMALL[:10]}\r\n" + chunked_body(
        f"{len(SMALL) - 10:x}", SMALL[10:]
    )
    for rest in (plain, upper, split):
        status, _, body = raw_exchange(sandbox, (AGENT_HEAD + rest).encode(), timeout=2)
        assert status == 200 and json.loads(body)["status"] == "completed", body[:300]
