"""The connector and HTTP action: fields, validation, Mustache bodies, the request they make, and Test."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote_plus

import pytest

from helpers import connector
from helpers.connector import (
    GUIDE_BODY,
    BasicAuth,
    BearerTokenAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    HttpAction,
    NoAuth,
    ParamAuth,
    agent_action,
    build_request,
    check_request,
    guide_connector,
    guide_legacy_action,
    render_body,
    render_request,
    render_template,
    run_test,
)
from helpers.connector_view import duration_text, execution_markdown
from helpers.keys import mask_key
from perplexity_sandbox import Sandbox
from tests.support import FAKE_KEY, OTHER_KEY, CannedServer, EchoServer, LoopbackServer


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


# --- the guide's connector and actions -------------------------------------------------------


def test_guide_connector_has_the_guide_fields() -> None:
    fields = guide_connector(FAKE_KEY).describe()
    assert fields["Base URL"] == "https://api.perplexity.ai"
    assert fields["Auth Config"] == "Api Key Auth" and fields["Api Key Auth Auth Type"] == "Header Auth"
    assert fields["Header Auth Key"] == "Authorization" and fields["Header Auth Value Pattern"] == "Bearer %s"
    assert FAKE_KEY not in json.dumps(fields) and FAKE_KEY not in repr(guide_connector(FAKE_KEY))


def test_guide_action_body_is_the_guides_text() -> None:
    action = guide_legacy_action()
    assert action.body.startswith('{\n  "model": "mistral-7b-instruct",\n  "messages": [\n    {\n      "role"')
    assert json.loads(action.body)["messages"][1]["content"] == "How many stars are there in our galaxy?"
    assert action.headers == {"accept": "application/json", "content-type": "application/json"}


def test_built_request_puts_the_key_in_the_header() -> None:
    request = build_request(guide_connector(FAKE_KEY), guide_legacy_action())
    assert request.url == "https://api.perplexity.ai/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert request.body == GUIDE_BODY.encode() and FAKE_KEY not in repr(request)


def test_rendered_request_masks_the_key() -> None:
    text = render_request(build_request(guide_connector(FAKE_KEY), agent_action()))
    assert FAKE_KEY not in text and "Authorization: Bearer pplx-...t3st" in text


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Connector("P", "http://api.perplexity.ai"), "must start with https://"),
        (lambda: Connector("P", "ftp://example.com"), "must start with https://"),
        (lambda: Connector("P", "https://example.com?x=1"), "cannot hold a query"),
        (lambda: Connector(" ", "https://example.com"), "Give the connector a name"),
        (lambda: HeaderAuth(FAKE_KEY, "Authorization", "Bearer"), "exactly once"),
        (lambda: HeaderAuth(FAKE_KEY, "Authorization", "%s %s"), "exactly once"),
        (lambda: HeaderAuth(FAKE_KEY, "X API Key", "%s"), "not a valid HTTP header name"),
        (lambda: HeaderAuth(FAKE_KEY, "Authorization:", "%s"), "not a valid HTTP header name"),
        (lambda: HeaderAuth("", "Authorization", "Bearer %s"), "required"),
        (lambda: HeaderAuth(FAKE_KEY + "\n", "Authorization", "Bearer %s"), "line break"),
        (lambda: ParamAuth(FAKE_KEY, "api key"), "one word"),
        (lambda: BearerTokenAuth("  "), "required"),
        (lambda: BasicAuth("", "secret"), "username is required"),
        (lambda: BasicAuth("admin", ""), "required"),
        (lambda: HttpAction("a", "chat/completions"), "must start with '/'"),
        (lambda: HttpAction("a", "/search?q=1"), "Query Parameters table"),
        (lambda: HttpAction("a", "/x", "FETCH"), "GET, POST, PUT, DELETE, PATCH"),
        (lambda: HttpAction("a", "/x", headers={"bad header": "1"}), "not a valid HTTP header name"),
    ],
)
def test_bad_fields_are_refused_with_one_clear_sentence(make, words: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        make()
    message = str(caught.value)
    assert words in message and message.count(". ") <= 2 and FAKE_KEY not in message


def test_loopback_http_is_allowed_for_the_sandbox() -> None:
    assert Connector("P", "http://127.0.0.1:8000/").base_url == "http://127.0.0.1:8000"
    assert Connector("P", "http://localhost:8000").base_url == "http://localhost:8000"


def test_method_is_normalised() -> None:
    assert HttpAction("a", "/x", "patch").method == "PATCH"


# --- Mustache bodies ---------------------------------------------------------------------


def test_strings_use_triple_braces_and_are_not_html_escaped() -> None:
    assert render_template('{"q": "{{{q}}}"}', {"q": "<b>stars & galaxies</b>"}) == '{"q": "<b>stars & galaxies</b>"}'
    assert render_template("{{q}}", {"q": "a & b"}) == "a &amp; b"  # why strings need triple braces


def test_numbers_and_booleans_render_as_json() -> None:
    text = render_template('{"n": {{n}}, "t": {{t}}, "f": {{f}}, "x": 0.5}', {"n": 3, "t": True, "f": False})
    assert json.loads(text) == {"n": 3, "t": True, "f": False, "x": 0.5}


def test_optional_sections_follow_their_value() -> None:
    template = '{"a": 1{{#stream}}, "stream": {{stream}}{{/stream}}}'
    assert json.loads(render_template(template, {"stream": True})) == {"a": 1, "stream": True}
    assert json.loads(render_template(template, {"stream": False})) == {"a": 1}


def test_a_variable_without_an_example_value_is_error_10111() -> None:
    with pytest.raises(ConnectorError) as caught:
        template = '{"q": "{{{question}}}", "n": {{limit}}, "m": "{{{model}}}"}'
        render_template(template, {"model": "sonar", "limit": None})
    message = str(caught.value)
    assert "Failed to construct request. Please make sure that all variables denoted by {{{}}} have" in message
    assert "10111" in message and "question, limit" in message and "model" not in message.split("value to:")[1]


def test_agent_action_body_renders_to_the_agent_request() -> None:
    body = json.loads(render_body(agent_action()))
    assert body["input"] == "How many stars are there in our galaxy?" and body["max_output_tokens"] == 1024
    assert body["instructions"] == "Be precise and concise."


def test_a_json_body_must_be_valid_json_once_filled_in() -> None:
    action = HttpAction(
        "a", "/x", headers={"Content-Type": "application/json"}, body='{"q": "{{{q}}}"}', inputs={"q": 'say "hi"'}
    )
    with pytest.raises(ConnectorError, match="not valid JSON"):
        render_body(action)


def test_a_form_body_is_not_checked_as_json() -> None:
    action = HttpAction(
        "a",
        "/x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="q={{{q}}}&n=1",
        inputs={"q": "stars"},
    )
    assert render_body(action) == "q=stars&n=1"


def test_path_query_and_headers_are_templated_too() -> None:
    action = HttpAction(
        "a",
        "/tasks/{{{task_id}}}",
        "GET",
        headers={"X-Trace": "{{{trace}}}"},
        query={"opt_fields": "{{{fields}}}"},
        inputs={"task_id": "42", "trace": "t1", "fields": "name"},
    )
    request = build_request(Connector("Asana", "https://app.asana.com/api/1.0"), action)
    assert request.url == "https://app.asana.com/api/1.0/tasks/42?opt_fields=name"
    assert request.headers["X-Trace"] == "t1" and request.body is None


# --- auth types ----------------------------------------------------------------------------


def test_each_auth_type_puts_the_secret_where_it_belongs() -> None:
    action = HttpAction("a", "/x", "GET", headers={"Authorization": "ignored"})
    base = "https://example.com"
    assert build_request(Connector("N", base, NoAuth()), action).headers == {"Authorization": "ignored"}
    bearer = build_request(Connector("B", base, BearerTokenAuth(OTHER_KEY)), action)
    assert bearer.headers == {"Authorization": f"Bearer {OTHER_KEY}"}
    param = build_request(Connector("P", base, ParamAuth(OTHER_KEY, "key")), action)
    assert param.url == f"{base}/x?key={OTHER_KEY}" and "Authorization" in param.headers
    custom = build_request(Connector("C", base, HeaderAuth(OTHER_KEY, "X-API-Key", "%s")), action)
    assert custom.headers["X-API-Key"] == OTHER_KEY


def test_basic_auth_is_base64_and_masked_everywhere() -> None:
    connector = Connector("ServiceNow", "https://dev1.service-now.com", BasicAuth("admin", "s3cret-pass"))
    request = build_request(connector, HttpAction("a", "/api/now/table/incident", "GET"))
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"admin:s3cret-pass").decode()
    shown = render_request(request) + json.dumps(connector.describe())
    token = request.headers["Authorization"][6:]
    assert "s3cret-pass" not in shown and token not in shown
    assert f"Authorization: Basic {mask_key(token)}" in shown  # one masking scheme: redact's


def test_param_auth_key_is_masked_in_the_rendered_url() -> None:
    request = build_request(Connector("P", "https://example.com", ParamAuth(FAKE_KEY)), HttpAction("a", "/x", "GET"))
    assert FAKE_KEY in request.url and FAKE_KEY not in render_request(request)


def test_two_other_guides_over_http(echo: EchoServer) -> None:
    """Basic Auth (ServiceNow's guide) and a custom API-key header (X-API-Key: %s) reach a real server."""
    servicenow = Connector("ServiceNow", echo.url, BasicAuth("admin", "s3cret-pass"))
    incidents = HttpAction(
        "List incidents",
        "/api/now/table/incident",
        "GET",
        {"Accept": "application/json"},
        {"sysparm_limit": "{{limit}}"},
        inputs={"limit": 1},
    )
    vendor = Connector("Vendor", echo.url, HeaderAuth(OTHER_KEY, "X-API-Key", "%s"))
    create = HttpAction(
        "Create item",
        "/v1/items",
        "POST",
        {"Content-Type": "application/json"},
        body='{"name": "{{{name}}}", "urgent": {{urgent}}}',
        inputs={"name": "Stars", "urgent": True},
    )
    first, second = run_test(servicenow, incidents), run_test(vendor, create)
    assert first.successful and second.successful
    basic, custom = echo.requests
    assert basic["path"] == "/api/now/table/incident?sysparm_limit=1"
    assert base64.b64decode(basic["headers"]["Authorization"].split()[1]) == b"admin:s3cret-pass"
    assert custom["headers"]["X-API-Key"] == OTHER_KEY and "Authorization" not in custom["headers"]
    assert json.loads(custom["body"]) == {"name": "Stars", "urgent": True}
    assert second.output_schema["properties"]["headers"]["type"] == "object"


# --- Test ----------------------------------------------------------------------------------


def test_agent_action_succeeds_against_the_sandbox(sandbox: Sandbox) -> None:
    result = run_test(guide_connector(FAKE_KEY).with_base_url(sandbox.url), agent_action())
    assert result.successful and result.status == 200 and result.body["status"] == "completed"
    schema = result.output_schema
    assert schema["type"] == "object" and schema["properties"]["output"]["type"] == "array"
    assert "status" in schema["required"]


def test_test_result_shows_status_time_an_excerpt_and_the_folded_schema(sandbox: Sandbox) -> None:
    result = run_test(guide_connector(FAKE_KEY), agent_action(), send_to=sandbox.url)
    text = execution_markdown(result)
    assert "Successful execution" in text and "HTTP 200" in text and "under 0.1 s" in text
    answer = result.body["output"][-1]["content"][0]["text"]
    assert f"> {' '.join(answer.split())[:100]}" in text and "`created_at`" in text  # the excerpt
    assert str(result.body["created_at"]) not in text  # ...but not the whole response
    assert "<details><summary><b>Output schema (GENERATE FROM RESPONSE)" in text and '"properties"' in text


def test_test_can_send_to_the_sandbox_while_the_connector_keeps_the_guides_base_url(sandbox: Sandbox) -> None:
    connector = guide_connector(FAKE_KEY)
    result = run_test(connector, agent_action(), send_to=sandbox.url)
    assert result.successful and connector.base_url == "https://api.perplexity.ai"


@pytest.mark.parametrize(
    ("milliseconds", "shown"), [(4, "under 0.1 s"), (99.9, "under 0.1 s"), (140, "0.1 s"), (2345, "2.3 s")]
)
def test_a_test_time_is_shown_to_a_tenth_of_a_second(milliseconds: float, shown: str) -> None:
    assert duration_text(milliseconds) == shown


def test_guide_action_fails_with_an_explanation(sandbox: Sandbox) -> None:
    result = run_test(guide_connector(FAKE_KEY).with_base_url(sandbox.url), guide_legacy_action())
    assert not result.successful and result.status == 400 and result.output_schema is None
    assert "retired model" in result.explanation
    assert result.body["error"]["type"] == "invalid_model"


def test_wrong_key_pattern_fails_with_authorization_error(sandbox: Sandbox) -> None:
    connector = Connector("P", sandbox.url, HeaderAuth(FAKE_KEY, "Authorization", "Token %s"))
    result = run_test(connector, agent_action())
    assert result.status == 401 and "10107" in result.explanation
    assert FAKE_KEY not in execution_markdown(result)


def test_a_response_over_200_kb_fails(echo: EchoServer) -> None:
    result = run_test(Connector("E", echo.url), HttpAction("Big", "/big", "GET"))
    assert not result.successful and result.status == 200 and "200 KB" in result.explanation


def test_an_unreachable_server_is_explained() -> None:
    with EchoServer() as server:
        url = server.url
    result = run_test(Connector("Gone", url), HttpAction("a", "/x", "GET"))
    assert result.status is None and not result.successful and "Could not reach" in result.explanation
    assert "no response" in execution_markdown(result)


# --- review fixes ----------------------------------------------------------------------------


class TrickleServer(LoopbackServer):
    """A loopback server that answers 200 at once, then sends its body one byte at a time, slowly."""

    def __init__(self, size: int, pause: float) -> None:
        super().__init__(_TrickleHandler)
        self.size, self.pause = size, pause


class _TrickleHandler(BaseHTTPRequestHandler):
    server: TrickleServer

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(self.server.size))
        self.end_headers()
        try:
            for _ in range(self.server.size):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(self.server.pause)
        except OSError:  # the client gave up, as it should
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def test_an_echoed_key_is_masked_in_the_test_result(echo: EchoServer) -> None:
    """A server that echoes the request headers (like httpbin) must not put the key into the saved result."""
    for auth in (
        HeaderAuth(FAKE_KEY),
        HeaderAuth(OTHER_KEY, "X-API-Key", "%s"),
        BasicAuth("admin", "s3cret-pass"),
        ParamAuth(OTHER_KEY + "/+=", "key"),
    ):
        result = run_test(Connector("Echo", echo.url, auth), HttpAction("a", "/anything", "GET"))
        shown = json.dumps(result.body) + execution_markdown(result)
        assert result.successful and isinstance(result.body, dict)
        for secret in (FAKE_KEY, OTHER_KEY, "s3cret-pass", *auth.headers().values()):
            assert secret not in shown
    assert result.body["path"] == f"/anything?key={mask_key(quote_plus(OTHER_KEY + '/+='))}"  # the encoded key, masked
    echoed = run_test(Connector("Echo", echo.url, HeaderAuth(FAKE_KEY)), HttpAction("a", "/x", "GET")).body
    assert echoed["headers"]["Authorization"] == "Bearer pplx-...t3st"


def test_a_json_escaped_key_is_masked_too() -> None:
    secret = 'k3y"with\\quotes-' + "z" * 12
    echoed = json.dumps({"headers": {"X-API-Key": secret}}).encode()
    with CannedServer(echoed, "application/json") as server:
        result = run_test(Connector("C", server.url, HeaderAuth(secret, "X-API-Key", "%s")), HttpAction("a", "/x"))
    assert result.successful and result.body == {"headers": {"X-API-Key": mask_key(secret)}}


def test_user_info_in_a_base_url_is_refused_without_showing_it() -> None:
    for url in (
        "https://alice:s3cret@api.example.com",
        "https://alice@api.example.com/v1",
        "http://alice:s3cret@127.0.0.1:8000",
    ):
        with pytest.raises(ConnectorError) as caught:
            Connector("P", url)
        message = str(caught.value)
        assert "user name or password" in message and "Basic Auth" in message and "s3cret" not in message
    with pytest.raises(ConnectorError):
        guide_connector(FAKE_KEY).with_base_url("https://alice:s3cret@api.perplexity.ai")


def test_a_stray_closing_tag_is_one_clear_sentence() -> None:
    for template in ("{{{question}}}{{/question}}", "{{#a}}{{/b}}", "{{= =}}"):
        with pytest.raises(ConnectorError, match="not valid Mustache"):
            render_template(template, {"question": "q", "a": 1})
    action = HttpAction("a", "/x", body='{"q": "{{{question}}}{{/question}}"}', inputs={"question": "q"})
    assert check_request(guide_connector(FAKE_KEY), action).startswith("Not ready: The template is not valid Mustache")


def test_test_stops_at_the_total_limit_even_when_bytes_keep_coming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creator Studio's 60 s is for the whole request, not for each read (here 0.6 s, for speed)."""
    monkeypatch.setattr(connector, "TEST_TIMEOUT_SECONDS", 0.6)
    with TrickleServer(size=40, pause=0.1) as server:  # 4 s in all, but a byte every 0.1 s
        started = time.monotonic()
        result = run_test(Connector("Slow", server.url), HttpAction("a", "/slow", "GET"))
        elapsed = time.monotonic() - started
    assert elapsed < 2.0 and result.status is None and not result.successful
    assert "0.6-second limit" in result.explanation


def test_a_quick_trickle_still_succeeds() -> None:
    with TrickleServer(size=5, pause=0.01) as server:
        result = run_test(Connector("Slow", server.url), HttpAction("a", "/slow", "GET"))
    assert result.successful and result.body == "xxxxx"
