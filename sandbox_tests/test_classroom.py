"""A class sandbox over real HTTP: learners' reports, who owns a row, the instructor's page and its sign-in."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from perplexity_sandbox import Sandbox
from perplexity_sandbox.classroom import (
    ERROR_STEPS,
    MAX_LEARNERS,
    MAX_POST_BYTES,
    NEW_LEARNERS_PER_ADDRESS,
    STEPS,
)
from sandbox_tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def classroom() -> Iterator[Sandbox]:
    """One class sandbox for the module: each test uses names of its own."""
    with Sandbox(classroom=True) as sandbox:
        yield sandbox


@pytest.fixture
def fresh_class() -> Iterator[Sandbox]:
    """A class sandbox of its own, for the tests that fill it."""
    with Sandbox(classroom=True) as sandbox:
        yield sandbox


def report(
    sandbox: Sandbox, body: object, session: requests.Session | None = None, **headers: str
) -> requests.Response:
    """``POST /class/progress`` as a notebook sends it (``json=None`` would send no body at all)."""
    headers = {"Content-Type": "application/json", **headers}
    data = json.dumps(body).encode()
    return (session or requests).post(sandbox.url_for("/class/progress"), data=data, headers=headers, timeout=5)


def rows(sandbox: Sandbox) -> dict[str, dict]:
    return {row["learner"]: row for row in sandbox.roster.snapshot()}


def instructor(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.roster.token}"}


class FromAddress(HTTPAdapter):
    """Connections from another loopback address: another computer, as the class sandbox sees it."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(source: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(source))
    return session


# --- learners' reports ----------------------------------------------------------------------------


def test_reports_build_each_learners_row(classroom: Sandbox) -> None:
    ada = report(classroom, {"learner": "Ada", "step": "answer"}).json()["learner_token"]
    report(classroom, {"learner": "Ada", "step": "exercise:02.1", "learner_token": ada})
    report(classroom, {"learner": "Grace", "error": "The key was not accepted (HTTP 401)."})
    seen = rows(classroom)
    assert seen["Ada"]["steps"] == ["answer", "exercise:02.1"] and seen["Ada"]["last_error"] == ""
    assert seen["Grace"]["steps"] == [] and "HTTP 401" in seen["Grace"]["last_error"]


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
        {"learner": "Ada", "step": ["answer"]},  # a list cannot be looked up among the steps
        {"learner": "Ada", "step": {"answer": 1}},
        {"learner": "Ada", "error": 5},
        {"learner": "Ada\x00", "step": "answer"},
        {"learner": "...", "step": "answer"},  # no letter: no name to tell apart
        {"learner": FAKE_KEY[:40], "step": "answer"},  # a key pasted into the name box
        {"learner": "Ada", "step": "answer", "learner_token": 7},
        {"learner": "Ada", "step": "answer", "learner_token": "t" * 65},
        {"learner": "Ada", "error": "x", "notebook": "notebooks/02_authenticate"},  # a name, never a folder
        {"learner": "Ada", "error": "x", "notebook": "n" * 61},
        {"learner": "Ada", "error": "x", "notebook": 2},
        {"learner": "Ada", "error": "x", "notebook": FAKE_KEY[:40]},
        {"learner": "Ada", "error": "x", "during": "hacked"},
        {"learner": "Ada", "error": "x", "during": ["test"]},
        {"learner": "Ada", "error": "x", "on_purpose": "yes"},
    ],
)
def test_bad_reports_get_a_400_with_one_sentence(classroom: Sandbox, body: object) -> None:
    reply = report(classroom, body)
    assert reply.status_code == 400 and reply.json()["error"]["message"].count(". ") == 0


def test_errors_on_purpose_are_expected_and_real_ones_are_grouped(fresh_class: Sandbox) -> None:
    """What progress.json says about errors: where each came from, which are expected, who is stuck on what."""
    refused = "The request was refused (HTTP 400): 'input' is required."
    for name in ("Ada", "Grace"):
        report(fresh_class, {"learner": name, "error": refused, "notebook": "02_authenticate", "during": "answer"})
    report(fresh_class, {"learner": "Linus", "error": refused})  # an older notebook: no origin, no mark
    retired = {"error": "The model 'mistral-7b-instruct' is retired (HTTP 400).", "on_purpose": True, "during": "test"}
    report(fresh_class, {"learner": "Hedy", "notebook": "03_creator_studio_connector", **retired})
    listed = requests.get(
        fresh_class.url_for("/class/progress.json"), headers=instructor(fresh_class), timeout=5
    ).json()
    seen = {row["learner"]: row for row in listed["learners"]}
    assert [seen[name]["stuck"] for name in ("Ada", "Grace", "Linus", "Hedy")] == [True, True, True, False]
    assert (seen["Hedy"]["error_on_purpose"], seen["Hedy"]["error_notebook"], seen["Hedy"]["error_during"]) == (
        True,
        "03_creator_studio_connector",
        "test",
    )
    assert (seen["Linus"]["error_notebook"], seen["Linus"]["error_during"]) == ("", "")
    assert listed["stuck"] == [{"error": refused, "learners": 3, "notebooks": ["02_authenticate"]}]
    assert list(listed["error_steps"]) == list(listed["steps"]) == list(STEPS) == list(ERROR_STEPS)
    grace = report(fresh_class, {"learner": "Grace", "error": refused, "learner_token": "x"})
    assert grace.status_code == 409  # a step or an error changes a row only with its token


def test_a_step_reached_after_an_error_is_no_longer_stuck(fresh_class: Sandbox) -> None:
    token = report(fresh_class, {"learner": "Ada", "error": "No answer within 60 s."}).json()["learner_token"]
    assert rows(fresh_class)["Ada"]["stuck"]
    report(fresh_class, {"learner": "Ada", "step": "answer", "learner_token": token})
    assert not rows(fresh_class)["Ada"]["stuck"] and rows(fresh_class)["Ada"]["last_error"] == "No answer within 60 s."
    on_purpose = {
        "learner": "Ada",
        "error": "Too many requests (HTTP 429).",
        "on_purpose": True,
        "learner_token": token,
    }
    report(fresh_class, on_purpose)
    assert not rows(fresh_class)["Ada"]["stuck"] and rows(fresh_class)["Ada"]["error_on_purpose"]


def test_a_key_in_an_error_is_masked(classroom: Sandbox) -> None:
    report(classroom, {"learner": "Masked", "error": f"I pasted {FAKE_KEY} here"})
    listed = requests.get(classroom.url_for("/class/progress.json"), headers=instructor(classroom), timeout=5)
    assert "I pasted pplx-..." in listed.text and FAKE_KEY not in listed.text


# --- a row is its kernel's ------------------------------------------------------------------------


def test_a_row_belongs_to_the_kernel_that_created_it(classroom: Sandbox) -> None:
    token = report(classroom, {"learner": "Hedy", "step": "answer"}).json()["learner_token"]
    for stranger in ({}, {"learner_token": "not-hedys"}):
        taken = report(classroom, {"learner": "Hedy", "step": "test", "error": "spoiled", **stranger})
        assert taken.status_code == 409 and "already on the class page" in taken.json()["error"]["message"]
    assert rows(classroom)["Hedy"]["steps"] == ["answer"] and rows(classroom)["Hedy"]["last_error"] == ""
    again = report(classroom, {"learner": "Hedy", "step": "test", "learner_token": token})
    assert again.status_code == 200 and again.json()["learner_token"] == token
    assert rows(classroom)["Hedy"]["steps"] == ["answer", "test"]


def test_a_kernel_that_renames_itself_keeps_one_row(classroom: Sandbox) -> None:
    token = report(classroom, {"learner": "Bjarne", "step": "answer"}).json()["learner_token"]
    report(classroom, {"learner": "Bjarne S.", "step": "test", "learner_token": token})
    assert "Bjarne" not in rows(classroom) and rows(classroom)["Bjarne S."]["steps"] == ["answer", "test"]


@pytest.mark.parametrize("look_alike", ["\u0410nn", "ann", "ANN", "A nn", "Ann.", "\uff21\uff4e\uff4e", "A\u0578n"])
def test_names_that_look_alike_are_refused(fresh_class: Sandbox, look_alike: str) -> None:
    report(fresh_class, {"learner": "Ann", "step": "answer"})
    refused = report(fresh_class, {"learner": look_alike, "step": "test"})
    assert refused.status_code == 409 and "Ann" in refused.json()["error"]["message"]
    assert report(fresh_class, {"learner": "Anna", "step": "test"}).status_code == 200  # another name is fine
    assert sorted(rows(fresh_class)) == ["Ann", "Anna"] and rows(fresh_class)["Ann"]["steps"] == ["answer"]


@pytest.mark.parametrize(
    ("first", "second"), [("Iris", "lris"), ("Iris", "iris"), ("B0b", "Bob"), ("Ada", "\u0410d\u0430")]
)
def test_digits_and_capital_i_pass_for_letters(fresh_class: Sandbox, first: str, second: str) -> None:
    report(fresh_class, {"learner": first, "step": "answer"})
    assert report(fresh_class, {"learner": second, "step": "answer"}).status_code == 409


def test_one_address_cannot_fill_the_roster(fresh_class: Sandbox) -> None:
    with client_at("127.0.0.1") as hub:
        tokens = [
            report(fresh_class, {"learner": f"learner {number}", "step": "answer"}, hub).json()["learner_token"]
            for number in range(NEW_LEARNERS_PER_ADDRESS)
        ]
        refused = report(fresh_class, {"learner": "one too many", "step": "answer"}, hub)
        assert refused.status_code == 429 and "remove" in refused.json()["error"]["message"]
        known = {"learner": "learner 0", "step": "test", "learner_token": tokens[0]}
        assert report(fresh_class, known, hub).status_code == 200  # those already in still report
    with client_at("127.0.0.2") as classmate:
        assert report(fresh_class, {"learner": "Grace", "step": "answer"}, classmate).status_code == 200
    assert len(rows(fresh_class)) == NEW_LEARNERS_PER_ADDRESS + 1


def test_the_class_is_bounded(fresh_class: Sandbox) -> None:
    clients = [client_at(f"127.0.0.{number + 1}") for number in range(1 + MAX_LEARNERS // NEW_LEARNERS_PER_ADDRESS)]
    for number in range(MAX_LEARNERS):
        client = clients[number // NEW_LEARNERS_PER_ADDRESS]
        assert report(fresh_class, {"learner": f"learner {number}", "step": "answer"}, client).status_code == 200
    full = report(fresh_class, {"learner": "one too many", "step": "answer"}, clients[-1])
    assert full.status_code == 429 and full.json()["error"]["type"] == "class_full"
    for client in clients:
        client.close()


def test_the_instructor_removes_a_row_over_http(classroom: Sandbox) -> None:
    report(classroom, {"learner": "Typo Nmae", "step": "answer"})
    remove = classroom.url_for("/class/remove")
    body = {"learner": "Typo Nmae"}
    assert requests.post(remove, json=body, timeout=5).status_code == 403  # a learner cannot
    assert requests.post(remove, json=body, headers=instructor(classroom), timeout=5).json() == {"removed": "Typo Nmae"}
    assert "Typo Nmae" not in rows(classroom)
    assert requests.post(remove, json=body, headers=instructor(classroom), timeout=5).status_code == 404
    assert report(classroom, {"learner": "Typo Nmae", "step": "test"}).status_code == 200  # the name is free again


# --- what a post must be --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/x+json"]
)
def test_reports_are_json_only(classroom: Sandbox, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = b'{"learner": "Content Type", "step": "answer"}'
    reply = requests.post(classroom.url_for("/class/progress"), data=body, headers=headers, timeout=5)
    assert reply.status_code == 415 and "Content Type" not in rows(classroom)


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
    ],
)
def test_other_sites_cannot_post(classroom: Sandbox, browser: dict[str, str]) -> None:
    for path, body in (("/class/progress", {"learner": "Cross Site", "step": "answer"}), ("/class/login", {})):
        reply = requests.post(classroom.url_for(path), json=body, headers=browser, timeout=5)
        assert reply.status_code == 403
    assert "Cross Site" not in rows(classroom)


def test_the_page_itself_may_post(classroom: Sandbox) -> None:
    own = {"Origin": classroom.url, "Sec-Fetch-Site": "same-origin"}
    assert report(classroom, {"learner": "Same Origin", "step": "answer"}, **own).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/class/progress", b"{", {}),
        ("/class/progress", b'{"learner": "' + b"x" * MAX_POST_BYTES + b'", "step": "answer"}', {}),
        ("/class/login", b"[]", {}),
        ("/class/login", b'{"token": 5}', {}),
        ("/class/remove", b'{"learner": 5}', {"Cookie": 'class_session="\\x01; other=\\"'}),
        ("/class/remove", b"null", {"Cookie": "class_session=guess"}),
    ],
)
def test_bad_posts_get_a_4xx_never_a_5xx(classroom: Sandbox, path: str, body: bytes, headers: dict[str, str]) -> None:
    headers = {"Content-Type": "application/json", **headers}
    reply = requests.post(classroom.url_for(path), data=body, headers=headers, timeout=5)
    assert 400 <= reply.status_code < 500


def test_odd_cookies_and_links_get_a_4xx(classroom: Sandbox) -> None:
    for path, headers in [
        ("/class", {"Cookie": 'class_session="\\x01'}),
        ("/class/progress.json", {"Cookie": "=;;class_session"}),
        ("/class/open?code=", {}),
        ("/class/open?code=%00%ff", {}),
        ("/class?token=%ff", {}),
    ]:
        reply = requests.get(classroom.url_for(path), headers=headers, timeout=5, allow_redirects=False)
        assert 400 <= reply.status_code < 500, path


# --- the instructor's page ------------------------------------------------------------------------


def test_the_one_time_link_signs_in_once_and_leaves_no_token_on_screen(classroom: Sandbox) -> None:
    link = classroom.url_for(classroom.roster.sign_in_path())
    first = requests.get(link, timeout=5, allow_redirects=False)
    assert first.status_code == 303 and first.headers["Location"] == "/class"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and classroom.roster.token not in cookie
    with requests.Session() as browser:
        browser.cookies.update(first.cookies)
        page = browser.get(classroom.url_for("/class"), timeout=5)
        assert page.status_code == 200 and "Class progress" in page.text and classroom.roster.token not in page.text
        assert browser.get(classroom.url_for("/class/progress.json"), timeout=5).json()["steps"] == STEPS
    used = requests.get(link, timeout=5, allow_redirects=False)
    assert used.status_code == 403 and "works once" in used.text and "Set-Cookie" not in used.headers


def test_without_signing_in_the_page_asks_for_the_token_and_shows_nothing(classroom: Sandbox) -> None:
    report(classroom, {"learner": "Private", "error": "my own mistake"})
    prompt = requests.get(classroom.url_for("/class"), timeout=5)
    assert prompt.status_code == 401 and 'type="password"' in prompt.text and "my own mistake" not in prompt.text
    assert requests.get(classroom.url_for("/class/progress.json"), timeout=5).status_code == 403
    login = classroom.url_for("/class/login")
    assert requests.post(login, json={"token": "wrong"}, timeout=5).status_code == 403
    signed_in = requests.post(login, json={"token": classroom.roster.token}, timeout=5)
    assert signed_in.status_code == 200 and "HttpOnly" in signed_in.headers["Set-Cookie"]
    listed = requests.get(classroom.url_for("/class/progress.json"), cookies=signed_in.cookies, timeout=5)
    assert "my own mistake" in listed.text


def test_a_token_in_the_address_is_swapped_for_the_cookie(classroom: Sandbox) -> None:
    opened = requests.get(classroom.url_for(f"/class?token={classroom.roster.token}"), timeout=5)
    assert opened.url == classroom.url_for("/class") and opened.history[0].status_code == 303
    assert opened.status_code == 200 and classroom.roster.token not in opened.text
    assert requests.get(classroom.url_for("/class?token=wrong"), timeout=5).status_code == 403


def test_the_data_never_shows_a_learners_token(classroom: Sandbox) -> None:
    token = report(classroom, {"learner": "Secretive", "step": "answer"}).json()["learner_token"]
    listed = requests.get(classroom.url_for("/class/progress.json"), headers=instructor(classroom), timeout=5)
    assert "Secretive" in listed.text and token not in listed.text


def first_lines(process: subprocess.Popen, count: int, timeout: float = 10) -> list[str]:
    """The first ``count`` lines the process prints, or fewer if it prints no more within ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    got: list[str] = []
    with contextlib.suppress(queue.Empty):
        while len(got) < count:
            got.append(lines.get(timeout=timeout))
    return got


def test_the_startup_lines_give_a_one_time_link_not_the_token_url() -> None:
    command = [sys.executable, "-m", "perplexity_sandbox", "--class", "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as run:
        try:
            serving, page, token_line = [*first_lines(run, 3), "", "", ""][:3]
            assert "/class/open?code=" in page and "works once" in page and "?token=" not in serving + page
            link = page.split(" open ")[1].split()[0]
            assert requests.get(link, timeout=5, allow_redirects=False).status_code == 303
            assert requests.get(link, timeout=5, allow_redirects=False).status_code == 403  # it works once
        finally:
            run.terminate()
            run.wait(timeout=10)
    token = token_line.split()[-1]
    assert "another browser" in token_line and token not in serving + page
