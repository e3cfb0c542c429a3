"""Take a connector and an HTTP action to other tools: a curl command, a Postman collection, an OpenAPI document.

Each export is checked by its real consumer in the tests (``curl``, ``newman``, and
``openapi-spec-validator``). No secret is written into the Postman collection or the OpenAPI
document. A secret is the auth's key or password, the value of a header or query parameter whose
name says it is a credential (``X-API-Key``, ``api_key``, ``token``...), and anything shaped like
a key, wherever it sits (path, query, headers, body). Each becomes a variable: ``{{name}}`` in
Postman, with an empty collection variable to fill in; in OpenAPI the auth is a security scheme,
a secret parameter has no example, and a secret in the body example reads ``{{name}}``. Each
document's description says so. Last, every string of a document goes through
:func:`~helpers.masking.redact`: what the variables missed is masked, never written.
The curl command shows every secret masked unless you ask for it with ``reveal=True``.
``$PERPLEXITY_API_KEY`` in a field (the configured key, by reference) is no secret: the curl command
leaves it for the shell to fill in, and Postman and OpenAPI give it the key's variable.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

from helpers.connector import (
    BasicAuth,
    BearerTokenAuth,
    Connector,
    HeaderAuth,
    HttpAction,
    ParamAuth,
    build_request,
    generate_output_schema,
    is_secret_name,
    map_strings,
    ordered_secrets,
    render_body,
    render_template,
)
from helpers.masking import find_key_shaped, redact
from helpers.settings import CONFIGURED_KEY

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
OPENAPI_VERSION = "3.1.0"
BASE_URL_VARIABLE = "baseUrl"
# OpenAPI ignores header parameters with these names: they come from content and security instead.
_OPENAPI_RESERVED_HEADERS = {"accept", "content-type", "authorization"}
_TEMPLATE_VARIABLE = re.compile(r"\{\{\{?\s*([A-Za-z_][\w-]*)\s*\}?\}\}")
# The shape redact() masks, found here to name a variable for each key; redact() still has the last word.
_SECRET_PARAMETER = "A secret: supply your own value (none is written into this document)."


def to_curl(connector: Connector, action: HttpAction, *, reveal: bool = False) -> str:
    """The request as a curl command in the guide's layout.

    Unless ``reveal`` is True, every secret is masked in the URL, the headers and the body alike: the
    auth's, a credential-named header or query value, and anything shaped like a key. A field that
    holds ``$PERPLEXITY_API_KEY`` stays that variable, for the shell to fill in from your environment.
    """
    request = build_request(connector, action)
    body = request.body.decode() if request.body is not None else None
    return curl_command(request.method, request.url, request.headers, body, secrets=request.secrets, reveal=reveal)


def curl_command(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: str | None = None,
    *,
    secrets: Iterable[str] = (),
    reveal: bool = False,
    variable: str = CONFIGURED_KEY,
    options: Sequence[str] = (),
    comments: Sequence[str] = (),
) -> str:
    """A request as a curl command in the guide's layout: the one curl renderer (exports and the playground).

    Each part is masked by :func:`~helpers.masking.redact` with ``secrets`` (and any key-shaped
    word) unless ``reveal`` is True. ``variable`` (``$NAME``) is left for the shell to expand, so a
    command can read the key from the environment instead of holding it. ``options`` (``--no-buffer``)
    follow the method, and ``comments`` come first, each as a ``#`` line.
    """
    secrets = tuple(secrets)

    def hide(text: str) -> str:
        return text if reveal else redact(text, secrets)

    url = hide(url).replace(quote_plus(variable), variable)  # urlencode wrote it as %24...
    lines = [f"curl --request {method}", *options, f"--url {_shell_word(url, variable)}"]
    lines += [f"--header {_shell_word(hide(f'{name}: {value}'), variable)}" for name, value in headers.items()]
    if body is not None:
        body = hide(body)
        option = "--data-raw" if body.startswith("@") else "--data"  # --data would read a file named after @
        lines.append(f"{option} {shlex.quote(body)}")
    return "".join(f"# {hide(comment)}\n" for comment in comments) + " \\\n     ".join(lines)


_DOUBLE_QUOTE_SAFE = re.compile(r'[^"\\$`!]*')  # what a shell reads literally inside "..."


def _shell_word(text: str, variable: str) -> str:
    """``text`` quoted as one shell word, with ``variable`` (``$NAME``) left for the shell to expand."""
    if variable not in text:
        return shlex.quote(text)
    pieces = text.split(variable)
    expanded = "${" + variable[1:] + "}"  # braces: a letter right after it cannot lengthen the name
    if all(_DOUBLE_QUOTE_SAFE.fullmatch(piece) for piece in pieces):
        return '"' + expanded.join(pieces) + '"'
    return f'"{expanded}"'.join(shlex.quote(piece) if piece else "" for piece in pieces)


def key_variable(connector: Connector) -> str:
    """The Postman variable that stands for the key, e.g. ``perplexity_api_key``."""
    return f"{_slug(connector.name)}_api_key"


def to_postman(connector: Connector, action: HttpAction) -> dict[str, Any]:
    """A Postman Collection v2.1 with one request, holding no secret.

    The key is the variable :func:`key_variable`, a Basic password ``<name>_password``, and every
    other secret (see the module's docstring) a variable of its own, such as ``vendor_x_api_key``.
    These collection variables are left empty: fill them in Postman, or pass them to newman with
    ``--env-var``. The collection's description lists them.
    """
    secrets = _SecretVariables(connector, action)
    auth, _, auth_variables = _auth_exports(connector)
    request = _postman_request(action, secrets.hide)
    used = [name for name in secrets.used_in(request) if name not in auth_variables]
    empty = [name for name, value in auth_variables.items() if not value] + used
    description = connector.description or f"Exported {connector.name} connector and HTTP action."
    collection = {
        "info": {"name": connector.name, "description": description + _secrets_note(empty), "schema": POSTMAN_SCHEMA},
        "auth": auth,
        "item": [{"name": action.name, "request": request}],
        "variable": [
            _kv(BASE_URL_VARIABLE, connector.base_url),
            *(_kv(name, value) for name, value in auth_variables.items()),
            *(_kv(name, "") for name in used),
        ],
    }
    return secrets.redacted(collection)


def to_openapi(connector: Connector, action: HttpAction, *, response: Any = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the action; ``response`` (a Test response) gives the 200 schema.

    It holds no secret: the auth is the security scheme ``connectorAuth``, a parameter whose value
    is a secret has no example, and a secret in the body example reads ``{{name}}``, the variable of
    the Postman export. The document's description says so.
    """
    secrets = _SecretVariables(connector, action)
    operation: dict[str, Any] = {
        "operationId": _slug(action.name),
        "summary": action.name,
        "responses": {"200": _openapi_response(response)},
    }
    parameters = _openapi_parameters(action, secrets.hide)
    if parameters:
        operation["parameters"] = parameters
    body = _body_text(action)
    if body is not None:
        operation["requestBody"] = _openapi_body(action, body, secrets.hide)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": connector.name, "version": "1.0.0", "description": _OPENAPI_NOTE},
        "servers": [{"url": connector.base_url}],
        "paths": {_TEMPLATE_VARIABLE.sub(r"{\1}", action.path): {action.method.lower(): operation}},
    }
    _, scheme, _ = _auth_exports(connector)
    if scheme is not None:
        document["components"] = {"securitySchemes": {"connectorAuth": scheme}}
        document["security"] = [{"connectorAuth": []}]
    return secrets.redacted(document)


def as_json(document: dict[str, Any]) -> str:
    """A document as the text you would save to a file."""
    return json.dumps(document, indent=2, ensure_ascii=False)


# --- Postman --------------------------------------------------------------------------------


def _auth_exports(connector: Connector) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str]]:
    """The auth as Postman's auth block and as OpenAPI's security scheme (None: no auth), and the
    variables they use, by name (the secret ones left empty)."""
    auth, key, slug = connector.auth, key_variable(connector), _slug(connector.name)
    if isinstance(auth, BasicAuth):
        user, password = f"{slug}_username", f"{slug}_password"
        postman = {"type": "basic", "basic": [_kv("username", _var(user)), _kv("password", _var(password))]}
        return postman, {"type": "http", "scheme": "basic"}, {user: auth.username, password: ""}
    if isinstance(auth, BearerTokenAuth) or (isinstance(auth, HeaderAuth) and auth.is_plain_bearer):
        return {"type": "bearer", "bearer": [_kv("token", _var(key))]}, {"type": "http", "scheme": "bearer"}, {key: ""}
    if isinstance(auth, HeaderAuth):
        value = auth.value_pattern.replace("%s", _var(key))
        postman = {"type": "apikey", "apikey": [_kv("key", auth.header_key), _kv("value", value), _kv("in", "header")]}
        why = f"The header value is the pattern '{auth.value_pattern}' with the key for %s."
        return postman, {"type": "apiKey", "in": "header", "name": auth.header_key, "description": why}, {key: ""}
    if isinstance(auth, ParamAuth):
        postman = {
            "type": "apikey",
            "apikey": [_kv("key", auth.param_name), _kv("value", _var(key)), _kv("in", "query")],
        }
        return postman, {"type": "apiKey", "in": "query", "name": auth.param_name}, {key: ""}
    return {"type": "noauth"}, None, {}


def _postman_request(action: HttpAction, hide: Callable[[str], str]) -> dict[str, Any]:
    """One request, with the example values filled in (Postman's own ``{{...}}`` would clash with Mustache)
    and each secret ``hide``-den behind its variable."""

    def fill(text: str) -> str:
        return hide(render_template(text, action.inputs))

    path = fill(action.path)
    query = [{"key": k, "value": fill(v)} for k, v in action.query.items()]
    raw_query = "?" + "&".join(f"{q['key']}={q['value']}" for q in query) if query else ""
    url: dict[str, Any] = {
        "raw": _var(BASE_URL_VARIABLE) + path + raw_query,
        "host": [_var(BASE_URL_VARIABLE)],
        "path": [segment for segment in path.split("/") if segment],
    }
    if query:
        url["query"] = query
    headers = [{"key": k, "value": fill(v), "type": "text"} for k, v in action.headers.items()]
    request: dict[str, Any] = {"method": action.method, "url": url, "header": headers}
    body = _body_text(action)
    if body is not None:
        language = "json" if "json" in action.content_type.lower() else "text"
        request["body"] = {"mode": "raw", "raw": hide(body), "options": {"raw": {"language": language}}}
    return request


def _var(name: str) -> str:
    """A Postman variable reference."""
    return "{{" + name + "}}"


def _kv(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": value, "type": "string"}


# --- OpenAPI --------------------------------------------------------------------------------


def _openapi_parameters(action: HttpAction, hide: Callable[[str], str]) -> list[dict[str, Any]]:
    """Path, query and header parameters, each with its filled-in example unless that is a secret."""

    def parameter(name: str, where: str, value: Any) -> dict[str, Any]:
        required = {"required": True} if where == "path" else {}
        return {"name": name, "in": where, **required, "schema": {"type": "string"}, **_example(name, value, hide)}

    def filled(text: str) -> str:
        return render_template(text, action.inputs)

    parameters = [parameter(name, "path", action.inputs.get(name)) for name in _TEMPLATE_VARIABLE.findall(action.path)]
    parameters += [parameter(k, "query", filled(v)) for k, v in action.query.items()]
    parameters += [
        parameter(k, "header", filled(v))
        for k, v in action.headers.items()
        if k.lower() not in _OPENAPI_RESERVED_HEADERS
    ]
    return _unique(parameters)


def _unique(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each parameter once (OpenAPI refuses a name twice in one place): a path variable may appear twice
    in the path, and header names are case-insensitive. The first one is kept."""
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for parameter in parameters:
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        unique.setdefault((name, parameter["in"]), parameter)
    return list(unique.values())


def _openapi_body(action: HttpAction, text: str, hide: Callable[[str], str]) -> dict[str, Any]:
    """The body with its example; each secret in the example reads ``{{variable}}``."""
    content_type = action.content_type.split(";")[0].strip() or "text/plain"
    if "json" in content_type:
        example = map_strings(json.loads(text), hide)
        return {"required": True, "content": {content_type: {"schema": _schema(example), "example": example}}}
    return {"required": True, "content": {content_type: {"schema": {"type": "string"}, "example": hide(text)}}}


def _openapi_response(response: Any) -> dict[str, Any]:
    if response is None or isinstance(response, str):
        return {"description": "Successful execution"}
    return {"description": "Successful execution", "content": {"application/json": {"schema": _schema(response)}}}


def _schema(value: Any) -> dict[str, Any]:
    """genson's schema without its draft-04 ``$schema`` line (OpenAPI 3.1 has its own dialect)."""
    schema = generate_output_schema(value)
    schema.pop("$schema", None)
    return schema


def _example(name: str, value: Any, hide: Callable[[str], str]) -> dict[str, Any]:
    """``{"example": value}``, or a description instead when the value is a secret."""
    if value is None:
        return {}
    text = str(value)
    if is_secret_name(name) or hide(text) != text:
        return {"description": _SECRET_PARAMETER}
    return {"example": text}


# --- shared ---------------------------------------------------------------------------------


def _body_text(action: HttpAction) -> str | None:
    """The body with its example values filled in, or None when there is none (a blank body is none)."""
    text = render_body(action) if action.body else ""
    return text if text.strip() else None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "connector"


# --- secrets --------------------------------------------------------------------------------

_OPENAPI_NOTE = (
    "No secret is written into this document: the auth is the security scheme connectorAuth, a "
    "parameter that holds a secret has no example, and {{name}} in an example stands for a secret "
    "you supply (the variable of the same name in the Postman export)."
)


class _SecretVariables:
    """Each secret an export must not hold, and the variable that stands for it."""

    def __init__(self, connector: Connector, action: HttpAction) -> None:
        self.names = _secret_names(connector, action)  # $PERPLEXITY_API_KEY included: it gets the key's variable
        self.secrets = ordered_secrets([*self.names, *connector.auth.secrets()])  # what redact() masks

    def hide(self, text: str) -> str:
        """``text`` with each secret replaced by ``{{its variable}}``, longest first."""
        for secret in sorted(self.names, key=lambda secret: (-len(secret), secret)):
            if len(secret) >= 4:  # as redact: a shorter "secret" would hit ordinary text
                text = text.replace(secret, "{{" + self.names[secret] + "}}")
        return text

    def used_in(self, document: Any) -> list[str]:
        """The variables that ``document`` refers to, each once."""
        text = json.dumps(document)
        return [name for name in dict.fromkeys(self.names.values()) if "{{" + name + "}}" in text]

    def redacted(self, document: Any) -> Any:
        """``document`` with every string (keys too) through :func:`redact`: the last word on what is written."""
        return map_strings(document, lambda text: redact(text, self.secrets))


def _secret_names(connector: Connector, action: HttpAction) -> dict[str, str]:
    """Each secret of the connector and the action (its filled-in values), mapped to a variable name."""
    auth, (_, _, auth_variables) = connector.auth, _auth_exports(connector)
    # The auth's secret gets the variable its Postman auth block uses: the one left empty there.
    names = {getattr(auth, auth.secret_field): name for name, value in auth_variables.items() if not value}
    slug = _slug(connector.name)
    filled = [(k, render_template(v, action.inputs)) for k, v in [*action.query.items(), *action.headers.items()]]
    inputs = [(k, str(v)) for k, v in action.inputs.items() if v is not None]
    for name, value in [*filled, *inputs]:
        words = value.split()
        if is_secret_name(name) and words:  # "Bearer abc": the variable stands for abc, Bearer stays
            _name_secret(names, words[-1] if len(words) == 2 else value.strip(), f"{slug}_{_slug(name)}")
    texts = [render_template(action.path, action.inputs), *(value for _, value in filled), _body_text(action) or ""]
    for key in (key for text in texts for key in find_key_shaped(text)):
        _name_secret(names, key, f"{slug}_secret")
    return names


def _name_secret(names: dict[str, str], secret: str, name: str) -> None:
    """Give ``secret`` the variable ``name`` (``name_2``... when another secret has it), unless it has one."""
    taken, candidate, number = set(names.values()), name, 1
    while secret not in names and candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    names.setdefault(secret, candidate)


def _secrets_note(variables: list[str]) -> str:
    """The sentence that says which variables hold the secrets, or "" when there are none."""
    if not variables:
        return ""
    return (
        f" No secret is written into this collection: fill in the empty variables {', '.join(variables)} "
        "(in Postman, or with newman --env-var NAME=VALUE)."
    )
