"""Notebook niceties: show our own errors as one clear sentence instead of a traceback wall."""

from __future__ import annotations

from helpers.errors import TutorialError


def install_friendly_errors() -> bool:
    """In IPython, print a :class:`TutorialError` as its message (plus details), not a traceback.

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


def _show_tutorial_error(shell, etype, error, tb, tb_offset=None) -> list[str]:
    lines = [f"\u26a0\ufe0f {error}"]
    if getattr(error, "detail", ""):
        lines.append(f"   (details: {error.detail})")
    return lines
