"""The browser edition's wiring (helpers.browser), run here in CPython: what setup_notebook() adds under emscripten.

No socket listens at the in-process sandbox's address, so every answer below can only come from the adapter that
the wiring mounts: the taught plain ``requests.post``, the client's streamed answer (the playground) and the
connector's Test. The browser itself is tests/e2e/test_lite_site.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import helpers
from helpers import browser, classroom, settings
from helpers.settings import SANDBOX_DEMO_KEY, resolve_settings
from tests.support import FAKE_KEY, GUIDE_AGENT


@pytest.fixture
def in_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``prepare_browser()`` as setup_notebook() runs it in JupyterLite; requests' session class restored after."""
    monkeypatch.setattr(requests.sessions, "Session", requests.sessions.Session)
    monkeypatch.setattr(requests, "Session", requests.Session)
    monkeypatch.setattr(settings, "local_sandbox_url", None)
    monkeypatch.setattr(browser, "_names_from_sdk", {})
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)  # even a configured key is never used there
    monkeypatch.setenv("PERPLEXITY_MODE", "auto")
    monkeypatch.delenv("PERPLEXITY_ENV_FILE")
    browser.prepare_browser()
    yield


def test_the_taught_cell_is_answered_in_process_with_the_demo_key(in_browser: None) -> None:
    current = resolve_settings()
    assert current.is_sandbox and current.local_sandbox and current.base_url == browser.SANDBOX_URL
    assert current.api_key.reveal() == SANDBOX_DEMO_KEY
    headers = {"Authorization": f"Bearer {current.api_key.reveal()}", "Content-Type": "application/json"}
    response = requests.post(current.base_url + "/v1/agent", headers=headers, json=GUIDE_AGENT, timeout=60)
    assert response.status_code == 200
    assert "billion" in response.json()["output"][-1]["content"][0]["text"]
    assert helpers.explain_response(response).startswith("HTTP 200")


def test_other_addresses_keep_requests_own_transport(in_browser: None) -> None:
    with requests.Session() as session:
        assert type(session.get_adapter(browser.SANDBOX_URL + "/v1/agent")).__name__ == "InProcessAdapter"
        assert isinstance(session.get_adapter("http://127.0.0.1:5171/v1/agent"), requests.adapters.HTTPAdapter)
        assert isinstance(session.get_adapter("https://api.perplexity.ai/v1/agent"), requests.adapters.HTTPAdapter)


def test_the_client_streams_and_the_connector_tests_against_it(in_browser: None) -> None:
    client = helpers.connect(quiet=True)
    pieces: list[str] = []
    answer = client.stream_answer(input=GUIDE_AGENT["input"], model="perplexity/sonar", on_delta=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) in answer.text
    result = helpers.run_test(
        helpers.guide_connector(SANDBOX_DEMO_KEY), helpers.agent_action(), send_to=client.base_url
    )
    assert result.successful and result.status == 200


def test_stored_runs_outlive_one_session(in_browser: None) -> None:
    headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
    made = requests.post(browser.SANDBOX_URL + "/v1/agent", headers=headers, json={**GUIDE_AGENT, "background": True})
    again = requests.get(f"{browser.SANDBOX_URL}/v1/agent/{made.json()['id']}", headers=headers, timeout=10)
    assert again.status_code == 200


def test_the_practice_url_is_the_in_process_sandbox(in_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert helpers.practice_url() == browser.SANDBOX_URL


def test_preparing_twice_changes_nothing(in_browser: None) -> None:
    session_class = requests.sessions.Session
    browser.prepare_browser()
    assert requests.sessions.Session is session_class is requests.Session
    assert len(requests.Session().adapters) == 3  # https://, http:// and the sandbox's own


def test_the_key_box_writes_to_a_practice_file_in_memory(in_browser: None) -> None:
    message = helpers.save_key_message("pplx-" + "0123456789abcdef" * 3)
    assert "the practice key file" in message
    assert resolve_settings().is_sandbox  # a key saved there still never leaves for a sandbox or the API


@pytest.mark.parametrize(
    ("cells", "skipped"),
    [
        (["from perplexity import Perplexity\nclient = Perplexity()\n", "print(client.responses)\n"], [True, True]),
        (["import openai.types\n", "x = 1\n"], [True, False]),
        (["from openai import OpenAI\nc = OpenAI()\n", "c = 2\n", "print(c)\n"], [True, False, False]),
        (["import requests\nprint('perplexity')\n"], [False]),
        (["def broken(:\n"], [False]),
    ],
)
def test_cells_that_need_an_sdk_become_one_sentence(cells: list[str], skipped: list[bool], in_browser: None) -> None:
    for cell, expected in zip(cells, skipped, strict=True):
        lines = cell.splitlines(keepends=True)
        out = browser.skip_sdk_cell(lines)
        assert (out != lines) is expected
        if expected:
            assert len(out) == 1 and "SDK, which runs in the full edition" in out[0]
            assert browser.FULL_EDITION_URL in out[0]


def test_the_set_up_check_asks_for_nothing_the_browser_cannot_install(
    in_browser: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers.doctor import check_packages

    monkeypatch.setattr(sys, "platform", "emscripten")
    check = check_packages(front_end_needed=False)
    assert check.status == "ok", check
    assert not any(name in check.detail for name in browser.NOT_IN_BROWSER)


def test_readme_opens_the_browser_edition_from_the_courses_pages_address() -> None:
    """The README's link is the GitHub Pages address of the repository that helpers.classroom names."""
    owner, name = classroom.github_path().split("/")
    link = f"https://{owner}.github.io/{name}/lab/index.html?path=01_create_api_key.ipynb"
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"[Open in the browser]({link})" in readme.splitlines()[2]  # beside the Binder and Colab badges
