"""Notebook setup: :func:`setup_notebook` is every notebook's first cell.

It shows our own errors as one clear sentence instead of a traceback wall, and so a failure to reach
a server in the learner's own cells (requests, urllib3, httpx, either SDK): the cell then counts as
run, so Run All goes on to the playground, and ``%tb`` shows the full traceback. It keeps keys out of
log output and out of anything printed (``sys.stdout`` and ``sys.stderr`` pass through
:func:`~helpers.masking.redact`, so ``http.client.HTTPConnection.debuglevel = 1`` shows ``pplx-...``
in the headers it prints), makes HTTPS trust the operating system's certificate store (truststore,
as pip does: a TLS-inspecting corporate proxy's root is there), says at once when the server does
not answer, and, in sandbox mode, starts the local sandbox the notebook talks to over HTTP. With a
class sandbox, it subscribes the progress reporter to the events the helpers emit (:mod:`helpers.events`).
Importing ``helpers`` does none of this: only this call (or a command-line entry point) changes the process.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
from html import escape
from typing import Any

from helpers import events
from helpers.client import reachability_problem
from helpers.errors import TutorialError, chain_summary, describe_failure, describe_network_failure
from helpers.keys import find_api_key, install_log_redaction
from helpers.masking import redact, redact_standard_streams
from helpers.progress import follow_class_sandbox, remote_sandbox
from helpers.settings import Settings, resolve_settings, use_local_sandbox
from helpers.trust import use_system_store

SANDBOX_PORT_VARIABLE = "PERPLEXITY_SANDBOX_PORT"


def setup_notebook(*, quiet: bool = False) -> Settings:
    """Prepare this kernel for the tutorial and return its settings; prints where requests go unless ``quiet``.

    Installs the friendly errors, the log redaction, the output redaction and the operating system's
    certificate store (each once: running the cell again changes nothing); then, in sandbox mode
    without ``PERPLEXITY_BASE_URL``, starts this kernel's sandbox (once; it streams at a readable pace)
    and registers its URL, so that :func:`helpers.connect` and the widgets send requests there.
    With a class sandbox (and only then), the steps and errors of this kernel go to its page
    (:func:`~helpers.progress.follow_class_sandbox`).
    Unless ``quiet``, it checks within 2 seconds that any other server (the API, a class sandbox)
    answers, and says so before the first request fails.
    """
    if sys.platform == "emscripten":  # the browser edition (JupyterLite): sandbox-only, its sandbox in-process
        from helpers.browser import prepare_browser

        prepare_browser()
    install_friendly_errors()
    install_log_redaction()
    install_output_redaction()
    use_system_store()  # here, never on import: the learner's own requests and both SDKs trust it too
    settings = resolve_settings()
    if settings.is_sandbox and settings.base_url is None:
        from perplexity_sandbox import shared_sandbox  # only notebook setup starts a sandbox

        use_local_sandbox(shared_sandbox(_sandbox_port()).url)
        settings = resolve_settings()
    follow_class_sandbox(settings)
    if not quiet:
        print(where_requests_go(settings))
    return settings


def where_requests_go(settings: Settings) -> str:
    """:meth:`Settings.describe`, checked: a server that does not answer now is named before a request fails.

    The sandbox this kernel started needs no check. A class sandbox that does not answer is said to be
    down, instead of the promise that requests go there; in live mode the sentence says how to go on offline.
    """
    if settings.base_url is None or settings.local_sandbox:
        return settings.describe()
    if settings.is_sandbox:
        problem = reachability_problem(settings.base_url, sandbox_url=settings.base_url)
        return f"\u26a0\ufe0f {problem}" if problem else settings.describe()
    problem = reachability_problem(settings.base_url)
    return settings.describe() + (f"\n\u26a0\ufe0f {problem}" if problem else "")


def install_output_redaction() -> None:
    """Mask keys in whatever this process prints: key-shaped words, and the configured key whatever its shape.

    Libraries print requests when asked to (http.client's debug level), and no log redaction sees
    print(). The configured key is read once, here: a key saved later with the widget is always
    key-shaped, and so masked too.
    """
    redact_standard_streams(configured_key())


def configured_key() -> tuple[str, ...]:
    """The configured key, for output to mask: none when the key file cannot be read (reported elsewhere).

    Key-shaped words are masked either way.
    """
    with contextlib.suppress(OSError):
        found = find_api_key()
        return (found.value,) if found else ()
    return ()


def _sandbox_port() -> int:
    """``PERPLEXITY_SANDBOX_PORT`` (to pin the sandbox's port, e.g. behind a firewall), else 0: any free port."""
    text = os.environ.get(SANDBOX_PORT_VARIABLE, "").strip() or "0"
    if not text.isdigit() or int(text) > 65535:
        raise TutorialError(f"{SANDBOX_PORT_VARIABLE} is '{text}', but it must be a port number (0 to 65535).")
    return int(text)


def practice_url() -> str:
    """The URL of this kernel's own sandbox, started if needed (also in live mode): the exercises test against it."""
    if sys.platform == "emscripten":  # the browser edition: its sandbox, in-process, is the one setup registers
        return setup_notebook(quiet=True).base_url
    from perplexity_sandbox import shared_sandbox  # only notebook setup starts a sandbox

    return shared_sandbox(_sandbox_port()).url


# What the handler remembers between the cells of this kernel.
_running_cell = ""  # the source of the cell running now (IPython's pre_run_cell event)
_unset_names: set[str] = set()  # names that a cell which failed to reach its server never set
_shown_as_sentence: BaseException | None = None  # the failure of the running cell, shown as a sentence


def install_friendly_errors() -> bool:
    """In IPython, show a :class:`TutorialError`, and a failure to reach a server, as one sentence.

    Returns whether a notebook shell was found. Outside IPython it does nothing.

    Either is shown as its sentence (:func:`failure_output`), with the details one click away and the
    full traceback one ``%tb`` away; the exception itself is unchanged for code that catches it. After
    a failure to reach a server (:func:`~helpers.errors.describe_network_failure`) the cell counts as
    run, so that Run All goes on (the playground still appears), and a later cell that uses a name the
    failed cell never set says why, instead of a NameError. Any other exception shows IPython's own traceback.
    """
    from IPython import get_ipython  # ipywidgets' own dependency: always there

    shell = get_ipython()
    if shell is None:
        return False
    # Every exception comes here, to be passed on when it is not ours: the SDKs' classes cannot be named
    # in advance without importing both SDKs (more than a second) in every first cell, and a cell may
    # import an SDK and fail in the same run. Classes are looked up only in modules already imported.
    shell.set_custom_exc((Exception,), _show_friendly_error)
    for event, callback in (("pre_run_cell", _remember_cell), ("post_run_cell", _count_as_run)):
        if callback not in shell.events.callbacks[event]:
            shell.events.register(event, callback)
    return True


def _show_friendly_error(shell: Any, etype: type, error: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
    """IPython's custom exception handler (``set_custom_exc``): the sentence, displayed here, or IPython's traceback.

    When IPython runs a cell it shows nothing of what the handler returns, so the handler shows the
    sentence itself, through IPython's public display and ``showtraceback``.
    """
    global _shown_as_sentence
    if isinstance(error, TutorialError):
        sentence, detail = describe_failure(error)
        events.emit(events.ERROR, error=str(error), on_purpose=False)  # a class sandbox's page shows the last error
    else:
        try:  # once: for the sentence, and for whoever listens to the error
            settings = resolve_settings()
        except (TutorialError, OSError):  # the failure being shown may be why they cannot be read
            settings = None
        sentence, detail = _sentence_for_failure(shell, error, settings), ""
        if sentence is None:  # not ours: IPython's own traceback, as without this handler
            shell.showtraceback((etype, error, tb), tb_offset=tb_offset, running_compiled_code=True)
            return []
        _shown_as_sentence = error
        _unset_names.update(name for name in _names_set_by(shell, _running_cell) if name not in shell.user_ns)
        # One raised by a request with a fault header is on purpose: the listener tells from the exception.
        events.emit(events.ERROR, error=sentence, exception=error, settings=settings)
    # What %tb shows: IPython reads the last exception from here (as it does after any traceback).
    sys.last_type, sys.last_value, sys.last_traceback = etype, error, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = error
    from IPython.display import display

    display(failure_output(sentence, error, detail), raw=True)
    return []


def _sentence_for_failure(shell: Any, error: BaseException, settings: Settings | None) -> str | None:
    """The sentence for a failure to reach a server, or for a name such a failure left unset; else None."""
    sentence = describe_network_failure(error, sandbox_url=remote_sandbox(settings))
    if sentence is None and isinstance(error, NameError) and error.name in _unset_names:
        sentence = (
            f"`{error.name}` was never set, because an earlier cell could not reach its server (see the message "
            "under it): once that works, run the notebook again from the top."
        )
    return sentence


def failure_output(sentence: str, error: BaseException, detail: str = "") -> dict[str, str]:
    """What a cell shows for a failure: the sentence, and the details one click away.

    The plain text (a terminal, a saved notebook read as text) is the sentence and one line of detail:
    ``detail`` when given (a :class:`TutorialError`'s own), else the innermost cause. Both pass through
    :func:`~helpers.masking.redact` with the key this kernel knows.
    """
    secrets = getattr(sys.stdout, "secrets", ())  # the configured key, when notebook setup wrapped the stream
    sentence, chain = redact(sentence, secrets), redact(chain_summary(error), secrets)
    cause = redact(detail, secrets) or (chain.splitlines()[-1] if chain else type(error).__name__)
    html = (
        f"<div class='pplx-failure'>\u26a0\ufe0f {escape(sentence)}<details><summary>details</summary>"
        f"<pre>{escape(chain)}</pre><p>Run <code>%tb</code> in a cell for the full traceback.</p></details></div>"
    )
    plain = f"\u26a0\ufe0f {sentence}\n   (details: {cause}; run %tb for the full traceback)"
    return {"text/plain": plain, "text/html": html}


def _names_set_by(shell: Any, source: str) -> set[str]:
    """The names a cell's code assigns, imports or defines (its magics turned into Python first)."""
    try:
        tree = ast.parse(shell.transform_cell(source))
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _remember_cell(info: Any) -> None:
    global _running_cell
    _running_cell = getattr(info, "raw_cell", "") or ""


def _count_as_run(result: Any) -> None:
    """A cell whose failure to reach a server was shown as a sentence counts as run, so that Run All goes on.

    The kernel answers "error" (and Run All stops) when the cell's result holds an exception; this
    event comes just before that answer is made. The exception object itself is not changed.
    """
    global _shown_as_sentence
    if result is not None and _shown_as_sentence is not None and result.error_in_exec is _shown_as_sentence:
        result.error_in_exec = None
    _shown_as_sentence = None
