"""Import from cURL: the guide's command, ordinary variants, auth headers, and clear refusals."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.connector import (
    BasicAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    HttpAction,
    NoAuth,
    agent_action,
    guide_connector,
    guide_legacy_action,
    render_body,
)
from helpers.curl_import import GUIDE_CURL, curl_secrets, import_curl, parse_curl
from helpers.exports import as_json, to_curl, to_openapi, to_postman
from tests.support import FAKE_KEY


def test_the_guides_command_gives_the_guides_action() -> None:
    imported = import_curl(GUIDE_CURL)
    assert imported.connector.base_url == "https://api.perplexity.ai"
    assert isinstance(imported.connector.auth, NoAuth)  # the guide's command carries no key
    assert replace(imported.action, name=guide_legacy_action().name) == guide_legacy_action()


@pytest.mark.parametrize(
    "command",
    [
        "curl -X POST https://api.perplexity.ai/v1/agent -H 'Content-Type: application/json' -d '{\"input\": \"hi\"}'",
        'curl --request POST --url "https://api.perplexity.ai/v1/agent" --header "Content-Type: application/json" '
        '--data-raw \'{"input": "hi"}\'',
        "curl -XPOST 'https://api.perplexity.ai/v1/agent' \\\n  -H 'Content-Type: application/json' \\\n"
        '  --data \'{"input": "hi"}\'',
        "curl https://api.perplexity.ai/v1/agent --silent -H 'Content-Type: application/json' "
        '--data-binary \'{"input": "hi"}\'',
        'curl https://api.perplexity.ai/v1/agent --json \'{"input": "hi"}\'',
    ],
)
def test_ordinary_variants_give_the_same_action(command: str) -> None:
    action = import_curl(command).action
    assert (action.method, action.path, json.loads(action.body)) == ("POST", "/v1/agent", {"input": "hi"})
    assert action.content_type == "application/json"


def test_method_defaults_follow_curl() -> None:
    assert parse_curl("curl https://example.com/x").method == "GET"
    assert parse_curl("curl https://example.com/x -d a=1").method == "POST"
    assert parse_curl("curl --request delete https://example.com/x").method == "DELETE"


def test_the_query_string_goes_to_the_query_table() -> None:
    action = import_curl("curl 'https://api.example.com/v1/search?q=milky+way&limit=5'").action
    assert action.path == "/v1/search" and action.query == {"q": "milky way", "limit": "5"}


def test_several_data_options_are_joined_like_curl_does() -> None:
    assert import_curl("curl https://example.com/f -d a=1 -d b=2").action.body == "a=1&b=2"


def test_a_bearer_header_becomes_the_connectors_auth() -> None:
    command = f"curl https://api.perplexity.ai/v1/agent -H 'Authorization: Bearer {FAKE_KEY}' -d '{{}}'"
    imported = import_curl(command)
    assert imported.connector.auth == HeaderAuth(FAKE_KEY, "Authorization", "Bearer %s")
    assert "Authorization" not in imported.action.headers and "authorization" not in imported.action.headers


def test_another_scheme_word_stays_in_the_value_pattern() -> None:
    auth = import_curl("curl https://example.com/x -H 'authorization: Token abc123'").connector.auth
    assert auth == HeaderAuth("abc123", "Authorization", "Token %s")


def test_basic_auth_from_a_header_or_user_option() -> None:
    token = base64.b64encode(b"admin:pw-1").decode()
    assert import_curl(
        f"curl https://x.service-now.com/api -H 'Authorization: Basic {token}'"
    ).connector.auth == BasicAuth("admin", "pw-1")
    assert import_curl("curl -u admin:pw-1 https://x.service-now.com/api").connector.auth == BasicAuth("admin", "pw-1")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("wget https://example.com", "starts with 'curl'"),
        ("curl https://example.com -X", "needs a value"),
        ("curl -H 'Accept: x'", "has no URL"),
        ("curl 'https://example.com", "unclosed quote"),
        ("curl --proxy http://p:1 https://example.com", "--proxy is not supported"),
        ("curl https://example.com -d @body.json", "from a file"),
        ("curl https://a.com https://b.com", "second URL"),
        ("curl https://example.com -H 'NoColon'", "'Name: value'"),
        ("curl example.com/x", "not complete"),
        ("curl http://example.com/x", "must start with https://"),
        ("curl https://example.com/x -H 'Authorization: Bearer '", "required"),
        ("curl https://example.com/x -H 'Authorization: Basic not*base64'", "not valid base64 of username:password"),
        ("curl https://example.com/x -H 'Authorization: Basic //46cHc='", "not valid base64 of username:password"),
    ],
)
def test_bad_commands_are_refused_with_one_clear_sentence(command: str, words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        import_curl(command)
    assert words in str(caught.value)


def test_exported_curl_imports_back_to_the_same_request() -> None:
    connector, action = guide_connector(FAKE_KEY), agent_action()
    imported = import_curl(to_curl(connector, action, reveal=True))
    assert imported.connector == Connector("api.perplexity.ai", connector.base_url, connector.auth)
    assert imported.action.body == render_body(action) and imported.action.headers == action.headers


@settings(max_examples=60, deadline=None, database=None)
@given(
    body=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=80),
    value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
def test_any_body_and_header_value_survive_the_shell_quoting(body: str, value: str) -> None:
    action = HttpAction("a", "/x", "PUT", {"X-Note": value.strip()}, body=body.strip())
    imported = import_curl(to_curl(Connector("E", "https://example.com"), action, reveal=True)).action
    assert imported.body == body.strip() and imported.headers == {"X-Note": value.strip()}


def test_user_info_in_the_url_becomes_basic_auth_like_the_user_option() -> None:
    imported = import_curl("curl https://alice:s3cret@api.example.com/v1/agent -d '{}'")
    assert imported.connector.base_url == "https://api.example.com" and imported.action.path == "/v1/agent"
    assert imported.connector.auth == BasicAuth("alice", "s3cret")
    shown = (
        json.dumps(imported.connector.describe())
        + to_curl(imported.connector, imported.action)
        + as_json(to_postman(imported.connector, imported.action))
        + as_json(to_openapi(imported.connector, imported.action))
    )
    assert "s3cret" not in shown and "alice:" not in shown and "@api.example.com" not in shown
    encoded = import_curl("curl 'https://al%40ce:p%3Ass@api.example.com:8443/x'").connector
    assert encoded.auth == BasicAuth("al@ce", "p:ss") and encoded.base_url == "https://api.example.com:8443"
    assert import_curl("curl -u bob:pw-2 https://alice:s3cret@api.example.com/x").connector.auth == BasicAuth(
        "bob", "pw-2"
    )  # as in curl, --user wins over the URL's user info
    header = import_curl(f"curl https://alice:s3cret@api.example.com/x -H 'Authorization: Bearer {FAKE_KEY}'")
    assert header.connector.auth == HeaderAuth(FAKE_KEY) and header.connector.base_url == "https://api.example.com"


def test_user_info_without_a_password_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(ConnectorError, match="password is required"):
        import_curl("curl https://alice@api.example.com/x")
    with pytest.raises(ConnectorError) as caught:
        import_curl("curl alice:s3cret@api.example.com/x")
    assert "not complete" in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        "a line that ends with a backtick `\nand goes on",
        "a line that ends with a caret ^\nand goes on",
        '^"quoted the cmd way^"',
        "$env:HOME, %PATH% and $PERPLEXITY_API_KEY are text here",
        "It's $'q' # not a comment",
        "a | b && c; d > e 2>&1",
    ],
)
def test_a_body_that_looks_like_another_shell_survives_the_round_trip(body: str) -> None:
    """The shell is read from the command's first line, so a quoted body below it may hold anything."""
    action = HttpAction("a", "/x", "POST", {"Content-Type": "text/plain"}, body=body)
    assert import_curl(to_curl(Connector("E", "https://example.com"), action, reveal=True)).action.body == body


def test_the_secrets_of_combined_short_options_are_found() -> None:
    secrets = curl_secrets("curl -sSuadmin:pw-123456 -HX-API-Key:k3y-abcdef https://example.com/x")
    assert "pw-123456" in secrets and "k3y-abcdef" in secrets
