"""``helpers.setup_notebook()``, every notebook's first cell: friendly errors, log redaction, the local sandbox."""

from __future__ import annotations

import logging
import re
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import truststore
from IPython.core.interactiveshell import InteractiveShell

import helpers
import perplexity_sandbox
from helpers import errors, events, explain_response, keys, progress, setup_notebook
from helpers import settings as settings_module
from helpers.client import base_url_for, connect
from helpers.errors import TutorialError
from helpers.settings import SANDBOX_DEMO_KEY, resolve_settings, use_local_sandbox
from perplexity_sandbox import Sandbox
from tests.support import CLASS_GUIDE, FAKE_KEY, EchoServer, SilentServer, unused_url

NO_SANDBOX = (
    "No sandbox is running in this kernel: run the notebook's first cell (`helpers.setup_notebook()`), "
    "or set PERPLEXITY_BASE_URL to a running sandbox."
)


@pytest.fixture(autouse=True)
def no_registered_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no sandbox registered; whatever it registers is forgotten afterwards."""
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)


@pytest.fixture(autouse=True)
def ssl_left_as_found() -> Iterator[None]:
    """Setup puts truststore into ssl for the whole process: taken out again after each test here."""
    was_active = ssl.SSLContext is truststore.SSLContext
    yield
    if not was_active:
        truststore.extract_from_ssl()


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


def test_our_error_is_one_sentence_its_details_one_click_away_and_its_traceback_one_tb_away(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shown through IPython's public display: the sentence, the chain collapsed, and %tb for the traceback."""
    shell = InteractiveShell.instance()
    shown: list[dict[str, str]] = []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **options: shown.append(data))
    try:
        setup_notebook(quiet=True)
        shell.run_cell(
            "from helpers.errors import RateLimitError\nraise RateLimitError('Wait 1 second.', detail='HTTP 429')"
        )
        raised = sys.last_value
        shell.run_cell("%tb")
        traceback = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without its colours
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
    (output,) = shown
    assert output["text/plain"] == "\u26a0\ufe0f Wait 1 second.\n   (details: HTTP 429; run %tb for the full traceback)"
    assert "<details><summary>details</summary>" in output["text/html"] and "RateLimitError" in output["text/html"]
    assert type(raised) is errors.RateLimitError and raised.detail == "HTTP 429"  # the exception, unchanged
    assert "Traceback" in traceback and "raise RateLimitError(" in traceback and "RateLimitError: Wait 1" in traceback


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


# --- say it before it fails: the server is checked within 2 seconds ---------------------------------


def live_mode(monkeypatch: pytest.MonkeyPatch, base_url: str | None = None) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    if base_url:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", base_url)


def test_in_live_mode_an_api_that_does_not_answer_is_named_with_the_way_to_go_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = unused_url()
    live_mode(monkeypatch, url)
    settings = setup_notebook()
    described, warning = capsys.readouterr().out.strip().split("\n")
    assert described == settings.describe()
    assert warning.startswith(f"\u26a0\ufe0f Could not reach {url.removeprefix('http://')} (the connection was refused")
    assert "PERPLEXITY_BASE_URL" in warning and "set PERPLEXITY_MODE=sandbox to continue offline" in warning


def test_in_live_mode_a_name_that_does_not_resolve_is_said_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], off_machine_attempts: list[str]
) -> None:
    live_mode(monkeypatch)  # the API itself; the network guard answers its lookup as an offline computer would
    setup_notebook()
    shown = capsys.readouterr().out
    assert "Could not reach api.perplexity.ai (its name could not be resolved)" in shown
    assert off_machine_attempts == ["lookup api.perplexity.ai"] and FAKE_KEY not in shown


def test_a_server_that_never_answers_is_reported_within_two_seconds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with SilentServer() as silent:
        live_mode(monkeypatch, f"http://127.0.0.1:{silent.port}")
        started = time.monotonic()
        setup_notebook()
        took = time.monotonic() - started
    assert took < 2.0
    assert f"Could not reach 127.0.0.1:{silent.port} (it did not answer in time)" in capsys.readouterr().out


def test_the_check_carries_no_key_and_a_server_that_answers_gets_no_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with EchoServer() as echo:
        live_mode(monkeypatch, echo.url)
        settings = setup_notebook()
    assert capsys.readouterr().out.strip() == settings.describe()
    assert [(r["method"], r["path"]) for r in echo.requests] == [("GET", "/")]
    assert "Authorization" not in echo.requests[0]["headers"]


def test_quiet_setup_checks_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with EchoServer() as echo:
        live_mode(monkeypatch, echo.url)
        setup_notebook(quiet=True)
    assert echo.requests == [] and capsys.readouterr().out == ""


def test_a_class_sandbox_that_does_not_answer_is_said_to_be_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    url = unused_url()
    monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
    settings = setup_notebook()
    shown = capsys.readouterr().out.strip()
    assert settings.is_sandbox and "Requests go to" not in shown
    assert shown.startswith(f"\u26a0\ufe0f The class sandbox at {url} does not answer (the connection was refused")
    assert "ask your instructor" in shown and "unset PERPLEXITY_BASE_URL" in shown


def test_a_class_sandbox_that_answers_is_described_as_before(
    module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refuse_to_start_a_sandbox(monkeypatch)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", module_sandbox.url)
    settings = setup_notebook()
    assert capsys.readouterr().out.strip() == settings.describe()
    assert f"the sandbox at {module_sandbox.url}" in settings.describe()


def test_setup_subscribes_the_progress_reporter_in_a_class_sandbox_and_only_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The teaching core emits events; notebook setup decides, each time it runs, whether a class page hears them."""
    refuse_to_start_a_sandbox(monkeypatch)
    with Sandbox(classroom=True) as classroom, Sandbox() as plain:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", plain.url)
        setup_notebook(quiet=True)
        assert progress.report_event not in events.listeners()  # a sandbox, but not a class's
        monkeypatch.setenv("PERPLEXITY_BASE_URL", classroom.url)
        setup_notebook(quiet=True)
        assert events.listeners() == (progress.report_event,)
        monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "Ada")
        headers = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
        answer = requests.post(classroom.url_for("/v1/agent"), headers=headers, json=CLASS_GUIDE, timeout=5)
        explain_response(answer)
        assert [(row["learner"], row["steps"]) for row in classroom.roster.snapshot()] == [("Ada", ["answer"])]
        monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
        monkeypatch.setenv("PERPLEXITY_MODE", "live")
        monkeypatch.delenv("PERPLEXITY_BASE_URL")
        setup_notebook(quiet=True)  # the learner switched to live mode: nothing goes to the class page any more
        assert events.listeners() == ()


def test_a_class_sandbox_started_after_setup_still_gets_the_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The instructor may start the class sandbox after the learner ran the first cell: not asked yet is not 'no'."""
    refuse_to_start_a_sandbox(monkeypatch)
    url = unused_url()
    monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
    monkeypatch.setenv("PERPLEXITY_LEARNER_NAME", "Ada")
    setup_notebook(quiet=True)
    assert events.listeners() == (progress.report_event,)
    with Sandbox(port=int(url.rsplit(":", 1)[1]), classroom=True) as classroom:
        helpers.check_exercise("01.1", letter="B")
        assert [(row["learner"], row["steps"]) for row in classroom.roster.snapshot()] == [("Ada", ["exercise:01.1"])]


def test_the_error_handler_emits_the_sentence_shown_with_the_settings_it_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    heard: list[tuple[str, dict]] = []
    stop = events.subscribe(lambda kind, **facts: heard.append((kind, facts)))
    shell = InteractiveShell.instance()
    try:
        setup_notebook(quiet=True)
        shell.run_cell("from helpers.errors import TutorialError\nraise TutorialError('Run the first cell.')")
        shell.run_cell(f"import requests\nrequests.get('{unused_url()}', timeout=2)")
        shown = capsys.readouterr().out
    finally:
        stop()
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
    (tutorial_kind, tutorial), (network_kind, network) = heard
    assert (tutorial_kind, tutorial) == ("error", {"error": "Run the first cell.", "on_purpose": False})
    assert network_kind == "error" and network["error"] in shown and network["settings"] == resolve_settings()
    assert isinstance(network["exception"], requests.ConnectionError)
