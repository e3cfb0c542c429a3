"""Each notebook in a real JupyterLab, used with the mouse and keyboard as a learner does."""

from __future__ import annotations

import secrets
import stat
import string
from pathlib import Path

from lab_page import NotebookPage
from playwright.sync_api import expect

KEY_NOTEBOOK = "notebooks/01_create_api_key.ipynb"
AUTH_NOTEBOOK = "notebooks/02_authenticate.ipynb"
CONNECTOR_NOTEBOOK = "notebooks/03_creator_studio_connector.ipynb"
# What the sandbox answers to the guide's question, and one of its sources.
GUIDE_ANSWER = "100 to 400 billion stars"
GUIDE_SOURCE_HOST = "nasa.gov"


def fake_key() -> str:
    """A new key-shaped string for each run: ``pplx-`` and 48 letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "pplx-" + "".join(secrets.choice(alphabet) for _ in range(48))


def test_saving_a_key_with_the_widget(notebook: NotebookPage, project: Path) -> None:
    key = fake_key()
    notebook.open(KEY_NOTEBOOK).run_all()
    notebook.expect_no_errors()

    notebook.password_field().fill(key)
    notebook.widget_button("Save").click()

    confirmation = notebook.expect_output(f"pplx-...{key[-4:]}", timeout=30_000)
    expect(confirmation).not_to_contain_text(key)
    expect(notebook.password_field()).to_have_value("")
    assert key not in notebook.page.content(), "the full key is shown somewhere on the page"

    env_file = project / ".env"
    assert env_file.is_file(), "Save did not write the project's .env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"PERPLEXITY_API_KEY={key}" in env_file.read_text().splitlines()

    saved = project / KEY_NOTEBOOK
    notebook.save(saved)
    saved_text = saved.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved_text, "widget state was not saved with the notebook"
    assert key not in saved_text, "the key ended up in the saved notebook"
    assert key[5:] not in saved_text


def test_first_request_shows_the_answer_with_sources(notebook: NotebookPage) -> None:
    notebook.open(AUTH_NOTEBOOK).run_all()
    notebook.expect_no_errors()

    answer = notebook.expect_output(GUIDE_ANSWER)
    expect(answer).to_contain_text("Sources")
    expect(answer.locator("li a[href^='http']").first).to_be_visible()
    expect(answer.locator(f"a[href*='{GUIDE_SOURCE_HOST}']").first).to_be_visible()


def test_connector_test_succeeds(notebook: NotebookPage) -> None:
    notebook.open(CONNECTOR_NOTEBOOK).run_all()
    notebook.expect_no_errors()

    notebook.expect_output("Successful execution")
