"""Notebook setup: :func:`setup_notebook` is every notebook's first cell.

It shows our own errors as one clear sentence instead of a traceback wall, keeps keys out of log
output and out of anything printed (``sys.stdout`` and ``sys.stderr`` pass through
:func:`~helpers.masking.redact`, so ``http.client.HTTPConnection.debuglevel = 1`` shows ``pplx-...``
in the headers it prints), and, in sandbox mode, starts the local sandbox the notebook talks to
over HTTP. Importing ``helpers`` does none of this: only this call (or a command-line entry point)
changes the process.
"""

from __future__ import annotations

import os

from helpers.errors import TutorialError, describe_failure
from helpers.keys import find_api_key, install_log_redaction
from helpers.masking import redact_standard_streams
from helpers.progress import report_progress
from helpers.settings import Settings, resolve_settings, use_local_sandbox

SANDBOX_PORT_VARIABLE = "PERPLEXITY_SANDBOX_PORT"


def setup_notebook(*, quiet: bool = False) -> Settings:
    """Prepare this kernel for the tutorial and return its settings; prints where requests go unless ``quiet``.

    Installs the friendly errors, the log redaction and the output redaction (each once: running
    the cell again changes nothing); then, in sandbox mode without ``PERPLEXITY_BASE_URL``, starts
    this kernel's sandbox (once; it streams at a readable pace) and registers its URL, so that
    :func:`helpers.connect` and the widgets send requests there.
    """
    install_friendly_errors()
    install_log_redaction()
    install_output_redaction()
    settings = resolve_settings()
    if settings.is_sandbox and settings.base_url is None:
        from perplexity_sandbox import shared_sandbox  # only notebook setup starts a sandbox

        use_local_sandbox(shared_sandbox(_sandbox_port()).url)
        settings = resolve_settings()
    if not quiet:
        print(settings.describe())
    return settings


def install_output_redaction() -> None:
    """Mask keys in whatever this process prints: key-shaped words, and the configured key whatever its shape.

    Libraries print requests when asked to (http.client's debug level), and no log redaction sees
    print(). The configured key is read once, here: a key saved later with the widget is always
    key-shaped, and so masked too.
    """
    try:
        found = find_api_key()
    except OSError:  # an unreadable key file: the key-shaped words are still masked
        found = None
    redact_standard_streams((found.value,) if found else ())


def _sandbox_port() -> int:
    """``PERPLEXITY_SANDBOX_PORT`` (to pin the sandbox's port, e.g. behind a firewall), else 0: any free port."""
    text = os.environ.get(SANDBOX_PORT_VARIABLE, "").strip() or "0"
    if not text.isdigit() or int(text) > 65535:
        raise TutorialError(f"{SANDBOX_PORT_VARIABLE} is '{text}', but it must be a port number (0 to 65535).")
    return int(text)


def practice_url() -> str:
    """The URL of this kernel's own sandbox, started if needed (also in live mode): the exercises test against it."""
    from perplexity_sandbox import shared_sandbox  # only notebook setup starts a sandbox

    return shared_sandbox(_sandbox_port()).url


def install_friendly_errors() -> bool:
    """In IPython, show a :class:`TutorialError` as its message (plus details), not a traceback.

    Returns whether a notebook shell was found. Outside IPython it does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((TutorialError,), _show_tutorial_error)
    return True


def friendly_lines(error: BaseException) -> list[str]:
    """What the learner sees for ``error``: its sentence, then the expert detail on its own line."""
    sentence, detail = describe_failure(error)
    return [f"\u26a0\ufe0f {sentence}"] + ([f"   (details: {detail})"] if detail else [])


def _show_tutorial_error(shell, etype, error, tb, tb_offset=None) -> list[str]:
    lines = friendly_lines(error)
    report_progress(error=str(error))  # the instructor's page shows the last error (class sandbox only)
    # IPython ignores what a custom handler returns, so show the lines the way IPython shows a
    # traceback: in a kernel that is the cell's error output, in a terminal it is printed.
    shell._showtraceback(etype, error, lines)
    return lines
