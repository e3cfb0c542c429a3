"""The mode rule: key -> live, no key -> sandbox, explicit overrides, PERPLEXITY_BASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.client import PerplexityClient, check_transport
from helpers.errors import AuthenticationError, TransportSecurityError, TutorialError
from helpers.settings import DEFAULT_BASE_URL, SANDBOX_DEMO_KEY, resolve_settings
from tests.support import FAKE_KEY

NO_FILE = Path("/nonexistent/.env")


def test_no_key_means_sandbox_with_the_demo_key() -> None:
    settings = resolve_settings({}, NO_FILE)
    assert settings.is_sandbox and settings.base_url is None
    assert settings.api_key.reveal() == SANDBOX_DEMO_KEY
    assert "sandbox" in settings.describe()


def test_key_means_live() -> None:
    settings = resolve_settings({"PERPLEXITY_API_KEY": FAKE_KEY}, NO_FILE)
    assert settings.mode == "live" and settings.base_url == DEFAULT_BASE_URL
    assert FAKE_KEY not in settings.describe() and FAKE_KEY not in repr(settings)


def test_sandbox_can_be_forced_even_with_a_key_and_then_carries_the_demo_key() -> None:
    settings = resolve_settings({"PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_MODE": "sandbox"}, NO_FILE)
    assert settings.is_sandbox and settings.api_key.reveal() == SANDBOX_DEMO_KEY
    assert settings.key is not None and settings.key.value == FAKE_KEY  # still found: notebook 01 reports it


def test_live_without_key_is_a_clear_error() -> None:
    with pytest.raises(AuthenticationError, match="needs an API key"):
        resolve_settings({"PERPLEXITY_MODE": "live"}, NO_FILE)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(TutorialError, match="must be one of"):
        resolve_settings({"PERPLEXITY_MODE": "offline"}, NO_FILE)


def test_base_url_is_honoured_in_both_modes() -> None:
    live = resolve_settings({"PERPLEXITY_API_KEY": FAKE_KEY, "PERPLEXITY_BASE_URL": "https://proxy.example/"}, NO_FILE)
    assert live.base_url == "https://proxy.example"
    shared = resolve_settings({"PERPLEXITY_BASE_URL": "http://127.0.0.1:8000"}, NO_FILE)
    assert shared.is_sandbox and shared.base_url == "http://127.0.0.1:8000"


def test_a_sandbox_on_another_computer_never_gets_the_learners_key() -> None:
    environ = {
        "PERPLEXITY_API_KEY": FAKE_KEY,
        "PERPLEXITY_MODE": "sandbox",
        "PERPLEXITY_BASE_URL": "http://192.0.2.10:8000",
    }  # TEST-NET-1: documentation only, never contacted
    settings = resolve_settings(environ, NO_FILE)
    assert settings.is_sandbox and settings.api_key.reveal() == SANDBOX_DEMO_KEY
    assert "demo key" in settings.describe()


def test_only_the_demo_key_may_travel_over_plain_http_to_another_computer() -> None:
    check_transport("http://192.0.2.10:8000", SANDBOX_DEMO_KEY)
    with pytest.raises(TransportSecurityError):
        check_transport("http://192.0.2.10:8000", FAKE_KEY)
    client = PerplexityClient(SANDBOX_DEMO_KEY, "http://192.0.2.10:8000")  # constructing sends nothing
    assert client.base_url == "http://192.0.2.10:8000"
    with pytest.raises(TransportSecurityError):
        PerplexityClient(FAKE_KEY, "http://192.0.2.10:8000")
