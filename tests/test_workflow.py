"""The CI template for course maintainers: a valid GitHub workflow that zizmor finds nothing wrong with.

Both checks run offline: check-jsonschema's built-in copy of the GitHub workflow schema, and
zizmor's offline audits (pinned actions, no persisted credentials, least permissions, injection).
The rest reads the workflow: a fork runs it as it is, on every supported Python, with no secret.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
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
    commands = [step.get("run", "") for step in steps()]
    assert any(command.startswith("python -m pytest") and command.endswith("--nbval notebooks") for command in commands)


def steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_it_runs_on_every_supported_python_and_caches_pip() -> None:
    """The matrix is pyproject.toml's classifiers: a Python added there is tested in every fork too."""
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    supported = [
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    assert job["strategy"]["matrix"]["python-version"] == supported == ["3.11", "3.12", "3.13"]
    (setup,) = [step for step in steps() if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert setup["with"]["cache"] == "pip"


def test_it_needs_no_secret() -> None:
    assert "secrets." not in WORKFLOW.read_text()


def test_it_checks_out_the_z2jh_chart_at_a_pinned_commit_for_the_schema_tests() -> None:
    """A fork has no ../shared/z2jh: the workflow fetches the chart's folder and points Z2JH_CHART_DIR at it."""
    (chart,) = [
        step for step in steps() if step.get("with", {}).get("repository") == "jupyterhub/zero-to-jupyterhub-k8s"
    ]
    assert re.fullmatch(r"actions/checkout@[0-9a-f]{40}", chart["uses"].split()[0])
    assert re.fullmatch(r"[0-9a-f]{40}", chart["with"]["ref"])
    assert chart["with"]["sparse-checkout"].strip() == "jupyterhub/" and chart["with"]["persist-credentials"] is False
    ignored = run("git", "check-ignore", "-q", f"{chart['with']['path']}/jupyterhub/values.yaml")
    assert ignored.returncode == 0, "the chart must land in a git-ignored folder, out of ruff's and git's way"
    tests = [step for step in steps() if "Z2JH_CHART_DIR" in step.get("env", {})]
    assert tests and all(s["env"]["Z2JH_CHART_DIR"] == f"{chart['with']['path']}/jupyterhub" for s in tests)
    assert any("tests" in s["run"].split() for s in tests), "the unit tests (the schema tests among them) get the chart"
    shared_readme = ROOT.parent / "shared" / "z2jh" / "README.md"
    if shared_readme.is_file():  # this project's own copy of the chart is from the same commit
        assert chart["with"]["ref"] in shared_readme.read_text()


def test_a_plain_nbval_run_needs_no_extra_flags() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in pyproject and "--nbval-current-env" in pyproject
