"""The display-name box of notebook 01 records a sentence, not the repr of its widget tree."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell

from helpers import learner_name_entry


def test_the_name_box_records_a_one_line_text_not_the_widget_tree() -> None:
    data, _ = InteractiveShell.instance().display_formatter.format(learner_name_entry())
    text = data["text/plain"]
    assert text.startswith("NameEntry: ") and "display name" in text
    assert "\n" not in text and "VBox" not in text and "children" not in text
    assert "application/vnd.jupyter.widget-view+json" in data  # the box itself, where widgets show
