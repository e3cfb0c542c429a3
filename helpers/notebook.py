"""Notebook niceties: show our own errors as one clear sentence instead of a traceback wall."""

from __future__ import annotations

from helpers.errors import TutorialError


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


def friendly_lines(error: TutorialError) -> list[str]:
    """What the learner sees for ``error``: its sentence, then the expert detail on its own line."""
    lines = [f"\u26a0\ufe0f {error}"]
    if getattr(error, "detail", ""):
        lines.append(f"   (details: {error.detail})")
    return lines


def _show_tutorial_error(shell, etype, error, tb, tb_offset=None) -> list[str]:
    lines = friendly_lines(error)
    # IPython ignores what a custom handler returns, so show the lines the way IPython shows a
    # traceback: in a kernel that is the cell's error output, in a terminal it is printed.
    shell._showtraceback(etype, error, lines)
    return lines
