"""Shared fixtures. Isolation from the developer's own key is set up by the root conftest.py."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import events
from helpers import settings as settings_module
from helpers.client import PerplexityClient
from perplexity_sandbox import Sandbox
from tests.network_guard import loopback_only
from tests.support import fast_client


@pytest.fixture(autouse=True)
def off_machine_attempts() -> Iterator[list[str]]:
    """Every test runs with connections limited to this computer; the list records refused attempts."""
    with loopback_only() as attempts:
        yield attempts


@pytest.fixture(autouse=True)
def process_left_as_found() -> Iterator[None]:
    """Undo what a test's ``setup_notebook()`` or widgets leave in the process, so no test sees another's.

    truststore's injection into :mod:`ssl` is process-wide, and every live widget is in the state
    Jupyter would save: a key a test typed into one must not show up in the next test's checks. The
    environment too: saving a display name sets ``PERPLEXITY_LEARNER_NAME`` for the kernel, as it should.
    And the session's key file (root conftest.py), which the notebooks under nbval read after every test.
    """
    ssl_context, environment, listeners = ssl.SSLContext, dict(os.environ), events.listeners()
    session_key_file = Path(os.environ["PERPLEXITY_ENV_FILE"])
    key_file_bytes = session_key_file.read_bytes() if session_key_file.is_file() else None
    yield
    if (session_key_file.read_bytes() if session_key_file.is_file() else None) != key_file_bytes:
        if key_file_bytes is None:
            session_key_file.unlink()
        else:
            session_key_file.write_bytes(key_file_bytes)
    for listener in set(events.listeners()) - set(listeners):  # notebook setup's progress reporter, for one
        events.unsubscribe(listener)
    if os.environ != environment:
        os.environ.clear()
        os.environ.update(environment)
    if ssl.SSLContext is not ssl_context:
        import truststore

        truststore.extract_from_ssl()
    if "ipywidgets" in sys.modules:
        sys.modules["ipywidgets"].Widget.close_all()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def class_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A class sandbox (``--class``) that this test's settings point at, as a class hub's environment does."""
    with Sandbox(classroom=True) as sandbox:
        monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        yield sandbox


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole module: faults are chosen per request, so tests do not share state."""
    with Sandbox() as server:
        yield server


@pytest.fixture
def local_sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The module's sandbox, registered as notebook setup registers its own; forgotten after the test."""
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)  # restores the registry afterwards
    settings_module.use_local_sandbox(module_sandbox.url)
    return module_sandbox


@pytest.fixture
def sandbox_client(module_sandbox: Sandbox) -> Iterator[PerplexityClient]:
    """A client of the module's sandbox whose retries take milliseconds."""

    with fast_client(module_sandbox.url) as client:
        yield client


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project folder whose .env is the key file for this test."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(tmp_path / ".env"))
    return tmp_path
