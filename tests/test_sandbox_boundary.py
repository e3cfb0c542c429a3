"""The boundary between the tutorial's ``helpers`` and the ``perplexity_sandbox`` package.

The client and the widgets reach the sandbox over HTTP only; only notebook setup and the command-line
entry points start one. Importing ``helpers`` starts nothing and loads no notebook machinery.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import perplexity_sandbox
from helpers import cli, keys
from helpers.widgets.playground import DELAY_HEADER, FAULT_HEADER, SIMULATIONS
from perplexity_sandbox import Sandbox
from perplexity_sandbox import keys as sandbox_keys
from tests.support import FAKE_KEY, GUIDE_AGENT

ROOT = Path(__file__).resolve().parent.parent
# The modules of helpers that may start a sandbox: notebook setup and the command-line entry points, and the browser
# edition's part of notebook setup (browser.py, called by setup_notebook() only, mounts the in-process sandbox).
MAY_IMPORT_THE_SANDBOX = {"notebook.py", "cli.py", "doctor.py", "browser.py"}

IMPORT_HELPERS = """
import json, logging, sys
import helpers
from helpers import keys
print(json.dumps({"modules": sorted(sys.modules),
                  "log_factory_replaced": logging.getLogRecordFactory() is not logging.LogRecord,
                  "log_redaction": keys._log_redaction_installed}))
"""


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_importing_helpers_loads_no_sandbox_no_ipython_no_widgets_and_changes_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_HELPERS], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    for package in ("perplexity_sandbox", "IPython", "ipywidgets"):
        assert not [m for m in outcome["modules"] if m == package or m.startswith(package + ".")], package
    assert not outcome["log_factory_replaced"] and not outcome["log_redaction"]


def test_only_notebook_setup_and_the_entry_points_import_the_sandbox() -> None:
    importers = {
        path.relative_to(ROOT / "helpers").as_posix()
        for path in (ROOT / "helpers").rglob("*.py")
        if any(name.split(".")[0] == "perplexity_sandbox" for name in imported_modules(path))
    }
    assert importers <= MAY_IMPORT_THE_SANDBOX, importers
    assert not (ROOT / "helpers" / "sandbox").exists()


def test_the_playground_writes_the_sandboxs_documented_header_names() -> None:
    assert (FAULT_HEADER, DELAY_HEADER) == (perplexity_sandbox.FAULT_HEADER, perplexity_sandbox.DELAY_HEADER)
    staged = {headers[FAULT_HEADER] for headers, _ in SIMULATIONS.values() if FAULT_HEADER in headers}
    assert staged and staged <= set(perplexity_sandbox.FAULTS)


def test_client_and_sandbox_agree_on_the_key_format_without_sharing_code() -> None:
    # Two implementations of one public format: the values agree, the code is not shared.
    assert (sandbox_keys.KEY_PREFIX, sandbox_keys.MIN_KEY_LENGTH, sandbox_keys.MAX_KEY_LENGTH) == (
        keys.KEY_PREFIX,
        keys.MIN_KEY_LENGTH,
        keys.MAX_KEY_LENGTH,
    )
    assert sandbox_keys.mask(FAKE_KEY) == keys.mask_key(FAKE_KEY)
    assert sandbox_keys.scrub(f"key {FAKE_KEY}.") == keys.redact(f"key {FAKE_KEY}.")


@pytest.mark.parametrize("length", [20, 53, 200])
def test_a_key_the_client_accepts_is_one_the_sandbox_accepts(sandbox: Sandbox, length: int) -> None:
    key = keys.KEY_PREFIX + "a1B2-_" * 40
    key = key[:length]
    keys.validate_api_key(key)  # the client's rule: raises if not
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    assert reply.status_code == 200


def test_python_m_helpers_sandbox_is_an_alias_of_the_sandboxs_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import perplexity_sandbox.__main__ as sandbox_cli

    calls = []
    monkeypatch.setattr(sandbox_cli, "serve", lambda *args, **kwargs: calls.append((args, kwargs)) or 0)
    assert cli.main(["sandbox", "--port", "0", "--fault", "slow", "--rate-limit", "5", "--stream-delay", "0.1"]) == 0
    assert calls == [(("127.0.0.1", 0, "slow"), {"rate_limit": 5.0, "stream_delay": 0.1})]
    with pytest.raises(SystemExit) as stopped:
        cli.main(["sandbox", "--port", "70000"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "python -m helpers sandbox" in err and "70000 is not a port number" in err
