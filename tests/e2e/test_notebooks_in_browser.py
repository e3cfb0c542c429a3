"""Each notebook in a real JupyterLab, used with the mouse and keyboard as a learner does."""

from __future__ import annotations

import json
import re
import secrets
import stat
import string
import sys
from pathlib import Path

from lab_page import NotebookPage
from lab_server import LabServer, free_port
from playwright.sync_api import expect

KEY_NOTEBOOK = "notebooks/01_create_api_key.ipynb"
AUTH_NOTEBOOK = "notebooks/02_authenticate.ipynb"
CONNECTOR_NOTEBOOK = "notebooks/03_creator_studio_connector.ipynb"
# What the sandbox answers to the guide's question, and one of its sources.
GUIDE_ANSWER = "100 to 400 billion stars"
GUIDE_MODEL = "mistral-7b-instruct"  # retired; the guide sent it to /chat/completions
CURRENT_LEGACY_MODEL = "sonar"
CURRENT_AGENT_MODEL = "perplexity/sonar"
SANDBOX_ANSWER = "[Sandbox answer]"  # how the sandbox starts its answer to a question it does not know


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


def test_first_request_then_the_playground(notebook: NotebookPage) -> None:
    notebook.open(AUTH_NOTEBOOK).run_all()
    notebook.expect_no_errors()
    notebook.expect_output(GUIDE_ANSWER)  # the raw request's answer, printed from its JSON
    notebook.expect_output("Authorization: Bearer pplx-...")  # what was sent, the key masked

    playground = notebook.widget_with_button("Send")
    question = f"Which planet is called the red planet? (browser check {secrets.token_hex(4)})"
    playground.textarea("Question").fill(question)
    playground.button("Send").click()

    # The sandbox quotes a question it has no stored answer for: this answer is for the question typed.
    new_answer = playground.output_with_text(SANDBOX_ANSWER)
    expect(new_answer).to_contain_text(question, timeout=30_000)
    expect(new_answer).to_contain_text("Sources")
    expect(new_answer.locator("a[href^='https://sandbox.invalid/']").first).to_be_visible()

    chosen = playground.choose("Model", GUIDE_MODEL)
    assert "/chat/completions" in chosen, f"the guide's model should go to the legacy endpoint: {chosen!r}"
    playground.button("Send").click()

    explanation = playground.message(re.compile(f"'{GUIDE_MODEL}' is retired"))
    expect(explanation).to_be_visible(timeout=30_000)
    expect(explanation).to_contain_text(f"'{CURRENT_LEGACY_MODEL}'")  # a current alternative
    expect(explanation).not_to_contain_text("Traceback")
    expect(playground.textarea("Question")).to_have_value(question)
    expect(playground.output_with_text(SANDBOX_ANSWER)).to_have_count(0)  # no stale answer passes for this one


def test_connector_test_in_the_notebook_and_in_the_form(notebook: NotebookPage) -> None:
    notebook.open(CONNECTOR_NOTEBOOK).run_all()
    notebook.expect_no_errors()
    notebook.expect_output("Successful execution")  # the notebook's own Test cell

    form = notebook.widget_with_button("Test")

    # The notebook leaves the form on today's Agent API action.
    form.button("Test").click()
    result = form.output_with_text("Successful execution")
    expect(result).to_contain_text("HTTP 200", timeout=30_000)
    schema = result.locator("details", has=notebook.page.locator("summary", has_text="Output schema"))
    schema.locator("summary").click()
    expect(schema.locator("code, pre").first).to_be_visible()
    expect(schema).to_contain_text('"properties"')
    expect(schema).to_contain_text('"output"')  # generated from this response: an Agent API response

    # Put the guide's retired model in, as a learner might: Test now explains the failure.
    body = form.textarea("Request Body")
    body.fill(body.input_value().replace(f'"{CURRENT_AGENT_MODEL}"', f'"{GUIDE_MODEL}"'))
    form.button("Test").click()
    expect(form.output_with_text("Execution failed")).to_contain_text("HTTP 400", timeout=30_000)
    expect(form.output_with_text("Successful execution")).to_have_count(0)


# --- offline with a key: the API does not answer ------------------------------------------------------


def offline_kernel(lab: LabServer, base_url: str) -> dict[str, str]:
    """A kernel spec whose kernels run with a key in live mode (auto, a key saved) against ``base_url``.

    The server runs every other test in sandbox mode; this spec, in the server's own data folder, changes
    only the kernels of the notebook that names it. Returns the notebook's ``kernelspec`` metadata.
    """
    name = f"offline-{secrets.token_hex(4)}"
    folder = lab.state_dir / "data" / "kernels" / name
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (offline, with a key)",
        "language": "python",
        "env": {"PERPLEXITY_MODE": "auto", "PERPLEXITY_BASE_URL": base_url},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return {"name": name, "display_name": spec["display_name"], "language": "python"}


def test_offline_with_a_key_run_all_reaches_the_playground(
    notebook: NotebookPage, project: Path, lab: LabServer
) -> None:
    """A saved key, and the API does not answer: each failing cell shows one sentence, and Run All goes on."""
    key = fake_key()
    env_file = project / ".env"
    env_file.write_text(f"PERPLEXITY_API_KEY={key}\n")
    env_file.chmod(0o600)
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the API, offline
    saved = project / AUTH_NOTEBOOK
    book = json.loads(saved.read_text())
    book["metadata"]["kernelspec"] = offline_kernel(lab, unreachable)
    saved.write_text(json.dumps(book, indent=1))

    notebook.open(AUTH_NOTEBOOK).run_all()  # waits until every code cell has run
    where = unreachable.removeprefix("http://")
    notebook.expect_output("Mode: live.")
    expect(notebook.output_with_text(f"Could not reach {where}").first).to_be_visible()  # setup said it first
    request_failure = notebook.output_with_text(f"Could not reach {where} (the connection was refused").nth(1)
    expect(request_failure).to_contain_text("PERPLEXITY_MODE=sandbox")
    expect(notebook.output_with_text("was never set, because an earlier cell could not reach").first).to_be_visible()
    notebook.expect_no_tracebacks()
    notebook.expect_no_errors()

    details = request_failure.locator("details")  # the exception chain, one click away
    expect(details.locator("pre")).not_to_be_visible()
    details.locator("summary").click()
    expect(details.locator("pre")).to_contain_text("ConnectionRefusedError")

    playground = notebook.widget_with_button("Send")  # Run All reached it
    expect(playground.button("Send")).to_be_visible()
    assert key not in notebook.page.content(), "the full key is shown somewhere on the page"

    notebook.save(saved)
    saved_text = saved.read_text()
    assert "Could not reach" in saved_text and "Traceback" not in saved_text
    assert key not in saved_text and key[5:] not in saved_text
