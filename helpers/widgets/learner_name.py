"""The display-name box of notebook 01: the name a class sandbox shows the instructor.

A thin layer over :func:`helpers.progress.set_learner_name`, which a cell can call directly.
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets

from helpers.progress import learner_name, set_learner_name


def learner_name_entry() -> widgets.VBox:
    """A text box and a Save button for the display name (any name you like, never derived from a key)."""
    name = widgets.Text(value=learner_name(), description="Your name", placeholder="e.g. Ada L.")
    save = widgets.Button(description="Save name", icon="user")
    status = widgets.HTML()

    def on_save(_button: object) -> None:
        status.value = escape(set_learner_name(name.value))

    save.on_click(on_save)
    return widgets.VBox([widgets.HBox([name, save]), status])
