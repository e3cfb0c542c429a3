"""Fuzzing (hypothesis): whatever arrives, the sandbox answers with a status and an error body, never a
traceback, and keeps serving."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perplexity_sandbox import Sandbox
from perplexity_sandbox.api import LEGACY_FIELDS
from perplexity_sandbox.faults import FAULTS
from perplexity_sandbox.validation import AGENT_FIELDS
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT, GUIDE_LEGACY, read_response

FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PATHS = ["/v1/agent", "/v1/responses", "/chat/completions", "/v1/chat/completions", "/v1/models", "/", "/v1"]
SAFE_FAULTS = sorted(set(FAULTS) - {"slow", "drop"})  # the others answer at once
SERVER_FAULTS = {"server_error", "bad_gateway", "unavailable", "gateway_timeout", "failed"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
field_names = st.sampled_from(sorted(AGENT_FIELDS) + sorted(LEGACY_FIELDS)) | st.text(max_size=12)
bodies = st.one_of(
    json_values,
    st.dictionaries(field_names, json_values, max_size=6),
    st.builds(
        lambda base, extra: {**base, **extra},
        st.sampled_from([GUIDE_AGENT, GUIDE_LEGACY]),
        st.dictionaries(field_names, json_values, max_size=3),
    ),
)


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    # A body that never arrives in full is given up after idle_timeout: one second here, not a minute.
    with Sandbox(idle_timeout=1.0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as keep_alive:
        yield keep_alive


@FUZZ
@given(body=bodies, path=st.sampled_from(PATHS[:4]), stream=st.booleans())
def test_any_json_body_gets_an_answer_or_a_400(
    server: Sandbox, session: requests.Session, body: object, path: str, stream: bool
) -> None:
    if stream and isinstance(body, dict):
        body = {**body, "stream": True}
    reply = session.post(
        server.url_for(path), data=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}, timeout=10
    )
    assert reply.status_code in (200, 400), reply.text
    if reply.status_code == 400:
        error = reply.json()["error"]
        assert error["code"] == 400 and error["message"] and error["type"]
    elif reply.headers["Content-Type"] == "text/event-stream":
        assert reply.text.endswith("\n\n") and "Traceback" not in reply.text
    else:
        assert reply.json()["object"] in ("response", "chat.completion")


header_names = st.sampled_from(
    ["Authorization", "Content-Type", "Content-Length", "Transfer-Encoding", "X-Sandbox-Fault", "Accept", "Expect"]
) | st.from_regex(r"[A-Za-z-]{1,16}", fullmatch=True)
header_values = st.one_of(
    st.just(f"Bearer {FAKE_KEY}"),
    st.sampled_from(["application/json", "text/plain", "chunked", "0", "-1", "999999999999"]),
    st.sampled_from(SAFE_FAULTS),
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
    | st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
    path=st.sampled_from(PATHS) | st.from_regex(r"/[!-~]{0,40}", fullmatch=True),
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    body=st.binary(max_size=300),
)
def test_any_raw_request_gets_a_status_and_no_traceback(
    server: Sandbox, method: str, path: str, headers: list[tuple[str, str | bytes]], body: bytes
) -> None:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: fuzz", b"Connection: close"]
    lines += [
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()) for name, value in headers
    ]
    response = _exchange(server, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    if not response:  # closed without a word: only when the body it announced never came in full
        assert _announces_more_body(headers, body), "no answer"
        return
    assert response.startswith(b"HTTP/1.1 "), response[:100]
    status = int(response[9:12])
    asked_for_failure = any(value in SERVER_FAULTS for _, value in headers)
    assert 200 <= status < 500 or asked_for_failure, response[:300]
    assert b"Traceback" not in response and b'File "' not in response
    head, _, payload = response.partition(b"\r\n\r\n")
    if status >= 400 and method != "HEAD" and b"application/json" in head:
        assert json.loads(payload)["error"]["code"] == status
    assert requests.get(server.url_for("/v1/models"), timeout=5).status_code == 200  # still serving


ignored_body_requests = st.sampled_from(
    [
        ("GET", "/v1/models", {}),  # no body expected: the answer comes before it is read
        ("GET", "/nowhere", {}),  # 404
        ("PUT", "/v1/agent", {}),  # 405
        ("POST", "/v1/agent", {}),  # 401: no key
        ("POST", "/chat/completions", {}),  # 401, openresty's HTML page
        ("POST", "/v1/agent", {"Authorization": f"Bearer {FAKE_KEY}", "Content-Type": "text/plain"}),  # 415
    ]
)


@FUZZ
@given(first=ignored_body_requests, body=st.binary(max_size=300))
def test_keep_alive_connection_stays_in_step_after_an_ignored_body(
    server: Sandbox, first: tuple[str, str, dict], body: bytes
) -> None:
    # Two requests on one connection, the first with a body its route never uses: the second must be answered
    # as itself, not as whatever the leftover body bytes look like.
    method, path, headers = first
    lines = [f"{method} {path} HTTP/1.1", "Host: fuzz", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        reader = conn.makefile("rb")
        conn.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        status, head, _ = read_response(reader)
        assert status < 500 and b"connection: close" not in head.lower()
        conn.sendall(b"GET /v1/models HTTP/1.1\r\nHost: fuzz\r\n\r\n")
        status, _, payload = read_response(reader)
    assert status == 200, payload[:300]
    assert "perplexity/sonar" in {m["id"] for m in json.loads(payload)["data"]}


def _exchange(server: Sandbox, request: bytes) -> bytes:
    """Everything the server sends until it closes. The client does not half-close: the server, on tornado,
    takes a client's end of input for the end of the connection (as tornado's IOStream does)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def _announces_more_body(headers: list[tuple[str, str | bytes]], body: bytes) -> bool:
    """True when the request says its body is chunked, or longer than what was sent (the rest never comes)."""
    values = {name.lower(): value if isinstance(value, str) else value.decode("latin-1") for name, value in headers}
    length = values.get("content-length", "").strip()
    return "transfer-encoding" in values or (length.isdigit() and int(length) > len(body))
