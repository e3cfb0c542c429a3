"""Exports, each proved by its real consumer: curl, newman (Postman's runner) and openapi-spec-validator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from helpers.connector import (
    BasicAuth,
    BearerTokenAuth,
    Connector,
    HeaderAuth,
    HttpAction,
    NoAuth,
    ParamAuth,
    agent_action,
    guide_connector,
    run_test,
)
from helpers.exports import POSTMAN_SCHEMA, as_json, curl_command, key_variable, to_curl, to_openapi, to_postman
from helpers.masking import mask_key
from perplexity_sandbox import Sandbox
from tests import support
from tests.support import FAKE_KEY, OTHER_KEY, EchoServer, run_newman

CUSTOM_HEADER = HeaderAuth(OTHER_KEY, "X-API-Key", "%s")
ALL_AUTHS = [
    NoAuth(),
    HeaderAuth(FAKE_KEY),
    CUSTOM_HEADER,
    ParamAuth(OTHER_KEY, "key"),
    BearerTokenAuth(OTHER_KEY),
    BasicAuth("admin", "s3cret-pass"),
]


# --- curl -----------------------------------------------------------------------------------


def test_curl_masks_the_key_by_default() -> None:
    command = to_curl(guide_connector(FAKE_KEY), agent_action())
    assert FAKE_KEY not in command and "--header 'Authorization: Bearer pplx-...t3st'" in command
    assert command.startswith("curl --request POST \\\n     --url https://api.perplexity.ai/v1/agent \\\n")


def test_curl_masks_basic_and_param_secrets() -> None:
    action = HttpAction("a", "/x", "GET")
    basic = to_curl(Connector("S", "https://example.com", BasicAuth("admin", "s3cret-pass")), action)
    param = to_curl(Connector("P", "https://example.com", ParamAuth(OTHER_KEY, "key")), action)
    token = base64.b64encode(b"admin:s3cret-pass").decode()
    assert f"Authorization: Basic {mask_key(token)}" in basic and "s3cret" not in basic and token not in basic
    assert OTHER_KEY not in param and "key=" in param


def test_exported_curl_run_by_real_curl_succeeds(sandbox: Sandbox) -> None:
    assert shutil.which("curl"), "curl is needed for this test"
    command = to_curl(guide_connector(FAKE_KEY).with_base_url(sandbox.url), agent_action(), reveal=True)
    body, status, errors = run_curl(command)
    assert status == "200", errors
    assert json.loads(body)["status"] == "completed"


def test_one_curl_renderer_reads_the_key_from_a_shell_variable_and_streams(sandbox: Sandbox) -> None:
    """The playground's shape: comments first, --no-buffer, and the key from a variable the shell expands."""
    body = json.dumps({"model": "perplexity/sonar", "input": "Hi", "stream": True}, indent=2)
    headers = {"Authorization": "Bearer $PERPLEXITY_SANDBOX_KEY", "Content-Type": "application/json"}
    command = curl_command(
        "POST",
        sandbox.url + "/v1/agent",
        headers,
        body,
        variable="$PERPLEXITY_SANDBOX_KEY",
        options=["--no-buffer"],
        comments=[f"The key {FAKE_KEY} is never shown"],
    )
    assert command.startswith(f"# The key {mask_key(FAKE_KEY)} is never shown\ncurl --request POST \\\n")
    assert '--header "Authorization: Bearer ${PERPLEXITY_SANDBOX_KEY}"' in command and FAKE_KEY not in command
    environment = {"PATH": os.environ["PATH"], "PERPLEXITY_SANDBOX_KEY": FAKE_KEY}
    events, status, errors = run_curl(command, environment)
    assert status == "200", errors
    assert "data: " in events


def run_curl(command: str, environment: dict[str, str] | None = None) -> tuple[str, str, str]:
    """Run an exported command with bash and real curl: its body, its HTTP status ("" if curl failed), stderr."""
    done = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --write-out '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    body, _, status = done.stdout.rpartition("\n")
    return body, status if done.returncode == 0 else "", done.stderr


# --- Postman --------------------------------------------------------------------------------


def test_postman_uses_bearer_for_exactly_bearer_on_authorization() -> None:
    collection = to_postman(guide_connector(FAKE_KEY), agent_action())
    assert collection["info"]["schema"] == POSTMAN_SCHEMA
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{perplexity_api_key}}", "type": "string"}],
    }


def test_postman_uses_apikey_for_any_other_pattern() -> None:
    custom = to_postman(Connector("Vendor", "https://example.com", CUSTOM_HEADER), agent_action())["auth"]
    token = to_postman(
        Connector("P", "https://example.com", HeaderAuth(FAKE_KEY, "Authorization", "Token %s")), agent_action()
    )["auth"]
    assert custom == {
        "type": "apikey",
        "apikey": [
            {"key": "key", "value": "X-API-Key", "type": "string"},
            {"key": "value", "value": "{{vendor_api_key}}", "type": "string"},
            {"key": "in", "value": "header", "type": "string"},
        ],
    }
    assert token["type"] == "apikey" and token["apikey"][1]["value"] == "Token {{p_api_key}}"


@pytest.mark.parametrize("auth", ALL_AUTHS, ids=lambda a: type(a).__name__)
def test_no_export_file_holds_a_secret(auth) -> None:
    connector = Connector("Vendor", "https://example.com", auth)
    text = as_json(to_postman(connector, agent_action())) + as_json(to_openapi(connector, agent_action()))
    for secret in (FAKE_KEY, OTHER_KEY, "s3cret-pass"):
        assert secret not in text


@pytest.mark.parametrize(
    ("npm", "reason"),
    [(None, "npm is not installed"), (shutil.which("false"), "`npm ci` failed")],
    ids=["no-npm", "npm-fails"],
)
@pytest.mark.parametrize("ci", ["", "true"], ids=["local", "ci"])
def test_without_newman_the_test_skips_with_the_reason_or_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, npm: str | None, reason: str, ci: str
) -> None:
    monkeypatch.setattr(support, "NEWMAN", tmp_path / "node_modules" / ".bin" / "newman")
    monkeypatch.setattr(support, "ROOT", tmp_path)  # a failing `npm ci` runs here, not in the checkout
    monkeypatch.setattr(support.shutil, "which", lambda name: npm)
    monkeypatch.setenv("CI", ci)
    support._install_newman.cache_clear()
    try:
        with pytest.raises(pytest.fail.Exception if ci else pytest.skip.Exception, match=reason):
            support.newman()
    finally:
        support._install_newman.cache_clear()


def test_newman_runs_the_collection_against_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    connector = guide_connector(FAKE_KEY).with_base_url(sandbox.url)
    run = run_newman(to_postman(connector, agent_action()), tmp_path, {key_variable(connector): FAKE_KEY})
    (execution,) = run["executions"]
    assert run["failures"] == [] and execution["response"]["code"] == 200
    assert json.loads(bytes(execution["response"]["stream"]["data"]))["status"] == "completed"


def test_newman_without_the_key_variable_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    connector = guide_connector(FAKE_KEY).with_base_url(sandbox.url)
    run = run_newman(to_postman(connector, agent_action()), tmp_path, {})
    assert run["executions"][0]["response"]["code"] == 401  # proves the key comes only from the variable


def test_newman_sends_a_custom_api_key_header(tmp_path: Path) -> None:
    with EchoServer() as echo:
        connector = Connector("Vendor", echo.url, CUSTOM_HEADER)
        action = HttpAction("List", "/v1/items", "GET", query={"limit": "{{n}}"}, inputs={"n": 2})
        run = run_newman(to_postman(connector, action), tmp_path, {"vendor_api_key": OTHER_KEY})
    assert run["executions"][0]["response"]["code"] == 200
    (received,) = echo.requests
    assert received["headers"]["X-API-Key"] == OTHER_KEY and received["path"] == "/v1/items?limit=2"


# --- OpenAPI --------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ALL_AUTHS, ids=lambda a: type(a).__name__)
def test_openapi_documents_are_valid(auth) -> None:
    action = HttpAction(
        "Get task",
        "/tasks/{{{task_id}}}",
        "POST",
        {"Content-Type": "application/json", "X-Trace": "t1"},
        {"opt_fields": "name"},
        '{"n": {{n}}}',
        {"task_id": "42", "n": 1},
    )
    validate(to_openapi(Connector("Vendor", "https://example.com/api", auth), action))


@pytest.mark.parametrize(
    ("auth", "scheme"),
    [
        (HeaderAuth(FAKE_KEY), {"type": "http", "scheme": "bearer"}),
        (BearerTokenAuth(FAKE_KEY), {"type": "http", "scheme": "bearer"}),
        (BasicAuth("admin", "s3cret-pass"), {"type": "http", "scheme": "basic"}),
        (ParamAuth(OTHER_KEY, "key"), {"type": "apiKey", "in": "query", "name": "key"}),
    ],
)
def test_openapi_security_scheme_matches_the_auth(auth, scheme: dict) -> None:
    document = to_openapi(Connector("Vendor", "https://example.com", auth), agent_action())
    assert document["components"]["securitySchemes"]["connectorAuth"] == scheme
    assert document["security"] == [{"connectorAuth": []}]


def test_openapi_custom_header_is_an_apikey_scheme() -> None:
    document = to_openapi(Connector("Vendor", "https://example.com", CUSTOM_HEADER), agent_action())
    scheme = document["components"]["securitySchemes"]["connectorAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    assert "security" not in to_openapi(Connector("Open", "https://example.com"), agent_action())


def test_openapi_of_the_agent_action_with_its_tested_response(sandbox: Sandbox) -> None:
    connector, action = guide_connector(FAKE_KEY).with_base_url(sandbox.url), agent_action()
    document = to_openapi(connector, action, response=run_test(connector, action).body)
    validate(document)
    operation = document["paths"]["/v1/agent"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["example"]["max_output_tokens"] == 1024
    response_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema["properties"]["status"] == {"type": "string"}
    assert "parameters" not in operation  # accept and content-type are not header parameters in OpenAPI


# --- review fixes ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "   ", "\n  \n"])
def test_a_blank_json_body_is_no_body_in_every_export(body: str) -> None:
    action = HttpAction("Ping", "/ping", "POST", {"Content-Type": "application/json"}, body=body)
    connector = Connector("Vendor", "https://example.com", BearerTokenAuth(OTHER_KEY))
    document = to_openapi(connector, action)
    validate(document)
    assert "requestBody" not in document["paths"]["/ping"]["post"]
    assert "body" not in to_postman(connector, action)["item"][0]["request"]


def test_a_path_variable_used_twice_is_one_parameter() -> None:
    action = HttpAction(
        "Sub", "/items/{{id}}/sub/{{{id}}}", "GET", {"X-Trace": "t1", "x-trace": "t2"}, inputs={"id": "7"}
    )
    document = to_openapi(Connector("Vendor", "https://example.com"), action)
    validate(document)
    parameters = document["paths"]["/items/{id}/sub/{id}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [("id", "path"), ("X-Trace", "header")]


def test_curl_masks_a_secret_in_the_body_too() -> None:
    action = HttpAction(
        "a",
        "/x",
        "POST",
        {"Content-Type": "application/json"},
        body=f'{{"vendor_key": "{OTHER_KEY}", "pplx": "{FAKE_KEY}"}}',
    )
    command = to_curl(Connector("Vendor", "https://example.com", HeaderAuth(OTHER_KEY, "X-API-Key", "%s")), action)
    assert OTHER_KEY not in command and FAKE_KEY not in command and "pplx-...t3st" in command
    assert OTHER_KEY in to_curl(
        Connector("Vendor", "https://example.com", HeaderAuth(OTHER_KEY, "X-API-Key", "%s")), action, reveal=True
    )
