"""Creator Studio's screens as Markdown: the form fields, and what Test shows.

What reaches the screen passes through :func:`~helpers.masking.redact` once more: the fields and the
Test result are masked where they are made, and this keeps a key-shaped word out even if one slipped.
"""

from __future__ import annotations

import json

from IPython.display import Markdown, display

from helpers.connector import Execution
from helpers.masking import redact

MAX_EXCERPT_CHARS = 300


def fields_markdown(fields: dict) -> str:
    """A two-column table of form fields, as Creator Studio shows them."""
    rows = ["| Field | Value |", "| --- | --- |"]
    rows += [f"| {name} | {_cell(value)} |" for name, value in fields.items()]
    return redact("\n".join(rows))


def show_fields(fields: dict) -> None:
    display(Markdown(fields_markdown(fields)))


def execution_markdown(result: Execution) -> str:
    """What Creator Studio's Test shows: the outcome, status and time, a response excerpt, the output schema.

    Only an excerpt of the response is shown (the answer's text, its top-level fields); ``result.body``
    holds all of it. A recorded notebook then stays short enough to review.
    """
    mark = "\u2705 **Successful execution**" if result.successful else "\u274c **Execution failed**"
    status = f"HTTP {result.status}" if result.status is not None else "no response"
    lines = [f"{mark} · {status} · {duration_text(result.elapsed_ms)}", "", result.explanation]
    if result.body is not None:
        lines += ["", "**Response excerpt** (`result.body` holds all of it)", "", *response_excerpt(result.body)]
    if result.output_schema is not None:
        lines += _folded("Output schema (GENERATE FROM RESPONSE)", json.dumps(result.output_schema, indent=2))
    return redact("\n".join(lines))


def duration_text(milliseconds: float) -> str:
    """A Test's time, to a tenth of a second: finer would change on every run."""
    return "under 0.1 s" if milliseconds < 100 else f"{milliseconds / 1000:.1f} s"


def response_excerpt(body: object) -> list[str]:
    """Markdown lines: the answer's text (or error message), cut short, and the top-level fields."""
    if not isinstance(body, dict):
        return ["```", _cut(str(body)), "```"]
    error = body.get("error")
    text = _answer_text(body) or (str(error.get("message", "")) if isinstance(error, dict) else "")
    lines = [f"> {_cut(text)}", ""] if text else []
    return [*lines, "Top-level fields: " + ", ".join(f"`{name}`" for name in body)]


def _answer_text(body: dict) -> str:
    """The text of an Agent API or chat completions answer, if ``body`` is one."""
    for item in body.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            return "".join(part.get("text", "") for part in item.get("content") or [] if isinstance(part, dict))
    choice = (body.get("choices") or [{}])[0]
    return ((choice or {}).get("message") or {}).get("content", "") if isinstance(choice, dict) else ""


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_EXCERPT_CHARS else text[: MAX_EXCERPT_CHARS - 1] + "\u2026"


def _folded(summary: str, text: str) -> list[str]:
    """A Markdown block a reader unfolds with one click."""
    return ["", f"<details><summary><b>{summary}</b></summary>", "", "```json", text, "```", "", "</details>"]


def show_execution(result: Execution) -> None:
    display(Markdown(execution_markdown(result)))


def _cell(value: object) -> str:
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if text else ""
