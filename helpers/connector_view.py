"""Creator Studio's screens as Markdown: the form fields, and what Test shows."""

from __future__ import annotations

import json

from IPython.display import Markdown, display

from helpers.connector import TestResult


def fields_markdown(fields: dict) -> str:
    """A two-column table of form fields, as Creator Studio shows them."""
    rows = ["| Field | Value |", "| --- | --- |"]
    rows += [f"| {name} | `{value}` |" for name, value in fields.items()]
    return "\n".join(rows)


def show_fields(fields: dict) -> None:
    display(Markdown(fields_markdown(fields)))


def test_result_markdown(result: TestResult) -> str:
    """What Creator Studio's Test shows: the outcome, the status, the time and the response."""
    mark = "\u2705 **Successful execution**" if result.successful else "\u274c **Execution failed**"
    lines = [f"{mark} · HTTP {result.status} · {result.elapsed_ms:.0f} ms", "", result.explanation]
    excerpt = json.dumps(result.body, indent=2) if not isinstance(result.body, str) else result.body
    if len(excerpt) > 1500:
        excerpt = excerpt[:1500] + "\n... (cut)"
    lines += ["", "Response:", "", "```json", excerpt, "```"]
    return "\n".join(lines)


def show_test_result(result: TestResult) -> None:
    display(Markdown(test_result_markdown(result)))
