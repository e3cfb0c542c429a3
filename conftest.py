"""Isolation for every pytest run in this project, including `pytest --nbval notebooks` alone.

Applied at import, before nbval starts any kernel, so notebook kernels inherit it too:
a developer's real key, .env or base URL must never change a test result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

from helpers.recording import CLEARED_ENV, RERECORD_ADVICE

try:
    from nbval.plugin import NbCellError
except ImportError:  # nbval is a test tool (requirements-dev.txt): without it no notebook is compared
    NbCellError = None

# nbval's messages for a cell whose committed outputs are not what a fresh run gives: recording fixes both.
OUTPUTS_CHANGED = ("Cell outputs differ", "Unrun reference cell has outputs")

for _name in CLEARED_ENV:
    os.environ.pop(_name, None)
os.environ["PERPLEXITY_MODE"] = "sandbox"
_SESSION_KEY_DIR = tempfile.mkdtemp(prefix="pplx-test-")
os.environ["PERPLEXITY_ENV_FILE"] = str(Path(_SESSION_KEY_DIR) / ".env")


def pytest_unconfigure(config: object) -> None:
    shutil.rmtree(_SESSION_KEY_DIR, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """An nbval failure because outputs changed says what to do, in one sentence under the comparison."""
    report = yield
    if report.failed and call.excinfo is not None and outputs_changed(call.excinfo.value):
        report.sections.append(("what to do", RERECORD_ADVICE))
    return report


def outputs_changed(error: BaseException) -> bool:
    """Whether nbval failed a cell because its outputs are not the committed ones (not because it raised)."""
    return NbCellError is not None and isinstance(error, NbCellError) and str(error) in OUTPUTS_CHANGED
