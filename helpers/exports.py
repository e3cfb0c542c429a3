"""Take a connector and an HTTP action to other tools: a curl command, a Postman collection, an OpenAPI document.

Each export is checked by its real consumer in the tests (``curl``, ``newman``, and
``openapi-spec-validator``). The key is never written into the Postman collection or the
OpenAPI document: Postman gets a variable for it, OpenAPI a security scheme. The curl command
shows the key masked unless you ask for it with ``reveal=True``.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from helpers.connector import (
    BasicAuth,
    BearerAuth,
    Connector,
    HeaderAuth,
    HttpAction,
    NoAuth,
    ParamAuth,
    build_request,
    generate_output_schema,
    hide_secrets,
    render_body,
    render_template,
)
from helpers.keys import redact

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
OPENAPI_VERSION = "3.1.0"
BASE_URL_VARIABLE = "baseUrl"
# OpenAPI ignores header parameters with these names: they come from content and security instead.
_OPENAPI_RESERVED_HEADERS = {"accept", "content-type", "authorization"}
_TEMPLATE_VARIABLE = re.compile(r"\{\{\{?\s*([A-Za-z_][\w-]*)\s*\}?\}\}")


def to_curl(connector: Connector, action: HttpAction, *, reveal: bool = False) -> str:
    """The request as a curl command in the guide's layout; the key is masked unless ``reveal`` is True."""
    request = build_request(connector, action)
    hide = (lambda text: text) if reveal else (lambda text: redact(hide_secrets(text, request.masks)))
    lines = [f"curl --request {request.method}", f"--url {shlex.quote(hide(request.url))}"]
    lines += [f"--header {shlex.quote(hide(f'{name}: {value}'))}" for name, value in request.headers.items()]
    if request.body is not None:
        body = hide(request.body.decode())
        option = "--data-raw" if body.startswith("@") else "--data"  # --data would read a file named after @
        lines.append(f"{option} {shlex.quote(body)}")
    return " \\\n     ".join(lines)


def key_variable(connector: Connector) -> str:
    """The Postman variable that stands for the key, e.g. ``perplexity_api_key``."""
    return f"{_slug(connector.name)}_api_key"


def to_postman(connector: Connector, action: HttpAction) -> dict[str, Any]:
    """A Postman Collection v2.1 with one request; the key is the empty variable :func:`key_variable`."""
    variables = [{"key": BASE_URL_VARIABLE, "value": connector.base_url, "type": "string"}]
    auth, auth_variables = _postman_auth(connector)
    item = {"name": action.name, "request": _postman_request(action)}
    return {
        "info": {"name": connector.name, "description": connector.description or f"Exported {connector.name} "
                 "connector and HTTP action.", "schema": POSTMAN_SCHEMA},
        "auth": auth,
        "item": [item],
        "variable": variables + auth_variables,
    }


def to_openapi(connector: Connector, action: HttpAction, *, response: Any = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the action; ``response`` (a Test response) gives the 200 schema."""
    operation: dict[str, Any] = {"operationId": _slug(action.name), "summary": action.name,
                                 "responses": {"200": _openapi_response(response)}}
    parameters = _openapi_parameters(action)
    if parameters:
        operation["parameters"] = parameters
    body = _body_text(action)
    if body is not None:
        operation["requestBody"] = _openapi_body(action, body)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": connector.name, "version": "1.0.0"},
        "servers": [{"url": connector.base_url}],
        "paths": {_TEMPLATE_VARIABLE.sub(r"{\1}", action.path): {action.method.lower(): operation}},
    }
    scheme = _security_scheme(connector)
    if scheme is not None:
        document["components"] = {"securitySchemes": {"connectorAuth": scheme}}
        document["security"] = [{"connectorAuth": []}]
    return document


def as_json(document: dict[str, Any]) -> str:
    """A document as the text you would save to a file."""
    return json.dumps(document, indent=2, ensure_ascii=False)


# --- Postman --------------------------------------------------------------------------------


def _postman_auth(connector: Connector) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The collection's auth block, and the variables it uses (the secret ones left empty)."""
    auth, key = connector.auth, _var(key_variable(connector))
    secret = [{"key": key_variable(connector), "value": "", "type": "string"}]
    if isinstance(auth, BearerAuth) or (isinstance(auth, HeaderAuth) and auth.is_plain_bearer):
        return {"type": "bearer", "bearer": [_kv("token", key)]}, secret
    if isinstance(auth, HeaderAuth):
        value = auth.value_pattern.replace("%s", key)
        return {"type": "apikey", "apikey": [_kv("key", auth.header_key), _kv("value", value),
                                              _kv("in", "header")]}, secret
    if isinstance(auth, ParamAuth):
        return {"type": "apikey", "apikey": [_kv("key", auth.param_name), _kv("value", key),
                                              _kv("in", "query")]}, secret
    if isinstance(auth, BasicAuth):
        user, password = f"{_slug(connector.name)}_username", f"{_slug(connector.name)}_password"
        variables = [{"key": user, "value": auth.username, "type": "string"},
                     {"key": password, "value": "", "type": "string"}]
        return {"type": "basic", "basic": [_kv("username", _var(user)), _kv("password", _var(password))]}, variables
    return {"type": "noauth"}, []


def _postman_request(action: HttpAction) -> dict[str, Any]:
    """One request, with the example values filled in (Postman's own ``{{...}}`` would clash with Mustache)."""
    def fill(text: str) -> str:
        return render_template(text, action.inputs)

    path = fill(action.path)
    query = [{"key": k, "value": fill(v)} for k, v in action.query.items()]
    raw_query = "?" + "&".join(f"{q['key']}={q['value']}" for q in query) if query else ""
    url: dict[str, Any] = {"raw": _var(BASE_URL_VARIABLE) + path + raw_query, "host": [_var(BASE_URL_VARIABLE)],
                           "path": [segment for segment in path.split("/") if segment]}
    if query:
        url["query"] = query
    headers = [{"key": k, "value": fill(v), "type": "text"} for k, v in action.headers.items()]
    request: dict[str, Any] = {"method": action.method, "url": url, "header": headers}
    body = _body_text(action)
    if body is not None:
        language = "json" if "json" in action.content_type.lower() else "text"
        request["body"] = {"mode": "raw", "raw": body, "options": {"raw": {"language": language}}}
    return request


def _var(name: str) -> str:
    """A Postman variable reference."""
    return "{{" + name + "}}"


def _kv(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": value, "type": "string"}


# --- OpenAPI --------------------------------------------------------------------------------


def _security_scheme(connector: Connector) -> dict[str, Any] | None:
    auth = connector.auth
    if isinstance(auth, NoAuth):
        return None
    if isinstance(auth, BearerAuth) or (isinstance(auth, HeaderAuth) and auth.is_plain_bearer):
        return {"type": "http", "scheme": "bearer"}
    if isinstance(auth, HeaderAuth):
        return {"type": "apiKey", "in": "header", "name": auth.header_key,
                "description": f"The header value is the pattern '{auth.value_pattern}' with the key for %s."}
    if isinstance(auth, ParamAuth):
        return {"type": "apiKey", "in": "query", "name": auth.param_name}
    return {"type": "http", "scheme": "basic"}


def _openapi_parameters(action: HttpAction) -> list[dict[str, Any]]:
    path_names = _TEMPLATE_VARIABLE.findall(action.path)
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                   **_example(action.inputs.get(name))} for name in path_names]
    parameters += [{"name": k, "in": "query", "schema": {"type": "string"}, "example": v}
                   for k, v in action.query.items()]
    parameters += [{"name": k, "in": "header", "schema": {"type": "string"}, "example": v}
                   for k, v in action.headers.items() if k.lower() not in _OPENAPI_RESERVED_HEADERS]
    return _unique(parameters)


def _unique(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each parameter once (OpenAPI refuses a name twice in one place): a path variable may appear twice
    in the path, and header names are case-insensitive. The first one is kept."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for parameter in parameters:
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        if (name, parameter["in"]) not in seen:
            seen.add((name, parameter["in"]))
            unique.append(parameter)
    return unique


def _openapi_body(action: HttpAction, text: str) -> dict[str, Any]:
    content_type = action.content_type.split(";")[0].strip() or "text/plain"
    if "json" in content_type:
        example = json.loads(text)
        return {"required": True, "content": {content_type: {"schema": _schema(example), "example": example}}}
    return {"required": True, "content": {content_type: {"schema": {"type": "string"}, "example": text}}}


def _openapi_response(response: Any) -> dict[str, Any]:
    if response is None or isinstance(response, str):
        return {"description": "Successful execution"}
    return {"description": "Successful execution", "content": {"application/json": {"schema": _schema(response)}}}


def _schema(value: Any) -> dict[str, Any]:
    """genson's schema without its draft-04 ``$schema`` line (OpenAPI 3.1 has its own dialect)."""
    schema = generate_output_schema(value)
    schema.pop("$schema", None)
    return schema


def _example(value: Any) -> dict[str, Any]:
    return {} if value is None else {"example": str(value)}


# --- shared ---------------------------------------------------------------------------------


def _body_text(action: HttpAction) -> str | None:
    """The body with its example values filled in, or None when there is none (a blank body is none)."""
    text = render_body(action) if action.body else ""
    return text if text.strip() else None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "connector"
