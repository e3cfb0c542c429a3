"""The "Your turn" exercises: every check answers with a hint (never the solution) or a well done.

Each solution in solutions/README.md is run here for real, against the sandbox over HTTP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from helpers import BasicAuth, Connector, HeaderAuth, check_exercise, practice_action, run_test
from helpers.exercises import KEY_CANDIDATES
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent
WELL_DONE = "\u2705 Well done"
GUIDE_BODY = {
    "model": "perplexity/sonar",
    "input": "How many stars are there in our galaxy?",
    "instructions": "Be precise and concise.",
    "tools": [{"type": "web_search"}],
}


def post(sandbox: Sandbox, body: dict) -> requests.Response:
    headers = {"Authorization": f"Bearer {FAKE_KEY}"}
    return requests.post(sandbox.url_for("/v1/agent"), headers=headers, json=body, timeout=10)


@pytest.mark.parametrize("exercise", ["01.1", "02.1", "03.1"])
def test_an_unanswered_exercise_says_how_to_start(exercise: str) -> None:
    assert check_exercise(exercise).startswith("Not answered yet")


def test_01_1_hints_name_the_slip_and_never_the_answer() -> None:
    answers = {letter: check_exercise("01.1", letter=letter) for letter in KEY_CANDIDATES}
    assert [letter for letter, text in answers.items() if text.startswith(WELL_DONE)] == ["B"]
    assert "Bearer" in answers["A"] and "pplx-" in answers["C"] and "spaces" in answers["D"]
    assert all(re.search(r"\bB\b", text) is None for text in answers.values())  # no hint names the answer


def test_02_1_wants_a_changed_request_and_its_reported_cost(sandbox: Sandbox) -> None:
    same = post(sandbox, GUIDE_BODY)
    assert "the one from the notebook" in check_exercise("02.1", response=same)
    own = post(sandbox, {**GUIDE_BODY, "instructions": "Answer in one sentence."})
    assert "Now set `my_cost`" in check_exercise("02.1", response=own)
    assert "not the total cost" in check_exercise("02.1", response=own, cost=0.5)
    cost = own.json()["usage"]["cost"]["total_cost"]
    assert check_exercise("02.1", response=own, cost=cost).startswith(WELL_DONE)
    assert "not accepted (HTTP 400)" in check_exercise("02.1", response=post(sandbox, {"model": "x", "input": "y"}))
    assert "what `requests.post(...)` returns" in check_exercise("02.1", response=own.json())


def test_03_1_wants_another_auth_and_a_successful_test(sandbox: Sandbox) -> None:
    guide_like = Connector("P", "https://api.example.com", HeaderAuth(FAKE_KEY))
    assert "another auth" in check_exercise("03.1", connector=guide_like)
    for auth in (HeaderAuth("practice-key-1", "X-API-Key", "%s"), BasicAuth("ada", "a-password")):
        connector = Connector("Practice", "https://api.example.com", auth)
        assert "Now Test it" in check_exercise("03.1", connector=connector)
        result = run_test(connector, practice_action(), send_to=sandbox.url)
        assert check_exercise("03.1", connector=connector, result=result).startswith(WELL_DONE)
    wrong = Connector("Practice", "https://api.example.com", HeaderAuth("k", "X-Other", "%s"))
    failed = run_test(wrong, practice_action(), send_to=sandbox.url)
    assert "did not succeed" in check_exercise("03.1", connector=wrong, result=failed)


def test_the_solutions_file_has_one_solution_per_exercise() -> None:
    text = (ROOT / "solutions/README.md").read_text()
    assert [f"## {exercise}" in text for exercise in ("01.1", "02.1", "03.1")] == [True] * 3


def test_an_unknown_exercise_lists_the_real_ones() -> None:
    assert "01.1, 02.1, 03.1" in check_exercise("9.9")
