"""Turn API answers into Markdown a learner can read: the text, numbered sources, usage and cost."""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests
from IPython.display import Markdown, display

from helpers.masking import redact_log_text
from helpers.responses import AgentResponse, ChatCompletion

Answer = AgentResponse | ChatCompletion


def answer_markdown(answer: Answer) -> str:
    """The answer text with ``[web:N]`` (or legacy ``[N]``) markers as links, then its numbered sources."""
    links = {s.number: s.url for s in answer.sources}
    text = re.sub(r"\[(?:web:)?(\d+)\]", lambda m: _marker(int(m.group(1)), links), answer.text)
    lines = [text]
    if note := cut_short_note(answer):
        lines += ["", f"> **Note:** {note}"]
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


def cut_short_note(answer: Answer) -> str:
    """A sentence when the answer stopped at the output token limit, else ``""``."""
    finish = ((answer.raw.get("choices") or [{}])[0] or {}).get("finish_reason")
    if answer.raw.get("status") == "incomplete" or finish == "length":
        return "the answer was cut short: it reached the max output tokens. Raise the limit to get all of it."
    return ""


def partial_answer_markdown(text: str) -> str:
    """The text received so far while an answer streams in, with a cursor at its end."""
    return text + " \u258c"


@dataclass(frozen=True)
class HistoryEntry:
    """One request of this session: what was asked, and how it went."""

    number: int
    model: str
    question: str
    outcome: str
    tokens: int | None = None
    cost: float | None = None


def history_markdown(entries: list[HistoryEntry]) -> str:
    """This session's requests as a small table, oldest first."""
    if not entries:
        return ""
    lines = ["| # | Model | Question | Outcome | Tokens | Cost |", "| --- | --- | --- | --- | --- | --- |"]
    for entry in entries:
        cost = f"${entry.cost:.5f}" if entry.cost is not None else "-"
        tokens = entry.tokens if entry.tokens is not None else "-"
        cells = [entry.number, f"`{entry.model}`", _cell(entry.question), entry.outcome, tokens, cost]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(text: str, width: int = 40) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def request_text(request: requests.PreparedRequest) -> str:
    """A sent request as HTTP text (method and URL, headers, the body byte for byte), secrets masked."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    if body:
        lines += ["", body]
    return redact_log_text("\n".join(lines))  # the Authorization value is masked whatever its shape


def show_request(request: requests.PreparedRequest) -> None:
    """Print what ``requests`` really sent (``response.request``), with the key masked."""
    print(request_text(request))


def show_answer(answer: Answer) -> None:
    """Display the answer, its sources and its usage in the notebook."""
    display(Markdown(answer_markdown(answer) + "\n\n" + usage_markdown(answer)))
