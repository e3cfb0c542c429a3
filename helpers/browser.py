"""The browser edition (JupyterLite: Python in WebAssembly, in a browser tab): what notebook setup adds there only.

:func:`helpers.setup_notebook` calls :func:`prepare_browser` when ``sys.platform == "emscripten"``. A browser tab
can listen on no socket, so the sandbox answers in this process: requests to :data:`SANDBOX_URL` go to the
sandbox's in-process adapter (:class:`perplexity_sandbox.inprocess.InProcessAdapter`), and the taught
``requests.post(...)`` cell runs unchanged. The edition is sandbox-only: no key is asked for, sent or kept (the
browser's storage is no place for a key), the key box practises on a file in memory, and the cells that need an SDK
(``perplexityai``, ``openai``: their compiled parts have no WebAssembly wheel) say in one sentence that they run in
the full edition, and are skipped.
"""

from __future__ import annotations

import ast
import os

import requests

from helpers.classroom import REPOSITORY_URL
from helpers.keys import ENV_FILE_VARIABLE, practice_key_file
from helpers.settings import BASE_URL_VARIABLE, MODE_VARIABLE, use_local_sandbox
from perplexity_sandbox.core import NOTEBOOK_STREAM_DELAY
from perplexity_sandbox.inprocess import InProcessAdapter

# Where the in-process sandbox answers: an address on this computer, as every local sandbox's is, on which nothing
# in a browser tab can listen; requests to it never leave the kernel.
SANDBOX_URL = "http://127.0.0.1:5170"
FULL_EDITION_URL = REPOSITORY_URL + "#start"  # README's "Start": Python on your computer, Binder or Colab
# The SDKs' import names, and the package each is installed as.
SDK_PACKAGES = {"perplexity": "perplexityai", "openai": "openai"}
# What the full edition installs and this one cannot: the sandbox's HTTP server, and the SDKs (compiled parts).
NOT_IN_BROWSER = frozenset({"tornado", *SDK_PACKAGES.values()})

_adapter: InProcessAdapter | None = None  # one sandbox per kernel: its stored runs outlive each request
_names_from_sdk: dict[str, str] = {}  # a name that a skipped cell would have set: the SDK it needed


def prepare_browser() -> None:
    """Sandbox mode with the in-process sandbox, a key file in memory, and the SDK cells skipped. Idempotent."""
    os.environ[MODE_VARIABLE] = "sandbox"  # even a key typed into the practice box is never sent
    os.environ.pop(BASE_URL_VARIABLE, None)  # a class sandbox refuses a browser page's cross-origin posts
    if not os.environ.get(ENV_FILE_VARIABLE):
        os.environ[ENV_FILE_VARIABLE] = str(practice_key_file())  # Pyodide's /tmp: memory, gone with the tab
    mount_in_process_sandbox()
    use_local_sandbox(SANDBOX_URL)
    _skip_sdk_cells()


def mount_in_process_sandbox() -> None:
    """Every ``requests`` session made from now on sends requests for :data:`SANDBOX_URL` to the in-process sandbox.

    ``Session.mount`` is requests' public way to give a URL prefix its own adapter, but ``requests.post`` makes a
    new session for each call. So the session class that ``requests.post`` and the helpers instantiate (looked up
    at call time as ``requests.sessions.Session`` and ``requests.Session``) becomes a subclass whose ``__init__``
    adds that one mount. This is safe: it is a subclass, so every method and ``isinstance`` check is unchanged;
    the longest mounted prefix wins, so every other URL keeps requests' own adapter (a session that mounts its own
    ``http://`` adapter later does not displace it); it happens only in the browser, where nothing can listen on
    that address; and a second call changes nothing.
    """
    global _adapter
    if _adapter is None:
        _adapter = InProcessAdapter(pace=NOTEBOOK_STREAM_DELAY)  # the pace of the sandbox a kernel starts elsewhere
    if issubclass(requests.sessions.Session, _InProcessSandboxSession):
        return

    class SandboxSession(_InProcessSandboxSession, requests.sessions.Session):
        pass

    requests.sessions.Session = requests.Session = SandboxSession


class _InProcessSandboxSession(requests.Session):
    """A session whose requests to :data:`SANDBOX_URL` go to the kernel's one in-process sandbox."""

    def __init__(self) -> None:
        super().__init__()
        self.mount(SANDBOX_URL + "/", _adapter)


def _skip_sdk_cells() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and skip_sdk_cell not in shell.input_transformers_post:
        # IPython's documented hook for rewriting a cell before it runs: the cell's text stays as it is.
        shell.input_transformers_post.append(skip_sdk_cell)


def skip_sdk_cell(lines: list[str]) -> list[str]:
    """A cell that imports an SDK, or uses a name only such a cell sets, becomes one sentence saying so."""
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return lines  # IPython shows the error as usual
    needed = _sdk_needed(tree)
    assigned = _assigned_names(tree)
    if needed is None:
        for name in assigned:  # set again without an SDK: usable from now on
            _names_from_sdk.pop(name, None)
        return lines
    _names_from_sdk.update(dict.fromkeys(assigned, needed))
    sentence = (
        f"This cell needs the {needed} SDK, which runs in the full edition (Python on your computer, Binder or "
        f"Colab: {FULL_EDITION_URL}); the browser edition skips it."
    )
    return [f"print({sentence!r})\n"]


def _sdk_needed(tree: ast.AST) -> str | None:
    """The SDK package a cell needs (by its imports, or a name a skipped cell would have set), or None."""
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in _names_from_sdk:
            return _names_from_sdk[node.id]
        for module in modules:
            if module.split(".")[0] in SDK_PACKAGES:
                return SDK_PACKAGES[module.split(".")[0]]
    return None


def _assigned_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names
