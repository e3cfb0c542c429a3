"""The transport-neutral core, called in-process as the browser edition will call it; and the package's own rules.

A request goes in as plain data, a response or a stream of events comes out: no socket, no event loop, no thread,
no tornado. The HTTP server is one caller of the same core (every other test in this folder goes through it).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tornado

import perplexity_sandbox
from perplexity_sandbox import api
from perplexity_sandbox.core import EventStream, HangUp, SandboxCore, SandboxRequest, SandboxResponse
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "perplexity_sandbox"
OTHER_KEY = "pplx-" + "0th3r" * 8


def post(path: str, body: object, headers: dict[str, str] | None = None) -> SandboxRequest:
    return SandboxRequest("POST", path, headers=AUTH if headers is None else headers, body=json.dumps(body).encode())


def test_the_core_answers_in_process_without_tornado_asyncio_or_threads() -> None:
    script = f"""
import json, sys, threading
from perplexity_sandbox.core import SandboxCore, SandboxRequest, SandboxResponse
request = SandboxRequest("POST", "/v1/agent", headers={{"authorization": "Bearer {FAKE_KEY}"}},
                         body=json.dumps({GUIDE_AGENT!r}).encode(), client="in-process")
answer = SandboxCore().handle(request)
assert isinstance(answer, SandboxResponse) and answer.status == 200, answer
assert json.loads(answer.body)["output"][-1]["content"][0]["text"]
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tornado", "asyncio", "socket"))
assert not loaded and threading.active_count() == 1, (loaded, threading.active_count())
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_streamed_answer_is_events_the_caller_paces() -> None:
    answer = SandboxCore(pace=0.04).handle(post("/v1/agent", {**GUIDE_AGENT, "stream": True}))
    assert isinstance(answer, EventStream) and answer.status == 200 and not answer.truncated
    paced = list(answer)
    assert [pause for pause, _ in paced] == [0.0] + [0.04] * (len(paced) - 1)
    types = [json.loads(event.split(b"data: ", 1)[1])["type"] for _, event in paced]
    assert types[0] == "response.created" and types[-1] == "response.completed"


def test_the_head_alone_decides_what_it_can() -> None:
    core = SandboxCore()
    assert core.admit(SandboxRequest("GET", "/nowhere")).early.status == 404
    assert core.admit(SandboxRequest("DELETE", "/v1/agent")).early.headers["Allow"] == "POST"
    assert core.admit(SandboxRequest("POST", "/v1/agent")).early.status == 401
    typed = {**AUTH, "content-type": "text/plain"}
    assert core.admit(SandboxRequest("POST", "/v1/agent", headers=typed)).early.status == 415
    admitted = core.admit(SandboxRequest("POST", "/v1/agent", headers=AUTH))
    assert admitted.early is None and admitted.key_id.startswith("key#") and FAKE_KEY not in admitted.key_id
    assert core.answer(admitted, json.dumps(GUIDE_AGENT).encode()).status == 200
    assert core.answer(admitted, b"{not json").status == 400


def test_faults_are_outcomes_the_caller_carries_out() -> None:
    core, body = SandboxCore(), GUIDE_AGENT

    def staged(fault: str, **extra: str) -> object:
        return core.handle(post("/v1/agent", body, {**AUTH, "X-Sandbox-Fault": fault, **extra}))

    assert staged("drop") == HangUp()
    slow = staged("slow", **{"X-Sandbox-Delay": "0.5"})
    assert isinstance(slow, SandboxResponse) and slow.status == 200 and slow.delay == 0.5
    assert staged("server_error").status == 500 and staged("unknown_fault").status == 400
    whole = core.handle(post("/v1/agent", {**body, "stream": True}))
    cut = core.handle(post("/v1/agent", {**body, "stream": True}, {**AUTH, "X-Sandbox-Fault": "truncate_stream"}))
    assert cut.truncated and len(cut.events) == len(whole.events) // 2
    assert not any(b"response.completed" in event for event in cut.events)


def test_stored_runs_belong_to_the_key_that_made_them() -> None:
    core = SandboxCore()
    made = json.loads(core.handle(post("/v1/agent", GUIDE_AGENT)).body)
    mine = core.handle(SandboxRequest("GET", f"/v1/agent/{made['id']}", headers=AUTH))
    theirs = core.handle(
        SandboxRequest("GET", f"/v1/agent/{made['id']}", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    )
    assert mine.status == 200 and json.loads(mine.body)["id"] == made["id"]
    assert theirs.status == 404


def test_a_bug_in_an_endpoint_is_a_500_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **options: object) -> None:
        raise RuntimeError("a bug in an endpoint")

    monkeypatch.setattr(api, "agent", broken)
    core = SandboxCore()
    answer = core.handle(post("/v1/agent", GUIDE_AGENT))
    assert answer.status == 500 and answer.closes and b"Traceback" not in answer.body
    assert [str(error) for error in core.errors] == ["a bug in an endpoint"]


# --- the package's own rules ------------------------------------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _tornado_private_names() -> set[str]:
    """Single-underscore names tornado defines: in its modules, its classes, and on ``self`` in its methods."""
    names: set[str] = set()
    for path in Path(tornado.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {name for name in names if _private(name)}


def _tornado_uses(tree: ast.Module, private: set[str]) -> set[str]:
    """The private names of tornado a module of the sandbox imports, reaches, or uses inside a tornado subclass."""
    from_tornado = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tornado")
        for alias in node.names
    }
    found = {name for name in from_tornado if _private(name)}
    subclasses = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base).split(".")[0] in from_tornado for base in node.bases)
    ]
    for node in ast.walk(tree):  # reached on something else than the module's own objects
        if isinstance(node, ast.Attribute) and node.attr in private and ast.unparse(node.value) not in ("self", "cls"):
            found.add(node.attr)
    for cls in subclasses:  # inside a subclass, its own private names must not be tornado's (no override, no reach)
        for node in ast.walk(cls):
            name = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else getattr(node, "attr", "")
            if name in private:
                found.add(name)
    return found


# Documented by the logging HOWTO ("Optimization") as the way to skip the caller's file and line.
DOCUMENTED_PRIVATE = {"_srcfile"}


def test_the_sandbox_uses_no_private_name_of_tornado() -> None:
    private = _tornado_private_names()
    # The check can see what the sandbox used before: three methods it overrode and one attribute it set.
    assert {"_parse_headers", "_read_body", "_server_request_loop", "_disconnect_on_finish"} <= private
    found = {
        (path.name, name)
        for path in PACKAGE.glob("*.py")
        for name in _tornado_uses(ast.parse(path.read_text(encoding="utf-8")), private)
        if name not in DOCUMENTED_PRIVATE
    }
    assert not found, f"tornado's private names used (or overridden) in the sandbox: {sorted(found)}"


def test_no_class_of_the_sandbox_is_over_200_lines() -> None:
    sizes = {
        f"{path.name}:{node.name}": node.end_lineno - node.lineno + 1
        for path in PACKAGE.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }
    assert sizes and max(sizes.values()) <= 200, {name: size for name, size in sizes.items() if size > 200}


def test_the_package_imports_its_server_only_when_asked() -> None:
    assert "Sandbox" in perplexity_sandbox.__all__ and perplexity_sandbox.Sandbox.__name__ == "Sandbox"
    with pytest.raises(AttributeError):
        perplexity_sandbox.no_such_name  # noqa: B018
