"""``helpers.setup_notebook()``, every notebook's first cell: friendly errors, log redaction, the local sandbox."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests
from IPython.core.interactiveshell import InteractiveShell

import perplexity_sandbox
from helpers import keys, setup_notebook
from helpers import settings as settings_module
from helpers.client import base_url_for, connect
from helpers.errors import TutorialError
from helpers.settings import resolve_settings, use_local_sandbox
from tests.support import FAKE_KEY

NO_SANDBOX = (
    "No sandbox is running in this kernel: run the notebook's first cell (`helpers.setup_notebook()`), "
    "or set PERPLEXITY_BASE_URL to a running sandbox."
)


@pytest.fixture(autouse=True)
def no_registered_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no sandbox registered; whatever it registers is forgotten afterwards."""
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)


def refuse_to_start_a_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("setup_notebook started a sandbox it does not need")

    monkeypatch.setattr(perplexity_sandbox, "shared_sandbox", fail)


def test_in_sandbox_mode_it_starts_and_registers_the_kernels_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    settings = setup_notebook()
    shared = perplexity_sandbox.shared_sandbox()
    assert settings.is_sandbox and settings.local_sandbox and settings.base_url == shared.url
    assert shared.is_running and shared.stream_delay == perplexity_sandbox.NOTEBOOK_STREAM_DELAY
    assert capsys.readouterr().out.strip() == settings.describe()
    assert "the built-in sandbox on this computer" in settings.describe()
    assert resolve_settings().base_url == shared.url  # what connect() and the widgets now read
    client = connect(quiet=True)
    assert client.base_url == shared.url and "perplexity/sonar" in client.list_models()
    assert requests.get(shared.url_for("/v1/models"), timeout=5).ok


def test_a_second_call_reuses_the_same_sandbox_and_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    first = setup_notebook(quiet=True)
    second = setup_notebook(quiet=True)
    assert first.base_url == second.base_url == perplexity_sandbox.shared_sandbox().url
    assert capsys.readouterr().out == ""


def test_in_live_mode_it_starts_no_sandbox(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    settings = setup_notebook()
    assert settings.mode == "live" and settings.base_url == "https://api.perplexity.ai"
    assert settings_module.local_sandbox_url is None
    shown = capsys.readouterr().out
    assert shown.startswith("Mode: live.") and FAKE_KEY not in shown


def test_with_a_shared_sandbox_url_it_starts_none(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", "http://127.0.0.1:8000")
    settings = setup_notebook(quiet=True)
    assert settings.is_sandbox and settings.base_url == "http://127.0.0.1:8000" and not settings.local_sandbox
    assert "the sandbox at http://127.0.0.1:8000" in settings.describe()


def test_it_installs_log_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    setup_notebook(quiet=True)
    assert keys._log_redaction_installed
    record = logging.getLogger("tests.setup").makeRecord(
        "tests.setup", logging.INFO, __file__, 1, "key %s", (FAKE_KEY,), None
    )
    assert FAKE_KEY not in record.getMessage()


def test_in_a_notebook_our_errors_become_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    try:
        setup_notebook(quiet=True)
        shell.run_cell("from helpers.errors import TutorialError\nraise TutorialError('Run the first cell.')")
        shown = capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
    assert "Run the first cell." in shown and "Traceback" not in shown


def test_without_setup_no_sandbox_is_started_and_the_sentence_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    settings = resolve_settings({}, Path("/nonexistent/.env"))
    assert settings.is_sandbox and settings.base_url is None
    with pytest.raises(TutorialError) as caught:
        base_url_for(settings)
    assert str(caught.value) == NO_SANDBOX
    with pytest.raises(TutorialError, match="No sandbox is running in this kernel"):
        connect(quiet=True)


def test_only_a_sandbox_on_this_computer_can_be_registered() -> None:
    with pytest.raises(TutorialError):
        use_local_sandbox("http://192.0.2.10:8000")  # TEST-NET-1: documentation only, never contacted
    use_local_sandbox("http://127.0.0.1:8000/")
    assert resolve_settings({}, Path("/nonexistent/.env")).base_url == "http://127.0.0.1:8000"
    use_local_sandbox(None)
    assert resolve_settings({}, Path("/nonexistent/.env")).base_url is None
