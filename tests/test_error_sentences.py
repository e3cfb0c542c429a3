"""Error sentences end with exactly one stop, whatever punctuation the server's own message ends with.

A server's message is quoted inside our sentences ("The request was rejected: <message>. Fix it...",
"the run failed on the server (<reason>)"). Its own full stop used to double ours, as in
"...truncate_stream.. Fix it". Checked over real HTTP (the sandbox, and a canned loopback server for
endings the sandbox never produces) and by calling :func:`helpers.errors.error_from_status` directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
import requests

from helpers import errors
from helpers.client import PerplexityClient, explain_response
from helpers.connector import Connector, HttpAction, run_test
from helpers.errors import describe_failure, error_from_status
from perplexity_sandbox import Sandbox
from tests.support import CannedServer, fast_client

# A stop doubled, with or without a space between: "..", "?.", "!.", ". ." (a masked key's "..." never
# appears here: these sentences hold no key).
DOUBLED = re.compile(r"[.!?…]\s*[.!?]")

# The server's message -> how our sentence quotes it at the end of a clause.
ENDINGS = {
    "Wrong value.": "Wrong value.",
    "Wrong value!": "Wrong value!",
    "Is this right?": "Is this right?",
    "Wrong value..": "Wrong value.",
    "Wrong value": "Wrong value.",
    "Wrong value. ": "Wrong value.",
}
# ...and inside parentheses, where the sentence's own stop follows the closing one.
IN_PARENTHESES = {
    "Wrong value.": "(Wrong value)",
    "Wrong value!": "(Wrong value!)",
    "Is this right?": "(Is this right?)",
    "Wrong value..": "(Wrong value)",
    "Wrong value": "(Wrong value)",
    "Wrong value. ": "(Wrong value)",
}
FIX = "Fix it and send again."
RETRY = "Try again in a moment."


def assert_one_stop(sentence: str) -> None:
    """``sentence`` (one or more sentences) ends with one stop, and no stop is doubled anywhere."""
    assert sentence.endswith((".", "!", "?")), sentence
    assert not DOUBLED.search(sentence), sentence
    assert ".)" not in sentence, sentence  # a quoted message's stop just before the sentence's own


def failure(url: str, call: Callable[[PerplexityClient], object], **options: object) -> errors.PerplexityError:
    """The error that ``call`` raises with a quick client of the server at ``url`` (it must raise one)."""
    with fast_client(url, **options) as client, pytest.raises(errors.PerplexityError) as caught:
        call(client)
    return caught.value


def canned_failure(body: bytes, content_type: str, status: int = 200, stream: bool = False) -> errors.PerplexityError:
    """The error a request raises when a loopback server answers every request with ``body``."""
    with CannedServer(body, content_type, status) as server:
        return failure(server.url, lambda c: list(c.stream_response("hi")) if stream else c.create_response("hi"))


def error_body(message: str, param: str = "input") -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request", "param": param}}).encode()


def failed_run(message: str) -> bytes:
    return json.dumps({"id": "resp_1", "status": "failed", "output": [], "error": {"message": message}}).encode()


# --- over HTTP: a loopback server answering with each ending ------------------------------


@pytest.mark.parametrize("status", [400, 413, 422])
@pytest.mark.parametrize("message", list(ENDINGS))
def test_a_rejected_request_quotes_the_message_with_one_stop(status: int, message: str) -> None:
    error = canned_failure(error_body(message), "application/json", status)
    assert isinstance(error, errors.InvalidRequestError)
    assert str(error) == f"The request was rejected (field 'input'): {ENDINGS[message]} {FIX}"
    assert_one_stop(str(error))
    assert describe_failure(error)[0] == str(error)


@pytest.mark.parametrize("message", list(IN_PARENTHESES))
def test_a_failed_run_quotes_its_reason_with_one_stop(message: str) -> None:
    error = canned_failure(failed_run(message), "application/json")
    assert isinstance(error, errors.RunFailedError)
    assert str(error) == f"The request arrived, but the run failed on the server {IN_PARENTHESES[message]}. {RETRY}"
    assert_one_stop(str(error))
    assert_one_stop(describe_failure(error)[0])


@pytest.mark.parametrize("message", list(IN_PARENTHESES))
def test_a_failed_stream_quotes_its_reason_with_one_stop(message: str) -> None:
    event = {"type": "response.failed", "response": {"status": "failed", "error": {"message": message}}}
    body = f"event: response.failed\ndata: {json.dumps(event)}\n\n".encode()
    error = canned_failure(body, "text/event-stream", stream=True)
    assert isinstance(error, errors.RunFailedError)
    assert str(error).endswith(f"on the server {IN_PARENTHESES[message]}. {RETRY}")
    assert_one_stop(str(error))


@pytest.mark.parametrize("message", ["Reason as text.", ""])
def test_a_failed_run_whose_error_is_not_an_object(message: str) -> None:
    body = json.dumps({"id": "resp_1", "status": "failed", "output": [], "error": message}).encode()
    error = canned_failure(body, "application/json")
    assert str(error).endswith(f"({message.rstrip('.') or 'no reason given'}). {RETRY}")


@pytest.mark.parametrize("message", list(ENDINGS))
def test_a_request_sent_by_hand_is_explained_with_one_stop(message: str) -> None:
    with CannedServer(error_body(message), "application/json", 400) as server:
        response = requests.post(f"{server.url}/v1/agent", json={}, timeout=5)
    assert explain_response(response) == f"The request was rejected (field 'input'): {ENDINGS[message]} {FIX}"


# --- over HTTP: the sandbox's own messages and faults -------------------------------------


def test_the_unknown_fault_message_ends_with_one_stop(module_sandbox: Sandbox) -> None:
    error = failure(module_sandbox.url, lambda c: c.create_response("hi"), headers={"X-Sandbox-Fault": "nope"})
    sentence = str(error)
    assert sentence.endswith(f"truncate_stream. {FIX}") and "truncate_stream.." not in sentence
    assert_one_stop(sentence)


def test_a_validation_message_without_a_stop_gets_one(module_sandbox: Sandbox) -> None:
    error = failure(module_sandbox.url, lambda c: c.create_response("hi", max_output_tokens="many"))
    assert str(error).endswith(f"at least 1. {FIX}")
    assert_one_stop(str(error))


@pytest.mark.parametrize("stream", [False, True])
def test_the_failed_fault_ends_with_one_stop(module_sandbox: Sandbox, stream: bool) -> None:
    call = (lambda c: list(c.stream_response("hi"))) if stream else (lambda c: c.create_response("hi"))
    error = failure(module_sandbox.url, call, headers={"X-Sandbox-Fault": "failed"})
    assert str(error) == (
        f"The request arrived, but the run failed on the server (The agent run failed on the server). {RETRY}"
    )


@pytest.mark.parametrize(
    "fault", ["truncate_stream", "rate_limit", "server_error", "bad_gateway", "unavailable", "gateway_timeout"]
)
def test_every_other_fault_reads_with_one_stop(module_sandbox: Sandbox, fault: str) -> None:
    error = failure(
        module_sandbox.url, lambda c: c.stream_answer("hi"), headers={"X-Sandbox-Fault": fault}, max_retries=0
    )
    assert_one_stop(str(error))
    assert_one_stop(describe_failure(error)[0])


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 418, 429, 500, 503])
def test_the_connector_tests_explanations_end_with_one_stop(status: int) -> None:
    with CannedServer(error_body("Server says so."), "application/json", status) as server:
        result = run_test(Connector("Canned", server.url), HttpAction("Ping", "/ping", "GET"))
    assert result.status == status
    assert_one_stop(result.explanation)


# --- error_from_status directly, for every status and message ------------------------------

AGENT = "/v1/agent"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 418, 422, 429, 500, 502])
@pytest.mark.parametrize("message", [*ENDINGS, "", ".", "...", "Stop…"])
def test_every_status_sentence_ends_with_one_stop(status: int, message: str) -> None:
    for path in (AGENT, "/chat/completions"):
        error = error_from_status(status, {"message": message, "param": "input"}, path, "detail", retry_after=1.0)
        assert_one_stop(str(error))


@pytest.mark.parametrize("message", ["", ".", "...", "  "])
def test_a_message_that_is_only_stops_reads_as_invalid_request(message: str) -> None:
    error = error_from_status(400, {"message": message}, AGENT, "")
    assert str(error) == f"The request was rejected: invalid request. {FIX}"


def test_an_ellipsis_is_its_own_stop() -> None:
    error = error_from_status(422, {"message": "The input is too long…"}, AGENT, "")
    assert str(error) == f"The request was rejected: The input is too long… {FIX}"


def test_an_invalid_model_sentence_ends_with_one_stop() -> None:
    message = "The model 'mistral-7b-instruct' is not supported."
    error = error_from_status(400, {"message": message, "type": "invalid_model"}, AGENT, "")
    assert isinstance(error, errors.InvalidModelError)
    assert_one_stop(str(error))


def test_a_bug_on_our_side_is_described_with_one_stop() -> None:
    sentence, detail = describe_failure(KeyError("what?"))
    assert_one_stop(sentence)
    assert detail == "KeyError: 'what?'"
