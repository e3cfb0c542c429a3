"""The display-name box of notebook 01: the name a class sandbox shows the instructor.

A thin layer over :func:`helpers.progress.set_learner_name`, which a cell can call directly.
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets

from helpers.progress import learner_name, set_learner_name
from helpers.widgets.key_entry import one_sentence


class NameEntry(widgets.VBox):
    """The name box's layout, with a one-line text form: what nbval records, and what shows where widgets cannot."""

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        text = (
            "NameEntry: a box for the display name a class sandbox shows your instructor, "
            "shown when this cell runs in a live kernel with Jupyter widgets (JupyterLab, Notebook 7)."
        )
        return {**super()._repr_mimebundle_(**kwargs), "text/plain": text}


def learner_name_entry() -> NameEntry:
    """A text box and a Save button for the display name (any name you like, never derived from a key)."""
    name = widgets.Text(value=learner_name(), description="Your name", placeholder="e.g. Ada L.")
    save = widgets.Button(description="Save name", icon="user")
    status = widgets.HTML()

    def on_save(_button: object) -> None:
        # Never raises: a button has no traceback to show.
        status.value = escape(one_sentence("Not saved", "your key file", lambda: set_learner_name(name.value)))

    save.on_click(on_save)
    return NameEntry([widgets.HBox([name, save]), status])
