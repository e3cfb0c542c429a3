"""Progress reports reach a class sandbox, and only a class sandbox, and only under a chosen name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

import helpers
from helpers.progress import learner_name, report_progress
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY, act_as, play_three_learners


@pytest.fixture
def class_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(classroom=True) as sandbox:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        yield sandbox


def test_the_roster_shows_each_learners_steps_and_last_error(
    class_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    play_three_learners(class_sandbox, monkeypatch)
    rows = {row["learner"]: row for row in class_sandbox.roster.snapshot()}
    assert rows["Ada"]["steps"] == ["answer", "test", "exercise:01.1"] and rows["Ada"]["last_error"] == ""
    assert rows["Grace"]["steps"] == ["answer"] and "mistral-7b-instruct" in rows["Grace"]["last_error"]
    assert rows["Linus"]["steps"] == [] and "retired" in rows["Linus"]["last_error"]


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
        assert [row["learner"] for row in classroom.roster.snapshot()] == ["Ada"]


def test_the_page_needs_the_token_over_http(class_sandbox: Sandbox) -> None:
    assert requests.get(class_sandbox.url_for("/class"), timeout=5).status_code == 403
    page = requests.get(class_sandbox.class_page_url, timeout=5)
    assert page.status_code == 200 and "Class progress" in page.text
    assert requests.get(class_sandbox.url_for("/class/hello"), timeout=5).ok


def test_a_name_is_saved_for_every_notebook(project: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv (not delenv) records the variable's absence, so the name set below never outlives the test.
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "")
    assert "Ada L." in helpers.set_learner_name("  Ada   L. <script>")
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "")  # a new kernel: only the key file remembers
    assert learner_name() == "Ada L. script"  # read back from the key file, cleaned
