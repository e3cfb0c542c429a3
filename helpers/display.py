"""Turn API answers into Markdown a learner can read: the text, numbered sources, usage and cost."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from IPython.display import display

from helpers.errors import TutorialError
from helpers.masking import Secret, redact, redact_log_text
from helpers.responses import AgentResponse, Answer, ChatCompletion
from helpers.settings import resolve_settings

# The sandbox reports what a request would cost live, but charges nothing: wherever it shows a price, it says so.
SANDBOX_COST_NOTE = "what it would cost live: the sandbox charges nothing"


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


def usage_markdown(answer: Answer, mode: str = "live") -> str:
    """Tokens in and out, and what the request cost (as the API reported it; in the sandbox, what it would cost)."""
    usage = answer.usage
    tokens_in = usage.get("input_tokens", usage.get("prompt_tokens"))
    tokens_out = usage.get("output_tokens", usage.get("completion_tokens"))
    cost = cost_text(answer.total_cost, mode)
    return f"Model `{answer.model}` · {tokens_in} tokens in · {tokens_out} tokens out · cost {cost}"


def cost_text(cost: float | None, mode: str) -> str:
    """A reported cost in dollars; in sandbox mode, said to be the live price, since nothing is charged."""
    if cost is None:
        return "not reported"
    return f"${cost:.5f} ({SANDBOX_COST_NOTE})" if mode == "sandbox" else f"${cost:.5f}"


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


def history_markdown(entries: list[HistoryEntry], mode: str = "live") -> str:
    """This session's requests as a small table, oldest first; in the sandbox its costs are the live prices."""
    if not entries:
        return ""
    cost_title = "Cost if sent live" if mode == "sandbox" else "Cost"
    lines = [f"| # | Model | Question | Outcome | Tokens | {cost_title} |", "| --- | --- | --- | --- | --- | --- |"]
    for entry in entries:
        cost = f"${entry.cost:.5f}" if entry.cost is not None else "-"
        cells = [entry.number, f"`{entry.model}`", _cell(entry.question), entry.outcome, entry.tokens, cost]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(text: str, width: int = 40) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "\u2026"


class HttpRequest(Protocol):
    """What :func:`request_text` reads: a ``requests.PreparedRequest``, or a connector's ``BuiltRequest``."""

    method: str | None
    url: str | None
    headers: Mapping[str, str]
    body: bytes | str | None


def request_text(request: HttpRequest, secrets: Iterable[str | Secret] | None = None) -> str:
    """A request as HTTP text (method and URL, headers, the body byte for byte), secrets masked.

    ``secrets``: what the caller knows to be secret (a connector's credentials), masked wherever they
    appear. Without them (a request sent by hand), the Authorization value is masked whatever its shape.
    Anything shaped like a key is masked either way.
    """
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    if body:
        lines += ["", body]
    text = "\n".join(lines)
    return redact_log_text(text) if secrets is None else redact(text, list(secrets))


def show_request(request: requests.PreparedRequest) -> None:
    """Print what ``requests`` really sent (``response.request``), with the key masked."""
    print(request_text(request))


def show_answer(answer: Any, *, mode: str | None = None) -> None:
    """Display an answer as the playground does: its Markdown rendered, ``[web:N]`` linked to numbered sources.

    ``answer`` is what a notebook has in hand: a ``requests`` response from ``/v1/agent`` or
    ``/chat/completions``, its ``.json()``, an SDK's response object, or this package's own. The
    text stays untouched for ``print``; only the display renders it. ``mode`` ("live" or "sandbox")
    defaults to the notebook's, so that a sandbox's price is called what it would cost live.
    """
    found = as_answer(answer)
    markdown = answer_markdown(found) + "\n\n" + usage_markdown(found, mode or _mode())
    # text/plain too: the same Markdown, readable where nothing renders it (a terminal, nbval's comparison).
    display({"text/markdown": markdown, "text/plain": markdown}, raw=True)


def as_answer(reply: Any) -> Answer:
    """The answer in ``reply``, whichever form it has; one sentence for anything that holds no answer."""
    if isinstance(reply, AgentResponse | ChatCompletion):
        return reply
    kind = type(reply).__name__
    if isinstance(reply, requests.Response):
        reply = _json_of(reply)
    elif callable(getattr(reply, "model_dump", None)):  # the perplexityai and openai SDKs' (pydantic) objects
        reply = reply.model_dump(mode="json", exclude_none=True, warnings=False)
    if isinstance(reply, Mapping) and ("output" in reply or reply.get("object") == "response"):
        return AgentResponse(dict(reply))
    if isinstance(reply, Mapping) and "choices" in reply:
        return ChatCompletion(dict(reply))
    raise TutorialError(
        f"show_answer needs an answer from /v1/agent or /chat/completions (a response, its .json() or an SDK's "
        f"result), not this {kind}: pass what requests.post or client.responses.create returned."
    )


def _json_of(response: requests.Response) -> Any:
    """The JSON of a successful response; one sentence for a failed one, which holds an error, not an answer."""
    with suppress(ValueError):  # not JSON: no answer either
        if response.ok:
            return response.json()
    raise TutorialError(
        f"This response (HTTP {response.status_code}) holds no answer to show: "
        "print(helpers.explain_response(response)) says what happened."
    )


def _mode() -> str:
    """The notebook's mode, as setup_notebook resolved it; "live" when it cannot be told (no note is then added)."""
    try:
        return resolve_settings().mode
    except TutorialError:
        return "live"
