"""The sandbox over real HTTP, with plain requests: shapes, auth, errors, determinism."""

from __future__ import annotations

import json
import re

import pytest
import requests

from perplexity_sandbox import Sandbox
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT, GUIDE_LEGACY, GUIDE_QUESTION


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
    # Each request has ids of its own (random, as the real API's); everything else is the same.
    assert first.pop("id") != second.pop("id")
    assert first["output"][-1].pop("id") != second["output"][-1].pop("id")
    assert first == second


def test_unknown_question_gets_a_labelled_answer(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "input": "Why is the sky blue?"}
    reply = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5).json()
    assert reply["output"][-1]["content"][0]["text"].startswith("[Sandbox answer]")


def test_unknown_field_is_400_with_param(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "messages": []}
    reply = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5)
    assert reply.status_code == 400
    assert reply.json()["error"] == {
        "message": 'invalid request body: json: unknown field "messages"',
        "type": "invalid_request",
        "code": 400,
        "param": "messages",
    }


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
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={"Authorization": f"Bearer {revoked}"}, timeout=5
    )
    assert reply.status_code == 401 and revoked not in reply.text


def _agent(sandbox: Sandbox, body: dict, **headers: str) -> requests.Response:
    return requests.post(sandbox.url_for("/v1/agent"), json=body, headers={**AUTH, **headers}, timeout=5)


def test_ids_are_prefixed_uuids_and_settings_are_echoed(sandbox: Sandbox) -> None:
    body = {**GUIDE_AGENT, "temperature": 0.2, "top_p": 0.9, "max_steps": 3, "reasoning": {"effort": "low"}}
    reply = _agent(sandbox, body).json()
    assert re.fullmatch(r"resp_[0-9a-f-]{36}", reply["id"])
    message = reply["output"][-1]
    assert re.fullmatch(r"msg_[0-9a-f-]{36}", message["id"]) and message["id"][4:] != reply["id"][5:]
    assert (reply["temperature"], reply["top_p"], reply["max_steps"]) == (0.2, 0.9, 3)
    assert reply["reasoning"] == {"effort": "low"} and reply["instructions"] == GUIDE_AGENT["instructions"]
    assert reply["tools"] == [{"type": "web_search"}] and reply["text"] == {"format": {"type": "text"}}
    assert reply["completed_at"] >= reply["created_at"] and reply["error"] is None


def test_citations_match_search_result_ids(sandbox: Sandbox) -> None:
    reply = _agent(sandbox, GUIDE_AGENT).json()
    cited = {int(n) for n in re.findall(r"\[web:(\d+)\]", reply["output"][1]["content"][0]["text"])}
    assert cited == {r["id"] for r in reply["output"][0]["results"]}


def test_without_web_search_there_are_no_sources_and_no_search_cost(sandbox: Sandbox) -> None:
    body = {k: v for k, v in GUIDE_AGENT.items() if k != "tools"}
    reply = _agent(sandbox, body).json()
    assert [item["type"] for item in reply["output"]] == ["message"]
    assert "[web:" not in reply["output"][0]["content"][0]["text"]
    assert reply["usage"]["cost"]["tool_calls_cost"] == 0 and "tool_calls_details" not in reply["usage"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": 10}, "max_tokens"),
        ({"return_images": True}, "return_images"),
        ({"tools": [{"type": "web_search", "depth": 2}]}, "depth"),
        ({"tools": [{"type": "web_search", "filters": {"domains": ["nasa.gov"]}}]}, "domains"),
        ({"input": [{"role": "user", "content": "hi", "name": "x"}]}, "name"),
        ({"reasoning": {"effort": "low", "summary": "auto"}}, "summary"),
    ],
)
def test_unknown_nested_fields_are_rejected_with_param(sandbox: Sandbox, patch: dict, param: str) -> None:
    reply = _agent(sandbox, {**GUIDE_AGENT, **patch})
    assert reply.status_code == 400
    assert reply.json()["error"] == {
        "message": f'invalid request body: json: unknown field "{param}"',
        "type": "invalid_request",
        "code": 400,
        "param": param,
    }


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": "high"}, "top_p"),
        ({"stream": "yes"}, "stream"),
        ({"input": ""}, "input"),
        ({"input": [{"role": "robot", "content": "hi"}]}, "role"),
        ({"tools": [{"type": "web_search", "max_results": 51}]}, "max_results"),
        ({"tools": [{"type": "web_search", "filters": {"search_recency_filter": "decade"}}]}, "search_recency_filter"),
        (
            {"tools": [{"type": "web_search", "filters": {"search_domain_filter": ["https://nasa.gov"]}}]},
            "search_domain_filter",
        ),
        (
            {"tools": [{"type": "web_search", "filters": {"search_domain_filter": [f"d{n}.org" for n in range(21)]}}]},
            "search_domain_filter",
        ),
        (
            {"tools": [{"type": "web_search", "filters": {"search_after_date_filter": "2025-01-01"}}]},
            "search_after_date_filter",
        ),
        ({"tools": [{"type": "image_generation"}]}, "tools"),
        ({"models": ["perplexity/sonar"] * 6}, "models"),
        ({"preset": "turbo"}, "preset"),
        ({"model": "anthropic/claude-sonnet-4-6"}, "max_output_tokens"),
    ],
)
def test_invalid_values_name_their_parameter(sandbox: Sandbox, patch: dict, param: str) -> None:
    reply = _agent(sandbox, {**GUIDE_AGENT, **patch})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_parameter" and param in error["message"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"input": [{"role": "user", "content": None}]}, "content"),
        ({"input": [{"role": None, "content": "hi"}]}, "role"),
        ({"input": [{"role": "user"}]}, "content"),
        ({"input": [{"content": "hi"}]}, "role"),
        ({"input": [{"role": "user", "content": 42}]}, "content"),
        ({"input": [{"role": "user", "content": [{"type": None, "text": "hi"}]}]}, "type"),
        ({"input": [{"role": "user", "content": [{"text": "hi"}]}]}, "type"),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": None}]}]}, "text"),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": 7}]}]}, "text"),
        ({"tools": [{"type": ["web_search"]}]}, "tools"),
        ({"tools": [{"type": {"name": "web_search"}}]}, "tools"),
    ],
)
def test_null_or_wrong_type_values_are_400_naming_the_field(sandbox: Sandbox, patch: dict, param: str) -> None:
    # Required fields that are null or missing, and values of the wrong type, are refused like other bad values,
    # never a 500.
    for stream in (False, True):
        reply = _agent(sandbox, {**GUIDE_AGENT, **patch, "stream": stream})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["param"] == param and error["type"] == "invalid_parameter" and param in error["message"]


def test_unknown_agent_model_is_invalid_model(sandbox: Sandbox) -> None:
    reply = _agent(sandbox, {**GUIDE_AGENT, "model": "perplexity/sonar-pro"})
    assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_model"
    assert "perplexity/sonar-pro" in reply.json()["error"]["message"]


def test_presets_and_fallback_models_choose_a_listed_model(sandbox: Sandbox) -> None:
    listed = {m["id"] for m in requests.get(sandbox.url_for("/v1/models"), timeout=5).json()["data"]}
    body = {k: v for k, v in GUIDE_AGENT.items() if k != "model"}
    for choice in (
        {"preset": "fast"},
        {"preset": "xhigh", "max_output_tokens": 200},
        {"models": ["openai/gpt-5.5", "perplexity/sonar"]},
    ):
        reply = _agent(sandbox, {**body, **choice})
        assert reply.status_code == 200 and reply.json()["model"] in listed
    assert _agent(sandbox, {**body, "models": ["openai/gpt-5.5"]}).json()["model"] == "openai/gpt-5.5"


def test_max_output_tokens_truncates_as_incomplete(sandbox: Sandbox) -> None:
    full = _agent(sandbox, GUIDE_AGENT).json()
    cut = _agent(sandbox, {**GUIDE_AGENT, "max_output_tokens": 20}).json()
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    text, whole = cut["output"][-1]["content"][0]["text"], full["output"][-1]["content"][0]["text"]
    assert whole.startswith(text) and len(text) < len(whole) and not text.endswith("[")
    assert cut["usage"]["output_tokens"] <= 20 < full["usage"]["output_tokens"]
    assert cut["max_output_tokens"] == 20
    floored = _agent(sandbox, {**GUIDE_AGENT, "max_output_tokens": 1}).json()
    assert floored["max_output_tokens"] == 16


def test_usage_cost_adds_up(sandbox: Sandbox) -> None:
    usage = _agent(sandbox, GUIDE_AGENT).json()["usage"]
    cost = usage["cost"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert cost["total_cost"] == round(cost["input_cost"] + cost["output_cost"] + cost["tool_calls_cost"], 5)


def test_input_items_use_the_last_user_message(sandbox: Sandbox) -> None:
    body = {
        **GUIDE_AGENT,
        "input": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "input_text", "text": GUIDE_QUESTION}]},
        ],
    }
    text = _agent(sandbox, body).json()["output"][-1]["content"][0]["text"]
    assert "100 to 400 billion" in text


def test_unknown_questions_differ_but_repeat(sandbox: Sandbox) -> None:
    def answer(question: str) -> str:
        return _agent(sandbox, {**GUIDE_AGENT, "input": question}).json()["output"][-1]["content"][0]["text"]

    first, again, other = answer("Why is the sky blue?"), answer("Why is the sky blue?"), answer("Why is grass green?")
    assert first == again != other and "Why is grass green?" in other


def test_models_list_shape(sandbox: Sandbox) -> None:
    body = requests.get(sandbox.url_for("/v1/models"), timeout=5).json()
    assert body["object"] == "list" and "perplexity/sonar" in {m["id"] for m in body["data"]}
    assert all(set(m) == {"id", "object", "created", "owned_by"} and m["object"] == "model" for m in body["data"])


def _events(reply: requests.Response) -> list[tuple[str, dict]]:
    frames = [f for f in reply.text.split("\n\n") if f]
    parsed = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        parsed.append((event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return parsed


def test_stream_event_order_and_terminal(sandbox: Sandbox) -> None:
    reply = _agent(sandbox, {**GUIDE_AGENT, "stream": True})
    assert reply.headers["Content-Type"] == "text/event-stream" and reply.headers["Transfer-Encoding"] == "chunked"
    events = _events(reply)
    assert all(name == data["type"] for name, data in events)
    kinds = [name for name, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds.index("response.reasoning.search_results") < kinds.index("response.output_text.delta")
    assert kinds[-3:] == ["response.output_text.done", "response.output_item.done", "response.completed"]
    terminals = [k for k in kinds if k in ("response.completed", "response.failed", "response.incomplete")]
    assert terminals == ["response.completed"]
    final = events[-1][1]["response"]
    assert final["usage"]["cost"]["total_cost"] > 0 and final["status"] == "completed"


def test_stream_of_a_truncated_answer_ends_incomplete(sandbox: Sandbox) -> None:
    events = _events(_agent(sandbox, {**GUIDE_AGENT, "stream": True, "max_output_tokens": 20}))
    assert events[-1][0] == "response.incomplete"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_of_a_failed_run_ends_failed(sandbox: Sandbox) -> None:
    events = _events(_agent(sandbox, {**GUIDE_AGENT, "stream": True}, **{"X-Sandbox-Fault": "failed"}))
    assert [name for name, _ in events][-1] == "response.failed"
    assert events[-1][1]["error"]["message"] and "response.completed" not in [name for name, _ in events]


def test_legacy_stream_carries_running_message_and_cost_last(sandbox: Sandbox) -> None:
    body = {**GUIDE_LEGACY, "model": "sonar", "stream": True}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=body, headers=AUTH, timeout=5)
    chunks = [json.loads(f.removeprefix("data: ")) for f in reply.text.split("\n\n") if f]
    assert len(chunks) > 2 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert streamed == chunks[-1]["choices"][0]["message"]["content"]
    assert ["cost" in c["usage"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]


def test_legacy_max_tokens_finishes_with_length(sandbox: Sandbox) -> None:
    body = {**GUIDE_LEGACY, "model": "sonar", "max_tokens": 10}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=body, headers=AUTH, timeout=5).json()
    assert reply["choices"][0]["finish_reason"] == "length" and reply["usage"]["completion_tokens"] <= 10


@pytest.mark.parametrize(
    "roles", [["user", "user"], ["system", "assistant", "user"], ["user", "assistant"], ["user", "system", "user"]]
)
def test_legacy_message_order_rules(sandbox: Sandbox, roles: list[str]) -> None:
    body = {"model": "sonar", "messages": [{"role": r, "content": "hi"} for r in roles]}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=body, headers=AUTH, timeout=5)
    assert reply.status_code == 400 and reply.json()["error"]["type"] == "invalid_message"


def test_malformed_bearer_is_401(sandbox: Sandbox) -> None:
    for header in (
        FAKE_KEY,
        f"Basic {FAKE_KEY}",
        "Bearer pplx-short",
        "Bearer sk-" + "x" * 40,
        "Bearer pplx-" + "é" * 30,
    ):
        reply = requests.post(
            sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={"Authorization": header.encode("utf-8")}, timeout=5
        )
        assert reply.status_code == 401 and reply.json()["error"]["type"] == "unauthorized"


def test_demo_key_and_blocked_key(sandbox: Sandbox) -> None:
    demo = {"Authorization": "Bearer pplx-sandbox-demo-key-not-a-secret"}
    assert requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=demo, timeout=5).status_code == 200
    blocked = "pplx-blocked" + "0" * 30
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={"Authorization": f"Bearer {blocked}"}, timeout=5
    )
    assert reply.status_code == 403 and blocked not in reply.text and reply.json()["error"]["code"] == 403


def test_the_sandbox_checks_keys_against_the_public_format(sandbox: Sandbox) -> None:
    # Written out here, from the published format, not taken from any client: "pplx-" and 20..200
    # characters in all, the prefix included; any ASCII without spaces after the prefix.
    prefix, shortest, longest = "pplx-", 20, 200
    short = prefix + "k" * (shortest - len(prefix))
    long = prefix + "k" * (longest - len(prefix))
    for key, status in (
        (short, 200),
        (short[:-1], 401),
        (long, 200),
        (long + "k", 401),
        (prefix + "$odd.but-ascii!" * 2, 200),
        ("PPLX-" + short[5:], 401),
        (prefix + "revoked" + "0" * 20, 401),
        (prefix + "blocked" + "0" * 20, 403),
    ):
        reply = requests.post(
            sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert reply.status_code == status, (len(key), reply.text)
        assert key not in reply.text


def test_the_sandbox_key_rules_are_its_own() -> None:
    from perplexity_sandbox import keys

    assert (keys.KEY_PREFIX, keys.MIN_KEY_LENGTH, keys.MAX_KEY_LENGTH) == ("pplx-", 20, 200)
    assert keys.is_well_formed("pplx-" + "a" * 15) and not keys.is_well_formed("pplx-" + "a" * 14)


def test_echoed_key_shaped_words_are_masked_as_pplx_dots_and_the_last_four(sandbox: Sandbox) -> None:
    reply = requests.get(sandbox.url_for(f"/v1/{FAKE_KEY}"), timeout=5)
    assert reply.status_code == 404 and f"pplx-...{FAKE_KEY[-4:]}" in reply.json()["error"]["message"]
    odd = "pplx-" + "k3y$" * 8  # the sandbox accepts it as a key; not the issued shape: still cut
    reply = _agent(sandbox, {**GUIDE_AGENT, odd: 1})
    assert reply.status_code == 400 and odd not in reply.text and odd[5:] not in reply.text


def test_key_shaped_text_is_never_echoed_in_errors(sandbox: Sandbox) -> None:
    reply = requests.get(sandbox.url_for(f"/v1/{FAKE_KEY}"), timeout=5)
    assert reply.status_code == 404 and FAKE_KEY not in reply.text and "pplx-..." in reply.text
    field = _agent(sandbox, {**GUIDE_AGENT, FAKE_KEY: 1})
    assert field.status_code == 400 and FAKE_KEY not in field.text


def test_a_key_pasted_into_the_question_is_never_echoed(sandbox: Sandbox) -> None:
    question = f"Is my key {FAKE_KEY} still valid?"
    for body in (
        {**GUIDE_AGENT, "input": question},
        {**GUIDE_AGENT, "input": question, "stream": True},
        {**GUIDE_AGENT, "input": [{"role": "user", "content": [{"type": "input_text", "text": question}]}]},
        {**GUIDE_AGENT, "instructions": f"Use {FAKE_KEY}.", "prompt_cache_key": FAKE_KEY},
    ):
        reply = _agent(sandbox, body)
        assert reply.status_code == 200 and FAKE_KEY not in reply.text and FAKE_KEY[5:25] not in reply.text
    legacy = {"model": "sonar", "messages": [{"role": "user", "content": question}]}
    reply = requests.post(sandbox.url_for("/chat/completions"), json=legacy, headers=AUTH, timeout=5)
    assert reply.status_code == 200 and FAKE_KEY not in reply.text
    text = _agent(sandbox, {**GUIDE_AGENT, "input": question}).json()["output"][-1]["content"][0]["text"]
    assert "[Sandbox answer]" in text and "Is my key pplx-..." in text and "still valid?" in text


def test_the_notebooks_sandbox_is_started_once_and_streams_at_a_readable_pace() -> None:
    from perplexity_sandbox import shared_sandbox

    first, second = shared_sandbox(), shared_sandbox()
    assert first is second and first.is_running
    assert first.stream_delay > 0
    assert requests.get(first.url_for("/v1/models"), timeout=5).ok
