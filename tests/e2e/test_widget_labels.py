"""The connector form and the playground as JupyterLab draws them: no label or choice is cut short.

"Header Auth Value Patt..." in the form, the guide's model in the playground's Model menu.
"""

from __future__ import annotations

import re

from lab_page import NotebookPage

AUTH_NOTEBOOK = "notebooks/02_authenticate.ipynb"
CONNECTOR_NOTEBOOK = "notebooks/03_creator_studio_connector.ipynb"
# ipywidgets draws a label with overflow hidden and an ellipsis: a cut label is wider inside than its box.
CUT_LABELS = """
(box) => [...box.querySelectorAll('label.widget-label')]
  .filter(label => label.offsetParent !== null && label.scrollWidth > label.clientWidth)
  .map(label => label.textContent)
"""
# A drop-down's choices and a password field's placeholder, measured in the control's own font, against the room
# the control has for text (its width less padding, and less the arrow of a drop-down): those that would not fit.
CUT_FIELD_TEXTS = """
(box) => {
  const context = document.createElement('canvas').getContext('2d');
  const cut = [];
  for (const control of box.querySelectorAll('select, input[type=password]')) {
    if (control.offsetParent === null) continue;
    const style = getComputedStyle(control);
    context.font = style.font;
    const room = control.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
      - (control.tagName === 'SELECT' ? 16 : 0);
    const texts = control.tagName === 'SELECT' ? [...control.options].map(o => o.text) : [control.placeholder];
    cut.push(...texts.filter(text => context.measureText(text).width > room));
  }
  return cut;
}
"""


# A field each Auth Config shows (No Auth: the field that must be gone after Basic Auth).
SHOWN_WITH = {
    "Api Key Auth": "Header Auth Value Pattern",
    "Bearer Token Auth": "Bearer Token",
    "Basic Auth": "Username",
    "No Auth": "Username",
}


def test_no_label_or_choice_of_the_connector_form_is_cut(notebook: NotebookPage) -> None:
    notebook.open(CONNECTOR_NOTEBOOK).run_all()
    notebook.expect_no_errors()
    form = notebook.widget_with_button("Test")
    seen = set()
    # Each Auth Config shows its own fields (and "Api Key" becomes "Bearer Token"): every one is checked.
    for config, shown in SHOWN_WITH.items():
        form.dropdown("Auth Config").select_option(label=config)
        # The kernel redraws the fields: wait for this config's own field, or for Basic Auth's to go.
        field = form.root.locator("label.widget-label").filter(has_text=re.compile(f"^{re.escape(shown)}$"))
        field.first.wait_for(state="visible" if config != "No Auth" else "hidden")
        labels = form.root.locator("label.widget-label").all_inner_texts()
        seen |= {label for label in labels if label}
        assert form.root.evaluate(CUT_LABELS) == [], f"labels cut with {config}"
        assert form.root.evaluate(CUT_FIELD_TEXTS) == [], f"choices or placeholders cut with {config}"
    assert {"Header Auth Value Pattern", "Api Key Auth Auth Type", "Bearer Token", "Username"} <= seen


def test_no_label_or_choice_of_the_playground_is_cut(notebook: NotebookPage) -> None:
    """The Model menu cut the guide's model ("mistral-7b-instruct on /chat/completions (the gu...") at 300px."""
    notebook.open(AUTH_NOTEBOOK).run_all()
    notebook.expect_no_errors()
    playground = notebook.widget_with_button("Send")
    assert playground.root.evaluate(CUT_LABELS) == []
    assert playground.root.evaluate(CUT_FIELD_TEXTS) == []
