"""Fixtures of the sandbox's own tests. Isolation from the developer's key is the root conftest.py's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from perplexity_sandbox import Sandbox
from tests.network_guard import loopback_only


@pytest.fixture(autouse=True)
def off_machine_attempts() -> Iterator[list[str]]:
    """Every test runs with connections limited to this computer; the list records refused attempts."""
    with loopback_only() as attempts:
        yield attempts


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server
