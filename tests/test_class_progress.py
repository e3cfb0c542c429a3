"""Progress reports reach a class sandbox, and only a class sandbox, only under a chosen name, only within 2 s."""

from __future__ import annotations

import json
import logging
import socketserver
import time
from pathlib import Path

import pytest
import requests

import helpers
from helpers import progress
from helpers.client import GUIDE_MODEL
from helpers.keys import env_file_path, read_env_file
from helpers.progress import (
    FAULT_HEADER,
    NOTEBOOK_VARIABLE,
    REPORT_SECONDS,
    SEAT_VARIABLE,
    learner_name,
    report_progress,
    staged_event,
    staged_failure,
)
from helpers.settings import SANDBOX_DEMO_KEY
from helpers.widgets.playground import FAULT_HEADER as PLAYGROUND_FAULT_HEADER
from helpers.widgets.playground import Playground
from perplexity_sandbox import Sandbox, faults
from perplexity_sandbox.classroom import stuck_groups
from tests.support import (
    CLASS_GUIDE,
    FAKE_KEY,
    EchoServer,
    LoopbackTcpServer,
    act_as,
    fast_client,
    play_three_learners,
    unused_url,
)


def new_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another notebook's kernel: it remembers nothing of this one (the key file stays)."""
    monkeypatch.setattr(progress, "_seats", {})
    monkeypatch.setattr(progress, "_warned", set())


def rows(sandbox: Sandbox) -> dict[str, dict]:
    return {row["learner"]: row for row in sandbox.roster.snapshot()}


def test_the_roster_shows_each_learners_steps_and_last_error(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    play_three_learners(class_sandbox, monkeypatch)
    seen = rows(class_sandbox)
    assert seen["Ada"]["steps"] == ["answer", "test", "exercise:01.1"] and seen["Ada"]["last_error"] == ""
    assert seen["Grace"]["steps"] == ["answer"] and "mistral-7b-instruct" in seen["Grace"]["last_error"]
    assert seen["Linus"]["steps"] == [] and "retired" in seen["Linus"]["last_error"]


def test_nothing_is_reported_without_a_name_or_outside_a_class_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox() as plain, Sandbox(classroom=True) as classroom:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.delenv("PERPLEXITY_LEARNER_NAME", raising=False)
        monkeypatch.setenv("PERPLEXITY_BASE_URL", classroom.url)
        assert not report_progress(step="answer")  # no name chosen
        act_as(monkeypatch, "Ada")
        assert report_progress(step="answer")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", plain.url)
        assert not report_progress(step="answer")  # not a class sandbox
        monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
        monkeypatch.setenv("PERPLEXITY_MODE", "live")
        monkeypatch.delenv("PERPLEXITY_BASE_URL")
        assert not report_progress(step="answer")  # live mode
        assert list(rows(classroom)) == ["Ada"]


def test_the_page_opens_with_the_sign_in_link_not_the_token(class_sandbox: Sandbox) -> None:
    assert requests.get(class_sandbox.url_for("/class"), timeout=5).status_code == 401
    page = requests.get(class_sandbox.url_for(class_sandbox.roster.sign_in_path()), timeout=5)
    assert page.status_code == 200 and page.url == class_sandbox.url_for("/class") and "Class progress" in page.text
    assert class_sandbox.roster.token not in page.text
    assert requests.get(class_sandbox.url_for("/class/hello"), timeout=5).ok


def test_a_name_is_saved_for_every_notebook(project: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv (not delenv) records the variable's absence, so the name set below never outlives the test.
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "")
    assert "Ada L." in helpers.set_learner_name("  Ada   L. <script>")
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "")  # a new kernel: only the key file remembers
    assert learner_name() == "Ada L. script"  # read back from the key file, cleaned


def test_a_key_typed_as_the_name_is_never_a_name(project: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "")
    assert "looks like an API key" in helpers.set_learner_name(FAKE_KEY)
    key_file = Path(project, ".env")
    assert not key_file.exists() or FAKE_KEY[:20] not in key_file.read_text()
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", FAKE_KEY)
    assert learner_name() == "" and not report_progress(step="answer")


# --- a row is its learner's -----------------------------------------------------------------------


def test_a_classmate_cannot_tick_or_overwrite_a_learners_row(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as(monkeypatch, "Ada")
    assert report_progress(step="answer")
    new_kernel(monkeypatch)
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(env_file_path().with_name("mallory.env")))
    assert not report_progress(step="test")  # Mallory, on another computer, calls herself Ada
    assert not report_progress(error="Ada gave up")
    assert rows(class_sandbox)["Ada"]["steps"] == ["answer"] and rows(class_sandbox)["Ada"]["last_error"] == ""


def test_the_learners_other_notebooks_keep_the_same_row(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as(monkeypatch, "Grace")
    assert report_progress(step="answer")  # notebook 02
    assert read_env_file(env_file_path())[SEAT_VARIABLE]  # kept for the other notebooks
    new_kernel(monkeypatch)
    assert report_progress(step="test")  # notebook 03: another kernel, the same learner
    assert list(rows(class_sandbox)) == ["Grace"] and rows(class_sandbox)["Grace"]["steps"] == ["answer", "test"]


def test_a_look_alike_name_is_refused_and_the_learner_told_once(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    act_as(monkeypatch, "Ann")
    assert report_progress(step="answer")
    act_as(monkeypatch, "\u0410nn")  # a Cyrillic A
    with caplog.at_level(logging.WARNING, logger="helpers.progress"):
        assert not report_progress(step="test")
        assert not report_progress(step="exercise:02.1")
    told = [record.getMessage() for record in caplog.records]
    assert len(told) == 1 and "looks too much like 'Ann'" in told[0] and "choose another display name" in told[0]
    assert list(rows(class_sandbox)) == ["Ann"] and rows(class_sandbox)["Ann"]["steps"] == ["answer"]


# --- what a report carries, and how long it may take ----------------------------------------------


def test_a_netrc_password_never_rides_along(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, class_sandbox: Sandbox
) -> None:
    """requests adds the .netrc password of a host to requests sent without auth=: reports must not."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login ada password netrc-password\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    assert requests.get(class_sandbox.url_for("/class/hello"), timeout=5).request.headers.get("Authorization")
    with EchoServer() as recorder:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", recorder.url)  # stands in for the class sandbox, and records
        act_as(monkeypatch, "Ada")
        assert report_progress(step="answer")
    assert [(seen["method"], seen["path"]) for seen in recorder.requests] == [
        ("GET", "/class/hello"),
        ("POST", "/class/progress"),
    ]
    assert not any("Authorization" in seen["headers"] for seen in recorder.requests)
    assert "pplx-" not in recorder.requests[1]["body"]


def test_an_error_report_carries_no_key(class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    with EchoServer() as recorder:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", recorder.url)
        act_as(monkeypatch, "Ada")
        assert report_progress(error=f"The key {FAKE_KEY} was not accepted.")
    assert FAKE_KEY not in str(recorder.requests) and "pplx-...t3st" in recorder.requests[1]["body"]


class DripServer(LoopbackTcpServer):
    """Answers ``GET /class/hello`` at once; any other request gets a reply head one byte every half second.

    Each byte arrives well within any read timeout, so only a deadline for the whole report stops the wait.
    """

    def __init__(self) -> None:
        super().__init__(_Drip)


class _Drip(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        head = self.request.recv(65536)
        if head.startswith(b"GET /class/hello"):
            self.request.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"class":true}')
            self.request.recv(65536)  # the report comes on the same connection, or a new one
            return
        deadline = time.monotonic() + 8
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\n")
            while time.monotonic() < deadline:
                self.request.sendall(b"X")
                time.sleep(0.5)
        except OSError:
            pass


def test_reporting_gives_up_after_two_seconds_whatever_the_server_does(monkeypatch: pytest.MonkeyPatch) -> None:
    with DripServer() as slow:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", f"http://127.0.0.1:{slow.port}")
        act_as(monkeypatch, "Ada")
        started = time.monotonic()
        assert not report_progress(step="answer")
        assert time.monotonic() - started < REPORT_SECONDS + 0.5


# --- errors on purpose, where each error came from, and who is stuck --------------------------------


def demo_post(sandbox: Sandbox, path: str, body: dict, **headers: str) -> requests.Response:
    """A request sent by hand, as notebook 02's cells send it (the demo key: sandbox mode)."""
    headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}", **headers}
    return requests.post(sandbox.url_for(path), headers=headers, json=body, timeout=5)


def guide_chat_body() -> dict:
    """Notebook 02's legacy cell: the guide's 2024 request, with its retired model."""
    return {"model": GUIDE_MODEL, "messages": helpers.client.guide_messages()}


def test_the_notebooks_deliberate_failures_are_reported_as_on_purpose(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as(monkeypatch, "Ada")  # notebook 02's legacy cell: the guide's retired model
    assert "HTTP 400" in helpers.explain_response(demo_post(class_sandbox, "/chat/completions", guide_chat_body()))
    act_as(monkeypatch, "Grace")  # notebook 03's legacy Test
    legacy = helpers.run_test(
        helpers.guide_connector(SANDBOX_DEMO_KEY), helpers.guide_legacy_action(), send_to=class_sandbox.url
    )
    assert not legacy.successful
    act_as(monkeypatch, "Linus")  # the playground's Simulate
    with fast_client(class_sandbox.url, SANDBOX_DEMO_KEY) as client:
        pg = Playground(client)
        pg.simulate.value = "service error (HTTP 500)"
        assert not pg.send().ok
    act_as(monkeypatch, "Hedy")  # a fault header of her own, on a request sent by hand
    staged = demo_post(class_sandbox, "/v1/agent", CLASS_GUIDE, **{FAULT_HEADER: "rate_limit"})
    assert "HTTP 429" in helpers.explain_response(staged)
    seen = rows(class_sandbox)
    assert {name: (row["error_on_purpose"], row["stuck"]) for name, row in seen.items()} == dict.fromkeys(
        ("Ada", "Grace", "Linus", "Hedy"), (True, False)
    )
    assert (seen["Ada"]["error_notebook"], seen["Ada"]["error_during"]) == ("02_authenticate", "answer")
    assert (seen["Grace"]["error_notebook"], seen["Grace"]["error_during"]) == ("03_creator_studio_connector", "test")
    assert stuck_groups(class_sandbox.roster.snapshot()) == []


def test_a_real_error_is_stuck_and_counted_with_the_others_on_it(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("Ada", "Grace", "Linus"):  # three learners send a body the API refuses
        act_as(monkeypatch, name)
        helpers.explain_response(demo_post(class_sandbox, "/v1/agent", {"model": "perplexity/sonar"}))
    act_as(monkeypatch, "Hedy")  # her sentence names the retired model, but her request did not use it
    helpers.explain_response(demo_post(class_sandbox, "/v1/agent", {**CLASS_GUIDE, "model": "mistral-7b-instruct-v2"}))
    seen = rows(class_sandbox)
    assert all(row["stuck"] and not row["error_on_purpose"] for row in seen.values())
    groups = stuck_groups(class_sandbox.roster.snapshot())
    assert [(group["learners"], group["notebooks"]) for group in groups] == [
        (3, ["02_authenticate"]),
        (1, ["02_authenticate"]),
    ]
    assert groups[0]["error"] == seen["Ada"]["last_error"] and "mistral" in groups[1]["error"]
    act_as(monkeypatch, "Ada")  # Ada gets past it: she is no longer counted, and her row keeps the error
    helpers.explain_response(demo_post(class_sandbox, "/v1/agent", CLASS_GUIDE))
    assert [group["learners"] for group in stuck_groups(class_sandbox.roster.snapshot())] == [2, 1]
    assert not rows(class_sandbox)["Ada"]["stuck"] and rows(class_sandbox)["Ada"]["last_error"]


def test_the_report_names_the_kernels_notebook_never_its_folder(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jupyter_server gives each kernel its notebook's path: only the file's name goes out."""
    monkeypatch.setenv(NOTEBOOK_VARIABLE, "/home/ada.lovelace/course/notebooks/appendix_playground.ipynb")
    with EchoServer() as recorder:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", recorder.url)
        act_as(monkeypatch, "Ada")
        assert report_progress(error="The server had a problem on its side (HTTP 500).", during="answer")
    sent = json.loads(recorder.requests[1]["body"])
    sent.pop("learner_token", None)  # Ada's row from an earlier test of this session, if any
    assert sent == {
        "learner": "Ada",
        "error": "The server had a problem on its side (HTTP 500).",
        "on_purpose": False,
        "during": "answer",
        "notebook": "appendix_playground",
    }
    assert "ada.lovelace" not in recorder.requests[1]["body"]


def test_a_report_of_an_error_holds_no_question_no_answer_and_no_key(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EchoServer() as recorder, fast_client(class_sandbox.url, FAKE_KEY) as client:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", recorder.url)
        act_as(monkeypatch, "Ada")
        pg = Playground(client)
        pg.editors["question"].value = "What is my secret plan?"
        pg.simulate.value = "rate limit (HTTP 429)"
        assert not pg.send().ok
    sent = json.loads(recorder.requests[-1]["body"])
    assert set(sent) <= {"learner", "error", "during", "notebook", "on_purpose", "learner_token"}
    assert (
        sent["on_purpose"] is True
        and "secret plan" not in str(recorder.requests)
        and FAKE_KEY not in str(recorder.requests)
    )


def test_the_mark_comes_from_what_the_request_carried() -> None:
    assert staged_failure({"x-sandbox-fault": "drop"}, None)
    assert staged_failure({}, json.dumps(guide_chat_body()).encode())
    assert not staged_failure({}, {"model": "perplexity/sonar", "input": "mistral-7b-instruct?"})
    assert not staged_failure({FAULT_HEADER: " "}, b"not json")
    assert FAULT_HEADER == faults.FAULT_HEADER == PLAYGROUND_FAULT_HEADER  # the sandbox's documented header


def test_an_error_raised_by_a_staged_request_is_on_purpose(module_sandbox: Sandbox) -> None:
    """notebook setup reports a network failure the notebook shows as a sentence: a dropped connection
    staged with the fault header is on purpose, one without it is not."""
    for fault, expected in (("drop", True), ("", False)):
        headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}", **({FAULT_HEADER: fault} if fault else {})}
        url = module_sandbox.url_for("/v1/agent") if fault else unused_url() + "/v1/agent"
        with pytest.raises(requests.ConnectionError) as raised:
            requests.post(url, json=CLASS_GUIDE, headers=headers, timeout=5)
        assert staged_event({"exception": raised.value}) is expected
    assert not staged_event({"exception": ValueError("no request here")})
