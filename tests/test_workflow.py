"""The CI template for course maintainers: a valid GitHub workflow that zizmor finds nothing wrong with.

Both checks run offline: check-jsonschema's built-in copy of the GitHub workflow schema, and
zizmor's offline audits (pinned actions, no persisted credentials, least permissions, injection).
The rest reads the workflow: a fork runs it as it is, on every supported Python, with no secret.
"""

from __future__ import annotations

import json
import os
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


# --- live-check.yml: the weekly comparison of the live API with the sandbox (issue 22) ----------------

LIVE_WORKFLOW = ROOT / ".github/workflows/live-check.yml"
GITHUB_SHELL = ("bash", "--noprofile", "--norc", "-eo", "pipefail")  # what GitHub runs a `run:` script with
KEY_SECRET = "${{ secrets.PERPLEXITY_API_KEY }}"


def live_workflow() -> dict:
    return yaml.safe_load(LIVE_WORKFLOW.read_text())


def live_step(name: str) -> dict:
    (step,) = [step for job in live_workflow()["jobs"].values() for step in job["steps"] if step.get("name") == name]
    return step


def run_step(step: dict, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a step's script as GitHub would (bash -eo pipefail) in ``folder``, with ``env`` as its environment."""
    if shutil.which("bash") is None:
        pytest.skip("the workflow's scripts are bash")
    script = folder / "step.sh"
    script.write_text(step["run"])
    return subprocess.run(
        [*GITHUB_SHELL, str(script)], capture_output=True, text=True, timeout=120, check=False, cwd=folder, env=env
    )


def step_environment(folder: Path, **variables: str) -> dict[str, str]:
    """A runner's environment: this Python first on PATH (as setup-python puts it), GITHUB_OUTPUT a file."""
    output = folder / "github-output"
    output.write_text("")
    path = os.pathsep.join([str(folder / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    keep = {name: os.environ[name] for name in ("HOME", "PERPLEXITY_ENV_FILE", "PERPLEXITY_MODE") if name in os.environ}
    return {**keep, "PATH": path, "GITHUB_OUTPUT": str(output), **variables}


def outputs(folder: Path) -> dict[str, str]:
    """GITHUB_OUTPUT read as the runner reads it: name=value lines, and name<<DELIMITER blocks."""
    lines, found = (folder / "github-output").read_text().splitlines(), {}
    while lines:
        line = lines.pop(0)
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter)
            found[name], lines = "\n".join(lines[:end]), lines[end + 1 :]
        else:
            name, _, value = line.partition("=")
            found[name] = value
    return found


def test_the_live_check_workflow_matches_githubs_schema() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(LIVE_WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_in_the_live_check_workflow() -> None:
    done = run(tool("zizmor"), "--offline", "--no-progress", str(LIVE_WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_live_check_runs_weekly_and_on_demand_with_pinned_actions() -> None:
    workflow = live_workflow()
    triggers = workflow.get(True) or workflow.get("on")  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    (schedule,) = triggers["schedule"]
    minute, hour, day_of_month, month, weekday = schedule["cron"].split()
    assert (day_of_month, month) == ("*", "*") and weekday.isdigit() and minute.isdigit() and hour.isdigit()
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"actions/[a-z-]+@[0-9a-f]{40}", use) for use in uses)
    checkouts = [s for j in workflow["jobs"].values() for s in j["steps"] if s.get("uses", "").startswith("actions/c")]
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_each_job_gets_the_least_permissions_and_only_the_issue_job_may_write_issues() -> None:
    workflow = live_workflow()
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["check"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["report"]["permissions"] == {"issues": "write"}
    assert workflow["jobs"]["report"]["if"] == "needs.check.outputs.differs == 'true'"


def test_the_key_reaches_one_step_as_a_variable_and_is_never_echoed() -> None:
    text = LIVE_WORKFLOW.read_text()
    assert text.count("secrets.PERPLEXITY_API_KEY") == 1
    compare = live_step("Compare the live API with the sandbox")
    assert compare["env"] == {"PERPLEXITY_API_KEY": KEY_SECRET}
    scripts = [step.get("run", "") for job in live_workflow()["jobs"].values() for step in job["steps"]]
    assert not any("secrets." in script or "set -x" in script for script in scripts)
    # The script reads the variable once, to test that it is set; it never prints it or passes it on.
    uses = [line.strip() for line in compare["run"].splitlines() if re.search(r"\$\{?PERPLEXITY_API_KEY", line)]
    assert uses == ['if [ -z "$PERPLEXITY_API_KEY" ]; then']


def test_without_the_secret_the_check_ends_green_with_a_notice_and_sends_nothing(tmp_path: Path) -> None:
    done = run_step(live_step("Compare the live API with the sandbox"), tmp_path, step_environment(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("::notice title=Live check skipped::This repository has no PERPLEXITY_API_KEY")
    assert outputs(tmp_path) == {} and not (tmp_path / "build").exists()


def test_on_differences_the_check_hands_its_report_to_the_issue_job(tmp_path: Path) -> None:
    from perplexity_sandbox import Sandbox
    from tests.live_support import DriftedServer
    from tests.support import FAKE_KEY

    with Sandbox() as upstream, DriftedServer(upstream.url) as live:
        env = step_environment(
            tmp_path, PERPLEXITY_API_KEY=FAKE_KEY, PERPLEXITY_MODE="live", PERPLEXITY_BASE_URL=live.url
        )
        done = run_step(live_step("Compare the live API with the sandbox"), tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::warning title=Live check::The sandbox no longer answers as the live API does" in done.stdout
    found = outputs(tmp_path)
    assert found["differs"] == "true"
    assert "/v1/agent: usage.cost missing live" in found["report"].splitlines()
    assert FAKE_KEY not in done.stdout + done.stderr + found["report"]


def test_the_check_fails_red_when_it_cannot_check(tmp_path: Path) -> None:
    """A key that is set but refused, or an API that does not answer: exit 2, the job fails, and no issue."""
    from tests.support import FAKE_KEY, unused_url

    env = step_environment(
        tmp_path, PERPLEXITY_API_KEY=FAKE_KEY, PERPLEXITY_MODE="live", PERPLEXITY_BASE_URL=unused_url()
    )
    done = run_step(live_step("Compare the live API with the sandbox"), tmp_path, env)
    assert done.returncode == 2 and done.stderr.startswith("Could not reach 127.0.0.1:")
    assert outputs(tmp_path) == {}


FAKE_GH = """#!{python}
import json, os, subprocess, sys

arguments = sys.argv[1:]
entry = {{"arguments": arguments}}
if "--body-file" in arguments:
    entry["body"] = open(arguments[arguments.index("--body-file") + 1]).read()
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
if arguments[:2] == ["issue", "list"]:
    issues = os.environ["OPEN_ISSUES"]
    jq = arguments[arguments.index("--jq") + 1]
    print(subprocess.run(["jq", "-r", jq], input=issues, capture_output=True, text=True, check=True).stdout, end="")
"""


def run_issue_job(folder: Path, open_issues: list[dict]) -> list[dict]:
    """The issue job's script, with ``gh`` standing in for GitHub (it logs each call; jq reads its --jq)."""
    if shutil.which("jq") is None:
        pytest.skip("gh's --jq is stood in for by jq, which is not installed here")
    (folder / "bin").mkdir(exist_ok=True)
    gh = folder / "bin" / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(0o755)
    step = live_step("Open or update the live-check issue")
    variables = {name: value for name, value in step["env"].items() if "${{" not in value}
    env = step_environment(
        folder,
        **variables,
        GH_LOG=str(folder / "gh.log"),
        OPEN_ISSUES=json.dumps(open_issues),
        REPORT="model perplexity/sonar not listed live\n1 difference: the sandbox no longer answers as live does.",
        RUN_URL="https://github.com/owner/course/actions/runs/1",
    )
    done = run_step(step, folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in (folder / "gh.log").read_text().splitlines()]


def test_the_issue_job_opens_one_issue(tmp_path: Path) -> None:
    title = live_step("Open or update the live-check issue")["env"]["TITLE"]
    calls = run_issue_job(tmp_path, [{"number": 3, "title": "Something else " + title}])
    assert [call["arguments"][:2] for call in calls] == [["issue", "list"], ["issue", "create"]]
    create = calls[1]
    assert create["arguments"][2:4] == ["--title", title]
    assert "```\nmodel perplexity/sonar not listed live\n1 difference:" in create["body"]
    assert "(https://github.com/owner/course/actions/runs/1)" in create["body"]


def test_the_issue_job_updates_the_issue_still_open(tmp_path: Path) -> None:
    title = live_step("Open or update the live-check issue")["env"]["TITLE"]
    calls = run_issue_job(tmp_path, [{"number": 3, "title": "Unrelated"}, {"number": 7, "title": title}])
    assert [call["arguments"][:3] for call in calls] == [
        ["issue", "list", "--state"],
        ["issue", "edit", "7"],
        ["issue", "comment", "7"],
    ]
    assert "model perplexity/sonar not listed live" in calls[1]["body"]


# --- lite.yml: the browser edition published with GitHub Pages (issue 23) ----------------------------------

LITE_WORKFLOW = ROOT / ".github/workflows/lite.yml"
DEFAULT_BRANCH_ONLY = "github.ref_name == github.event.repository.default_branch && !github.event.repository.fork"


def test_the_pages_workflow_matches_githubs_schema_and_zizmor_finds_nothing() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(LITE_WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(tool("zizmor"), "--offline", "--no-progress", str(LITE_WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_pages_workflow_publishes_make_lite_from_the_default_branch_only() -> None:
    """Forks and other branches skip the build, and so the deployment that needs it: their runs stay green."""
    workflow = yaml.safe_load(LITE_WORKFLOW.read_text())
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["if"] == DEFAULT_BRANCH_ONLY and deploy["needs"] == "build"
    assert any("make lite" in step.get("run", "") for step in build["steps"])
    (upload,) = [step for step in build["steps"] if "upload-pages-artifact" in step.get("uses", "")]
    assert upload["with"]["path"] == "build/lite"
    assert workflow["permissions"] == {} and set(deploy["permissions"]) == {"pages", "id-token"}
