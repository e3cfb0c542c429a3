"""The instructor's page in a real browser: signed in by a one-time link, three learners live, a row removed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

import helpers
from perplexity_sandbox import Sandbox
from tests.support import act_as, play_three_learners

pytestmark = pytest.mark.e2e


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
        expect(grace.locator("td.error")).to_contain_text("mistral-7b-instruct")
        expect(linus.locator("td.done")).to_have_count(0)
        expect(linus.locator("td.error")).to_contain_text("retired")

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
