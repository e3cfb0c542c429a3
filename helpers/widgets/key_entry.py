"""The key entry widget: a Password field and a Save button, in the manner of ``notebook_login``.

The field is cleared the moment Save is clicked, before anything else happens, so the key is
never kept in the widget's state (which Jupyter can save into the notebook file).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import ipywidgets as widgets

from helpers.errors import TutorialError
from helpers.keys import save_api_key


def save_key_message(raw: str, env_file: Path | None = None) -> str:
    """Save ``raw`` to ``.env`` and return the sentence to show; never raises, never shows the key."""
    try:
        found, note = save_api_key(raw, env_file)
    except TutorialError as error:
        return f"Not saved: {error}"
    extra = f" (Note: {note}.)" if note else ""
    return f"Saved {found.masked} to the project's .env file.{extra}"


def key_entry(env_file: Path | None = None) -> widgets.VBox:
    """A Password field with a Save button; the outcome appears below it."""
    password = widgets.Password(description="API key", placeholder="pplx-...")
    save = widgets.Button(description="Save", button_style="primary", icon="key")
    status = widgets.HTML()

    def on_save(_: widgets.Button) -> None:
        raw, password.value = password.value, ""  # forget the value first
        status.value = escape(save_key_message(raw, env_file))

    save.on_click(on_save)
    return widgets.VBox([widgets.HBox([password, save]), status])
