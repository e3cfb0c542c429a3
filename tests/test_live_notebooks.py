"""``make test-live`` (issue 22): the notebooks top to bottom in live mode, checked for structure, not text.

"Live" is a server on this computer, set as ``PERPLEXITY_BASE_URL`` (plain http to loopback: a base URL the key
may go to in live mode), with a made-up key: a sandbox, where every check must pass, or the drifted API of
:mod:`tests.live_support`, which drops ``usage.cost``, where the checks must say so. Without a key it refuses
to start, in one sentence.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.live_notebooks import EXPECTED_ANSWERS, run_live
from helpers.recording import notebook_paths
from perplexity_sandbox import Sandbox
from perplexity_sandbox.keys import key_fingerprint
from tests.live_support import DriftedServer
from tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT / "notebooks")
AUTHENTICATE = ROOT / "notebooks" / "02_authenticate.ipynb"
# "POST /v1/agent" 200 ... key#1a2b3c4d: one line of the sandbox's request log.
ANSWERED = re.compile(r'"POST (/v1/agent|/v1/responses|/chat/completions)" 200 .* (key#[0-9a-f]{8})$')


@pytest.fixture
def live_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A made-up key as the configured one, in live mode (the tests' default is sandbox mode, where the
    PERPLEXITY_BASE_URL these tests set would name a sandbox, and the run would go to the API instead)."""
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    return FAKE_KEY


def test_without_a_key_it_refuses_to_start_in_one_sentence(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "helpers.live_notebooks"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "No API key is configured, and make test-live runs the notebooks against the live API with it: save a key "
        "with notebook 01 or set PERPLEXITY_API_KEY, then run it again.\n"
    )


def test_make_test_live_runs_the_notebooks_live() -> None:
    """The Makefile target is this module (a dry run: nothing is executed)."""
    # --no-print-directory: under `make test` this make is a sub-make, which would add "Leaving directory" lines.
    command = ["make", "--no-print-directory", "-n", "test-live"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ".venv/bin/python -m helpers.live_notebooks"


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_every_notebook_runs_cleanly_against_a_live_server_and_the_cost_is_said_first(
    live_key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="perplexity_sandbox")
    with Sandbox() as live:
        url = live.url
        monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
        assert run_live() == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        rf"Running {len(NOTEBOOKS)} notebooks against {url} with your key pplx-...t3st \(from the environment "
        r"variable PERPLEXITY_API_KEY\)\. Expected cost: about \$0\.\d\d to \$0\.\d\d \(up to \d+ short answers .*",
        out[0],
    )
    assert [line.split()[0] for line in out[1 : 1 + len(NOTEBOOKS)]] == ["ok"] * len(NOTEBOOKS)
    assert out[-1] == "Every cell ran, no error shown, every answer has text and a usage.cost."
    answered = [m for m in map(ANSWERED.search, (r.getMessage() for r in caplog.records)) if m]
    # In live mode every request carries the configured key, and the estimate is an upper bound of the answers.
    assert answered and {m.group(2) for m in answered} == {key_fingerprint(live_key)}
    assert len(answered) <= EXPECTED_ANSWERS
    assert live_key not in "\n".join(out)


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_an_answer_without_usage_cost_and_the_cell_that_reads_it_are_reported(
    live_key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox() as upstream, DriftedServer(upstream.url) as live:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", live.url)
        assert run_live([AUTHENTICATE]) == 1
    out = capsys.readouterr().out.splitlines()
    problems = [line.strip() for line in out if line.startswith("    ")]
    assert """cell 17 (answer["usage"]["cost"]): error KeyError: 'cost'""" in problems
    assert "the answer in `response, answer` reports no usage.cost" in problems
    assert out[-1].endswith("problem(s): the notebooks do not run cleanly against the live API.")
