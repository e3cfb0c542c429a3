"""The playground: its plain functions, and the widget driven as a learner would (set values, click Send).

Every failure the issue names is staged against the sandbox; each test checks the sentence shown
and that the learner's edits are still there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape

import ipywidgets as widgets
import pytest

from helpers.client import GUIDE_MODEL, GUIDE_QUESTION, GUIDE_SYSTEM, PerplexityClient
from helpers.errors import InvalidRequestError, RunFailedError
from helpers.widgets.playground import (
    HISTORY_LENGTH,
    EditorValues,
    ModelChoice,
    Playground,
    default_choice,
    estimate_cost,
    estimate_sentence,
    final_markdown,
    model_choices,
    request_as_curl,
    request_as_json,
    request_from_values,
    send_request,
)
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY, CannedServer, fast_client, unused_url


@pytest.fixture
def pg(sandbox_client: PerplexityClient) -> Playground:
    return Playground(sandbox_client)


def choice_for(pg: Playground, model: str) -> ModelChoice:
    return next(value for _, value in pg.model.options if value.model == model)


def edit(pg: Playground, **changes: object) -> dict:
    """Make the learner's edits, and return every editor's value after them."""
    for name, value in changes.items():
        pg.editors[name].value = value
    return {name: editor.value for name, editor in pg.editors.items()}


def send_and_check_edits_kept(pg: Playground, edits: dict) -> str:
    """Click Send; assert the edits survived; return the sentence shown."""
    pg.send_button.click()
    assert {name: editor.value for name, editor in pg.editors.items()} == edits
    assert not pg.send_button.disabled
    return pg.status.value


def all_widgets(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from all_widgets(child)


def answer_shown(pg: Playground) -> str:
    return "".join(o["data"]["text/markdown"] for o in pg.answer.outputs)


# --- the plain functions --------------------------------------------------------------------


def test_menu_comes_from_the_server_and_keeps_the_guides_model(sandbox_client: PerplexityClient) -> None:
    choices, note = model_choices(sandbox_client)
    agent_models = [c.model for c in choices if c.endpoint == "agent" and c.model]
    assert agent_models == sandbox_client.list_models() and "GET /v1/models" in note
    assert any(c.endpoint == "legacy" and c.model == GUIDE_MODEL for c in choices)
    assert any(c.preset == "fast" for c in choices)


def test_menu_falls_back_to_the_dated_list_when_the_server_is_unreachable() -> None:
    with fast_client(unused_url()) as offline:
        choices, note = model_choices(offline)
    assert "built-in list of 2026" in note and default_choice(choices).model == "perplexity/sonar"


def test_agent_request_carries_every_edit(sandbox_client: PerplexityClient) -> None:
    choice = default_choice(model_choices(sandbox_client)[0])
    values = EditorValues(
        choice,
        question="Q?",
        max_output_tokens=100,
        recency="week",
        domains="https://nasa.gov/, -example.com",
        extra_fields='{"temperature": 0.2}',
    )
    body = request_from_values(values).body
    assert body["input"] == "Q?" and body["instructions"] == GUIDE_SYSTEM and body["stream"] is True
    assert body["tools"] == [
        {
            "type": "web_search",
            "filters": {"search_recency_filter": "week", "search_domain_filter": ["nasa.gov", "-example.com"]},
        }
    ]
    assert body["max_output_tokens"] == 100 and body["temperature"] == 0.2 and body["model"] == choice.model


def test_guides_request_goes_to_the_legacy_endpoint(sandbox_client: PerplexityClient) -> None:
    guide = next(c for c in model_choices(sandbox_client)[0] if c.model == GUIDE_MODEL)
    request = request_from_values(EditorValues(guide))
    assert request.path == "/chat/completions"
    assert request.body["messages"][0] == {"role": "system", "content": GUIDE_SYSTEM}
    assert request.body["model"] == GUIDE_MODEL and "max_tokens" in request.body


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ({"question": "   "}, "question is empty"),
        ({"domains": "nasa gov"}, "is not a domain"),
        ({"domains": ", ".join(f"site{n}.org" for n in range(21))}, "at most 20"),
        ({"extra_fields": "{temperature: 1}"}, "not valid JSON"),
        ({"extra_fields": "[1]"}, "must be a JSON object"),
    ],
)
def test_edits_that_cannot_be_sent_are_explained(sandbox_client: PerplexityClient, edits: dict, words: str) -> None:
    values = EditorValues(default_choice(model_choices(sandbox_client)[0]), **edits)
    with pytest.raises(InvalidRequestError, match=words):
        request_from_values(values)


def test_curl_and_json_views_show_the_exact_body_and_mask_the_key(sandbox_client: PerplexityClient) -> None:
    request = request_from_values(EditorValues(default_choice(model_choices(sandbox_client)[0])))
    curl, shown = request_as_curl(request, sandbox_client), json.loads(request_as_json(request, sandbox_client))
    assert FAKE_KEY not in curl + json.dumps(shown)
    assert "Bearer ${PERPLEXITY_SANDBOX_KEY}" in curl and "PERPLEXITY_API_KEY" not in curl  # never your key
    assert shown["body"] == request.body and shown["headers"]["Authorization"] == f"Bearer {sandbox_client.masked_key}"
    assert json.dumps(request.body, indent=2) in curl


def test_in_live_mode_the_curl_view_reads_your_key_from_the_environment(sandbox_client: PerplexityClient) -> None:
    request = request_from_values(EditorValues(default_choice(model_choices(sandbox_client)[0])))
    with sandbox_client.with_options(mode="live") as live:
        curl = request_as_curl(request, live)
    assert live.masked_key in curl and "Bearer ${PERPLEXITY_API_KEY}" in curl and FAKE_KEY not in curl


def test_estimate_is_an_upper_bound_of_the_real_cost(sandbox_client: PerplexityClient) -> None:
    request = request_from_values(EditorValues(default_choice(model_choices(sandbox_client)[0])))
    outcome = send_request(sandbox_client, request)
    estimate = estimate_cost(request)
    assert outcome.ok and estimate >= outcome.answer.total_cost
    bigger = request_from_values(EditorValues(request_choice(sandbox_client), max_output_tokens=4000))
    assert estimate_cost(bigger) > estimate
    assert "at most $" in estimate_sentence(request, "live")
    assert "would cost live" in estimate_sentence(request, "sandbox")


def request_choice(client: PerplexityClient) -> ModelChoice:
    return default_choice(model_choices(client)[0])


def test_no_estimate_without_a_price_on_file(sandbox_client: PerplexityClient) -> None:
    preset = next(c for c in model_choices(sandbox_client)[0] if c.preset)
    request = request_from_values(EditorValues(preset))
    assert estimate_cost(request) is None and "No price on file" in estimate_sentence(request, "live")


def test_send_streams_pieces_then_returns_the_answer(sandbox_client: PerplexityClient) -> None:
    pieces = []
    outcome = send_request(
        sandbox_client, request_from_values(EditorValues(request_choice(sandbox_client))), pieces.append
    )
    assert len(pieces) > 1 and "".join(pieces) == outcome.answer.text and outcome.message == ""


# --- the widget: success --------------------------------------------------------------------


def test_starts_with_the_guides_request_and_a_short_repr(pg: Playground) -> None:
    values = pg.values()
    assert (values.question, values.instructions, values.choice.model) == (
        GUIDE_QUESTION,
        GUIDE_SYSTEM,
        "perplexity/sonar",
    )
    assert repr(pg) == "Playground(model='perplexity/sonar', endpoint='agent', mode='sandbox')"
    assert pg._repr_mimebundle_()["text/plain"] == repr(pg)


def test_request_view_follows_the_edits(pg: Playground) -> None:
    pg.view.value = "curl"
    pg.question.value = "What is a red dwarf?"
    assert "What is a red dwarf?" in pg.request_view.value and "--no-buffer" in pg.request_view.value
    pg.view.value = "hide request"
    assert pg.request_view.value == ""


def test_send_shows_answer_sources_usage_and_history(pg: Playground) -> None:
    edits = edit(pg)
    assert send_and_check_edits_kept(pg, edits) == ""
    shown = answer_shown(pg)
    assert "[[1]](https://" in shown and "**Sources**" in shown and "tokens in" in shown and "cost $" in shown
    assert pg.history[-1].outcome == "completed" and pg.history[-1].cost > 0


def test_in_the_sandbox_every_price_shown_says_it_is_what_the_request_would_cost_live(pg: Playground) -> None:
    """It said "requests are free" beside "cost $0.00516": the sandbox reports live prices and charges nothing."""
    pg.send()
    shown = {
        "estimate": unescape(pg.estimate.value),
        "answer": answer_shown(pg),
        "history": "".join(o["data"]["text/markdown"] for o in pg.history_view.outputs),
    }
    assert "$" in shown["answer"] and "$" in shown["history"]  # the sandbox does report a cost
    for where, text in shown.items():
        assert "free" not in text, where
        assert "would cost live" in text or "if sent live" in text, where
    live_answer = final_markdown(send_request(pg.client, pg.request()), mode="live")
    assert "cost $" in live_answer and "would cost live" not in live_answer  # live, a cost is what was charged


def test_history_keeps_the_last_few_requests(pg: Playground) -> None:
    for n in range(HISTORY_LENGTH + 1):
        pg.question.value = f"Question {n}?"
        pg.send()
    assert [e.question for e in pg.history] == [f"Question {n}?" for n in range(1, HISTORY_LENGTH + 1)]
    assert pg.history[-1].number == HISTORY_LENGTH + 1


def test_the_key_never_reaches_widget_state(pg: Playground) -> None:
    pg.view.value = "JSON"
    pg.send()
    pg.simulate.value = "rate limit (HTTP 429)"
    pg.send()
    state = json.dumps([w.get_state() for w in all_widgets(pg.widget)], default=str)
    assert FAKE_KEY not in state and pg.client.masked_key in state


# --- the widget: one test per failure -------------------------------------------------------


def test_bad_key(module_sandbox: Sandbox) -> None:
    key = "pplx-revoked" + "4" * 30
    with fast_client(module_sandbox.url, key) as revoked:
        pg = Playground(revoked)
        shown = send_and_check_edits_kept(pg, edit(pg, question="Still mine?"))
    assert "key was not accepted (HTTP 401)" in shown and "Traceback" not in shown
    assert pg.details.layout.display is None and "HTTP 401" in pg.detail.value
    assert key not in shown + pg.detail.value


def test_forbidden_key(module_sandbox: Sandbox) -> None:
    with fast_client(module_sandbox.url, "pplx-blocked" + "5" * 30) as blocked:
        pg = Playground(blocked)
        shown = send_and_check_edits_kept(pg, edit(pg, instructions="Answer in French."))
    assert "not allowed to do this (HTTP 403)" in shown


def test_guides_retired_model(pg: Playground) -> None:
    shown = send_and_check_edits_kept(pg, edit(pg, choice=choice_for(pg, GUIDE_MODEL)))
    assert "mistral-7b-instruct" in shown and "retired or unknown" in shown and "perplexity/sonar" in shown


def test_invalid_request_names_the_field(pg: Playground) -> None:
    shown = send_and_check_edits_kept(pg, edit(pg, extra_fields='{"max_tokens": 100}'))
    assert "field &#x27;max_tokens&#x27;" in shown and pg.history[-1].outcome.endswith("invalid request")


def test_invalid_edit_is_explained_without_sending(pg: Playground) -> None:
    shown = send_and_check_edits_kept(pg, edit(pg, question=" "))
    assert "question is empty" in shown and pg.history == []


@pytest.mark.parametrize(
    ("simulation", "words"),
    [
        ("rate limit (HTTP 429)", "Too many requests (HTTP 429)"),
        ("service error (HTTP 500)", "problem on its side (HTTP 500)"),
        ("service unavailable (HTTP 503)", "problem on its side (HTTP 503)"),
        ("failed run (HTTP 200, status failed)", "the run failed on the server"),
        ("dropped connection", "closed the connection before answering"),
    ],
)
def test_staged_failure(pg: Playground, simulation: str, words: str) -> None:
    edits = edit(pg, question="How old is the universe?", max_output_tokens=64)
    pg.simulate.value = simulation
    assert words in send_and_check_edits_kept(pg, edits)
    assert answer_shown(pg) == ""


def test_timeout(pg: Playground) -> None:
    pg.simulate.value = "timeout (no answer in 1 s)"
    shown = send_and_check_edits_kept(pg, edit(pg, domains="nasa.gov"))
    assert "No answer from" in shown and "within 1 second." in shown


def test_stream_cut_mid_answer_keeps_the_text_so_far(pg: Playground) -> None:
    pg.simulate.value = "answer cut mid-stream"
    shown = send_and_check_edits_kept(pg, edit(pg))
    assert "stopped half-way" in shown
    assert "Milky Way" in answer_shown(pg) and "The answer stopped here." in answer_shown(pg)


@pytest.mark.parametrize(("fault", "status"), [("bad_gateway", 502), ("gateway_timeout", 504)])
def test_outage_of_the_whole_server(fault: str, status: int) -> None:
    with Sandbox(fault=fault) as down, fast_client(down.url) as c:
        pg = Playground(c)
        shown = send_and_check_edits_kept(pg, edit(pg, web_search=False))
    assert f"(HTTP {status})" in shown


def test_network_unreachable() -> None:
    with fast_client(unused_url()) as offline:
        pg = Playground(offline)
        shown = send_and_check_edits_kept(pg, edit(pg, recency="day"))
    assert "Could not reach" in shown and "built-in list" in pg.models_note.value


def test_retired_legacy_endpoint(module_sandbox: Sandbox) -> None:
    with fast_client(module_sandbox.url + "/v0") as moved:
        pg = Playground(moved)
        shown = send_and_check_edits_kept(pg, edit(pg, choice=choice_for(pg, "sonar")))
    assert "no longer offers /chat/completions" in shown


def test_unexpected_response() -> None:
    with CannedServer(b"<html>Sign in to the wifi</html>", "text/html") as portal, fast_client(portal.url) as c:
        pg = Playground(c)
        shown = send_and_check_edits_kept(pg, edit(pg))
    assert "streamed answer was expected" in shown


def test_a_failure_never_shows_the_clients_key_even_when_short() -> None:
    short_key = "pplx-" + "q" * 15  # the shortest key validation accepts
    with (
        CannedServer(
            f'{{"error": {{"message": "bad key {short_key}"}}}}'.encode(), "application/json", status=400
        ) as server,
        fast_client(server.url, short_key) as client,
    ):
        request = request_from_values(EditorValues(default_choice(model_choices(client)[0])))
        outcome = send_request(client, request)
    assert not outcome.ok and short_key not in outcome.message + outcome.detail


def test_a_background_run_is_started_then_polled_until_it_finishes(pg: Playground) -> None:
    statuses: list[str] = []
    pg._on_status = lambda status: statuses.append(status)  # record what the status line shows
    pg.background.value = True
    pg.question.value = "What is the capital of France?"
    outcome = pg.send()
    assert outcome is not None and outcome.ok and "Paris" in outcome.answer.text
    assert statuses[0] == "queued" and statuses[-1] == "completed" and "in_progress" in statuses


def test_the_client_waits_for_a_background_run_and_says_when_it_was_cancelled(
    sandbox_client: PerplexityClient,
) -> None:
    started = sandbox_client.create_response("A question to cancel?", background=True)
    assert started.status == "queued" and sandbox_client.retrieve_response(started.id).id == started.id
    assert sandbox_client.cancel_response(started.id) == "cancelling"
    with pytest.raises(RunFailedError, match="cancelled"):
        sandbox_client.wait_for_response(started.id, poll_every=0.05)
