"""Creator Studio's screens as Markdown: the form fields, and what Test shows.

What reaches the screen passes through :func:`~helpers.masking.redact` once more: the fields and the
Test result are masked where they are made, and this keeps a key-shaped word out even if one slipped.
"""

from __future__ import annotations

import json

from IPython.display import Markdown, display

from helpers.connector import TestResult
from helpers.masking import redact

MAX_RESPONSE_CHARS = 1500


def fields_markdown(fields: dict) -> str:
    """A two-column table of form fields, as Creator Studio shows them."""
    rows = ["| Field | Value |", "| --- | --- |"]
    rows += [f"| {name} | {_cell(value)} |" for name, value in fields.items()]
    return redact("\n".join(rows))


def show_fields(fields: dict) -> None:
    display(Markdown(fields_markdown(fields)))


def test_result_markdown(result: TestResult) -> str:
    """What Creator Studio's Test shows: the outcome, status and time, the response and its output schema."""
    mark = "\u2705 **Successful execution**" if result.successful else "\u274c **Execution failed**"
    status = f"HTTP {result.status}" if result.status is not None else "no response"
    lines = [f"{mark} · {status} · {result.elapsed_ms:.0f} ms", "", result.explanation]
    if result.body is not None:
        excerpt = result.body if isinstance(result.body, str) else json.dumps(result.body, indent=2)
        if len(excerpt) > MAX_RESPONSE_CHARS:
            excerpt = excerpt[:MAX_RESPONSE_CHARS] + "\n... (cut)"
        lines += ["", "**Response**", "", "```json", excerpt, "```"]
    if result.output_schema is not None:
        # Folded: a schema is long, and the response above already shows its shape.
        lines += [
            "",
            "<details><summary><b>Output schema</b> (GENERATE FROM RESPONSE)</summary>",
            "",
            "```json",
            json.dumps(result.output_schema, indent=2),
            "```",
            "",
            "</details>",
        ]
    return redact("\n".join(lines))


test_result_markdown.__test__ = False  # a name pytest would otherwise collect


def show_test_result(result: TestResult) -> None:
    display(Markdown(test_result_markdown(result)))


def _cell(value: object) -> str:
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if text else ""
