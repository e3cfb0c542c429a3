"""The CI template for course maintainers: a valid GitHub workflow that zizmor finds nothing wrong with.

Both checks run offline: check-jsonschema's built-in copy of the GitHub workflow schema, and
zizmor's offline audits (pinned actions, no persisted credentials, least permissions, injection).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github/workflows/notebooks.yml"


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed: `make test` installs it from requirements-dev.txt")
    return found


def test_the_workflow_matches_githubs_schema() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing() -> None:
    done = run(tool("zizmor"), "--offline", "--no-progress", str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_it_runs_on_push_and_pull_requests_and_checks_every_notebook() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get(True) or workflow.get("on")  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "python -m pytest --nbval notebooks" in commands


def test_a_plain_nbval_run_needs_no_extra_flags() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in pyproject and "--nbval-current-env" in pyproject
