"""The guide's connector and HTTP action: fields, the request they make, and Test."""

from __future__ import annotations

import json

from helpers.connector import (
    agent_action,
    build_request,
    guide_connector,
    guide_legacy_action,
    render_request,
    run_test,
)
from helpers.sandbox import Sandbox
from tests.conftest import FAKE_KEY


def test_guide_connector_has_the_guide_fields() -> None:
    fields = guide_connector(FAKE_KEY).describe()
    assert fields["Base URL"] == "https://api.perplexity.ai"
    assert fields["Auth Config"] == "Api Key Auth" and fields["Api Key Auth Auth Type"] == "Header Auth"
    assert fields["Header Auth Key"] == "Authorization" and fields["Header Auth Value Pattern"] == "Bearer %s"
    assert FAKE_KEY not in json.dumps(fields)


def test_built_request_puts_the_key_in_the_header() -> None:
    request = build_request(guide_connector(FAKE_KEY), guide_legacy_action())
    assert request.url == "https://api.perplexity.ai/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert json.loads(request.body)["model"] == "mistral-7b-instruct"


def test_rendered_request_masks_the_key() -> None:
    text = render_request(build_request(guide_connector(FAKE_KEY), agent_action()), [FAKE_KEY])
    assert FAKE_KEY not in text and "Authorization: Bearer pplx-..." in text


def test_agent_action_succeeds_against_the_sandbox(sandbox: Sandbox) -> None:
    connector = guide_connector(FAKE_KEY).with_base_url(sandbox.url)
    result = run_test(connector, agent_action())
    assert result.successful and result.status == 200
    assert result.body["status"] == "completed"


def test_guide_action_fails_with_an_explanation(sandbox: Sandbox) -> None:
    connector = guide_connector(FAKE_KEY).with_base_url(sandbox.url)
    result = run_test(connector, guide_legacy_action())
    assert not result.successful and result.status == 400
    assert "retired model" in result.explanation


def test_wrong_key_pattern_fails_with_authorization_error(sandbox: Sandbox) -> None:
    connector = guide_connector("no-prefix-" + "0" * 20).with_base_url(sandbox.url)
    result = run_test(connector, agent_action())
    assert result.status == 401 and "10107" in result.explanation
