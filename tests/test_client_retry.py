"""Retries run on the client session's adapter: urllib3's Retry, with the client's own rules on top.

Each server here is a real loopback HTTP server that answers from a script and counts what it received,
so a test can prove how many times a request was sent.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest

from helpers import errors
from helpers.client import ClientRetry, PerplexityClient, attempts_made, open_session
from tests.support import FAKE_KEY, LoopbackServer

Answer = tuple[int, dict[str, str], bytes]
UNAVAILABLE: Answer = (503, {"Content-Type": "application/json"}, b'{"error": {"message": "busy"}}')
OK: Answer = (200, {"Content-Type": "application/json"}, b'{"data": [{"id": "perplexity/sonar"}]}')


class Scripted(LoopbackServer):
    """Answers the n-th request with ``script[n]`` (the last one again after that); ``None`` drops it."""

    def __init__(self, *script: Answer | None) -> None:
        super().__init__(_ScriptedHandler)
        self.script, self.received = list(script), 0


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: Scripted
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.server.script[min(self.server.received, len(self.server.script) - 1)]
        self.server.received += 1
        if answer is None:
            self.close_connection = True  # closed with no answer at all
            return
        status, headers, body = answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def retries() -> list[tuple]:
    return []


def client_for(server: Scripted, seen: list[tuple], **options: object) -> PerplexityClient:
    settings = {"retry_base_delay": 0.01, "retry_max_delay": 1.0, "timeout": (1.0, 1.0), **options}
    return PerplexityClient(FAKE_KEY, server.url, on_retry=lambda *call: seen.append(call), **settings)


def test_the_session_adapter_retries_and_counts_the_attempts() -> None:
    seen: list[tuple] = []
    retry = ClientRetry(
        total=2,
        status_forcelist={503},
        allowed_methods=None,
        raise_on_status=False,
        base_delay=0.01,
        on_retry=lambda number, wait, answer: seen.append((number, answer.status)),
    )
    with Scripted(UNAVAILABLE, OK) as server, open_session(None, retry=retry) as session:
        response = session.post(server.url + "/v1/agent", json={"input": "hi"}, timeout=2)
    assert response.status_code == 200 and attempts_made(response) == 2 and server.received == 2
    assert seen == [(1, 503)]


def test_on_retry_gets_the_sentence_of_the_answer(retries: list[tuple]) -> None:
    with Scripted(UNAVAILABLE, OK) as server, client_for(server, retries) as client:
        assert client.list_models() == ["perplexity/sonar"]
    [(number, wait, error)] = retries
    assert number == 1 and 0 < wait <= 0.01 and isinstance(error, errors.ServiceError) and error.status == 503


@pytest.mark.parametrize(("header", "value"), [("Retry-After", "0.3"), ("retry-after-ms", "300")])
def test_a_fractional_or_millisecond_retry_after_is_waited_for(retries: list[tuple], header: str, value: str) -> None:
    # urllib3's own Retry refuses "0.3" with an exception and knows no retry-after-ms.
    limited: Answer = (429, {header: value}, b"{}")
    started = time.monotonic()
    with Scripted(limited, OK) as server, client_for(server, retries) as client:
        client.list_models()
    assert retries[0][1] >= 0.3 and time.monotonic() - started >= 0.3


def test_a_retry_after_longer_than_the_longest_wait_is_not_waited_for(retries: list[tuple]) -> None:
    limited: Answer = (429, {"Retry-After": "30"}, b"{}")
    started = time.monotonic()
    with (
        Scripted(limited, OK) as server,
        client_for(server, retries) as client,
        pytest.raises(errors.RateLimitError) as caught,
    ):
        client.create_response("hi")
    assert server.received == 1 and retries == [] and caught.value.retry_after == 30.0
    assert time.monotonic() - started < 1.0


def test_a_413_with_retry_after_is_not_retried(retries: list[tuple]) -> None:
    # urllib3 retries 413, 429 and 503 whenever Retry-After is present; a request too large is the learner's to fix.
    too_large: Answer = (413, {"Retry-After": "0"}, b'{"error": {"message": "too large"}}')
    with (
        Scripted(too_large, OK) as server,
        client_for(server, retries) as client,
        pytest.raises(errors.PerplexityError),
    ):
        client.create_response("hi")
    assert server.received == 1 and retries == []


def test_a_post_whose_connection_dropped_is_not_sent_again(retries: list[tuple]) -> None:
    # The server may have processed it: sending it again could run (and bill) it twice.
    with (
        Scripted(None, OK) as server,
        client_for(server, retries, max_retries=3) as client,
        pytest.raises(errors.ConnectionDroppedError),
    ):
        client.create_response("hi")
    assert server.received == 1 and retries == []


def test_the_deadline_counts_from_the_first_try(retries: list[tuple]) -> None:
    with Scripted(UNAVAILABLE) as server, client_for(server, retries, max_retries=50, deadline=0.3) as client:
        started = time.monotonic()
        with pytest.raises(errors.ServiceError) as caught:
            client.create_response("hi")
    assert time.monotonic() - started < 0.3 + 0.3 and server.received == len(retries) + 1 > 1
    assert caught.value.detail.endswith(f"(after {server.received} attempts)")


def test_every_retry_is_reported_before_its_wait(retries: list[tuple]) -> None:
    with Scripted(UNAVAILABLE, UNAVAILABLE, OK) as server, client_for(server, retries, max_retries=2) as client:
        client.list_models()
    assert [number for number, _, _ in retries] == [1, 2] and server.received == 3


def test_no_retry_is_made_with_max_retries_zero(retries: list[tuple]) -> None:
    with (
        Scripted(UNAVAILABLE, OK) as server,
        client_for(server, retries, max_retries=0) as client,
        pytest.raises(errors.ServiceError) as caught,
    ):
        client.list_models()
    assert server.received == 1 and retries == [] and "attempts" not in caught.value.detail
