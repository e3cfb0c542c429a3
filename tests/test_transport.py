"""Transport safety: the key goes only over https or to loopback, never follows a redirect, never leaks in errors.

The servers here are real HTTP servers on loopback that misbehave on purpose (redirect, echo the
key back); each records the requests it received, so a test can prove what was never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler

import pytest

from helpers import errors
from helpers.client import PerplexityClient
from helpers.keys import mask_key
from helpers.settings import check_transport
from tests.support import FAKE_KEY, LoopbackServer


class Recorder(LoopbackServer):
    """A loopback server that answers every request with ``reply(handler)`` and remembers its headers."""

    def __init__(self, reply) -> None:
        super().__init__(_Handler)
        self.reply, self.seen = reply, []


class _Handler(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(dict(self.headers))
        status, headers, body = self.server.reply(self)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    with ExitStack() as servers:

        def start(reply) -> Recorder:
            return servers.enter_context(Recorder(reply))

        yield start


def redirect_to(target: str, status: int = 307):
    return lambda handler: (status, {"Location": target + handler.path}, b"")


# --- which addresses may receive the key --------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.perplexity.ai",
        "https://example.com:8443/base",
        "http://127.0.0.1:8000",
        "http://localhost:1234",
        "http://[::1]:8000",
        "http://127.5.6.7",
        "HTTP://127.0.0.1",
    ],
)
def test_https_and_loopback_http_are_allowed(url: str) -> None:
    check_transport(url, FAKE_KEY)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.perplexity.ai",
        "http://127.0.0.1.nip.io",
        "http://127.0.0.1@evil.example",
        "http://0.0.0.0:8000",
        "http://192.168.1.10",
        "https://",
        "file:///etc/passwd",
        "api.perplexity.ai",
        "ws://127.0.0.1:8000",
    ],
)
def test_everything_else_is_refused(url: str) -> None:
    with pytest.raises(errors.TransportSecurityError, match=r"Refusing to send your key|is not usable"):
        check_transport(url, FAKE_KEY)


def test_the_client_refuses_before_opening_a_connection(serve) -> None:
    server = serve(lambda handler: (200, {}, b"{}"))
    unsafe = server.url.replace("127.0.0.1", "localhost.example")  # same port, not loopback by name
    with pytest.raises(errors.TransportSecurityError):
        PerplexityClient(FAKE_KEY, unsafe)
    assert server.seen == []


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(serve, status: int) -> None:
    elsewhere = serve(lambda handler: (200, {"Content-Type": "application/json"}, b'{"data": []}'))
    first = serve(redirect_to(elsewhere.url.replace("127.0.0.1", "localhost"), status))
    with PerplexityClient(FAKE_KEY, first.url) as client, pytest.raises(errors.UnexpectedResponseError) as caught:
        client.create_response("hi")
    assert first.seen[0]["Authorization"] == f"Bearer {FAKE_KEY}"
    assert elsewhere.seen == []  # neither the key nor anything else went to the other host
    assert "redirected" in str(caught.value) and FAKE_KEY not in str(caught.value)


@pytest.mark.parametrize("call", ["list_models", "chat_completion", "stream_response"])
def test_no_endpoint_follows_a_redirect(serve, call: str) -> None:
    elsewhere = serve(lambda handler: (200, {"Content-Type": "application/json"}, b"{}"))
    first = serve(redirect_to(elsewhere.url, 302))
    calls = {
        "list_models": lambda c: c.list_models(),
        "chat_completion": lambda c: c.chat_completion([{"role": "user", "content": "hi"}]),
        "stream_response": lambda c: list(c.stream_response("hi")),
    }
    with PerplexityClient(FAKE_KEY, first.url) as client, pytest.raises(errors.UnexpectedResponseError):
        calls[call](client)
    assert elsewhere.seen == []


def test_a_redirect_whose_location_holds_the_key_does_not_show_it(serve) -> None:
    first = serve(
        lambda handler: (302, {"Location": f"https://evil.example/?k={handler.headers['Authorization'][7:]}"}, b"")
    )
    with PerplexityClient(FAKE_KEY, first.url) as client, pytest.raises(errors.UnexpectedResponseError) as caught:
        client.list_models()
    assert FAKE_KEY not in str(caught.value)


# --- the key in error messages ------------------------------------------------------------


def echo_key_as(status: int, content_type: str = "application/json"):
    """A server that puts the key it received into its error answer, as a careless proxy might."""

    def reply(handler: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
        key = handler.headers["Authorization"].removeprefix("Bearer ")
        if content_type == "application/json":
            body = json.dumps({"error": {"message": f"bad key {key}", "type": "invalid_request", "param": "x"}})
        else:
            body = f"<html>your key {key} is wrong</html>"
        return status, {"Content-Type": content_type}, body.encode()

    return reply


@pytest.mark.parametrize(
    ("status", "content_type", "error_class"),
    [
        (400, "application/json", errors.InvalidRequestError),
        (401, "application/json", errors.AuthenticationError),
        (500, "application/json", errors.ServiceError),
        (401, "text/html", errors.AuthenticationError),
        (200, "text/html", errors.UnexpectedResponseError),
    ],
)
def test_a_key_echoed_by_the_server_is_redacted(serve, status: int, content_type: str, error_class: type) -> None:
    server = serve(echo_key_as(status, content_type))
    with PerplexityClient(FAKE_KEY, server.url, max_retries=0) as client, pytest.raises(error_class) as caught:
        client.create_response("hi")
    shown = f"{caught.value} {caught.value.detail} {caught.value!r}"
    assert FAKE_KEY not in shown
    assert mask_key(FAKE_KEY) in caught.value.detail  # the server's words are kept, with the key masked


def test_a_network_error_does_not_show_the_key(serve) -> None:
    server = serve(lambda handler: (200, {}, b""))
    url = server.url
    server.shutdown()
    server.server_close()
    with PerplexityClient(FAKE_KEY, url) as client, pytest.raises(errors.NetworkError) as caught:
        client.list_models()
    assert FAKE_KEY not in f"{caught.value} {caught.value.detail}"
    assert FAKE_KEY not in repr(client)
