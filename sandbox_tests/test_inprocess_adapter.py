"""The in-process transport (the browser edition's): plain ``requests`` gets what the HTTP sandbox would send.

Each answer is compared with the real HTTP server's answer to the same request, so the adapter cannot drift from
it; the failures the sandbox stages come out as the exceptions ``requests`` raises for them over a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from perplexity_sandbox import FAULT_HEADER, Sandbox
from perplexity_sandbox.inprocess import InProcessAdapter
from sandbox_tests.support import AUTH, GUIDE_AGENT, GUIDE_LEGACY

BASE = "http://127.0.0.1:7357"  # no server listens here: only the mounted adapter answers


class Recorder:
    """Stands in for ``time.sleep``: keeps each pause asked for, and waits none of it."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def pauses() -> Recorder:
    return Recorder()


@pytest.fixture
def session(pauses: Recorder) -> Iterator[requests.Session]:
    with requests.Session() as in_process:
        in_process.mount(BASE + "/", InProcessAdapter(pace=0.04, sleep=pauses))
        yield in_process


def comparable(response: requests.Response) -> tuple[int, str, object]:
    """Status, media type and body, without what differs from one answer to the next (ids, times)."""
    media_type = response.headers["Content-Type"].split(";")[0]
    if media_type != "application/json":
        return response.status_code, media_type, response.text
    return response.status_code, media_type, _without_volatile(response.json())


def _without_volatile(value: object) -> object:
    """``value`` without the generated ids and the clock's times, at any depth (numbered citations stay)."""
    if isinstance(value, list):
        return [_without_volatile(item) for item in value]
    if not isinstance(value, dict):
        return value
    volatile = {"created_at", "created", "completed_at"}
    return {
        name: _without_volatile(item)
        for name, item in value.items()
        if name not in volatile and not (name == "id" and isinstance(item, str))
    }


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("POST", "/v1/agent", AUTH, GUIDE_AGENT),  # the taught cell
        ("POST", "/chat/completions", AUTH, GUIDE_LEGACY),  # the guide's retired model: 400
        ("POST", "/chat/completions", {}, GUIDE_LEGACY),  # no key on the legacy path: openresty's HTML page
        ("POST", "/v1/agent", {}, GUIDE_AGENT),  # no key: 401
        ("GET", "/v1/models", AUTH, None),
        ("GET", "/practice/auth", {"X-API-Key": "anything"}, None),
        ("DELETE", "/v1/agent", AUTH, None),  # 405 with Allow
        ("POST", "/v1/agent", {**AUTH, FAULT_HEADER: "rate_limit"}, GUIDE_AGENT),
    ],
)
def test_each_answer_is_the_http_sandboxs_answer(
    session: requests.Session, sandbox: Sandbox, method: str, path: str, headers: dict, body: object
) -> None:
    in_process = session.request(method, BASE + path, headers=headers, json=body, timeout=10)
    over_http = requests.request(method, sandbox.url + path, headers=headers, json=body, timeout=10)
    assert comparable(in_process) == comparable(over_http)
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        assert in_process.headers.get(name) == over_http.headers.get(name)
    assert in_process.request.url == BASE + path and in_process.reason == over_http.reason


def test_a_stream_arrives_event_by_event_at_the_sandboxs_pace(session: requests.Session, pauses: Recorder) -> None:
    response = session.post(BASE + "/v1/agent", headers=AUTH, json={**GUIDE_AGENT, "stream": True}, stream=True)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    pieces = []
    for piece in response.iter_content(chunk_size=None):
        pieces.append(piece)
        assert len(pauses.pauses) == max(0, len(pieces) - 1)  # nothing read ahead: each event after its pause
    assert len(pieces) > 3 and set(pauses.pauses) == {0.04}
    types = [json.loads(piece.split(b"data: ", 1)[1])["type"] for piece in pieces]
    assert types[0] == "response.created" and types[-1] == "response.completed"


def test_a_stream_reads_as_over_http_in_small_pieces_too(session: requests.Session, sandbox: Sandbox) -> None:
    stream = {**GUIDE_AGENT, "stream": True}
    in_process = session.post(BASE + "/v1/agent", headers=AUTH, json=stream, stream=True)
    over_http = requests.post(sandbox.url + "/v1/agent", headers=AUTH, json=stream, timeout=10)
    read = b"".join(iter(lambda: in_process.raw.read1(7, decode_content=True), b""))
    events = [json.loads(line[6:])["type"] for line in read.decode().splitlines() if line.startswith("data: ")]
    expected = [json.loads(line[6:])["type"] for line in over_http.text.splitlines() if line.startswith("data: ")]
    assert events == expected


def test_a_cut_stream_fails_as_a_broken_connection_does(session: requests.Session) -> None:
    headers = {**AUTH, FAULT_HEADER: "truncate_stream"}
    response = session.post(BASE + "/v1/agent", headers=headers, json={**GUIDE_AGENT, "stream": True}, stream=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(response.iter_content(chunk_size=None))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # without stream=True: at once
        session.post(BASE + "/v1/agent", headers=headers, json={**GUIDE_AGENT, "stream": True})


def test_a_dropped_request_is_a_connection_error(session: requests.Session) -> None:
    with pytest.raises(requests.ConnectionError):
        session.post(BASE + "/v1/agent", headers={**AUTH, FAULT_HEADER: "drop"}, json=GUIDE_AGENT, timeout=10)


def test_a_slow_answer_waits_and_the_read_timeout_cuts_it(session: requests.Session, pauses: Recorder) -> None:
    slow = {**AUTH, FAULT_HEADER: "slow", "X-Sandbox-Delay": "3"}
    assert session.post(BASE + "/v1/agent", headers=slow, json=GUIDE_AGENT, timeout=10).status_code == 200
    assert pauses.pauses == [3.0]
    with pytest.raises(requests.ReadTimeout):
        session.post(BASE + "/v1/agent", headers=slow, json=GUIDE_AGENT, timeout=(5, 1.5))
    assert pauses.pauses == [3.0, 1.5]


def test_stored_runs_live_in_the_adapters_one_sandbox(session: requests.Session) -> None:
    background = {**GUIDE_AGENT, "background": True}
    made = session.post(BASE + "/v1/agent", headers=AUTH, json=background, timeout=10).json()
    again = session.get(f"{BASE}/v1/agent/{made['id']}", headers=AUTH, timeout=10)
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    with requests.Session() as other:  # another adapter is another sandbox: it never saw that run
        other.mount(BASE + "/", InProcessAdapter())
        assert other.get(f"{BASE}/v1/agent/{made['id']}", headers=AUTH, timeout=10).status_code == 404


def test_a_body_as_text_chunks_or_a_file_arrives_whole(session: requests.Session) -> None:
    text = json.dumps(GUIDE_AGENT)
    for body in (text, iter([text[:10].encode(), text[10:].encode()])):
        headers = {**AUTH, "Content-Type": "application/json"}
        assert session.post(BASE + "/v1/agent", headers=headers, data=body, timeout=10).status_code == 200
