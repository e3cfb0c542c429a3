"""Shared fixtures. Every test runs against the sandbox, isolated from the developer's own key."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.recording import CLEARED_ENV
from helpers.sandbox import Sandbox

# Applied at import, before nbval starts any kernel, so notebooks inherit it too:
# a developer's real key or .env must never change a test result.
for _name in CLEARED_ENV:
    os.environ.pop(_name, None)
os.environ["PERPLEXITY_MODE"] = "sandbox"
_SESSION_KEY_DIR = tempfile.mkdtemp(prefix="pplx-test-")
os.environ["PERPLEXITY_ENV_FILE"] = str(Path(_SESSION_KEY_DIR) / ".env")

FAKE_KEY = "pplx-" + "t3st" * 12  # built at run time, so no key-shaped string sits in the source


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project folder whose .env is the key file for this test."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(tmp_path / ".env"))
    return tmp_path
