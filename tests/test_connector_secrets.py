"""No path lets a learner's secret out of the connector: errors, the check line, Test, and every export.

Two canaries: a key shaped like a real Perplexity key (built at run time, so none sits in the source),
and a secret that has no recognisable shape (an X-API-Key value, a Basic password). Each test searches
every string a function returns or raises for both.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from helpers import connector as connector_module
from helpers.connector import (
    BasicAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    HttpAction,
    NoAuth,
    ParamAuth,
    build_request,
    check_request,
    error_sentence,
    render_request,
    run_test,
)
from helpers.connector_view import execution_markdown
from helpers.curl_import import import_curl
from helpers.errors import TutorialError
from helpers.exports import as_json, to_curl, to_openapi, to_postman
from helpers.widgets import connector_form
from tests.support import EchoServer, run_newman

KEY = "pplx-" + (string.ascii_letters + string.digits)[5:53]  # 48 alphanumerics
SECRET = "s3cr3t-value-XYZ"  # not shaped like a key: only knowing it is a secret can hide it
BASE = "https://api.example.com"


def assert_hidden(*texts: object) -> None:
    """Neither canary appears in any of ``texts`` (strings, or anything JSON can dump)."""
    for text in texts:
        shown = text if isinstance(text, str) else json.dumps(text)
        assert KEY not in shown and SECRET not in shown, shown


def refusal(make) -> str:
    """The sentence of the ConnectorError that ``make()`` raises."""
    with pytest.raises(ConnectorError) as caught:
        make()
    return str(caught.value)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


def test_the_canary_is_shaped_like_a_key() -> None:
    assert len(KEY) == 53 and KEY[5:].isalnum()


# --- A. one reading of a URL -------------------------------------------------------------------


def test_the_base_url_is_read_once_and_stored_normalised() -> None:
    assert Connector("P", "HTTPS://API.Example.com/v1/").base_url == "https://api.example.com/v1"
    assert Connector("P", "http://localhost:8000/").base_url == "http://localhost:8000"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"https://alice:{SECRET}@api.example.com", "put them in Auth Config as Basic Auth"),
        (f"http://alice:{SECRET}@api.example.com/?api_key={SECRET}", "Basic Auth"),
        (f"https://api.example.com/?api_key={SECRET}", "Query Parameters table"),
        (f"http://api.example.com/v1?api_key={SECRET}", "Query Parameters table"),
        (f"http://api.example.com/v1?api_key={KEY}#{SECRET}", "Query Parameters table"),
        ("http://api.example.com", "must start with https://"),
        ("http://remote\\@127.0.0.1:8000", "Basic Auth"),
        ("https://api.example.com\\evil", "not usable"),
        ("https://api.exa mple.com", "not usable"),
    ],
    ids=[
        "user-info",
        "user-info-and-query",
        "query",
        "http-and-query",
        "query-and-fragment",
        "plain-http",
        "backslash-user-info",
        "backslash",
        "space",
    ],
)
def test_a_refused_base_url_is_one_sentence_without_its_secrets(url: str, words: str) -> None:
    message = refusal(lambda: Connector("P", url))
    assert words in message and message.count(". ") <= 2
    assert_hidden(message)


def test_run_test_refuses_a_path_that_would_move_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A filled-in path that changes the host (or the port) is refused before anything is sent."""
    sent: list[object] = []
    monkeypatch.setattr(connector_module, "_send", lambda request: sent.append(request) or (200, b"{}"))
    for base_url in ("http://127.0.0.1:9", "http://127.0.0.1"):
        base = Connector("Local", base_url, HeaderAuth(KEY))
        for rendered in ("@127.0.0.2:9/x", ":8443/x", "evil.example/x", ".evil.example/x", "\\@127.0.0.2/x"):
            action = HttpAction("a", "/x", "GET", inputs={"p": rendered})
            object.__setattr__(action, "path", "{{{p}}}")  # a path no form accepts, as a bug could make
            with pytest.raises(TutorialError) as caught:
                run_test(base, action)
            assert "another server than the Base URL" in str(caught.value)
            assert check_request(base, action).startswith("Not ready: Once its example values are filled in")
            assert_hidden(str(caught.value), check_request(base, action))
    assert sent == []


def test_run_test_still_sends_a_query_through_the_checked_base(echo: EchoServer) -> None:
    action = HttpAction("a", "/v1/{{{item}}}", "GET", query={"q": "milky way"}, inputs={"item": "stars"})
    result = run_test(Connector("Echo", echo.url, ParamAuth(KEY, "api_key")), action)
    assert result.successful and echo.requests[0]["path"].startswith("/v1/stars?q=milky+way&api_key=")
    assert_hidden(result.body, execution_markdown(result))


@pytest.mark.parametrize(
    "url",
    ["http://remote\\@127.0.0.1:8000/x", "https://api.example.com\\@127.0.0.1/x", "https://api.exa\tmple.com/x"],
)
def test_import_curl_refuses_a_url_other_tools_read_differently(url: str) -> None:
    command = f"curl -H 'Authorization: Bearer {KEY}' '{url}'"
    message = refusal(lambda: import_curl(command))
    assert message.count(". ") <= 2
    assert_hidden(message)


# --- B1. cURL import errors quote no secret -------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        f"curl {BASE}/x '--header=Authorization: Bearer {KEY}'",
        f"curl {BASE}/x '--header=X-API-Key: {SECRET}'",
        f"curl {BASE}/x --user=alice:{SECRET}",
        f"curl {BASE}/x -H 'X-API-Key {SECRET}'",
        f"curl {BASE}/x -H 'Authorization {KEY}'",
        f"curl {BASE}/v1/agent \\\n  -H 'Authorization: Bearer' \\\n  {KEY}",
        f"curl {BASE}/v1/agent \\\n  -H 'X-API-Key:' \\\n  {SECRET}",
        f"curl -H X-API-Key: {SECRET}",
        f"curl -u alice:{SECRET} '{BASE}/x?api_key={SECRET}' https://b.example.com",
        f"curl '{BASE}/x?api_key={SECRET}' '{BASE}/y?token={SECRET}'",
        f"curl 'api.example.com/x?api_key={SECRET}'",
        f"curl 'http://api.example.com/x?api_key={SECRET}' -H 'X-API-Key: {SECRET}'",
    ],
    ids=[
        "header-equals-key",
        "header-equals-secret",
        "user-equals",
        "header-without-colon",
        "authorization-without-colon",
        "stray-key",
        "stray-secret",
        "unquoted-header-no-url",
        "second-url",
        "second-url-with-query",
        "incomplete-with-query",
        "plain-http-with-secret-header",
    ],
)
def test_a_refused_curl_command_never_quotes_its_secrets(command: str) -> None:
    message = refusal(lambda: import_curl(command))
    assert message.count(". ") <= 2 and "\n" not in message
    assert_hidden(message)


# --- B2. the check line ------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [KEY, SECRET], ids=["key", "secret"])
def test_the_check_line_masks_a_secret_in_the_query(secret: str) -> None:
    action = HttpAction("Search", "/v1/search", "GET", query={"q": "stars", "api_key": secret})
    line = check_request(Connector("Vendor", BASE), action)
    assert line.startswith("Ready: GET https://api.example.com/v1/search?q=stars&api_key=")
    assert_hidden(line, render_request(build_request(Connector("Vendor", BASE), action)), action.describe())


def test_the_check_line_masks_a_secret_in_a_templated_query_or_header() -> None:
    action = HttpAction(
        "Search", "/v1/search", "GET", {"X-API-Key": "{{{k}}}"}, {"token": "{{{t}}}"}, inputs={"k": SECRET, "t": KEY}
    )
    assert_hidden(check_request(Connector("Vendor", BASE), action))
    assert_hidden(render_request(build_request(Connector("Vendor", BASE), action)))


def test_the_forms_check_line_masks_secrets_in_its_fields() -> None:
    form = connector_form(Connector("Vendor", BASE), HttpAction("Search", "/v1/search", "GET"))
    form.query.value = f"q=stars\napi_key={KEY}\ntoken={SECRET}"
    assert form.check().startswith("Ready: GET") and "q=stars" in form.check()
    assert_hidden(form.check(), form.status.value)
    form.base_url.value = f"http://api.example.com/?api_key={SECRET}"
    assert form.check().startswith("Not ready:") and "Query Parameters table" in form.check()
    assert_hidden(form.check(), form.status.value)
    form.base_url.value, form.headers.value = BASE, f"X-API-Key {SECRET}"
    assert form.check().startswith("Not ready: The Headers line")
    assert_hidden(form.check(), form.status.value)


def test_error_sentence_takes_the_secrets_as_a_list() -> None:
    sentence = error_sentence(RuntimeError(f"boom with {SECRET} and {KEY}\nsecond line"), [SECRET])
    assert "RuntimeError: boom" in sentence and "\n" not in sentence
    assert_hidden(sentence, error_sentence(ConnectorError(f"quoted {SECRET}"), (SECRET,)))


# --- Test: a server that echoes the request ---------------------------------------------------


def test_an_echoed_secret_header_is_masked_in_the_test_result(echo: EchoServer) -> None:
    action = HttpAction(
        "a",
        "/anything",
        "POST",
        {"X-API-Key": SECRET, "Content-Type": "application/json"},
        {"token": SECRET},
        body=f'{{"key": "{KEY}"}}',
    )
    result = run_test(Connector("Echo", echo.url), action)
    assert result.successful and echo.requests[0]["headers"]["X-API-Key"] == SECRET  # it was sent
    assert_hidden(result.body, execution_markdown(result))


# --- B3. exports --------------------------------------------------------------------------------


def exports_of(connector: Connector, action: HttpAction) -> tuple[dict, dict, str]:
    return to_postman(connector, action), to_openapi(connector, action), to_curl(connector, action)


def secret_variables(collection: dict) -> list[str]:
    return [v["key"] for v in collection["variable"] if v["value"] == ""]


@pytest.mark.parametrize("secret", [KEY, SECRET], ids=["key", "secret"])
def test_a_secret_header_imported_from_curl_becomes_a_variable(secret: str) -> None:
    imported = import_curl(f"curl {BASE}/v1/items -H 'X-API-Key: {secret}' -H 'Accept: application/json'")
    assert isinstance(imported.connector.auth, NoAuth) and imported.action.headers["X-API-Key"] == secret
    collection, document, curl = exports_of(imported.connector, imported.action)
    assert_hidden(as_json(collection), as_json(document), curl)
    (header,) = [h for h in collection["item"][0]["request"]["header"] if h["key"] == "X-API-Key"]
    (variable,) = secret_variables(collection)
    assert header["value"] == "{{" + variable + "}}" and variable in collection["info"]["description"]
    (parameter,) = [p for p in document["paths"]["/v1/items"]["get"]["parameters"] if p["name"] == "X-API-Key"]
    assert "example" not in parameter and "secret" in document["info"]["description"].lower()
    validate(document)


@pytest.mark.parametrize("secret", [KEY, SECRET], ids=["key", "secret"])
def test_a_secret_query_parameter_becomes_a_variable(secret: str) -> None:
    action = HttpAction("Search", "/v1/search", "GET", query={"q": "stars", "api_key": secret})
    collection, document, curl = exports_of(Connector("Vendor", BASE), action)
    assert_hidden(as_json(collection), as_json(document), curl)
    url = collection["item"][0]["request"]["url"]
    (variable,) = secret_variables(collection)
    assert url["query"][1]["value"] == "{{" + variable + "}}" and url["raw"].endswith("api_key={{" + variable + "}}")
    (parameter,) = [p for p in document["paths"]["/v1/search"]["get"]["parameters"] if p["name"] == "api_key"]
    assert "example" not in parameter and [
        p["example"] for p in document["paths"]["/v1/search"]["get"]["parameters"] if p["name"] == "q"
    ] == ["stars"]
    validate(document)


def test_a_key_anywhere_in_the_body_or_a_plain_header_becomes_a_variable() -> None:
    action = HttpAction(
        "Create",
        "/v1/items",
        "POST",
        {"Content-Type": "application/json", "X-Note": f"token {KEY}"},
        body='{"name": "{{{name}}}", "vendor_key": "' + SECRET + '", "key": "{{{key}}}"}',
        inputs={"name": "Stars", "key": KEY},
    )
    connector = Connector("Vendor", BASE, HeaderAuth(SECRET, "X-API-Key", "%s"))
    collection, document, curl = exports_of(connector, action)
    assert_hidden(as_json(collection), as_json(document), curl)
    raw = json.loads(collection["item"][0]["request"]["body"]["raw"])
    assert raw["name"] == "Stars" and raw["vendor_key"] == "{{vendor_api_key}}" and raw["key"].startswith("{{")
    assert set(secret_variables(collection)) == {"vendor_api_key", raw["key"].strip("{}")}
    validate(document)


def test_basic_auth_password_in_the_body_stays_out_of_every_export() -> None:
    connector = Connector("ServiceNow", BASE, BasicAuth("admin", SECRET))
    action = HttpAction("a", "/x", "POST", {"Content-Type": "text/plain"}, body=f"password={SECRET}")
    collection, document, curl = exports_of(connector, action)
    assert_hidden(as_json(collection), as_json(document), curl, render_request(build_request(connector, action)))
    assert collection["item"][0]["request"]["body"]["raw"] == "password={{servicenow_password}}"


def test_a_credential_named_example_value_is_a_secret_everywhere() -> None:
    action = HttpAction(
        "Get",
        "/v1/keys/{{{api_key}}}",
        "POST",
        {"Content-Type": "application/json"},
        body='{"token": "{{{api_key}}}"}',
        inputs={"api_key": SECRET},
    )
    connector = Connector("Vendor", BASE)
    collection, document, curl = exports_of(connector, action)
    shown = (check_request(connector, action), render_request(build_request(connector, action)), action.describe())
    assert_hidden(*shown, as_json(collection), as_json(document), curl)
    assert collection["item"][0]["request"]["url"]["path"] == ["v1", "keys", "{{vendor_api_key}}"]
    validate(document)


def test_newman_fills_a_secret_header_from_its_variable(echo: EchoServer, tmp_path: Path) -> None:
    """The variable is not only a mask: Postman sends the value supplied for it."""
    imported = import_curl(f"curl {echo.url}/v1/items -H 'X-API-Key: {SECRET}'")
    collection = to_postman(imported.connector, imported.action)
    (variable,) = secret_variables(collection)
    run = run_newman(collection, tmp_path, {variable: SECRET})
    assert run["executions"][0]["response"]["code"] == 200
    assert echo.requests[0]["headers"]["X-API-Key"] == SECRET
