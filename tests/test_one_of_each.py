"""One of each: one URL reading, one request-as-text renderer, one price table, the Colab secret read once.

Each test proves that the places which used to hold a copy now share the one: a URL two parsers read
differently is refused by every reader, a request renders the same wherever it is shown, and the dated
prices are the ones the sandbox charges.
"""

from __future__ import annotations

import pytest

from helpers import classroom, connector, errors
from helpers.client import GUIDE_QUESTION, PerplexityClient, guide_messages
from helpers.connector import Connector, ConnectorError, build_request, guide_connector, render_request
from helpers.curl_import import import_curl
from helpers.display import request_text
from helpers.responses import CURRENT_LEGACY_MODEL, CURRENT_MODEL, price_of
from helpers.settings import AmbiguousUrlError, read_base_url, split_url
from tests.support import FAKE_KEY

# urllib3 (what requests connects to) reads the host "evil.example"; Python's urlsplit reads 127.0.0.1.
TWO_HOSTS = "http://evil.example\\@127.0.0.1:8000"


def test_one_reading_of_a_url_refuses_two_hosts_in_every_reader() -> None:
    with pytest.raises(AmbiguousUrlError):
        split_url(TWO_HOSTS)
    with pytest.raises(errors.TransportSecurityError):
        read_base_url(TWO_HOSTS)
    with pytest.raises(ConnectorError):
        import_curl(f"curl {TWO_HOSTS}/v1/agent")
    with pytest.raises(ValueError, match="holds a user name"):
        classroom.nbgitpuller_link(TWO_HOSTS, "https://github.com/someone/course")


def test_the_hub_address_is_read_by_the_one_reader() -> None:
    # urlsplit saw a netloc in "https://:443" and let it pass; there is no host to send a class to.
    with pytest.raises(ValueError, match="must start with https://"):
        classroom.nbgitpuller_link("https://:443", "https://github.com/someone/course")


def test_a_request_renders_the_same_wherever_it_is_shown() -> None:
    request = build_request(guide_connector(FAKE_KEY), connector.agent_action())
    shown = render_request(request)
    assert shown == request_text(request, request.secrets) and FAKE_KEY not in shown
    assert shown.startswith("POST https://api.perplexity.ai/v1/agent\n") and "\n\n{" in shown


def test_a_request_sent_by_hand_has_any_bearer_value_masked() -> None:
    other_api = Connector("Vendor", "https://example.com", connector.BearerTokenAuth("not-a-pplx-secret-123"))
    request = build_request(other_api, connector.HttpAction("Ping", "/ping", "GET"))
    assert "not-a-pplx-secret-123" not in request_text(request)  # no secrets named: the header's value still goes


def test_the_dated_prices_are_what_the_sandbox_charges(sandbox_client: PerplexityClient) -> None:
    answer = sandbox_client.create_response(GUIDE_QUESTION, web_search=True)
    tokens = answer.usage["input_tokens"], answer.usage["output_tokens"]
    assert price_of(CURRENT_MODEL, *tokens, searches=1) == pytest.approx(answer.total_cost, abs=2e-5)
    legacy = sandbox_client.chat_completion(guide_messages(), model=CURRENT_LEGACY_MODEL)
    tokens = legacy.usage["prompt_tokens"], legacy.usage["completion_tokens"]
    assert price_of(CURRENT_LEGACY_MODEL, *tokens, legacy=True) == pytest.approx(legacy.total_cost, abs=2e-5)
    assert price_of("no/such-model", 10, 10) is None
