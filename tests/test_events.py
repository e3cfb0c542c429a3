"""The teaching core emits events and knows no listener: a class sandbox hears of them only through the reporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

import helpers
from helpers import events, progress
from helpers.client import GUIDE_MODEL, guide_messages
from helpers.settings import SANDBOX_DEMO_KEY, resolve_settings
from helpers.widgets.playground import FAULT_HEADER, Playground
from perplexity_sandbox import Sandbox
from tests.support import CLASS_GUIDE, act_as, fast_client


class Heard:
    """A listener that keeps every event it hears, as (kind, facts)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **facts: Any) -> None:
        self.events.append((kind, facts))

    def kinds(self) -> list[tuple[str, str]]:
        return [(kind, facts.get("step") or facts.get("during", "")) for kind, facts in self.events]


@pytest.fixture
def heard() -> Iterator[Heard]:
    listener = Heard()
    stop = events.subscribe(listener)
    yield listener
    stop()


def demo_post(sandbox: Sandbox, path: str, body: dict, **headers: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}", **headers}
    return requests.post(sandbox.url_for(path), headers=headers, json=body, timeout=5)


def test_without_a_listener_an_event_goes_nowhere() -> None:
    assert events.listeners() == ()
    events.emit(events.STEP, step="answer")  # nothing to call, nothing raised


def test_a_listener_hears_until_it_stops_and_once_however_often_it_subscribed() -> None:
    listener = Heard()
    stop = events.subscribe(listener)
    events.subscribe(listener)
    events.emit(events.STEP, step="answer")
    stop()
    events.emit(events.STEP, step="test")
    assert listener.events == [("step", {"step": "answer"})] and events.listeners() == ()


def test_a_failing_listener_never_reaches_the_learner(heard: Heard) -> None:
    def broken(kind: str, **facts: Any) -> None:
        raise RuntimeError("the class sandbox is on fire")

    stop = events.subscribe(broken)
    try:
        events.emit(events.ERROR, error="HTTP 500")  # does not raise
    finally:
        stop()
    assert heard.events == [("error", {"error": "HTTP 500"})]  # the listener after it still heard


def test_the_core_emits_what_the_learner_reached_and_met(heard: Heard, module_sandbox: Sandbox) -> None:
    helpers.explain_response(demo_post(module_sandbox, "/v1/agent", CLASS_GUIDE))
    helpers.explain_response(demo_post(module_sandbox, "/v1/agent", {"model": "perplexity/sonar"}))
    connector = helpers.guide_connector(SANDBOX_DEMO_KEY)
    helpers.run_test(connector, helpers.agent_action(), send_to=module_sandbox.url)
    helpers.run_test(connector, helpers.guide_legacy_action(), send_to=module_sandbox.url)
    helpers.check_exercise("01.1", letter="B")
    helpers.check_exercise("01.1", letter="A")  # a hint: nothing reached
    with fast_client(module_sandbox.url, SANDBOX_DEMO_KEY) as client:
        playground = Playground(client)
        assert playground.send().ok
        playground.simulate.value = "service error (HTTP 500)"
        assert not playground.send().ok
    assert heard.kinds() == [
        ("step", "answer"),
        ("error", "answer"),
        ("step", "test"),
        ("error", "test"),
        ("step", "exercise:01.1"),
        ("step", "answer"),
        ("error", "answer"),
    ]
    refused, legacy, simulated = (facts for kind, facts in heard.events if kind == "error")
    # The sentence the learner saw, and what the failed request carried: a listener tells staged from real.
    assert "input is required" in refused["error"] and refused["request"].url == module_sandbox.url_for("/v1/agent")
    assert GUIDE_MODEL in legacy["body"] and "HTTP 500" in simulated["error"] and FAULT_HEADER in simulated["headers"]


def test_the_core_alone_reports_nothing_to_a_class_sandbox(
    class_sandbox: Sandbox, heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the reporter that notebook setup subscribes talks to the class sandbox: the core never does."""
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "Ada")  # a name chosen, but no reporter listening
    helpers.explain_response(demo_post(class_sandbox, "/v1/agent", CLASS_GUIDE))
    helpers.check_exercise("01.1", letter="B")
    assert heard.kinds() == [("step", "answer"), ("step", "exercise:01.1")]
    assert class_sandbox.roster.snapshot() == []


def test_the_reporter_resolves_the_settings_once_per_event_and_not_when_given(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as(monkeypatch, "Ada")
    resolved: list[object] = []

    def counted() -> object:
        resolved.append(resolve_settings())
        return resolved[-1]

    monkeypatch.setattr(progress, "resolve_settings", counted)
    staged = demo_post(class_sandbox, "/chat/completions", {"model": GUIDE_MODEL, "messages": guide_messages()})
    helpers.explain_response(staged)
    assert len(resolved) == 1
    events.emit(events.STEP, step="test", settings=resolve_settings())
    assert len(resolved) == 1
    row = class_sandbox.roster.snapshot()[0]
    assert row["steps"] == ["test"] and row["error_on_purpose"] and "mistral-7b-instruct" in row["last_error"]


def test_a_fault_header_on_a_request_sent_by_hand_is_on_purpose(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as(monkeypatch, "Hedy")
    helpers.explain_response(demo_post(class_sandbox, "/v1/agent", CLASS_GUIDE, **{FAULT_HEADER: "rate_limit"}))
    (row,) = class_sandbox.roster.snapshot()
    assert row["error_on_purpose"] and not row["stuck"] and row["error_during"] == "answer"
