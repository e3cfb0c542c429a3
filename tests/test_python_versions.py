"""Python versions: 3.11, 3.12 and 3.13 run every notebook; 3.10 is told, in one sentence, that 3.11+ is needed.

3.11 is the development environment's own (tests/test_plain_pip.py, tests/test_recording.py); 3.12 and
3.13 each get a fresh virtual environment set up the plain pip way, plus pytest and nbval as the
README's plain `pytest --nbval notebooks` asks. There nbval passes on the committed notebooks, and
recording them writes the committed bytes: a recording is the same whichever supported Python made it.
Interpreters come from pyenv (``$PYENV_ROOT``, by default ``~/.pyenv``) or from ``PATH``; where one is
missing, its test is skipped and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.recording import notebook_paths
from tests.hub.course import (
    PIP_TIMEOUT,
    ROOT,
    RUN_TIMEOUT,
    clean_environment,
    copy_repository,
    plain_pip_environment,
    run,
)
from tests.test_recording import differences, explain

SENTENCE_START = "This tutorial needs Python 3.11 or newer, and this is Python 3.10."


def interpreter(version: str) -> str | None:
    """A ``python3.X`` executable: pyenv's newest ``3.X.*`` first, then ``PATH``."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(
        pyenv.glob(f"{version}.*/bin/python{version}"), key=lambda p: [int(n) for n in p.parts[-3].split(".")]
    )
    return str(found[-1]) if found else shutil.which(f"python{version}")


def require(version: str) -> str:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed here (neither in pyenv nor on PATH)")
    return python


def nbval_requirements() -> list[str]:
    """pytest and nbval as requirements-dev.txt pins them: what a plain nbval run adds to requirements.txt."""
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    found = [line.split("#")[0].strip() for line in lines if re.match(r"(pytest|nbval)\s*[~=<>!]", line)]
    assert len(found) == 2, f"requirements-dev.txt should pin pytest and nbval: {found}"
    return found


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_nbval_passes_and_recording_writes_the_committed_bytes_on(version: str, tmp_path: Path) -> None:
    project = copy_repository(tmp_path / "perplexity-onboarding-notebooks")
    env = clean_environment(tmp_path / "home")
    bin_dir = plain_pip_environment(require(version), project, tmp_path / "venv", env)
    python = str(bin_dir / "python")
    assert run([python, "--version"], project, env, 60).stdout.startswith(f"Python {version}.")
    run([python, "-m", "pip", "install", "--quiet", *nbval_requirements()], project, env, PIP_TIMEOUT)
    run([python, "-m", "pytest", "--nbval", "notebooks", "-q"], project, env, RUN_TIMEOUT)
    run([python, "-m", "helpers", "record"], project, env, RUN_TIMEOUT)
    changed = {}
    for path in notebook_paths(ROOT / "notebooks"):
        committed = path.read_bytes().decode("utf-8")
        fresh = (project / "notebooks" / path.name).read_bytes().decode("utf-8")
        if fresh != committed:
            changed[path.name] = differences(committed, fresh)
    assert not changed, f"Recording on Python {version} differs from the committed notebooks:\n{explain(changed)}"


def on_python_310(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run Python 3.10 in this checkout, uninstalled, as a learner with an old Python would."""
    env = clean_environment(Path(os.environ.get("TMPDIR", "/tmp")) / "pplx-py310-home")
    return subprocess.run(
        [require("3.10"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_import_helpers_on_python_310_says_in_one_sentence_that_311_is_needed() -> None:
    shown = on_python_310("-c", "import helpers")
    assert shown.returncode == 1
    last = shown.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: {SENTENCE_START}")
    assert ". " not in last and last.endswith("create the virtual environment again with it.")  # one sentence
    assert "tomllib" not in shown.stderr


def test_the_doctor_on_python_310_prints_the_sentence_alone() -> None:
    shown = on_python_310("-m", "helpers", "doctor")
    assert shown.returncode == 1
    assert shown.stdout == ""
    assert shown.stderr.startswith(SENTENCE_START) and shown.stderr.count("\n") == 1, shown.stderr


@pytest.mark.slow
def test_pip_refuses_to_install_the_package_on_python_310(tmp_path: Path) -> None:
    """pyproject's ``requires-python = ">=3.11"``: pip says so before anything is installed."""
    env = clean_environment(tmp_path / "home")
    subprocess.run([require("3.10"), "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120, env=env)
    shown = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--no-deps", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert shown.returncode != 0
    assert "requires a different Python: 3.10" in shown.stdout + shown.stderr
