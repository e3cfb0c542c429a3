"""Turn API answers into Markdown a learner can read: the text, numbered sources, usage and cost."""

from __future__ import annotations

import re

from IPython.display import Markdown, display

from helpers.client import AgentResponse, ChatCompletion

Answer = AgentResponse | ChatCompletion


def answer_markdown(answer: Answer) -> str:
    """The answer text with ``[web:N]`` (or legacy ``[N]``) markers as links, then its numbered sources."""
    links = {s.number: s.url for s in answer.sources}
    text = re.sub(r"\[(?:web:)?(\d+)\]", lambda m: _marker(int(m.group(1)), links), answer.text)
    lines = [text]
    if answer.sources:
        lines += ["", "**Sources**", ""]
        lines += [f"{s.number}. [{s.title or s.url}]({s.url})" for s in answer.sources]
    return "\n".join(lines)


def _marker(number: int, links: dict[int, str]) -> str:
    return f"[[{number}]]({links[number]})" if number in links else f"[{number}]"


def usage_markdown(answer: Answer) -> str:
    """Tokens in and out, and what the request cost (as the API reported it)."""
    usage = answer.usage
    tokens_in = usage.get("input_tokens", usage.get("prompt_tokens"))
    tokens_out = usage.get("output_tokens", usage.get("completion_tokens"))
    cost = answer.total_cost
    cost_text = f"${cost:.5f}" if cost is not None else "not reported"
    return f"Model `{answer.model}` · {tokens_in} tokens in · {tokens_out} tokens out · cost {cost_text}"


def show_answer(answer: Answer) -> None:
    """Display the answer, its sources and its usage in the notebook."""
    display(Markdown(answer_markdown(answer) + "\n\n" + usage_markdown(answer)))

