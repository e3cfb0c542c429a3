"""Colab: the key from Colab Secrets (after the environment, before the key file), and the install cell.

Colab is faked by a ``google.colab.userdata`` module with Colab's own names: ``get`` raises
``SecretNotFoundError`` when there is no such secret and ``NotebookAccessError`` when this notebook
may not read it (googlecolab/colabtools, google/colab/userdata.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from helpers import classroom, keys
from helpers.keys import find_api_key, key_sources, key_status
from helpers.settings import resolve_settings
from tests.hub.course import bare_repository, clean_environment
from tests.support import FAKE_KEY

FILE_KEY = "pplx-" + "f1le" * 12
ENV_KEY = "pplx-" + "env0" * 12


class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


def fake_colab(monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str], denied: tuple[str, ...] = ()) -> list[str]:
    """Install a fake ``google.colab.userdata`` (as in a new kernel: nothing read yet); return the names asked for."""
    keys.forget_colab_secrets()
    asked: list[str] = []

    def get(key: str) -> str:
        asked.append(key)
        if key in denied:
            raise NotebookAccessError(f"Notebook does not have access to secret {key}")
        if key not in secrets:
            raise SecretNotFoundError(f"Secret {key} does not exist.")
        return secrets[key]

    userdata = types.ModuleType("google.colab.userdata")
    userdata.get = get
    userdata.SecretNotFoundError, userdata.NotebookAccessError = SecretNotFoundError, NotebookAccessError
    colab = types.ModuleType("google.colab")
    colab.userdata = userdata
    google = sys.modules.get("google") or types.ModuleType("google")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setattr(google, "colab", colab, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", userdata)
    return asked


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's environment with no key, and an empty key file of the test's own."""
    monkeypatch.delenv("PERPLEXITY_API_KEY", raising=False)
    monkeypatch.delenv("PPLX_API_KEY", raising=False)
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(tmp_path / ".env"))
    return tmp_path / ".env"


def test_the_colab_secret_is_used_when_nothing_else_is_set(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    found = find_api_key()
    assert found.value == FAKE_KEY and found.source == "Colab secret PERPLEXITY_API_KEY"
    assert asked == ["PERPLEXITY_API_KEY"]
    assert key_status().startswith("Using the key pplx-...t3st from the Colab secret PERPLEXITY_API_KEY.")


def test_the_colab_secret_is_read_once_per_kernel(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    for _ in range(3):
        assert find_api_key().value == FAKE_KEY
        resolve_settings()
    assert asked == ["PERPLEXITY_API_KEY"]
    keys.forget_colab_secrets()
    assert find_api_key().value == FAKE_KEY and asked == ["PERPLEXITY_API_KEY"] * 2


def test_a_secret_added_after_the_hint_is_found_without_a_restart(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets: dict[str, str] = {}
    asked = fake_colab(monkeypatch, secrets)
    assert find_api_key() is None
    secrets["PERPLEXITY_API_KEY"] = FAKE_KEY  # the learner adds it in the Secrets panel
    assert find_api_key().value == FAKE_KEY and asked == ["PERPLEXITY_API_KEY"] * 2


def test_the_environment_wins_over_the_colab_secret(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    monkeypatch.setenv("PERPLEXITY_API_KEY", ENV_KEY)
    assert find_api_key().value == ENV_KEY


def test_the_colab_secret_wins_over_the_key_file(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file.write_text(f"PERPLEXITY_API_KEY={FILE_KEY}\n")
    fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    assert find_api_key().value == FAKE_KEY
    assert key_sources().splitlines() == [
        "1. PERPLEXITY_API_KEY in the environment: not set",
        "2. PERPLEXITY_API_KEY in Colab Secrets: pplx-...t3st  <- used",
        "3. PERPLEXITY_API_KEY in the .env file: pplx-...f1le  (not used: an earlier one wins)",
        "4. PPLX_API_KEY (old name) in the environment: not set",
        "5. PPLX_API_KEY (old name) in the .env file: not set",
    ]


def test_a_missing_secret_falls_through_to_the_key_file(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file.write_text(f"PERPLEXITY_API_KEY={FILE_KEY}\n")
    fake_colab(monkeypatch, {})
    assert find_api_key().value == FILE_KEY


def test_no_secret_at_all_says_how_to_add_one(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_colab(monkeypatch, {})
    assert find_api_key() is None
    status = key_status()
    assert status.startswith("No API key is configured yet.")
    assert "add a secret named PERPLEXITY_API_KEY in the Secrets panel" in status
    assert "2. PERPLEXITY_API_KEY in Colab Secrets: not set. To use your key in Colab" in key_sources()


def test_a_secret_without_notebook_access_says_how_to_grant_it(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY}, denied=("PERPLEXITY_API_KEY",))
    assert find_api_key() is None
    assert "this notebook may not read it: turn on Notebook access" in key_status()
    assert FAKE_KEY not in key_status() + key_sources()


def test_any_other_colab_failure_is_no_key_and_no_crash(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_colab(monkeypatch, {})

    def broken(key: str) -> str:
        raise TimeoutError("no answer from the Colab frontend")

    monkeypatch.setattr(sys.modules["google.colab.userdata"], "get", broken)
    assert find_api_key() is None
    assert "Colab Secrets could not be read (TimeoutError)" in key_status()


def test_the_colab_key_sets_live_mode(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    monkeypatch.setenv("PERPLEXITY_MODE", "auto")
    settings = resolve_settings()
    assert settings.mode == "live" and settings.api_key.reveal() == FAKE_KEY


def test_an_explicit_environment_is_asked_without_colab(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``find_api_key({}, path)`` asks about that file only (the widget's "was there a key before?")."""
    asked = fake_colab(monkeypatch, {"PERPLEXITY_API_KEY": FAKE_KEY})
    assert find_api_key({}, key_file) is None
    assert asked == []


def test_outside_colab_there_is_no_colab_line(key_file: Path) -> None:
    assert importlib.util.find_spec("google.colab") is None if "google" in sys.modules else True
    assert "Colab" not in key_sources()
    assert len(key_sources().splitlines()) == 4


# --- the install cell -------------------------------------------------------------------


def run_install_cell(monkeypatch: pytest.MonkeyPatch, helpers_missing: bool) -> list[list[str]]:
    """Run the cell's source as Colab would, recording the commands it starts instead of running pip."""
    commands: list[list[str]] = []
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "helpers" and helpers_missing else real_find_spec(name, *args)

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(classroom.install_cell(), "<install cell>", "exec"), {})
    return commands


def test_the_install_cell_installs_the_package_from_the_repository_when_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands = run_install_cell(monkeypatch, helpers_missing=True)
    assert commands == [
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            f"perplexity-onboarding-notebooks[notebooks] @ git+{classroom.REPOSITORY_URL}@main",
        ]
    ]


def test_the_install_cell_does_nothing_where_the_package_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_install_cell(monkeypatch, helpers_missing=False) == []


def test_a_colab_link_opens_one_notebook_from_github() -> None:
    url = classroom.colab_url("02_authenticate.ipynb")
    owner_and_name = classroom.REPOSITORY_URL.removeprefix("https://github.com/")
    assert url == f"https://colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/02_authenticate.ipynb"
    assert classroom.colab_badge("02_authenticate.ipynb").startswith("[![Open In Colab](")


@pytest.mark.slow
def test_the_install_cell_really_installs_from_git_into_a_bare_python(tmp_path: Path) -> None:
    """As in Colab: a Python without the package runs the cell (pip from a git URL), then imports helpers.

    The repository is a local bare clone (``file://``) of this one as it is now, in place of GitHub.
    With no checkout around, the key file is the per-user one.
    """
    env = clean_environment(tmp_path / "home")
    env.pop("PERPLEXITY_ENV_FILE")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120, env=env)
    python, content = tmp_path / "venv" / "bin" / "python", tmp_path / "content"  # Colab's working folder
    # Colab's pip is recent; the pip a venv starts with may be too old for a file:// URL in a requirement.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], env=env, check=True, timeout=300)
    content.mkdir()
    cell = classroom.install_cell(repo=bare_repository(tmp_path / "git"))
    check = "import helpers, helpers.keys as k\nprint(helpers.__file__)\nprint(k.env_file_path())"
    shown = subprocess.run(
        [str(python), "-c", f"{cell}\n{check}"], cwd=content, env=env, capture_output=True, text=True, timeout=900
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    package, key_file = shown.stdout.splitlines()[-2:]
    assert Path(package).is_relative_to(tmp_path / "venv")
    assert key_file == str(tmp_path / "home" / ".config" / "perplexity-tutorial" / ".env")
    sdks = subprocess.run([str(python), "-c", "import openai, perplexity"], env=env, timeout=60, check=False)
    assert sdks.returncode == 0, "the [notebooks] extra brings the SDKs notebook 02 teaches"
