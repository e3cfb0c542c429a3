"""How a notebook shows an answer: ``helpers.show_answer`` renders it, ``print`` keeps it as it is.

The answer text is Markdown with ``[web:N]`` citations. Printed, a learner reads ``**...**[web:1]``;
shown with ``show_answer``, the bold is bold and each citation links to its numbered source, as in
the playground. Every form a notebook holds an answer in is tried, from the sandbox over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from openai import OpenAI
from perplexity import Perplexity

from helpers.client import GUIDE_QUESTION, GUIDE_SYSTEM
from helpers.display import SANDBOX_COST_NOTE, show_answer
from helpers.errors import TutorialError
from helpers.responses import AgentResponse, ChatCompletion
from helpers.settings import SANDBOX_DEMO_KEY
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent
AGENT_BODY = {
    "model": "perplexity/sonar",
    "input": GUIDE_QUESTION,
    "instructions": GUIDE_SYSTEM,
    "tools": [{"type": "web_search"}],
}
LEGACY_BODY = {
    "model": "sonar",
    "messages": [{"role": "system", "content": GUIDE_SYSTEM}, {"role": "user", "content": GUIDE_QUESTION}],
}
HEADERS = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
# The sandbox's answer to the guide's question, and its first source.
BOLD = "**100 to 400 billion stars**"
FIRST_SOURCE = "https://science.nasa.gov/universe/galaxies/how-many-stars-are-in-the-milky-way/"


def shown(answer: object, **options: Any) -> dict[str, str]:
    """What ``show_answer`` puts in the notebook: the one output's data, by MIME type."""
    InteractiveShell.instance()  # display() publishes only inside an IPython shell, as in a kernel
    with capture_output() as captured:
        show_answer(answer, **options)
    (output,) = captured.outputs
    return output.data


def agent_forms(url: str) -> dict[str, object]:
    """The guide's answer in each form a notebook holds it: requests, its JSON, both SDKs, this package's."""
    response = requests.post(f"{url}/v1/agent", headers=HEADERS, json=AGENT_BODY, timeout=10)
    sdk = Perplexity(api_key=SANDBOX_DEMO_KEY, base_url=url, max_retries=0)
    openai = OpenAI(api_key=SANDBOX_DEMO_KEY, base_url=f"{url}/v1", max_retries=0)
    return {
        "requests": response,
        "json": response.json(),
        "perplexityai": sdk.responses.create(**AGENT_BODY),
        "openai": openai.responses.create(**AGENT_BODY),
        "AgentResponse": AgentResponse(response.json()),
    }


def test_every_form_of_an_answer_is_rendered_with_its_citations_linked(module_sandbox: Sandbox) -> None:
    for form, answer in agent_forms(module_sandbox.url).items():
        markdown = shown(answer, mode="live")["text/markdown"]
        assert f"{BOLD}[[1]]({FIRST_SOURCE})" in markdown, form  # bold stays Markdown, the citation a link
        assert "[web:" not in markdown, form
        assert f"**Sources**\n\n1. [How Many Stars Are in the Milky Way? - NASA Science]({FIRST_SOURCE})" in markdown
        assert "Model `perplexity/sonar`" in markdown and "cost $0.0" in markdown, form


def test_printing_the_text_still_shows_it_as_the_api_sent_it(module_sandbox: Sandbox) -> None:
    answer = requests.post(f"{module_sandbox.url}/v1/agent", headers=HEADERS, json=AGENT_BODY, timeout=10).json()
    text = AgentResponse(answer).text
    assert f"{BOLD}[web:1][web:2]" in text  # what print() shows, untouched by the rendering
    data = shown(answer, mode="live")
    assert data["text/plain"] == data["text/markdown"]  # readable where nothing renders Markdown
    assert AgentResponse(answer).text == text


def test_a_legacy_chat_completion_is_rendered_too(module_sandbox: Sandbox) -> None:
    response = requests.post(f"{module_sandbox.url}/chat/completions", headers=HEADERS, json=LEGACY_BODY, timeout=10)
    markdown = shown(response, mode="live")["text/markdown"]
    assert f"]({FIRST_SOURCE})" in markdown and "[web:" not in markdown and "**Sources**" in markdown
    assert shown(ChatCompletion(response.json()), mode="live") == shown(response, mode="live")


def test_in_sandbox_mode_the_cost_is_called_what_it_would_cost_live(
    module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = requests.post(f"{module_sandbox.url}/v1/agent", headers=HEADERS, json=AGENT_BODY, timeout=10).json()
    monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
    assert f"({SANDBOX_COST_NOTE})" in shown(answer)["text/markdown"]  # the notebook's mode, by default
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    live = shown(answer)["text/markdown"]
    assert "cost $0.0" in live and SANDBOX_COST_NOTE not in live and FAKE_KEY not in live


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("just text", "not this str"),
        ({"error": {"message": "Invalid model"}}, "not this dict"),
    ],
)
def test_what_holds_no_answer_gets_one_sentence(reply: object, words: str) -> None:
    with pytest.raises(TutorialError, match=r"^show_answer needs an answer") as raised:
        show_answer(reply)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_a_failed_response_points_at_explain_response(module_sandbox: Sandbox) -> None:
    retired = {**LEGACY_BODY, "model": "mistral-7b-instruct"}
    response = requests.post(f"{module_sandbox.url}/chat/completions", headers=HEADERS, json=retired, timeout=10)
    with pytest.raises(TutorialError, match=r"HTTP 400\).*helpers\.explain_response\(response\)"):
        show_answer(response)


@pytest.mark.parametrize(
    ("notebook", "raw"),
    [
        ("02_authenticate.ipynb", 'print(item["content"][0]["text"])'),
        ("appendix_playground.ipynb", "outcome.answer.text"),
    ],
)
def test_the_notebooks_render_the_answer_a_beginner_reads_after_printing_it_raw(notebook: str, raw: str) -> None:
    """Each notebook keeps its raw ``print`` of the text and then shows the same answer with ``show_answer``."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    printed = next(n for n, source in enumerate(code) if raw in source)  # the raw text, as the API sent it
    rendered = [n for n, source in enumerate(code) if "helpers.show_answer(" in source]
    assert rendered and rendered[0] > printed, f"{notebook}: no show_answer after the raw print"
