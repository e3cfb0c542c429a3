"""The instructor's page in a real browser: signed in by a one-time link, three learners live, a row removed;
errors the notebooks cause on purpose in grey, real ones in red with where they came from, and who is stuck.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

import helpers
from helpers.progress import NOTEBOOK_VARIABLE
from helpers.settings import SANDBOX_DEMO_KEY
from helpers.widgets.playground import Playground
from perplexity_sandbox import Sandbox
from tests.support import act_as, fast_client, play_three_learners

pytestmark = pytest.mark.e2e
RED = "rgb(165, 14, 14)"
GREY = "rgb(107, 107, 107)"


def test_the_instructor_sees_who_is_stuck(page: Page, browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(classroom=True) as sandbox:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        play_three_learners(sandbox, monkeypatch)
        link = sandbox.url_for(sandbox.roster.sign_in_path())
        page.goto(link)
        # What the projector shows: the plain address, and no token anywhere in the page.
        expect(page).to_have_url(sandbox.url_for("/class"))
        assert sandbox.roster.token not in page.content()
        assert not [one for one in page.context.cookies() if sandbox.roster.token in one["value"]]
        assert all(one["httpOnly"] for one in page.context.cookies())

        expect(page.locator("#summary")).to_have_text("3 learner(s)")
        ada, grace, linus = (page.locator(f"tr[data-learner='{name}']") for name in ("Ada", "Grace", "Linus"))
        expect(ada.locator("td.done")).to_have_count(3)
        expect(grace.locator("td.done")).to_have_count(1)
        # The guide's retired model fails on purpose in notebook 02: expected, not an error to help with.
        expect(grace.locator("td.expected")).to_contain_text("mistral-7b-instruct")
        expect(linus.locator("td.done")).to_have_count(0)
        expect(linus.locator("td.expected")).to_contain_text("retired")
        expect(page.locator("td.error")).to_have_count(0)
        expect(page.locator("#stuck li")).to_have_count(0)

        act_as(monkeypatch, "Linus")  # Linus gets unstuck: the page follows
        helpers.check_exercise("01.1", letter="B")
        expect(linus.locator("td.done")).to_have_count(1, timeout=10_000)

        page.once("dialog", lambda dialog: dialog.accept())  # "Remove Grace from the page?"
        grace.locator("button.remove").click()
        expect(grace).to_have_count(0)
        expect(page.locator("#summary")).to_have_text("2 learner(s)")
        assert [row["learner"] for row in sandbox.roster.snapshot()] == ["Linus", "Ada"]

        # The link worked once: another browser gets the prompt, and the class token signs it in.
        other = browser.new_context().new_page()
        try:
            other.goto(link)
            expect(other.locator("#problem")).to_contain_text("works once")
            expect(other.locator("#rows")).to_have_count(0)
            other.locator("#token").fill(sandbox.roster.token)
            other.get_by_role("button", name="Open the page").click()
            expect(other.locator("#summary")).to_have_text("2 learner(s)")
            expect(other).to_have_url(sandbox.url_for("/class"))
        finally:
            other.context.close()


def test_a_deliberate_error_is_expected_and_a_real_one_red_with_its_notebook(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ada stages a failure with the playground's Simulate; Grace and Linus send a request the API refuses."""
    with Sandbox(classroom=True) as sandbox:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        monkeypatch.setenv(NOTEBOOK_VARIABLE, "/home/learner/course/notebooks/appendix_playground.ipynb")
        act_as(monkeypatch, "Ada")
        with fast_client(sandbox.url, SANDBOX_DEMO_KEY) as client:
            playground = Playground(client)
            playground.simulate.value = "service unavailable (HTTP 503)"
            staged = playground.send().message
        monkeypatch.setenv(NOTEBOOK_VARIABLE, "/home/learner/course/notebooks/02_authenticate.ipynb")
        for name in ("Grace", "Linus"):
            act_as(monkeypatch, name)
            headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
            refused = requests.post(sandbox.url_for("/v1/agent"), headers=headers, json={"input": "hi"}, timeout=5)
            sentence = helpers.explain_response(refused)
        page.goto(sandbox.url_for(sandbox.roster.sign_in_path()))

        ada, grace, linus = (page.locator(f"tr[data-learner='{name}']") for name in ("Ada", "Grace", "Linus"))
        expect(ada.locator("td.expected")).to_have_text(f"expected: {staged}")
        expect(ada.locator("td.expected")).to_have_css("color", GREY)
        expect(ada.locator("td.from")).to_have_text("appendix_playground \u00b7 sending a request")
        for real in (grace, linus):
            expect(real.locator("td.error")).to_have_text(sentence)
            expect(real.locator("td.error")).to_have_css("color", RED)
            expect(real.locator("td.from")).to_have_text("02_authenticate \u00b7 sending a request")
        expect(page.locator("td.error")).to_have_count(2)
        expect(page.locator("#stuck li")).to_have_text([f"2 learners: {sentence} (02_authenticate)"])

        act_as(monkeypatch, "Linus")  # Linus fixes his request: one learner left on that error
        helpers.explain_response(
            requests.post(
                sandbox.url_for("/v1/agent"),
                headers={"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"},
                json={"model": "perplexity/sonar", "input": "hi"},
                timeout=5,
            )
        )
        expect(page.locator("#stuck li")).to_have_text([f"1 learner: {sentence} (02_authenticate)"], timeout=10_000)
        expect(linus.locator("td.earlier")).to_have_text(f"earlier: {sentence}")
