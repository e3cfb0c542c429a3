"""The instructor's page in a real browser: three simulated learners, their steps and errors, live."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import helpers
from perplexity_sandbox import Sandbox
from tests.support import play_three_learners

pytestmark = pytest.mark.e2e


def test_the_instructor_sees_who_is_stuck(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(classroom=True) as sandbox:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        play_three_learners(sandbox, monkeypatch)
        page.goto(sandbox.class_page_url)
        expect(page.locator("#summary")).to_have_text("3 learner(s)")
        ada, grace, linus = (page.locator(f"tr[data-learner='{name}']") for name in ("Ada", "Grace", "Linus"))
        expect(ada.locator("td.done")).to_have_count(3)
        expect(grace.locator("td.done")).to_have_count(1)
        expect(grace.locator("td.error")).to_contain_text("mistral-7b-instruct")
        expect(linus.locator("td.done")).to_have_count(0)
        expect(linus.locator("td.error")).to_contain_text("retired")

        monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "Linus")  # Linus gets unstuck: the page follows
        helpers.check_exercise("01.1", letter="B")
        expect(linus.locator("td.done")).to_have_count(1, timeout=10_000)
