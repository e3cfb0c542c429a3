"""``make test-live`` (``python -m helpers.live_notebooks``): the notebooks top to bottom against the live API.

nbval compares the notebooks with what the sandbox answered when they were recorded; this runs them with the
configured key in live mode, as a learner with a key runs them, and checks structure, not text (live answers
differ every time): every code cell runs, no cell shows an error (a traceback, a failure shown as one
sentence, text on stderr), every answer the notebooks hold has text, and every answer reports ``usage.cost``.

It costs money, so it refuses to start without a key and says what to expect before the first request. The
notebooks are copied into a temporary folder and run there: the course's own files are never written. The key
goes only where :func:`helpers.settings.check_transport` allows: the API, or ``PERPLEXITY_BASE_URL`` in live mode.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import errors
from helpers.keys import KEY_VARIABLE
from helpers.live_check import CannotCheckError, live_environment, live_settings
from helpers.masking import mask_key, redact
from helpers.responses import MODELS_AS_OF, AgentResponse, APIResponse, ChatCompletion
from helpers.settings import BASE_URL_VARIABLE, DEFAULT_BASE_URL, Settings, check_transport

# The answers the notebooks get when run top to bottom (notebook 02: requests, both SDKs, the stream; 03: Test
# three times; the appendix: the playground twice), at the price of a short answer with one web search
# (docs of MODELS_AS_OF). An upper bound: the test run against a loopback sandbox counts them.
EXPECTED_ANSWERS = 10
COST_PER_ANSWER = (0.004, 0.007)  # USD: 2,000 tokens in, 500 out, one search, perplexity/sonar
CELL_TIMEOUT_SECONDS = 180  # a live answer with a web search takes seconds, sometimes tens of seconds
# The last cell run in each notebook's kernel: it prints what answers the notebook's variables hold.
CHECK_MARK = "live-notebook-answers: "
CHECK_CELL = f"import helpers.live_notebooks\nprint({CHECK_MARK!r} + helpers.live_notebooks.answers_json(globals()))"
FAILURE_CLASS = "pplx-failure"  # the HTML class of a failure notebook setup shows as one sentence
PROBLEMS, CANNOT_RUN = 1, 2


@dataclass
class NotebookResult:
    """One notebook's run: its problems (one line each) and the answers its variables held."""

    name: str
    problems: list[str] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return sum(answer["total_cost"] or 0.0 for answer in self.answers)


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks live; print the expected cost first, then one line per notebook and per problem."""
    parser = argparse.ArgumentParser(prog="python -m helpers.live_notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    args = parser.parse_args(argv)
    try:
        return run_live(args.paths or None)
    except CannotCheckError as error:
        print(str(error), file=sys.stderr)
        return CANNOT_RUN


def run_live(paths: list[Path] | None = None) -> int:
    """Run ``paths`` (default: every notebook) live; 0 when every structural check passes, else 1."""
    from helpers.keys import project_root
    from helpers.recording import notebook_paths

    paths = paths or notebook_paths(project_root() / "notebooks")
    with live_environment(None):
        settings = live_settings("make test-live runs the notebooks against the live API with it")
        try:
            check_transport(settings.base_url, settings.api_key)  # refused here, before any kernel starts
        except errors.TutorialError as error:
            raise CannotCheckError(redact(str(error), [settings.api_key])) from None
    print(
        f"Running {len(paths)} notebooks against {settings.base_url} with your key {mask_key(settings.api_key)} "
        f"(from the {settings.key.source}). {expected_cost()}"
    )
    return report(run_notebooks(paths, settings), [settings.api_key])


def expected_cost() -> str:
    low, high = (EXPECTED_ANSWERS * price for price in COST_PER_ANSWER)
    return (
        f"Expected cost: about ${low:.2f} to ${high:.2f} (up to {EXPECTED_ANSWERS} short answers with a web search, "
        f"at the prices of {MODELS_AS_OF})."
    )


def run_notebooks(paths: list[Path], settings: Settings) -> list[NotebookResult]:
    """Execute copies of ``paths`` in a temporary folder, in live mode with ``settings``; check each one.

    The kernels read the key from the environment, as a learner's would: the copies are not in the course
    folder, so its ``.env`` would not be found from there. A key file of their own (empty) keeps whatever the
    notebooks save away from the real one.
    """
    from helpers.recording import isolated_environment

    results = []
    with tempfile.TemporaryDirectory(prefix="pplx-live-") as folder, isolated_environment(kernel_environment(settings)):
        for path in paths:
            copy = Path(folder) / path.name
            shutil.copyfile(path, copy)
            results.append(run_one(copy))
            print(result_line(results[-1], [settings.api_key]))
    return results


def kernel_environment(settings: Settings) -> dict[str, str]:
    """Live mode with the configured key, and the base URL when it is not the API's (revealed only here)."""
    environment = {"PERPLEXITY_MODE": "live", KEY_VARIABLE: settings.api_key.reveal()}
    if settings.base_url != DEFAULT_BASE_URL:
        environment[BASE_URL_VARIABLE] = settings.base_url
    return environment


def run_one(path: Path) -> NotebookResult:
    """Run one notebook (every cell, even after an error), then the answer check in the same kernel."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from helpers.recording import encrypted_kernel_config

    notebook = nbformat.read(path, as_version=4)
    taught = len(notebook.cells)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        allow_errors=True,  # run on after an error: one run lists every problem
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        config=encrypted_kernel_config(),
    )
    result = NotebookResult(path.name)
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as error:
        result.problems.append(f"the run stopped: {str(error).splitlines()[0]}")
    result.problems += cell_problems(notebook.cells[:taught])
    result.answers = answers_from(notebook.cells[taught])
    result.problems += answer_problems(result.answers)
    return result


def cell_problems(cells: list[Any]) -> list[str]:
    """What went wrong in the notebook's own cells: not run, an error, a failure sentence, text on stderr."""
    problems = []
    for number, cell in enumerate(cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        where = f"cell {number} ({first_line(cell.source)})"
        if cell.get("execution_count") is None:
            problems.append(f"{where}: did not run")
        for output in cell.get("outputs", []):
            problem = output_problem(output)
            if problem:
                problems.append(f"{where}: {problem}")
    return problems


def output_problem(output: Mapping[str, Any]) -> str:
    """Why one output is an error (a traceback, a failure shown as one sentence, stderr), or ""."""
    if output.get("output_type") == "error":
        return f"error {output.get('ename', '')}: {first_line(output.get('evalue', ''))}"
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return f"printed on stderr: {first_line(output.get('text', ''))}"
    data = output.get("data") or {}
    if FAILURE_CLASS in str(data.get("text/html", "")):
        return f"failed: {first_line(str(data.get('text/plain', '')))}"
    return ""


def answers_from(check_cell: Any) -> list[dict]:
    """The answers the check cell found (its printed line), or [] when it did not run."""
    for output in check_cell.get("outputs", []):
        for line in str(output.get("text", "")).splitlines():
            if line.startswith(CHECK_MARK):
                return json.loads(line.removeprefix(CHECK_MARK))
    return []


def answer_problems(answers: list[dict]) -> list[str]:
    problems = []
    for answer in answers:
        if not answer["text_length"]:
            problems.append(f"the answer in `{answer['names']}` has no text")
        if not answer["has_cost"]:
            problems.append(f"the answer in `{answer['names']}` reports no usage.cost")
    return problems


# --- in the kernel: which of the notebook's variables hold an answer --------------------------


def answers_json(namespace: Mapping[str, Any]) -> str:
    """The answers among ``namespace``'s variables, as one JSON line: names, text length, cost.

    An answer is what the notebooks keep of a successful Agent API or chat completions call: a
    ``requests`` response, its JSON, an :class:`APIResponse`, an SDK's response object, a playground
    outcome or a connector Test result. The same answer under several names (``response`` and
    ``answer``) is counted once.
    """
    found: dict[str, dict] = {}
    for name, value in namespace.items():
        if name.startswith("_"):  # IPython's output history (_, _1, _i1): copies of what the cells returned
            continue
        raw = answer_body(value)
        if raw is None:
            continue
        kind = AgentResponse if "output" in raw else ChatCompletion
        answer = kind(raw)
        entry = found.setdefault(str(raw.get("id") or name), {"names": [], "text_length": len(answer.text)})
        entry["names"].append(name)
        entry["has_cost"] = isinstance(answer.usage.get("cost"), dict)
        entry["total_cost"] = answer.total_cost if isinstance(answer.total_cost, int | float) else None
    return json.dumps([{**entry, "names": ", ".join(entry["names"])} for entry in found.values()])


def answer_body(value: Any) -> dict | None:
    """The JSON of an answer ``value`` holds (see :func:`answers_json`), or None."""
    if isinstance(value, APIResponse):
        return value.raw
    outcome_answer = getattr(value, "answer", None)
    if isinstance(outcome_answer, APIResponse):  # a playground outcome that succeeded
        return outcome_answer.raw
    body = _answer_json(value)
    return body if isinstance(body, dict) and ("output" in body or "choices" in body) else None


def _answer_json(value: Any) -> Any:
    import requests

    from helpers.connector import Execution

    if isinstance(value, requests.Response):
        try:
            return value.json() if value.ok else None
        except ValueError:
            return None
    if isinstance(value, Execution):
        return value.body if value.successful else None
    if isinstance(value, dict):
        return value if value.get("object") in ("response", "chat.completion") else None
    if hasattr(value, "output_text") and hasattr(value, "model_dump"):  # perplexity's or openai's SDK
        return value.model_dump(mode="json", warnings=False)
    return None


# --- reporting ------------------------------------------------------------------------------


def result_line(result: NotebookResult, secrets: list) -> str:
    """One line for a notebook, then one indented line per problem."""
    verdict = "ok" if not result.problems else f"{len(result.problems)} problem(s)"
    head = f"{verdict:<14} {result.name}: {len(result.answers)} answer(s), usage.cost ${result.cost:.5f}"
    return redact("\n".join([head, *(f"    {problem}" for problem in result.problems)]), secrets)


def report(results: list[NotebookResult], secrets: list) -> int:
    """The total, and the exit status: 0 when every check passed, 1 otherwise."""
    answers = sum(len(result.answers) for result in results)
    problems = sum(len(result.problems) for result in results)
    if answers == 0:
        problems += 1
        print("No notebook kept an answer: the checks of text and usage.cost found nothing to check.")
    total = sum(result.cost for result in results)
    print(f"{answers} answers, usage.cost ${total:.5f} in all.")
    if problems:
        print(redact(f"{problems} problem(s): the notebooks do not run cleanly against the live API.", secrets))
        return PROBLEMS
    print("Every cell ran, no error shown, every answer has text and a usage.cost.")
    return 0


def first_line(text: str, limit: int = 100) -> str:
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
