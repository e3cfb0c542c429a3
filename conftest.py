"""Isolation for every pytest run in this project, including `pytest --nbval notebooks` alone.

Applied at import, before nbval starts any kernel, so notebook kernels inherit it too:
a developer's real key, .env or base URL must never change a test result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from helpers.recording import CLEARED_ENV

for _name in CLEARED_ENV:
    os.environ.pop(_name, None)
os.environ["PERPLEXITY_MODE"] = "sandbox"
_SESSION_KEY_DIR = tempfile.mkdtemp(prefix="pplx-test-")
os.environ["PERPLEXITY_ENV_FILE"] = str(Path(_SESSION_KEY_DIR) / ".env")


def pytest_unconfigure(config: object) -> None:
    shutil.rmtree(_SESSION_KEY_DIR, ignore_errors=True)
