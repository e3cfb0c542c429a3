"""The sandbox over real HTTP, with plain requests: shapes, auth, errors, determinism."""

from __future__ import annotations

import json

import requests

from helpers.sandbox import Sandbox
from tests.conftest import FAKE_KEY

AUTH = {"Authorization": f"Bearer {FAKE_KEY}"}
GUIDE_AGENT = {"model": "perplexity/sonar", "input": "How many stars are there in our galaxy?",
               "instructions": "Be precise and concise.", "tools": [{"type": "web_search"}]}
GUIDE_LEGACY = {"model": "mistral-7b-instruct", "messages": [
    {"role": "system", "content": "Be precise and concise."},
    {"role": "user", "content": "How many stars are there in our galaxy?"}]}


def test_lifecycle_picks_a_free_port_and_stops() -> None:
    server = Sandbox()
    assert not server.is_running
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(server.url_for("/v1/models"), timeout=5).status_code == 200
    assert not server.is_running


def test_agent_response_shape(sandbox: Sandbox) -> None:
    reply = requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["id"].startswith("resp_")
    kinds = [item["type"] for item in body["output"]]
    assert kinds == ["search_results", "message"]
    text = body["output"][1]["content"][0]["text"]
    assert "100 to 400 billion" in text and "[web:1]" in text
    ids = {r["id"] for r in body["output"][0]["results"]}
    assert ids == {1, 2, 3}
    assert body["usage"]["tool_calls_details"] == {"search_web": {"invocation": 1}}
    assert body["usage"]["cost"]["currency"] == "USD"


def test_same_request_same_answer(sandbox: Sandbox) -> None:
    first = requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5).json()
    second = requests.post(sandbox.url_for("/v1/responses"), json=GUIDE_AGENT, headers=AUTH, timeout=5).json()
    for volatile in ("created_at", "completed_at"):
        first.pop(volatile), second.pop(volatile)
    assert first == second


def test_unknown_question_gets_a_labelled_answer(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "input": "Why is the sky blue?"}
    reply = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5).json()
    assert reply["output"][-1]["content"][0]["text"].startswith("[Sandbox answer]")


def test_unknown_field_is_400_with_param(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "messages": []}
    reply = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5)
    assert reply.status_code == 400
    assert reply.json()["error"] == {"message": 'invalid request body: json: unknown field "messages"',
                                     "type": "invalid_request", "code": 400, "param": "messages"}


def test_missing_key_is_401_json_on_agent_and_html_on_legacy(sandbox: Sandbox) -> None:
    agent = requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, timeout=5)
    assert agent.status_code == 401 and agent.json()["error"]["code"] == 401
    legacy = requests.post(sandbox.url_for("/chat/completions"), json=GUIDE_LEGACY, timeout=5)
    assert legacy.status_code == 401 and legacy.headers["Content-Type"].startswith("text/html")
    assert "401 Authorization Required" in legacy.text


def test_retired_model_gets_the_documented_error(sandbox: Sandbox) -> None:
    reply = requests.post(sandbox.url_for("/chat/completions"), json=GUIDE_LEGACY, headers=AUTH, timeout=5)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_model" and "mistral-7b-instruct" in error["message"]


def test_legacy_sonar_works(sandbox: Sandbox) -> None:
    body = {**GUIDE_LEGACY, "model": "sonar"}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=body, headers=AUTH, timeout=5).json()
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert len(reply["citations"]) == len(reply["search_results"]) == 3
    assert "total_cost" in reply["usage"]["cost"]


def test_message_order_rule(sandbox: Sandbox) -> None:
    body = {"model": "sonar", "messages": [{"role": "assistant", "content": "hi"}]}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=body, headers=AUTH, timeout=5)
    assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_message"


def test_agent_stream_events(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "stream": True}
    reply = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5)
    frames = [f for f in reply.text.split("\n\n") if f]
    events = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert [e["type"] for e in events].count("response.completed") == 1 and events[-1]["type"] == "response.completed"
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == events[-1]["response"]["output"][-1]["content"][0]["text"]


def test_errors_for_bad_json_unknown_path_and_method(sandbox: Sandbox) -> None:
    bad = requests.post(sandbox.url_for("/v1/agent"), data=b"{nope", headers=AUTH, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request"
    assert requests.get(sandbox.url_for("/nowhere"), timeout=5).status_code == 404
    assert requests.get(sandbox.url_for("/v1/agent"), headers=AUTH, timeout=5).status_code == 405


def test_key_is_never_echoed(sandbox: Sandbox) -> None:
    revoked = "pplx-revoked" + "0" * 30
    reply = requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT,
                          headers={"Authorization": f"Bearer {revoked}"}, timeout=5)
    assert reply.status_code == 401 and revoked not in reply.text
