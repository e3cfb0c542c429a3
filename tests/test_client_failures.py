"""The client against every failure the issue names, staged with the sandbox's fault switches.

Clients here use short timeouts and tiny retry delays so the whole module stays fast.
"""

from __future__ import annotations

import time

import pytest

from helpers import errors
from helpers.client import GUIDE_QUESTION, PerplexityClient, backoff_delay, guide_messages
from helpers.responses import BUILTIN_AGENT_MODELS
from perplexity_sandbox import Sandbox
from tests.support import CannedServer, fast_client, unused_url

FAULT = "X-Sandbox-Fault"


def sse(*events: tuple[str, str]) -> bytes:
    return b"".join(f"event: {name}\ndata: {data}\n\n".encode() for name, data in events)


def faulty(client: PerplexityClient, fault: str, **options: object) -> PerplexityClient:
    return client.with_options(headers={FAULT: fault}, **options)


# --- not authenticated, forbidden -----------------------------------------------------------


def test_forbidden_key_is_a_permission_error_without_the_key(module_sandbox: Sandbox) -> None:
    blocked = "pplx-blocked" + "2" * 30
    with (
        fast_client(module_sandbox.url, blocked) as c,
        pytest.raises(errors.PermissionDeniedError, match="403") as caught,
    ):
        c.stream_answer(GUIDE_QUESTION)
    assert blocked not in str(caught.value) + caught.value.detail


def test_legacy_html_401_is_still_an_authentication_error(module_sandbox: Sandbox) -> None:
    revoked = "pplx-revoked" + "3" * 30
    with fast_client(module_sandbox.url, revoked) as c, pytest.raises(errors.AuthenticationError, match="401"):
        c.chat_completion(guide_messages())


# --- invalid model, invalid request: no retry -----------------------------------------------


def test_unknown_agent_model_lists_the_servers_models(sandbox_client: PerplexityClient) -> None:
    retries = []
    with pytest.raises(errors.InvalidModelError, match="'mistral-7b-instruct'") as caught:
        sandbox_client.with_options(on_retry=lambda *a: retries.append(a)).create_response(
            "hi", model="mistral-7b-instruct"
        )
    assert set(caught.value.alternatives) == set(sandbox_client.list_models())
    assert all(f"'{m}'" in str(caught.value) for m in caught.value.alternatives)
    assert retries == []


def test_invalid_request_names_the_field_and_is_not_retried(sandbox_client: PerplexityClient) -> None:
    retries = []
    with pytest.raises(errors.InvalidRequestError, match="field 'max_tokens'") as caught:
        sandbox_client.with_options(on_retry=lambda *a: retries.append(a)).create_response("hi", max_tokens=50)
    assert caught.value.param == "max_tokens" and retries == []


# --- rate limits and service errors: retried with backoff, within a deadline ----------------


def test_rate_limit_longer_than_the_longest_wait_is_reported_at_once(sandbox_client: PerplexityClient) -> None:
    started = time.monotonic()
    with pytest.raises(errors.RateLimitError, match="Wait 1 second, then try again") as caught:
        faulty(sandbox_client, "rate_limit").create_response(GUIDE_QUESTION)
    assert caught.value.retry_after == 1.0 and time.monotonic() - started < 0.9


def test_rate_limit_waits_at_least_retry_after(sandbox_client: PerplexityClient) -> None:
    waits = []
    patient = faulty(
        sandbox_client,
        "rate_limit",
        max_retries=1,
        retry_max_delay=2.0,
        on_retry=lambda n, wait, error: waits.append(wait),
    )
    started = time.monotonic()
    with pytest.raises(errors.RateLimitError):
        patient.create_response(GUIDE_QUESTION)
    assert len(waits) == 1 and waits[0] >= 1.0 and time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    ("fault", "status"), [("server_error", 500), ("bad_gateway", 502), ("unavailable", 503), ("gateway_timeout", 504)]
)
def test_service_errors_are_retried_then_reported(sandbox_client: PerplexityClient, fault: str, status: int) -> None:
    retries = []
    with pytest.raises(errors.ServiceError, match=f"HTTP {status}") as caught:
        faulty(sandbox_client, fault, max_retries=3, on_retry=lambda n, w, e: retries.append(n)).stream_answer("hi")
    assert retries == [1, 2, 3] and caught.value.status == status
    assert caught.value.detail.endswith("(after 4 attempts)")


def test_retries_stop_at_the_deadline(sandbox_client: PerplexityClient) -> None:
    retries = []
    slow_backoff = faulty(
        sandbox_client,
        "unavailable",
        max_retries=20,
        retry_base_delay=0.1,
        retry_max_delay=1.0,
        deadline=0.6,
        on_retry=lambda n, w, e: retries.append(n),
    )
    started = time.monotonic()
    with pytest.raises(errors.ServiceError):
        slow_backoff.create_response("hi")
    assert 1 <= len(retries) < 20 and time.monotonic() - started < 0.6 + 0.5


def test_backoff_grows_with_jitter() -> None:
    # That a wait is never shorter than Retry-After, and that a 400 is not retried: the tests above.
    for attempt in range(4):
        wait = backoff_delay(attempt, base=0.5, cap=8.0)
        assert 0.25 * 2**attempt <= wait <= 0.5 * 2**attempt
    assert len({backoff_delay(3) for _ in range(20)}) > 1  # jitter: not all the same


# --- failed runs, timeouts, dropped and broken connections ----------------------------------


def test_failed_run_in_a_200_answer_is_an_error(sandbox_client: PerplexityClient) -> None:
    with pytest.raises(errors.RunFailedError, match="run failed on the server") as caught:
        faulty(sandbox_client, "failed").create_response(GUIDE_QUESTION)
    assert caught.value.status == 200 and "internal_error" in caught.value.detail


def test_failed_terminal_event_is_an_error(sandbox_client: PerplexityClient) -> None:
    with pytest.raises(errors.RunFailedError, match="run failed on the server"):
        faulty(sandbox_client, "failed").stream_answer(GUIDE_QUESTION)


def test_slow_answer_is_a_timeout(sandbox_client: PerplexityClient) -> None:
    impatient = sandbox_client.with_options(headers={FAULT: "slow", "X-Sandbox-Delay": "1"}, timeout=(1.0, 0.3))
    with pytest.raises(errors.APITimeoutError, match=r"No answer from .* within 0\.3 seconds"):
        impatient.create_response(GUIDE_QUESTION)


def test_connection_closed_without_an_answer(sandbox_client: PerplexityClient) -> None:
    with pytest.raises(errors.ConnectionDroppedError, match="closed the connection before answering"):
        faulty(sandbox_client, "drop").create_response(GUIDE_QUESTION)


def test_stream_cut_mid_answer_keeps_the_text_so_far(sandbox_client: PerplexityClient) -> None:
    received = []
    with pytest.raises(errors.StreamInterruptedError, match="stopped half-way") as caught:
        faulty(sandbox_client, "truncate_stream").stream_answer(GUIDE_QUESTION, on_delta=received.append)
    assert caught.value.partial_text and caught.value.partial_text == "".join(received)


def test_legacy_stream_cut_mid_answer(sandbox_client: PerplexityClient) -> None:
    with pytest.raises(errors.StreamInterruptedError) as caught:
        faulty(sandbox_client, "truncate_stream").stream_chat_completion(guide_messages())
    assert "Milky Way" in caught.value.partial_text


def test_legacy_stream_gives_the_whole_answer(sandbox_client: PerplexityClient) -> None:
    pieces = []
    completion = sandbox_client.stream_chat_completion(guide_messages(), on_delta=pieces.append)
    assert len(pieces) > 1 and completion.text == "".join(pieces) and completion.total_cost > 0


# --- network, retired endpoint, unexpected answers ------------------------------------------


def test_unreachable_server_in_a_stream_is_a_network_error() -> None:
    with fast_client(unused_url()) as c, pytest.raises(errors.NetworkError, match="Could not reach"):
        c.stream_answer("hi")


def test_retired_legacy_endpoint(module_sandbox: Sandbox) -> None:
    # A server without /chat/completions (here: the sandbox under another prefix) answers 404.
    with fast_client(module_sandbox.url + "/v0") as c, pytest.raises(errors.EndpointRetiredError, match="/v1/agent"):
        c.chat_completion(guide_messages())


def test_html_page_instead_of_json_is_an_unexpected_response() -> None:
    with CannedServer(b"<html>Welcome to the hotel wifi</html>", "text/html") as page, fast_client(page.url) as c:
        with pytest.raises(errors.UnexpectedResponseError, match="not JSON"):
            c.create_response("hi")
        with pytest.raises(errors.UnexpectedResponseError, match="streamed answer was expected"):
            c.stream_answer("hi")


def test_unknown_events_are_ignored_and_types_come_from_the_event_name() -> None:
    stream = sse(
        ("response.created", '{"type": "response.created"}'),
        ("response.brand_new_event", '{"type": "response.brand_new_event", "x": 1}'),
        ("response.output_text.delta", '{"delta": "Hello"}'),
        ("response.completed", '{"response": {"status": "completed", "model": "m", "output": []}}'),
    )
    with CannedServer(stream, "text/event-stream") as server, fast_client(server.url) as c:
        pieces = []
        response = c.stream_answer("hi", on_delta=pieces.append)
    assert pieces == ["Hello"] and response.status == "completed"


def test_bare_error_event_is_a_service_error() -> None:
    stream = sse(("response.created", "{}"), ("error", '{"message": "overloaded"}'))
    with (
        CannedServer(stream, "text/event-stream") as server,
        fast_client(server.url) as c,
        pytest.raises(errors.ServiceError, match="in the middle of the answer") as caught,
    ):
        c.stream_answer("hi")
    assert "overloaded" in caught.value.detail


def test_stream_without_a_terminal_event_is_interrupted() -> None:
    stream = sse(("response.output_text.delta", '{"delta": "Half"}'))
    with (
        CannedServer(stream, "text/event-stream") as server,
        fast_client(server.url) as c,
        pytest.raises(errors.StreamInterruptedError) as caught,
    ):
        c.stream_answer("hi")
    assert caught.value.partial_text == "Half"


def test_model_list_falls_back_to_the_dated_built_in_list() -> None:
    with fast_client(unused_url()) as c:
        models, source = c.available_models()
    assert models == list(BUILTIN_AGENT_MODELS) and "built-in list of 20" in source


def test_a_key_with_a_line_break_from_the_environment_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, local_sandbox: Sandbox
) -> None:
    from helpers.client import connect

    tail = "SECRETTAIL" + "B" * 20
    monkeypatch.setenv("PERPLEXITY_API_KEY", "pplx-" + "A" * 24 + "\n" + tail)
    # Live mode, with the sandbox as the live base URL: in sandbox mode the demo key goes instead.
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_BASE_URL", local_sandbox.url)
    with pytest.raises(errors.InvalidKeyError, match=r"environment variable PERPLEXITY_API_KEY.*line break") as caught:
        connect(quiet=True)
    assert tail not in str(caught.value) and "AAAA" not in str(caught.value)


@pytest.mark.parametrize("key", ["\u201cpplx-" + "A" * 30 + "\u201d", "pplx-" + "A" * 20 + " B"])
def test_a_client_refuses_a_key_no_header_can_carry(key: str) -> None:
    with pytest.raises(errors.InvalidKeyError):
        PerplexityClient(key, "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b'{"detail": "missing field"}', errors.InvalidRequestError),
        (401, b'{"message": "no"}', errors.AuthenticationError),
        (400, b'{"error": {"type": "invalid_model", "message": null}}', errors.InvalidModelError),
        (500, b'{"error": {"message": null}}', errors.ServiceError),
    ],
)
def test_error_bodies_of_another_shape_still_get_a_clear_sentence(status: int, body: bytes, kind: type) -> None:
    with (
        CannedServer(body, "application/json", status=status) as server,
        fast_client(server.url, max_retries=0) as client,
        pytest.raises(kind) as caught,
    ):
        client.create_response("hi")
    assert "None" not in str(caught.value) and "None" not in caught.value.detail


def test_a_slow_stream_is_not_cut_by_the_retry_deadline() -> None:
    # Each event arrives 0.25 s after the last: within the 1 s read timeout, but past the 0.15 s deadline.
    with Sandbox(stream_delay=0.25) as slow, fast_client(slow.url, timeout=(1.0, 1.0), deadline=0.15) as client:
        answer = client.stream_answer("What is the capital of France?", max_output_tokens=16)
    assert answer.status in ("completed", "incomplete") and answer.text
