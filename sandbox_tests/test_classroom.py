"""The class roster behind the instructor page: reports, validation, the token, and masking."""

from __future__ import annotations

import pytest

from perplexity_sandbox.classroom import MAX_LEARNERS, STEPS, ClassRoster
from sandbox_tests.support import FAKE_KEY


def test_reports_build_each_learners_row() -> None:
    roster = ClassRoster(token="t0ken")
    assert roster.report({"learner": "Ada", "step": "answer"}).status == 200
    roster.report({"learner": "Ada", "step": "exercise:02.1"})
    roster.report({"learner": "Grace", "error": "The key was not accepted (HTTP 401)."})
    rows = {row["learner"]: row for row in roster.snapshot()}
    assert rows["Ada"]["steps"] == ["answer", "exercise:02.1"] and rows["Ada"]["last_error"] == ""
    assert rows["Grace"]["steps"] == [] and "HTTP 401" in rows["Grace"]["last_error"]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"step": "answer"},
        {"learner": "", "step": "answer"},
        {"learner": "x" * 41, "step": "answer"},
        {"learner": "Ada"},
        {"learner": "Ada", "step": "hacked"},
        {"learner": "Ada", "error": 5},
        {"learner": "Ada\x00", "step": "answer"},
    ],
)
def test_bad_reports_get_a_400_with_one_sentence(body: object) -> None:
    reply = ClassRoster().report(body)
    assert reply.status == 400 and reply.body["error"]["message"].count(". ") == 0


def test_the_page_and_its_data_need_the_token() -> None:
    roster = ClassRoster(token="right")
    for reply in (roster.page(None), roster.page("wrong"), roster.progress_json("wrong")):
        assert reply.status == 403
    assert roster.page("right").status == 200 and "Class progress" in roster.page("right").body
    assert roster.progress_json("right").body["steps"] == STEPS


def test_a_key_in_an_error_is_masked() -> None:
    roster = ClassRoster()
    roster.report({"learner": "Ada", "error": f"I pasted {FAKE_KEY} here"})
    assert FAKE_KEY not in str(roster.snapshot())


def test_the_roster_is_bounded() -> None:
    roster = ClassRoster()
    for number in range(MAX_LEARNERS):
        roster.report({"learner": f"learner {number}", "step": "answer"})
    assert roster.report({"learner": "one too many", "step": "answer"}).status == 429
    assert roster.report({"learner": "learner 7", "step": "test"}).status == 200  # known names still report
