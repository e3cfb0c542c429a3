"""``python -m helpers doctor``: run as a learner runs it, against the sandbox, on good and broken set-ups."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.doctor import (
    NOTE,
    OK,
    PROBLEM,
    SKIPPED,
    Check,
    check_env_file,
    check_git_ignore,
    check_packages,
    check_python,
    format_report,
    run_checks,
)
from helpers.keys import mask_key
from helpers.recording import CLEARED_ENV
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent


def doctor(tmp_path: Path, *options: str, **variables: str) -> subprocess.CompletedProcess:
    """``python -m helpers doctor`` in a clean environment: sandbox mode, a key file in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update({"PERPLEXITY_MODE": "sandbox", "PERPLEXITY_ENV_FILE": str(tmp_path / ".env"), **variables})
    return subprocess.run(
        [sys.executable, "-m", "helpers", "doctor", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines_of(report: str, status: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(status)]


def assert_one_fix_per_problem(report: str) -> None:
    problems = lines_of(report, PROBLEM)
    fixes = [line for line in report.splitlines() if line.lstrip().startswith("Fix: ")]
    assert len(fixes) == len(problems) >= 1, report


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free again once closed: nothing listens there


# --- the command, as a subprocess ---------------------------------------------------------


def test_a_good_set_up_passes_against_a_shared_sandbox(tmp_path: Path, sandbox: Sandbox) -> None:
    result = doctor(tmp_path, PERPLEXITY_API_KEY=FAKE_KEY, PERPLEXITY_BASE_URL=sandbox.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines_of(result.stdout, PROBLEM) == []
    assert f"API host: {sandbox.url} answers." in result.stdout
    assert "Key accepted: the server accepted the key (free in the sandbox)." in result.stdout
    assert mask_key(FAKE_KEY) in result.stdout
    assert FAKE_KEY not in result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("All good: no problems found.")


def test_no_key_starts_the_built_in_sandbox_and_passes(tmp_path: Path) -> None:
    result = doctor(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Key: none configured" in result.stdout
    assert "accepted the demo key" in result.stdout


def test_a_key_in_the_wrong_format_fails_with_a_fix(tmp_path: Path, sandbox: Sandbox) -> None:
    wrong = "sk-" + "9" * 40
    result = doctor(tmp_path, PERPLEXITY_API_KEY=wrong, PERPLEXITY_BASE_URL=sandbox.url)
    assert result.returncode == 1
    (key_line,) = [line for line in lines_of(result.stdout, PROBLEM) if "Key:" in line]
    assert "keys start with 'pplx-'" in key_line
    assert "Fix: Set PERPLEXITY_API_KEY to the key exactly as the API portal shows it" in result.stdout
    assert_one_fix_per_problem(result.stdout)
    assert wrong not in result.stdout + result.stderr


def test_a_revoked_key_fails_authentication(tmp_path: Path, sandbox: Sandbox) -> None:
    revoked = "pplx-revoked" + "7" * 36
    # Live mode: the learner's own key goes to the base URL in force (no sandbox mode sends it anywhere).
    result = doctor(tmp_path, PERPLEXITY_MODE="live", PERPLEXITY_API_KEY=revoked, PERPLEXITY_BASE_URL=sandbox.url)
    assert result.returncode == 1
    (auth_line,) = lines_of(result.stdout, PROBLEM)
    assert auth_line.startswith("PROBLEM  Key accepted: HTTP 401") and "revoked" in auth_line
    assert "Fix: Create a new key in the API portal" in result.stdout
    assert_one_fix_per_problem(result.stdout)
    assert revoked not in result.stdout + result.stderr


def test_an_env_file_others_can_read_fails_with_chmod(tmp_path: Path, sandbox: Sandbox) -> None:
    env = tmp_path / ".env"
    env.write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    env.chmod(0o644)
    result = doctor(tmp_path, "--skip-call", PERPLEXITY_BASE_URL=sandbox.url)
    assert result.returncode == 1
    assert "skipped  Key accepted: not checked (--skip-call)." in result.stdout
    (env_line,) = lines_of(result.stdout, PROBLEM)
    assert env_line.startswith("PROBLEM  .env file:") and "mode 644" in env_line
    assert f"Fix: Run: chmod 600 {env}" in result.stdout
    assert "Key: pplx-..." in result.stdout and "from the .env file" in result.stdout
    assert FAKE_KEY not in result.stdout + result.stderr
    assert oct(env.stat().st_mode & 0o777) == "0o644"  # the doctor reports; it does not change files


def test_an_unreachable_base_url_fails_and_skips_the_key_check(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = doctor(tmp_path, PERPLEXITY_API_KEY=FAKE_KEY, PERPLEXITY_BASE_URL=url)
    assert result.returncode == 1
    assert lines_of(result.stdout, PROBLEM) == [f"PROBLEM  API host: could not reach {url}."]
    assert "Fix: Start the shared sandbox (`python -m perplexity_sandbox`)" in result.stdout
    assert lines_of(result.stdout, SKIPPED) == ["skipped  Key accepted: not checked: the API host did not answer."]


# --- single checks, in process ------------------------------------------------------------


def test_plain_http_to_another_host_is_refused_before_anything_is_sent(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real (secret) key in live mode: only the sandbox's demo key may travel over plain http.
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", "http://api.example.com")
    checks = {c.name: c for c in run_checks()}
    assert checks["API host"].status == PROBLEM and "Refusing to send your" in checks["API host"].detail
    assert checks["Key accepted"].status == SKIPPED


def test_live_mode_without_a_key_is_one_problem(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    checks = run_checks()
    assert [c.name for c in checks if c.status == PROBLEM] == ["Mode"]
    assert "needs an API key" in checks[2].detail and "notebook 01" in checks[2].fix
    assert [c.status for c in checks[-2:]] == [SKIPPED, SKIPPED]


def test_the_old_variable_name_is_a_note_with_the_rename(
    project: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    monkeypatch.setenv("PPLX_API_KEY", FAKE_KEY)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
    checks = {c.name: c for c in run_checks(call=False)}
    assert checks["Key"].status == NOTE and "rename it to PERPLEXITY_API_KEY" in checks["Key"].fix
    assert checks["Key accepted"].status == SKIPPED and "--skip-call" in checks["Key accepted"].detail
    assert not [c for c in checks.values() if c.status == PROBLEM]


def test_a_pasted_bearer_prefix_is_a_problem(project: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "live")  # where the learner's own key would be sent
    monkeypatch.setenv("PERPLEXITY_API_KEY", f"Bearer {FAKE_KEY}")
    monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
    checks = {c.name: c for c in run_checks()}
    assert checks["Key"].status == PROBLEM and "Bearer" in checks["Key"].detail
    # A key with a space cannot go into a header: it is not sent at all, and the Key check says why.
    assert checks["Key accepted"].status == SKIPPED
    assert FAKE_KEY not in format_report(list(checks.values()))


def test_old_python_and_missing_packages_are_problems() -> None:
    assert check_python((3, 11, 0)).status == OK
    old = check_python((3, 10, 12))
    assert old.status == PROBLEM and "3.10.12 is too old" in old.detail
    packages = check_packages(["requests>=999", "surely-not-installed-package-xyz"])
    assert packages.status == PROBLEM
    assert "requests" in packages.detail and ">=999 is needed" in packages.detail
    assert "surely-not-installed-package-xyz is not installed" in packages.detail
    assert check_packages().status == OK


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_git_status_of_the_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OTHER=1\n")
    outside = check_git_ignore(env)
    assert outside.status == OK and "not in a git repository" in outside.detail
    git(tmp_path, "init", "-q")
    not_ignored = check_git_ignore(env)
    assert not_ignored.status == PROBLEM and "Add a line `.env` to the .gitignore" in not_ignored.fix
    (tmp_path / ".gitignore").write_text(".env\n")
    assert check_git_ignore(env).status == OK
    git(tmp_path, "add", "--force", ".env")
    tracked = check_git_ignore(env)
    assert tracked.status == PROBLEM and "tracked by git" in tracked.detail and "git rm --cached" in tracked.fix


def test_the_report_has_one_fix_per_problem_and_a_verdict() -> None:
    checks = [Check("A", OK, "fine."), Check("B", PROBLEM, "broken.", "do this."), Check("C", NOTE, "hm.", "maybe.")]
    report = format_report(checks)
    assert report.splitlines()[2:] == [
        "PROBLEM  B: broken.",
        "         Fix: do this.",
        "note     C: hm.",
        "         Tip: maybe.",
        "1 problem found. Fix it, then run `python -m helpers doctor` again.",
    ]


def test_a_readable_env_file_without_a_key_is_fine(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PERPLEXITY_MODE=sandbox\n")
    env.chmod(0o644)
    assert check_env_file(env).status == OK
    env.write_text(f"PPLX_API_KEY={FAKE_KEY}\n")
    assert check_env_file(env).status == PROBLEM
    env.chmod(0o600)
    assert check_env_file(env) == Check(".env file", OK, "mode 600: only you can read it.")


def test_a_key_with_a_line_break_is_reported_not_crashed_on(tmp_path: Path) -> None:
    tail = "SECRETTAIL" + "B" * 20
    result = doctor(tmp_path, "--skip-call", PERPLEXITY_API_KEY="pplx-" + "A" * 24 + "\n" + tail)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "line break" in result.stdout
    assert tail not in result.stdout + result.stderr
    assert_one_fix_per_problem(result.stdout)


@pytest.mark.parametrize(
    "url",
    [
        "https://learner:hunter2secret@api.example.com",
        "https://api.example.com/v1?api_key=abcd1234secret",
        "http://tokenabcd1234secret@127.0.0.1:9",
    ],
    ids=["user-and-password", "token-in-query", "token-as-user"],
)
def test_a_refused_base_url_is_echoed_masked(tmp_path: Path, url: str) -> None:
    result = doctor(tmp_path, "--skip-call", PERPLEXITY_BASE_URL=url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (mode_line,) = [line for line in lines_of(result.stdout, PROBLEM) if "Mode:" in line]
    assert "PERPLEXITY_BASE_URL" in mode_line and "****" in mode_line
    assert "secret" not in result.stdout + result.stderr
    assert_one_fix_per_problem(result.stdout)


def test_an_env_file_from_notepad_in_windows_1252_is_read_with_a_note(tmp_path: Path, sandbox: Sandbox) -> None:
    env = tmp_path / ".env"
    env.write_bytes(f"# Clé du cours\r\nPERPLEXITY_API_KEY={FAKE_KEY}\r\n".encode("cp1252"))
    env.chmod(0o600)
    result = doctor(tmp_path, "--skip-call", PERPLEXITY_BASE_URL=sandbox.url)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"Key: {mask_key(FAKE_KEY)} from the .env file" in result.stdout
    assert f"note     .env file: {env} is not saved as UTF-8" in result.stdout
    assert FAKE_KEY not in result.stdout + result.stderr
