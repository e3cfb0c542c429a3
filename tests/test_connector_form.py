"""The connector form: every button's plain method, and no secret in any widget."""

from __future__ import annotations

import importlib
import json
from html import escape, unescape

import ipywidgets as widgets
import pytest

from helpers.connector import (
    BasicAuth,
    BearerTokenAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    agent_action,
    guide_connector,
    guide_legacy_action,
)
from helpers.curl_import import GUIDE_CURL
from helpers.widgets import ConnectorForm, connector_form
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY, OTHER_KEY, unused_url


def widget_state(form: ConnectorForm) -> str:
    """Everything Jupyter could save about the form: each widget's repr and synced state."""
    return repr(form.widget) + json.dumps([w.get_state() for w in form.widget.children], default=str)


def test_the_form_gives_back_what_it_was_given() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    assert form.connector() == guide_connector(FAKE_KEY) and form.action() == agent_action()
    assert FAKE_KEY not in widget_state(form) and "pplx-...t3st" in form.api_key.placeholder


def test_only_the_chosen_auth_configs_fields_are_shown() -> None:
    form = connector_form(Connector("ServiceNow", "https://dev1.service-now.com", BasicAuth("admin", "pw-1")))
    shown = {w.description for w in form.widget.children if hasattr(w, "description") and w.layout.display != "none"}
    assert {"Username", "Password"} <= shown and "Header Auth Key" not in shown
    assert form.connector().auth == BasicAuth("admin", "pw-1") and "pw-1" not in widget_state(form)


def test_a_typed_key_leaves_the_widget_when_used() -> None:
    form = connector_form(Connector("P", "https://api.perplexity.ai"))
    form.auth_config.value = "Api Key Auth"
    form.api_key.value = FAKE_KEY
    assert form.connector().auth == HeaderAuth(FAKE_KEY)
    assert form.api_key.value == "" and FAKE_KEY not in widget_state(form)


def test_check_says_what_to_fix_and_keeps_the_edits() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.path.value, form.value_pattern.value = "v1/agent", "Bearer"
    message = form.check()
    assert message.startswith("Not ready: The Header Auth Value Pattern 'Bearer' must contain %s exactly once")
    assert form.path.value == "v1/agent" and form.status.value == escape(message)
    form.value_pattern.value = "Bearer %s"
    assert "must start with '/'" in form.check()
    form.path.value = "/v1/agent"
    assert form.check() == "Ready: POST https://api.perplexity.ai/v1/agent through 'Perplexity'."


def test_a_missing_example_value_is_error_10111() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.inputs.value = "instructions = Be brief.\nquestion =\nmax_output_tokens = 200"
    assert form.action().inputs == {"instructions": "Be brief.", "question": None, "max_output_tokens": 200}
    with pytest.raises(ConnectorError, match=r"\(error 10111\)\. Give an example value to: question\.$"):
        form.exports()


def test_a_malformed_table_line_is_named() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.headers.value = "accept application/json"
    assert form.check() == ("Not ready: The Headers line 'accept application/json' needs the form 'name: value'.")


def test_import_curl_fills_the_action_and_keeps_the_connector() -> None:
    form = connector_form(guide_connector(FAKE_KEY).with_base_url("http://127.0.0.1:9"), agent_action())
    message = form.import_curl(GUIDE_CURL)
    assert message.startswith("Imported the HTTP action.") and "keeps http://127.0.0.1:9" in message
    assert form.action().body == guide_legacy_action().body and form.action().path == "/chat/completions"
    assert form.connector().auth == HeaderAuth(FAKE_KEY)


def test_import_curl_with_a_key_moves_it_to_the_connector() -> None:
    form = connector_form(Connector("P", "https://api.perplexity.ai"))
    form.import_curl(f"curl https://api.perplexity.ai/v1/agent -H 'Authorization: Bearer {FAKE_KEY}' -d '{{}}'")
    assert form.connector().auth == HeaderAuth(FAKE_KEY) and "Authorization" not in form.headers.value
    assert FAKE_KEY not in widget_state(form)


def test_a_bad_command_keeps_the_form_as_it_was() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    assert form.import_curl("curl --proxy x https://a.com").startswith("Not imported: The curl option --proxy")
    assert form.action() == agent_action()


def test_test_and_exports_from_the_form(sandbox: Sandbox) -> None:
    form = connector_form(guide_connector(FAKE_KEY).with_base_url(sandbox.url), agent_action())
    result = form.test()
    assert result.successful and result.output_schema["type"] == "object"
    exports = form.exports()
    assert set(exports) == {"curl", "Postman collection v2.1", "OpenAPI 3.1"}
    assert FAKE_KEY not in "".join(exports.values()) and FAKE_KEY in form.exports(reveal=True)["curl"]


# --- every button turns any failure into one sentence and keeps the fields -----------------

# The module itself: helpers.widgets re-exports a function of the same name.
connector_form_module = importlib.import_module("helpers.widgets.connector_form")
STRAY_TAG_BODY = '{"input": "{{{question}}}{{/question}}"}'


def fields(form: ConnectorForm) -> dict:
    """Every field a learner can edit, by label."""
    return {
        w.description: w.value
        for w in form.widget.children
        if isinstance(w, widgets.ValueWidget) and not isinstance(w, widgets.HTML)
    }


def click(form: ConnectorForm, label: str) -> str:
    """Click the button ``label`` as a learner would; return the status line it left."""
    buttons = [w for w in form.widget.children if isinstance(w, widgets.Button)]
    buttons += [w for box in form.widget.children if isinstance(box, widgets.HBox) for w in box.children]
    (button,) = [b for b in buttons if b.description == label]
    button.click()
    return unescape(form.status.value)


def test_import_curl_that_cannot_apply_keeps_every_edit() -> None:
    """The reviewer's case: an invalid Base URL in the form, an edited body, a command with a key."""
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.base_url.value, form.body.value = "api.perplexity.ai", "EDITED BODY"
    form.curl.value = f"curl https://api.perplexity.ai/v1/agent -H 'Authorization: Bearer {OTHER_KEY}' -d '{{}}'"
    before = fields(form)
    status = click(form, "Import cURL")
    assert status.startswith("Not imported: The Base URL 'api.perplexity.ai' must start with https://")
    assert fields(form) == before and form.connector  # nothing was half-imported
    form.base_url.value = "https://api.perplexity.ai"
    assert form.connector().auth == HeaderAuth(FAKE_KEY) and form.body.value == "EDITED BODY"


def test_check_button_with_a_stray_closing_tag() -> None:
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.body.value = STRAY_TAG_BODY
    before = fields(form)
    assert click(form, "Check").startswith("Not ready: The template is not valid Mustache")
    assert form.check().startswith("Not ready: The template is not valid Mustache") and fields(form) == before


@pytest.mark.parametrize("label", ["Test", "Export"])
def test_test_and_export_buttons_with_a_stray_closing_tag(label: str) -> None:
    form = connector_form(guide_connector(FAKE_KEY).with_base_url(unused_url()), agent_action())
    form.body.value = STRAY_TAG_BODY
    before = fields(form)
    assert click(form, label).startswith("Not done: The template is not valid Mustache")
    assert fields(form) == before


def test_test_button_with_a_character_no_header_can_carry() -> None:
    form = connector_form(guide_connector(FAKE_KEY).with_base_url(unused_url()), agent_action())
    form.headers.value += "\nX-Note: \u201cquoted\u201d"
    before = fields(form)
    status = click(form, "Test")
    assert status.startswith("Not done: ") and status.endswith(".") and "\n" not in status
    assert "UnicodeEncodeError" in status and fields(form) == before


@pytest.mark.parametrize(
    ("label", "target"),
    [("Import cURL", "import_curl"), ("Check", "check_request"), ("Test", "run_test"), ("Export", "to_openapi")],
)
def test_every_button_turns_any_error_into_one_sentence(
    label: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom\nwith {FAKE_KEY} inside")

    monkeypatch.setattr(connector_form_module, target, fail)
    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    form.curl.value, form.action_name.value = GUIDE_CURL, "EDITED NAME"
    before = fields(form)
    status = click(form, label)
    assert status.startswith(("Not imported: ", "Not ready: ", "Not done: ")) and "RuntimeError: boom" in status
    assert "\n" not in status and FAKE_KEY not in status and fields(form) == before


# --- how the form looks: labels that fit, and a text for where widgets cannot show -------------


def labelled(form: ConnectorForm) -> list[widgets.Widget]:
    """The fields with a label before them (what ipywidgets draws as a description)."""
    styled = [w for w in form.widget.children if hasattr(getattr(w, "style", None), "description_width")]
    return [w for w in styled if w.description]


@pytest.mark.parametrize(
    "auth", [guide_connector(FAKE_KEY).auth, BasicAuth("admin", "pw-1"), BearerTokenAuth(FAKE_KEY)]
)
def test_every_label_gets_one_width_that_holds_the_longest(auth: object) -> None:
    """The labels were cut at 13em ("Header Auth Value Patt..."): the width (in ch) now comes from the labels."""
    form = connector_form(Connector("P", "https://api.perplexity.ai", auth), agent_action())
    widths = {w.style.description_width for w in labelled(form)}
    assert len(widths) == 1, widths  # the fields line up
    (width,) = widths
    assert width.endswith("ch"), width
    longest = max(len(w.description) for w in labelled(form))
    assert longest >= len("Header Auth Value Pattern") and int(width[:-2]) >= longest + 1


def test_the_form_records_a_one_line_text_not_the_widget_tree() -> None:
    """What nbval records and a notebook shows without a kernel: what the form is, not ``VBox(children=(...``."""
    from IPython.core.interactiveshell import InteractiveShell

    form = connector_form(guide_connector(FAKE_KEY), agent_action())
    data, _ = InteractiveShell.instance().display_formatter.format(form)
    text = data["text/plain"]
    assert text.startswith("ConnectorForm(name='Perplexity', action='POST /v1/agent'): ")
    assert "\n" not in text and "VBox" not in text and "live kernel" in text
    assert "application/vnd.jupyter.widget-view+json" in data  # the form itself, where widgets show
    form.name.value = FAKE_KEY  # a key pasted into the wrong field is masked there too
    assert FAKE_KEY not in InteractiveShell.instance().display_formatter.format(form)[0]["text/plain"]
