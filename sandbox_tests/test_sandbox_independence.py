"""The sandbox is its own package: it imports nothing from the tutorial's ``helpers``, even while serving."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "perplexity_sandbox"

SERVE_ONE_REQUEST = """
import json, sys, urllib.request
from perplexity_sandbox import Sandbox

with Sandbox() as sandbox:
    request = urllib.request.Request(
        sandbox.url_for("/v1/agent"),
        data=json.dumps({"model": "perplexity/sonar", "input": "What is an API key?"}).encode(),
        headers={"Authorization": "Bearer " + "pplx-" + "0" * 30, "Content-Type": "application/json"},
    )
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to loopback
    with no_proxy.open(request, timeout=10) as reply:
        status = reply.status
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_no_module_of_the_sandbox_imports_helpers() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n == "helpers" or n.startswith("helpers.")], path.name


def test_serving_a_request_loads_nothing_from_helpers() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_REQUEST], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == 200
    assert [m for m in outcome["modules"] if m == "helpers" or m.startswith("helpers.")] == []
    assert "perplexity_sandbox.server" in outcome["modules"]
