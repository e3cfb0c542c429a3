"""The client against the sandbox: answers, error classes, transport safety."""

from __future__ import annotations

import pytest

from helpers import errors
from helpers.client import GUIDE_QUESTION, GUIDE_SYSTEM, PerplexityClient, connect, guide_messages
from helpers.display import answer_markdown, usage_markdown
from helpers.settings import check_transport
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY


@pytest.fixture
def client(sandbox: Sandbox) -> PerplexityClient:
    with PerplexityClient(FAKE_KEY, sandbox.url, mode="sandbox") as c:
        yield c


def test_guide_question_through_the_agent_api(client: PerplexityClient) -> None:
    response = client.create_response(GUIDE_QUESTION, instructions=GUIDE_SYSTEM, web_search=True)
    assert response.status == "completed"
    assert "billion" in response.text
    assert [s.number for s in response.sources] == [1, 2, 3]
    assert response.total_cost > 0
    markdown = answer_markdown(response)
    assert "[[1]](https://science.nasa.gov" in markdown and "**Sources**" in markdown
    assert "perplexity/sonar" in usage_markdown(response)


def test_guide_original_request_is_an_invalid_model_error(client: PerplexityClient) -> None:
    with pytest.raises(errors.InvalidModelError, match=r"mistral-7b-instruct.*'sonar'"):
        client.chat_completion(guide_messages(), model="mistral-7b-instruct")


def test_guide_request_with_a_current_model(client: PerplexityClient) -> None:
    completion = client.chat_completion(guide_messages(), model="sonar")
    assert "billion" in completion.text and len(completion.sources) == 3


def test_bad_key_is_an_authentication_error_without_the_key(sandbox: Sandbox) -> None:
    revoked = "pplx-revoked" + "1" * 30
    with PerplexityClient(revoked, sandbox.url) as c, pytest.raises(errors.AuthenticationError) as caught:
        c.create_response("hi")
    assert revoked not in str(caught.value) and revoked not in caught.value.detail


def test_streaming_yields_typed_events(client: PerplexityClient) -> None:
    events = list(client.stream_response(GUIDE_QUESTION, web_search=True))
    assert events[-1]["type"] == "response.completed"


def test_models_are_listed(client: PerplexityClient) -> None:
    assert "perplexity/sonar" in client.list_models()


@pytest.mark.parametrize("url", ["http://api.perplexity.ai", "http://10.0.0.5:8000", "ftp://x"])
def test_key_is_never_sent_over_plain_http_to_another_host(url: str) -> None:
    with pytest.raises(errors.TransportSecurityError):
        check_transport(url, FAKE_KEY)


@pytest.mark.parametrize(
    "url", ["https://api.perplexity.ai", "http://127.0.0.1:9", "http://localhost:1", "http://[::1]:2"]
)
def test_https_and_loopback_are_allowed(url: str) -> None:
    check_transport(url, FAKE_KEY)


def test_unreachable_server_is_a_network_error() -> None:
    with Sandbox() as server:
        url = server.url
    with PerplexityClient(FAKE_KEY, url) as c, pytest.raises(errors.NetworkError, match="Could not reach"):
        c.list_models()


def test_connect_uses_the_sandbox_without_a_key(local_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    client = connect()
    assert client.mode == "sandbox" and client.base_url == local_sandbox.url
    assert "the built-in sandbox on this computer" in capsys.readouterr().out
