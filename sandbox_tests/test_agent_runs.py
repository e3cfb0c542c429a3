"""Agent API fidelity: presets, stored runs, background runs and cancelling, tested on the functions (no HTTP).

The server maps ``GET /v1/agent/{id}`` and ``GET /v1/responses/{id}`` to :func:`api.retrieve_run`, and
``POST /v1/agent/{id}/cancel`` and ``POST /v1/responses/{id}/cancel`` to :func:`api.cancel_run`; these tests call
them directly, each with its own :class:`RunStore` and, for background runs, a clock the test moves by hand.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from perplexity_sandbox import api
from perplexity_sandbox.runs import MAX_RUNS, RunStore
from perplexity_sandbox.validation import AGENT_MODELS
from sandbox_tests.support import FAKE_KEY, GUIDE_AGENT, GUIDE_QUESTION

QUESTION = {"input": GUIDE_QUESTION}
# The preset table the sandbox follows (see PRESETS in perplexity_sandbox/validation.py for its sources).
PRESET_MODELS = {
    "fast": "perplexity/sonar",
    "low": "perplexity/sonar",
    "medium": "openai/gpt-5.5",
    "high": "openai/gpt-5.5",
    "xhigh": "anthropic/claude-sonnet-4-6",
}
PRESET_DEFAULT_LIMIT = 8192


class Clock:
    """A clock the test moves: background runs read their status from it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runs(clock: Clock) -> RunStore:
    return RunStore(queued_seconds=0.2, in_progress_seconds=0.5, clock=clock)


def create(runs: RunStore, body: dict, fail: bool = False) -> api.Reply:
    return api.agent(body, fail=fail, runs=runs)


def created(runs: RunStore, body: dict) -> dict:
    reply = create(runs, body)
    assert reply.status == 200, reply.body
    return reply.body


def error_of(reply: api.Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.body
    error = reply.body["error"]
    assert error["code"] == status and isinstance(error["message"], str)
    return error


# --- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESET_MODELS)
def test_each_preset_works_without_max_output_tokens(runs: RunStore, preset: str) -> None:
    # The case was xhigh: refused with a sentence about a model the learner never named.
    response = created(runs, {**QUESTION, "preset": preset})
    assert response["status"] == "completed"
    assert response["model"] == PRESET_MODELS[preset]  # the model that answered, as the real API echoes
    assert response["max_output_tokens"] == PRESET_DEFAULT_LIMIT and response["preset"] == preset
    # A preset bundles web search: the answer is grounded without a tools array.
    assert response["output"][0]["type"] == "search_results"


@pytest.mark.parametrize("preset", PRESET_MODELS)
def test_each_preset_takes_the_learners_max_output_tokens(runs: RunStore, preset: str) -> None:
    response = created(runs, {**QUESTION, "preset": preset, "max_output_tokens": 20})
    assert response["model"] == PRESET_MODELS[preset] and response["max_output_tokens"] == 20
    assert response["status"] == "incomplete"  # the learner's limit applies, not the preset's


@pytest.mark.parametrize(("old", "new"), [("fast-search", "fast"), ("pro-search", "low"), ("deep-research", "medium")])
def test_previous_preset_names_still_work(runs: RunStore, old: str, new: str) -> None:
    assert created(runs, {**QUESTION, "preset": old})["model"] == PRESET_MODELS[new]


def test_a_model_named_with_a_preset_overrides_the_presets_model(runs: RunStore) -> None:
    response = created(runs, {**QUESTION, "preset": "xhigh", "model": "openai/gpt-5.5"})
    assert response["model"] == "openai/gpt-5.5" and response["max_output_tokens"] == PRESET_DEFAULT_LIMIT


@pytest.mark.parametrize("preset", PRESET_MODELS)
@pytest.mark.parametrize("limit", [0, -5, "lots", 1.5, True])
def test_a_bad_limit_with_a_preset_never_names_a_model_the_learner_did_not(
    runs: RunStore, preset: str, limit: object
) -> None:
    error = error_of(create(runs, {**QUESTION, "preset": preset, "max_output_tokens": limit}), 400)
    assert error["param"] == "max_output_tokens"
    assert not [model for model in AGENT_MODELS if model in error["message"]], error["message"]


def test_an_unknown_preset_lists_the_presets_and_no_model(runs: RunStore) -> None:
    error = error_of(create(runs, {**QUESTION, "preset": "turbo"}), 400)
    assert error["param"] == "preset" and all(name in error["message"] for name in PRESET_MODELS)
    assert not [model for model in AGENT_MODELS if model in error["message"]]


def test_an_anthropic_model_the_learner_named_still_needs_a_limit(runs: RunStore) -> None:
    error = error_of(create(runs, {**QUESTION, "model": "anthropic/claude-sonnet-4-6"}), 400)
    assert error["param"] == "max_output_tokens" and "anthropic/claude-sonnet-4-6" in error["message"]


# --- store and retrieve -------------------------------------------------------------------


def test_store_omitted_means_stored_and_retrievable(runs: RunStore) -> None:
    response = created(runs, GUIDE_AGENT)
    assert response["store"] is True
    retrieved = api.retrieve_run(response["id"], runs)
    assert retrieved.status == 200 and retrieved.body == response


def test_store_null_is_store_omitted(runs: RunStore) -> None:
    response = created(runs, {**GUIDE_AGENT, "store": None})
    assert response["store"] is True and api.retrieve_run(response["id"], runs).status == 200


def test_store_false_is_answered_but_not_retrievable(runs: RunStore) -> None:
    response = created(runs, {**GUIDE_AGENT, "store": False})
    assert response["store"] is False and response["status"] == "completed"
    error = error_of(api.retrieve_run(response["id"], runs), 404)
    assert error["type"] == "not_found" and response["id"] in error["message"]
    assert len(runs) == 0


def test_an_unknown_id_is_404_with_the_error_envelope(runs: RunStore) -> None:
    error = error_of(api.retrieve_run("resp_123", runs), 404)
    assert error["type"] == "not_found" and "resp_123" in error["message"] and "store" in error["message"]


def test_a_key_pasted_as_an_id_is_not_echoed(runs: RunStore) -> None:
    error = error_of(api.retrieve_run(FAKE_KEY, runs), 404)
    assert FAKE_KEY not in error["message"]


def test_a_streamed_run_is_stored_too(runs: RunStore) -> None:
    reply = create(runs, {**GUIDE_AGENT, "stream": True})
    assert reply.content_type == "text/event-stream" and reply.events
    (stored_id,) = runs._runs  # the one run stored
    assert api.retrieve_run(stored_id, runs).body["status"] == "completed"


def test_a_failed_run_is_stored_failed(runs: RunStore) -> None:
    response = create(runs, GUIDE_AGENT, fail=True).body
    assert api.retrieve_run(response["id"], runs).body["status"] == "failed"


def test_the_same_request_twice_makes_two_runs(runs: RunStore) -> None:
    # In a class everyone sends the same body with the same demo key: the random id keeps their runs apart.
    first, second = created(runs, GUIDE_AGENT), created(runs, GUIDE_AGENT)
    assert first["id"] != second["id"] and len(runs) == 2
    assert first["output"][-1]["id"] != second["output"][-1]["id"]
    assert [api.retrieve_run(made["id"], runs).body for made in (first, second)] == [first, second]


def test_without_a_store_the_module_default_keeps_the_run() -> None:
    # The current server calls api.agent(body, fail=...) with no store: runs must still be retrievable.
    body = {**GUIDE_AGENT, "input": "Which run store does this request use?"}
    response = api.agent(body).body
    assert api.retrieve_run(response["id"]).body == response


# --- background runs ----------------------------------------------------------------------


def test_a_background_run_is_queued_then_in_progress_then_completed(runs: RunStore, clock: Clock) -> None:
    finished = created(RunStore(), GUIDE_AGENT)  # the same request answered at once, for comparison
    queued = created(runs, {**GUIDE_AGENT, "background": True})
    assert (queued["status"], queued["output"], queued["usage"], queued["completed_at"]) == ("queued", [], None, None)
    assert queued["background"] is True and queued["store"] is True
    assert api.retrieve_run(queued["id"], runs).body["status"] == "queued"
    clock.now += 0.25
    in_progress = api.retrieve_run(queued["id"], runs).body
    assert (in_progress["status"], in_progress["output"]) == ("in_progress", [])
    clock.now += 0.5
    done = api.retrieve_run(queued["id"], runs).body
    assert done["status"] == "completed" and done["usage"] == finished["usage"]
    assert done["output"][-1]["content"] == finished["output"][-1]["content"]  # the full answer
    assert done["background"] is True


def test_a_failing_background_run_ends_failed(runs: RunStore, clock: Clock) -> None:
    run_id = create(runs, {**GUIDE_AGENT, "background": True}, fail=True).body["id"]
    clock.now += 1
    ended = api.retrieve_run(run_id, runs).body
    assert ended["status"] == "failed" and ended["error"]["message"]


@pytest.mark.parametrize("wait", [0.0, 0.3])  # queued, in_progress
def test_cancelling_an_unfinished_run_cancels_it_for_good(runs: RunStore, clock: Clock, wait: float) -> None:
    run_id = created(runs, {**GUIDE_AGENT, "background": True})["id"]
    clock.now += wait
    reply = api.cancel_run(run_id, runs)
    assert reply.status == 200 and reply.body == {"response_id": run_id, "status": "cancelling"}
    for _ in range(2):  # still cancelled long after it would have completed
        cancelled = api.retrieve_run(run_id, runs).body
        assert cancelled["status"] == "cancelled" and cancelled["output"] == [] and cancelled["error"]["message"]
        clock.now += 10
    error = error_of(api.cancel_run(run_id, runs), 400)  # already final: cancelled
    assert "cancelled" in error["message"]


def test_cancelling_a_completed_run_is_400_and_changes_nothing(runs: RunStore, clock: Clock) -> None:
    stored = created(runs, GUIDE_AGENT)
    error = error_of(api.cancel_run(stored["id"], runs), 400)
    assert error["type"] == "invalid_request" and "already completed" in error["message"]
    background_id = created(runs, {**GUIDE_AGENT, "input": "Why is the sky blue?", "background": True})["id"]
    clock.now += 1
    error_of(api.cancel_run(background_id, runs), 400)
    assert api.retrieve_run(background_id, runs).body["status"] == "completed"
    assert api.retrieve_run(stored["id"], runs).body == stored


def test_cancelling_an_unknown_or_unstored_run_is_404(runs: RunStore) -> None:
    assert error_of(api.cancel_run("resp_123", runs), 404)["type"] == "not_found"
    unstored = created(runs, {**GUIDE_AGENT, "store": False})
    error_of(api.cancel_run(unstored["id"], runs), 404)


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"stream": True}, "stream"),
        ({"store": False}, "store"),
    ],
)
def test_background_with_stream_or_without_store_is_400_with_a_sentence(
    runs: RunStore, patch: dict, words: str
) -> None:
    error = error_of(create(runs, {**GUIDE_AGENT, "background": True, **patch}), 400)
    assert error["param"] == "background" and error["type"] == "invalid_parameter"
    assert words in error["message"] and "GET /v1/agent/{id}" in error["message"]
    assert len(runs) == 0


def test_background_false_combines_with_anything(runs: RunStore) -> None:
    assert create(runs, {**GUIDE_AGENT, "background": False, "stream": True, "store": False}).status == 200


# --- the store itself ---------------------------------------------------------------------


def test_the_store_keeps_the_latest_runs_and_forgets_the_oldest(clock: Clock) -> None:
    small = RunStore(max_runs=3, clock=clock)
    ids = [created(small, {**GUIDE_AGENT, "input": f"Question number {n}?"})["id"] for n in range(4)]
    assert len(small) == 3 and ids[0] not in small
    error_of(api.retrieve_run(ids[0], small), 404)
    assert all(api.retrieve_run(run_id, small).status == 200 for run_id in ids[1:])
    assert RunStore().max_runs == MAX_RUNS == 10_000


def test_the_store_is_safe_across_threads() -> None:
    shared = RunStore(max_runs=50)

    def work(worker: int) -> None:
        for n in range(100):
            run_id = shared.add({"id": f"resp_{worker}_{n}", "status": "completed"}, background=n % 2 == 0)
            shared.get(run_id)
            shared.cancel(run_id)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(shared) == 50


def test_a_store_needs_room_for_one_run() -> None:
    with pytest.raises(ValueError, match="max_runs"):
        RunStore(max_runs=0)


def ids_hidden(frame: bytes) -> bytes:
    return re.sub(rb"(resp|msg)_[0-9a-f-]{36}", rb"\1_ID", frame)


def test_identical_requests_in_the_same_second_share_one_rendered_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "_RENDERED", {})
    monkeypatch.setattr(api.time, "time", lambda: 1_800_000_000.0)  # one second for the whole test
    built = []
    real = api._agent_response
    monkeypatch.setattr(api, "_agent_response", lambda *args: built.append(1) or real(*args))
    body = {"model": "perplexity/sonar", "input": "What is the capital of France?", "stream": True}
    first, second = api.agent(body, runs=RunStore()), api.agent(dict(body), runs=RunStore())
    assert len(built) == 1  # built once; each request then gets its own ids in the shared frames
    assert [ids_hidden(event) for event in first.events] == [ids_hidden(event) for event in second.events]
    assert first.events[0] != second.events[0]
    api.agent({**body, "input": "Another question?"}, runs=RunStore())
    assert len(built) == 2  # a different request is built afresh
    assert len(api._RENDERED) <= api.MAX_RENDERED
