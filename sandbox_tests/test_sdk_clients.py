"""The official SDKs, unchanged, against the sandbox: ``perplexityai`` and ``openai`` (``base_url=<sandbox>/v1``).

Retries are off (``max_retries=0``) so each error class shows at once; one test checks that the
SDK's own retry honours ``Retry-After`` from the per-key rate limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import perplexity
import pytest

from perplexity_sandbox import Sandbox
from sandbox_tests.support import FAKE_KEY, GUIDE_QUESTION

SYSTEM = "Be precise and concise."
WEB_SEARCH = [{"type": "web_search"}]


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def pplx(server: Sandbox) -> Iterator[perplexity.Perplexity]:
    # Strict validation: every response must parse into the SDK's own models.
    with perplexity.Perplexity(
        api_key=FAKE_KEY, base_url=server.url, max_retries=0, _strict_response_validation=True
    ) as client:
        yield client


@pytest.fixture
def oai(server: Sandbox) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=FAKE_KEY, base_url=server.url + "/v1", max_retries=0) as client:
        yield client


# --- perplexityai ------------------------------------------------------------------------


def test_perplexity_sdk_answers_the_guide_question(pplx: perplexity.Perplexity) -> None:
    response = pplx.responses.create(
        model="perplexity/sonar", input=GUIDE_QUESTION, instructions=SYSTEM, tools=WEB_SEARCH
    )
    assert response.status == "completed" and response.id.startswith("resp_")
    assert "100 to 400 billion" in response.output_text and "[web:1]" in response.output_text
    assert [item.type for item in response.output] == ["search_results", "message"]
    assert [r.id for r in response.output[0].results] == [1, 2, 3]
    assert response.usage.cost.total_cost > 0 and response.usage.cost.currency == "USD"
    assert response.usage.tool_calls_details["search_web"].invocation == 1


def test_perplexity_sdk_streams_typed_events(pplx: perplexity.Perplexity) -> None:
    events = list(pplx.responses.create(model="perplexity/sonar", input=GUIDE_QUESTION, tools=WEB_SEARCH, stream=True))
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert events[-1].type == "response.completed"
    assert deltas == events[-1].response.output_text and "billion" in deltas
    assert any(event.type == "response.reasoning.search_queries" for event in events)


def test_perplexity_sdk_presets_and_models(pplx: perplexity.Perplexity) -> None:
    listed = {model.id for model in pplx.models.list().data}
    assert {"perplexity/sonar", "openai/gpt-5.5"} <= listed
    response = pplx.responses.create(preset="fast", input="What is the capital of France?")
    assert response.model in listed and "Paris" in response.output_text


def test_perplexity_sdk_legacy_chat_completions(pplx: perplexity.Perplexity) -> None:
    completion = pplx.chat.completions.create(
        model="sonar", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": GUIDE_QUESTION}]
    )
    assert "billion" in completion.choices[0].message.content
    assert len(completion.search_results) == 3 and completion.usage.total_tokens > 0


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("rate_limit", perplexity.RateLimitError),
        ("server_error", perplexity.InternalServerError),
        ("bad_gateway", perplexity.InternalServerError),
        ("unavailable", perplexity.InternalServerError),
        ("gateway_timeout", perplexity.InternalServerError),
    ],
)
def test_perplexity_sdk_error_classes_for_faults(
    pplx: perplexity.Perplexity, fault: str, error_class: type[Exception]
) -> None:
    with pytest.raises(error_class) as caught:
        pplx.responses.create(model="perplexity/sonar", input=GUIDE_QUESTION, extra_headers={"X-Sandbox-Fault": fault})
    assert caught.value.body["error"]["code"] == caught.value.status_code


def test_perplexity_sdk_error_classes_for_bad_requests(server: Sandbox, pplx: perplexity.Perplexity) -> None:
    with pytest.raises(perplexity.BadRequestError) as caught:
        pplx.responses.create(model="mistral-7b-instruct", input=GUIDE_QUESTION)
    assert caught.value.body["error"]["type"] == "invalid_model"
    with pytest.raises(perplexity.BadRequestError) as caught:
        pplx.chat.completions.create(model="mistral-7b-instruct", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "invalid_model"
    with pytest.raises(perplexity.BadRequestError) as caught:
        pplx.responses.create(model="perplexity/sonar", input="hi", extra_body={"return_images": True})
    assert caught.value.body["error"]["param"] == "return_images"
    with pytest.raises(perplexity.NotFoundError):
        pplx.responses.cancel("resp_123")


@pytest.mark.parametrize(
    ("key", "error_class"),
    [
        ("pplx-revoked" + "0" * 30, perplexity.AuthenticationError),
        ("pplx-blocked" + "0" * 30, perplexity.PermissionDeniedError),
        ("not-a-key", perplexity.AuthenticationError),
    ],
)
def test_perplexity_sdk_auth_errors(server: Sandbox, key: str, error_class: type[Exception]) -> None:
    with perplexity.Perplexity(api_key=key, base_url=server.url, max_retries=0) as client:
        with pytest.raises(error_class) as caught:
            client.responses.create(model="perplexity/sonar", input="hi")
        with pytest.raises(error_class) as legacy:
            client.chat.completions.create(model="sonar", messages=[{"role": "user", "content": "hi"}])
    assert key not in str(caught.value) and key not in str(caught.value.body) and key not in str(legacy.value)


def test_perplexity_sdk_failed_run_is_a_200_with_status_failed(pplx: perplexity.Perplexity) -> None:
    response = pplx.responses.create(model="perplexity/sonar", input="hi", extra_headers={"X-Sandbox-Fault": "failed"})
    assert response.status == "failed" and response.error.message
    events = list(
        pplx.responses.create(
            model="perplexity/sonar", input="hi", stream=True, extra_headers={"X-Sandbox-Fault": "failed"}
        )
    )
    assert events[-1].type == "response.failed" and events[-1].error.message == response.error.message


def test_perplexity_sdk_truncation_is_incomplete(server: Sandbox) -> None:
    # Not strict: the SDK's types (0.46) lack the documented status "incomplete".
    with perplexity.Perplexity(api_key=FAKE_KEY, base_url=server.url, max_retries=0) as client:
        response = client.responses.create(model="perplexity/sonar", input=GUIDE_QUESTION, max_output_tokens=20)
        events = list(
            client.responses.create(model="perplexity/sonar", input=GUIDE_QUESTION, max_output_tokens=20, stream=True)
        )
    assert response.status == "incomplete" and response.output_text
    assert events[-1].type == "response.incomplete"  # not in the SDK's union: it passes through untyped


def test_perplexity_sdk_dropped_connection_is_a_connection_error(pplx: perplexity.Perplexity) -> None:
    with pytest.raises(perplexity.APIConnectionError):
        pplx.responses.create(model="perplexity/sonar", input="hi", extra_headers={"X-Sandbox-Fault": "drop"})


def test_perplexity_sdk_retries_after_the_rate_limit_wait() -> None:
    with (
        Sandbox(rate_limit=1) as limited,
        perplexity.Perplexity(api_key=FAKE_KEY, base_url=limited.url, max_retries=2) as client,
    ):
        started = time.monotonic()
        answers = [client.responses.create(model="perplexity/sonar", input="hi").status for _ in range(2)]
    assert answers == ["completed", "completed"]
    assert time.monotonic() - started >= 0.5  # the second call waited for the window (retry-after-ms)


# --- openai ------------------------------------------------------------------------------


def test_openai_sdk_responses(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model="perplexity/sonar", input=GUIDE_QUESTION, instructions=SYSTEM, extra_body={"tools": WEB_SEARCH}
    )
    assert response.status == "completed" and "100 to 400 billion" in response.output_text
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_openai_sdk_streams_responses(oai: openai.OpenAI) -> None:
    with oai.responses.create(model="perplexity/sonar", input=GUIDE_QUESTION, stream=True) as stream:
        events = list(stream)
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert events[-1].type == "response.completed" and deltas == events[-1].response.output_text


def test_openai_sdk_chat_completions_and_stream(oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": GUIDE_QUESTION}]
    completion = oai.chat.completions.create(model="sonar", messages=messages)
    assert "billion" in completion.choices[0].message.content
    chunks = list(oai.chat.completions.create(model="sonar", messages=messages, stream=True))
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert streamed == completion.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_sdk_models(oai: openai.OpenAI) -> None:
    assert "perplexity/sonar" in {model.id for model in oai.models.list()}


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("rate_limit", openai.RateLimitError),
        ("server_error", openai.InternalServerError),
        ("unavailable", openai.InternalServerError),
    ],
)
def test_openai_sdk_error_classes(oai: openai.OpenAI, fault: str, error_class: type[Exception]) -> None:
    with pytest.raises(error_class):
        oai.responses.create(model="perplexity/sonar", input="hi", extra_headers={"X-Sandbox-Fault": fault})


def test_openai_sdk_bad_request_and_auth(server: Sandbox, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="perplexity/sonar", input="hi", extra_body={"messages": []})
    assert caught.value.param == "messages" and caught.value.type == "invalid_request"
    revoked = "pplx-revoked" + "0" * 30
    with (
        openai.OpenAI(api_key=revoked, base_url=server.url + "/v1", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        client.responses.create(model="perplexity/sonar", input="hi")
    assert revoked not in str(denied.value)


def test_openai_sdk_failed_stream_raises(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError, match="agent run failed"):
        list(
            oai.responses.create(
                model="perplexity/sonar", input="hi", stream=True, extra_headers={"X-Sandbox-Fault": "failed"}
            )
        )


def test_openai_sdk_truncated_stream_is_a_connection_error(oai: openai.OpenAI) -> None:
    received = []
    with pytest.raises(openai.APIConnectionError):
        for event in oai.responses.create(
            model="perplexity/sonar", input="hi", stream=True, extra_headers={"X-Sandbox-Fault": "truncate_stream"}
        ):
            received.append(event.type)
    assert received[0] == "response.created" and "response.completed" not in received


def test_perplexity_sdk_truncated_stream_is_a_protocol_error(pplx: perplexity.Perplexity) -> None:
    received = []
    with pytest.raises(httpx.RemoteProtocolError):  # the SDK does not wrap errors raised mid-stream
        for event in pplx.responses.create(
            model="perplexity/sonar", input="hi", stream=True, extra_headers={"X-Sandbox-Fault": "truncate_stream"}
        ):
            received.append(event.type)
    assert received[0] == "response.created" and "response.completed" not in received
