"""The key entry widget: a Password field with Save and Remove, in the manner of ``notebook_login``.

The field is cleared the moment Save is clicked, before anything else happens, so the key is
never kept in the widget's state (which Jupyter can save into the notebook file). The buttons
only call :func:`save_key_message` and :func:`remove_key_message`, which tests and notebook
cells call directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from html import escape
from pathlib import Path

import ipywidgets as widgets

from helpers import keys
from helpers.errors import TutorialError, describe_failure
from helpers.masking import Secret
from helpers.settings import MODE_VARIABLE, resolve_settings


def save_key_message(raw: str | Secret, env_file: Path | None = None) -> str:
    """Save (or replace) the key in ``.env`` and return the sentence to show.

    Never raises (an unexpected error is one sentence too, as a button has no traceback to show)
    and never shows the key: only its mask. The key is a Secret from the first line on.
    """
    raw = Secret(raw)
    path = env_file or keys.env_file_path()
    label = keys.key_file_label(path)

    def save() -> str:
        previous = keys.find_api_key({}, path)
        found, note = keys.save_api_key(raw, env_file)
        if previous is not None and previous.value != found.value:
            message = f"Replaced {previous.masked} with {found.masked} in {label}."
        else:
            message = f"Saved {found.masked} to {label}."
        message += f" (Note: {note}.)" if note else ""
        return message + _shadowed_by_environment(path) + _what_happens_next(path)

    return one_sentence("Not saved", label, save, (raw,))


def remove_key_message(env_file: Path | None = None) -> str:
    """Remove the key from ``.env`` and return the sentence to show; never raises."""
    path = env_file or keys.env_file_path()
    label = keys.key_file_label(path)

    def remove() -> str:
        removed = keys.remove_api_key(env_file)
        message = f"Removed the key from {label}." if removed else f"There was no key in {label}: nothing to remove."
        return message + _shadowed_by_environment(path)

    return one_sentence("Not removed", label, remove)


def one_sentence(failed: str, label: str, action: Callable[[], str], secrets: tuple[Secret, ...] = ()) -> str:
    """What ``action`` says, or why it failed after ``failed``: a button has no traceback to show.

    ``label`` names the file it writes, for the sentence when that file cannot be written.
    """
    try:
        return action()
    except TutorialError as error:
        return f"{failed}: {error}"
    except OSError as error:
        return f"{failed}: could not write {label} ({error.strerror}). Check the folder's permissions."
    except Exception as error:  # a bug: its sentence, never a traceback that would print the frames
        return f"{failed}: {describe_failure(error, secrets)[0]}"


def _what_happens_next(path: Path) -> str:
    """After a key is saved: restart the kernels, and the mode they then run in (which may cost money).

    Kernels read the key when their first cell runs, so open notebooks go on as they were until
    restarted. The mode is the one the rule gives with the saved key: live, unless the environment
    forces the sandbox (``PERPLEXITY_MODE=sandbox``, as a class hub sets it).
    """
    if keys.is_practice_file(path):  # the practice file is no notebook's key file
        return ""
    restart = " Next: restart the kernel of each open notebook (Kernel > Restart Kernel) and run it from the top;"
    try:
        settings = resolve_settings(env_file=path)
    except (TutorialError, OSError):
        return restart + " the first cell then says which mode applies."
    if settings.is_sandbox:
        return (
            f"{restart} it still uses the sandbox, because {MODE_VARIABLE}=sandbox is set in this environment "
            "(as on a class hub), and your key is never sent to a sandbox."
        )
    return f"{restart} it then runs in live mode: requests go to the Perplexity API and cost money."


def _shadowed_by_environment(path: Path) -> str:
    """A warning when an environment variable wins over the file the learner just changed."""
    if keys.is_practice_file(path) or not os.environ.get(keys.KEY_VARIABLE, "").strip():
        return ""
    return (
        f" Note: the environment variable {keys.KEY_VARIABLE} is also set, and it wins over the file. "
        "Unset it (and restart JupyterLab) to use the file."
    )


class KeyEntry(widgets.VBox):
    """A Password field with Save and Remove buttons; the outcome appears below them."""

    def __init__(self, env_file: Path | None = None) -> None:
        self.env_file = env_file
        self.password = widgets.Password(description="API key", placeholder="pplx-...")
        self.save_button = widgets.Button(description="Save", button_style="primary", icon="key")
        self.remove_button = widgets.Button(description="Remove", icon="trash")
        practising = env_file is not None and keys.is_practice_file(env_file)  # environment keys are not practice
        self.status = widgets.HTML(escape(keys.key_status({} if practising else None, env_file)))
        super().__init__([widgets.HBox([self.password, self.save_button, self.remove_button]), self.status])
        self.save_button.on_click(self._on_save)
        self.remove_button.on_click(self._on_remove)

    def __repr__(self) -> str:
        # Short and stable: nbval compares it, and ipywidgets' own repr lists every child's settings.
        return f"KeyEntry(saves_to={self.env_file.name if self.env_file else '.env'!r})"

    def _on_save(self, _: widgets.Button) -> None:
        raw, self.password.value = Secret(self.password.value), ""  # forget the value first
        self.status.value = escape(save_key_message(raw, self.env_file))

    def _on_remove(self, _: widgets.Button) -> None:
        self.password.value = ""
        self.status.value = escape(remove_key_message(self.env_file))


key_entry = KeyEntry  # the name notebook 01 calls: the key widget for the project's .env (or env_file)
