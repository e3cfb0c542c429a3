"""The connector form: every button's plain method, and no secret in any widget."""

from __future__ import annotations

import json
from html import escape

import pytest

from helpers.connector import (
    BasicAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    agent_action,
    guide_connector,
    guide_legacy_action,
)
from helpers.curl_import import GUIDE_CURL
from helpers.sandbox import Sandbox
from helpers.widgets import ConnectorForm, connector_form
from tests.support import FAKE_KEY


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
