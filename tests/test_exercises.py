"""The "Your turn" exercises: every check answers with a hint (never the solution) or a well done.

Each solution in teaching/solutions/README.md is run here for real, against the sandbox over HTTP, in the
names its notebook's own cells define; beside each, plausible wrong answers must get a hint.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests

import helpers
from helpers import BasicAuth, Connector, HeaderAuth, check_exercise, practice_action, run_test
from helpers.exercises import KEY_CANDIDATES
from helpers.settings import resolve_settings
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent
WELL_DONE = "\u2705 Well done"
NOTEBOOK_OF = {
    "01.1": "01_create_api_key.ipynb",
    "02.1": "02_authenticate.ipynb",
    "03.1": "03_creator_studio_connector.ipynb",
}
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
    text = (ROOT / "teaching/solutions/README.md").read_text()
    assert [f"## {exercise}" in text for exercise in ("01.1", "02.1", "03.1")] == [True] * 3


def test_an_unknown_exercise_lists_the_real_ones() -> None:
    assert "01.1, 02.1, 03.1" in check_exercise("9.9")


# --- every published solution, run through its check -----------------------------------------------


def published_solutions() -> list[tuple[str, str]]:
    """(exercise, code) for each Python block in teaching/solutions/README.md, under its "## NN.N" heading."""
    text = (ROOT / "teaching/solutions/README.md").read_text()
    found = []
    for section in re.split(r"(?m)^## ", text)[1:]:
        exercise = section.split(":", 1)[0].strip()
        found += [(exercise, code) for code in re.findall(r"```python\n(.*?)```", section, re.S)]
    return found


SOLUTIONS = published_solutions()


def notebook_names(exercise: str) -> dict[str, Any]:
    """The names the exercise's notebook has defined by its "Your turn" cell: its cells that set the
    request's pieces (``url``, ``headers``, ``body``) or the candidates, run as the notebook runs them."""
    namespace: dict[str, Any] = {"helpers": helpers, "requests": requests, "settings": resolve_settings()}
    notebook = nbformat.read(ROOT / "notebooks" / NOTEBOOK_OF[exercise], as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and assigned_names(cell.source) & {"url", "headers", "body", "candidates"}:
            exec(compile(cell.source, f"<{NOTEBOOK_OF[exercise]}>", "exec"), namespace)
    return namespace


def assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython magics: none of those set the request's pieces
        return set()
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def run_solution(exercise: str, code: str) -> tuple[str, dict[str, Any]]:
    """What the solution's cell prints, and the names it leaves behind."""
    namespace = notebook_names(exercise)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"<solution {exercise}>", "exec"), namespace)
    return printed.getvalue().strip(), namespace


def test_the_solutions_file_has_runnable_solutions_for_every_exercise() -> None:
    assert sorted({exercise for exercise, _ in SOLUTIONS}) == sorted(NOTEBOOK_OF)


@pytest.mark.parametrize(("exercise", "code"), SOLUTIONS, ids=[f"{e}-{n}" for n, (e, _) in enumerate(SOLUTIONS)])
def test_each_published_solution_is_well_done(exercise: str, code: str, local_sandbox: Sandbox) -> None:
    printed, _ = run_solution(exercise, code)
    assert printed.startswith(WELL_DONE), printed


def wrong_beside_01_1(done: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the other candidates."""
    return [{"letter": letter} for letter in KEY_CANDIDATES if letter != done["usable"]]


def wrong_beside_02_1(done: dict[str, Any]) -> list[dict[str, Any]]:
    """The notebook's request as it is, or the solution's request with a cost that is not the total."""
    same = requests.post(done["url"], headers=done["headers"], json=done["body"], timeout=10)
    usage = done["my_response"].json()["usage"]
    return [
        {"response": same, "cost": same.json()["usage"]["cost"]["total_cost"]},
        {"response": done["my_response"], "cost": usage["cost"]},
        {"response": done["my_response"], "cost": usage["cost"]["output_cost"]},
        {"response": done["my_response"], "cost": usage["total_tokens"]},
        {"response": done["my_response"].json(), "cost": done["my_cost"]},
    ]


def wrong_beside_03_1(done: dict[str, Any]) -> list[dict[str, Any]]:
    """A result Tested through another connector, the guide's own auth, an auth the practice endpoint refuses."""
    mine, url = done["my_connector"], helpers.practice_url()
    other = Connector("Practice", "https://api.example.com", HeaderAuth("another-practice-key", "X-API-Key", "%s"))
    refused = Connector("Practice", "https://api.example.com", HeaderAuth("practice-key", "X-Other", "%s"))
    guide = helpers.guide_connector(FAKE_KEY)
    return [
        {"connector": mine, "result": run_test(other, practice_action(), send_to=url)},
        {"connector": guide, "result": run_test(guide, practice_action(), send_to=url)},
        {"connector": refused, "result": run_test(refused, practice_action(), send_to=url)},
        {"connector": mine, "result": done["my_result"].body},
    ]


WRONG_BESIDE: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "01.1": wrong_beside_01_1,
    "02.1": wrong_beside_02_1,
    "03.1": wrong_beside_03_1,
}


@pytest.mark.parametrize(("exercise", "code"), SOLUTIONS, ids=[f"{e}-{n}" for n, (e, _) in enumerate(SOLUTIONS)])
def test_plausible_wrong_answers_beside_each_solution_get_a_hint(
    exercise: str, code: str, local_sandbox: Sandbox
) -> None:
    _, done = run_solution(exercise, code)
    for answer in WRONG_BESIDE[exercise](done):
        hint = check_exercise(exercise, **answer)
        assert not hint.startswith((WELL_DONE, "Not answered yet")), (answer, hint)
