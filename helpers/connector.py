"""Creator Studio's connector and HTTP action, as plain data, and the request they produce.

A connector holds the Base URL and the auth config (No Auth, API Key Auth with Header Auth or
Param Auth, Bearer Token Auth, Basic Auth). An HTTP action adds the method, the path, the
headers and query tables, and a body that is a Mustache template filled with example values,
as Creator Studio does. :func:`build_request` joins them into the exact HTTP request Creator
Studio sends; :func:`render_request` shows it with every secret masked; :func:`run_test` sends
it, as the Test button does, within Creator Studio's limits, and derives an output schema.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import quote_plus, urlencode, urlsplit

import pystache
import requests
import urllib3
from genson import SchemaBuilder
from pystache.context import KeyNotFoundError

from helpers.client import GUIDE_MODEL, GUIDE_QUESTION, GUIDE_SYSTEM, check_transport, guide_messages
from helpers.errors import TransportSecurityError, TutorialError
from helpers.keys import mask_key, redact

GUIDE_BASE_URL = "https://api.perplexity.ai"
TEST_TIMEOUT_SECONDS = 60  # Creator Studio's limit
MAX_RESPONSE_BYTES = 200 * 1024  # Creator Studio's limit
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
AUTH_CONFIGS = ("No Auth", "Api Key Auth", "Bearer Token Auth", "Basic Auth")
MISSING_EXAMPLE_10111 = ("Failed to construct request. Please make sure that all variables denoted by {{{}}} "
                         "have corresponding example values (error 10111).")
HIDDEN = "****"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)


class ConnectorError(TutorialError, ValueError):
    """A connector or HTTP action field that Creator Studio would refuse, or a request it cannot build."""


# --- auth configs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoAuth:
    """Auth Config "No Auth": nothing is added to the request."""

    config: ClassVar[str] = "No Auth"

    def headers(self) -> dict[str, str]:
        return {}

    def query(self) -> dict[str, str]:
        return {}

    def masks(self) -> dict[str, str]:
        """Each secret this auth puts into a request, and what to show in its place."""
        return {}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config}


@dataclass(frozen=True)
class HeaderAuth:
    """API Key Auth with Auth Type "Header Auth": the key, put into a header through a ``%s`` pattern."""

    api_key: str = field(repr=False)
    header_key: str = "Authorization"
    value_pattern: str = "Bearer %s"
    config: ClassVar[str] = "Api Key Auth"

    def __post_init__(self) -> None:
        _check_header_name(self.header_key, "Header Auth Key")
        if self.value_pattern.count("%s") != 1:
            raise ConnectorError(f"The Header Auth Value Pattern '{self.value_pattern}' must contain %s exactly "
                                 "once, where the key goes (for example 'Bearer %s').")
        _check_single_line(self.value_pattern, "Header Auth Value Pattern")
        _check_key(self.api_key, "Api Key")

    def headers(self) -> dict[str, str]:
        return {self.header_key: self.value_pattern.replace("%s", self.api_key)}

    def query(self) -> dict[str, str]:
        return {}

    def masks(self) -> dict[str, str]:
        return {self.api_key: mask_key(self.api_key)}

    @property
    def is_plain_bearer(self) -> bool:
        """Exactly ``Authorization: Bearer %s``, which other tools call bearer auth."""
        return self.header_key.lower() == "authorization" and self.value_pattern == "Bearer %s"

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Api Key Auth Auth Type": "Header Auth",
                "Header Auth Key": self.header_key, "Header Auth Value Pattern": self.value_pattern,
                "Api Key": mask_key(self.api_key)}


@dataclass(frozen=True)
class ParamAuth:
    """API Key Auth with Auth Type "Param Auth": the key as a query parameter (``?name=KEY``)."""

    api_key: str = field(repr=False)
    param_name: str = "api_key"
    config: ClassVar[str] = "Api Key Auth"

    def __post_init__(self) -> None:
        if not self.param_name or not _TOKEN.match(self.param_name):
            raise ConnectorError(f"The Param Auth parameter name '{self.param_name}' must be one word without "
                                 "spaces, for example 'api_key'.")
        _check_key(self.api_key, "Api Key")

    def headers(self) -> dict[str, str]:
        return {}

    def query(self) -> dict[str, str]:
        return {self.param_name: self.api_key}

    def masks(self) -> dict[str, str]:
        # The key as typed, and as the URL carries it (percent-encoded), which an echoing server shows.
        return {self.api_key: mask_key(self.api_key), quote_plus(self.api_key): mask_key(self.api_key)}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Api Key Auth Auth Type": "Param Auth",
                "Param Auth Key": self.param_name, "Api Key": mask_key(self.api_key)}


@dataclass(frozen=True)
class BearerAuth:
    """Bearer Token Auth: ``Authorization: Bearer <token>`` (a header-only subset of API Key Auth)."""

    token: str = field(repr=False)
    config: ClassVar[str] = "Bearer Token Auth"

    def __post_init__(self) -> None:
        _check_key(self.token, "Bearer Token")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def query(self) -> dict[str, str]:
        return {}

    def masks(self) -> dict[str, str]:
        return {self.token: mask_key(self.token)}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Bearer Token": mask_key(self.token)}


@dataclass(frozen=True)
class BasicAuth:
    """Basic Auth: ``Authorization: Basic base64(username:password)``."""

    username: str
    password: str = field(repr=False)
    config: ClassVar[str] = "Basic Auth"

    def __post_init__(self) -> None:
        if not self.username or ":" in self.username:
            raise ConnectorError("The Basic Auth username is required and cannot contain ':'.")
        _check_key(self.password, "Basic Auth password")

    @property
    def _token(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._token}"}

    def query(self) -> dict[str, str]:
        return {}

    def masks(self) -> dict[str, str]:
        return {self._token: HIDDEN, self.password: HIDDEN}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Username": self.username, "Password": HIDDEN}


Auth = NoAuth | HeaderAuth | ParamAuth | BearerAuth | BasicAuth


# --- connector and action -------------------------------------------------------------------


@dataclass(frozen=True)
class Connector:
    """A Creator Studio connector: where to send requests and how to authenticate."""

    name: str
    base_url: str
    auth: Auth = field(default_factory=NoAuth)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConnectorError("Give the connector a name, for example 'Perplexity'.")
        object.__setattr__(self, "base_url", _checked_base_url(self.base_url))

    def with_base_url(self, base_url: str) -> Connector:
        return replace(self, base_url=base_url)

    def describe(self) -> dict[str, str]:
        return {"Name": self.name, "Base URL": self.base_url, **self.auth.describe()}


@dataclass(frozen=True)
class HttpAction:
    """A Creator Studio HTTP action: what to send through a connector.

    ``body`` is the Request Body text box, a Mustache template: strings as ``"{{{name}}}"``,
    numbers and booleans as ``{{name}}``. ``inputs`` holds each input variable's example value.
    """

    name: str
    path: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        method = self.method.strip().upper()
        if method not in METHODS:
            raise ConnectorError(f"The method '{self.method}' is not one Creator Studio offers: "
                                 f"use one of {', '.join(METHODS)}.")
        object.__setattr__(self, "method", method)
        if not self.path.startswith("/"):
            raise ConnectorError(f"The path '{self.path}' must start with '/', for example '/v1/agent'.")
        if "?" in self.path or "#" in self.path:
            raise ConnectorError("Put query parameters in the Query Parameters table, not in the path.")
        for name, value in self.headers.items():
            _check_header_name(name, "A header name")
            _check_single_line(value, f"The value of header '{name}'")

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")

    def describe(self) -> dict[str, str]:
        return {"Method": self.method, "Path": self.path, "Headers": _pairs(self.headers, ": "),
                "Query Parameters": _pairs(self.query, "="), "Request Body": " ".join(self.body.split()),
                "Input variables (example values)": _pairs(self.inputs, " = ")}


@dataclass(frozen=True)
class BuiltRequest:
    """The HTTP request a connector and an action make; ``masks`` says how to show its secrets."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    masks: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"BuiltRequest({self.method} {hide_secrets(self.url, self.masks)})"


@dataclass(frozen=True)
class TestResult:
    """What Creator Studio's Test shows: status, time, response, and the schema derived from it."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    status: int | None
    elapsed_ms: float
    body: Any
    successful: bool
    explanation: str = ""
    output_schema: dict | None = None


# --- the guide's connector and actions ------------------------------------------------------

GUIDE_BODY = json.dumps({"model": GUIDE_MODEL, "messages": guide_messages()}, indent=2)
JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}
AGENT_BODY_TEMPLATE = """{
  "model": "perplexity/sonar",
  "instructions": "{{{instructions}}}",
  "input": "{{{question}}}",
  "max_output_tokens": {{max_output_tokens}},
  "tools": [{"type": "web_search"}]
}"""


def guide_connector(api_key: str) -> Connector:
    """The guide's connector, field for field."""
    return Connector("Perplexity", GUIDE_BASE_URL, HeaderAuth(api_key, "Authorization", "Bearer %s"))


def guide_legacy_action() -> HttpAction:
    """The guide's original action: ``POST /chat/completions`` with ``mistral-7b-instruct``, as written."""
    return HttpAction("Chat completion (guide, 2024)", "/chat/completions", "POST", dict(JSON_HEADERS),
                      body=GUIDE_BODY)


def agent_action() -> HttpAction:
    """The same question through today's Agent API, with the question and instructions as input variables."""
    inputs = {"instructions": GUIDE_SYSTEM, "question": GUIDE_QUESTION, "max_output_tokens": 1024}
    return HttpAction("Ask Perplexity (Agent API)", "/v1/agent", "POST", dict(JSON_HEADERS),
                      body=AGENT_BODY_TEMPLATE, inputs=inputs)


# --- building, showing and testing the request ----------------------------------------------


def render_template(template: str, examples: dict[str, Any]) -> str:
    """Fill a Mustache template with example values, as Creator Studio does before Test.

    A variable without an example value (missing, or None) is refused with error 10111.
    """
    context = {name: _mustache_value(value) for name, value in examples.items() if value is not None}
    missing: list[str] = []
    renderer = pystache.Renderer(missing_tags="strict", partials={})
    for _ in range(template.count("{{") + 1):
        try:
            text = renderer.render(template, context)
            break
        except KeyNotFoundError as error:  # note the name, stand in a blank, and look for more
            missing.append(error.key)
            context[error.key.split(".")[0]] = ""
        except Exception as error:  # PystacheError, but also pystache's ParsingError (not a subclass) and others
            detail = " ".join(str(error).split()) or type(error).__name__
            raise ConnectorError(f"The template is not valid Mustache ({detail}). Check that every "
                                 "{{#section}} has its {{/section}}.") from None
    if missing:
        raise ConnectorError(f"{MISSING_EXAMPLE_10111} Give an example value to: {', '.join(missing)}.")
    return text


def render_body(action: HttpAction) -> str:
    """The action's body with its example values filled in; checked to be JSON when it says it is."""
    text = render_template(action.body, action.inputs)
    if "json" in action.content_type.lower() and text.strip():
        try:
            json.loads(text)
        except ValueError as error:
            raise ConnectorError(
                f"The request body is not valid JSON once the example values are filled in ({error}). "
                'Check the commas, and that string variables are quoted: "{{{name}}}".') from None
    return text


def build_request(connector: Connector, action: HttpAction) -> BuiltRequest:
    """The HTTP request that the connector and the action produce together."""
    path = render_template(action.path, action.inputs)
    query = {k: render_template(v, action.inputs) for k, v in action.query.items()} | connector.auth.query()
    url = connector.base_url + path + (f"?{urlencode(query)}" if query else "")
    headers = {k: render_template(v, action.inputs) for k, v in action.headers.items()}
    auth_names = {name.lower() for name in connector.auth.headers()}
    headers = {k: v for k, v in headers.items() if k.lower() not in auth_names} | connector.auth.headers()
    body = render_body(action)
    return BuiltRequest(action.method, url, headers, body.encode() if body else None, connector.auth.masks())


def check_request(connector: Connector, action: HttpAction) -> str:
    """One sentence: ready to test (and where the request goes), or what to fix first. Never raises."""
    try:
        request = build_request(connector, action)
    except Exception as error:  # documented never to raise
        return f"Not ready: {error_sentence(error, connector.auth.masks())}"
    return f"Ready: {request.method} {hide_secrets(request.url, request.masks)} through '{connector.name}'."


def render_request(request: BuiltRequest, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """The request as HTTP text, with every secret masked."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    text = "\n".join(lines)
    if request.body is not None:
        text += "\n\n" + request.body.decode()
    return redact(hide_secrets(text, request.masks), secrets)


def run_test(connector: Connector, action: HttpAction) -> TestResult:
    """Send the action through the connector, as Test does: 60 s at most, 200 KB at most."""
    request = build_request(connector, action)
    check_transport(request.url)
    started = time.perf_counter()
    try:
        status, content = _send(request)
    except requests.Timeout:
        return TestResult(None, _since(started), None, False,
                          f"No answer within Creator Studio's {TEST_TIMEOUT_SECONDS}-second limit. Try again later.")
    except requests.RequestException:
        return TestResult(None, _since(started), None, False,
                          f"Could not reach {connector.base_url}. Check the Base URL and your connection.")
    elapsed = _since(started)
    if len(content) > MAX_RESPONSE_BYTES:
        return TestResult(status, elapsed, None, False, _explain(status, len(content)))
    body = _parse_body(content, request.masks)
    ok = 200 <= status < 300
    schema = generate_output_schema(body) if ok and not isinstance(body, str) else None
    return TestResult(status, elapsed, body, ok, _explain(status, len(content)), schema)


def generate_output_schema(body: Any) -> dict:
    """An output JSON schema derived from one response, like Creator Studio's GENERATE FROM RESPONSE."""
    builder = SchemaBuilder()
    builder.add_object(body)
    return builder.to_schema()


def error_sentence(error: BaseException, masks: dict[str, str] | None = None) -> str:
    """Any error as one sentence with its secrets masked: a TutorialError's own words, else its kind and first line."""
    if isinstance(error, TutorialError):
        text = " ".join(str(error).split())
    else:
        detail = next(iter(str(error).strip().splitlines()), "").strip()[:200]
        text = f"Something unexpected went wrong ({type(error).__name__}{': ' + detail if detail else ''})."
    return redact(hide_secrets(text, masks or {}))


def hide_secrets(text: str, masks: dict[str, str]) -> str:
    """``text`` with each secret replaced by its mask (see ``masks()`` of each auth)."""
    for secret in sorted(masks, key=len, reverse=True):  # longest first: a password inside a token
        if secret:
            text = text.replace(secret, masks[secret])
    return text


# --- private helpers ------------------------------------------------------------------------


def _send(request: BuiltRequest) -> tuple[int, bytes]:
    """Send once, within Creator Studio's time limit for the whole request (not for each read).

    Reads stop just past the size limit, so a huge answer cannot fill memory.
    """
    deadline = time.monotonic() + TEST_TIMEOUT_SECONDS
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc credentials picked up silently
        with session.request(request.method, request.url, headers=request.headers, data=request.body,
                             timeout=TEST_TIMEOUT_SECONDS, allow_redirects=False, stream=True) as response:
            content = b""
            while len(content) <= MAX_RESPONSE_BYTES:
                chunk = _read_some(response, deadline)
                if not chunk:
                    break
                content += chunk
            return response.status_code, content


def _read_some(response: requests.Response, deadline: float) -> bytes:
    """What has arrived (up to 64 KB) as soon as anything has; ``b""`` at the end of the body.

    ``iter_content`` would wait for a whole chunk, and the socket's timeout restarts with each byte,
    so a server that trickles could keep Test running for ever: each wait is cut to the time left.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise requests.Timeout(f"The response took longer than {TEST_TIMEOUT_SECONDS} seconds in all.")
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(remaining)
    try:
        return response.raw.read1(64 * 1024, decode_content=True)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise requests.Timeout(f"The response took longer than {TEST_TIMEOUT_SECONDS} seconds in all.") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise requests.ConnectionError(str(error)) from None


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _parse_body(content: bytes, masks: dict[str, str]) -> Any:
    """The response as Test shows it, every secret masked (a server may echo the request, as httpbin does).

    The text is masked before it is parsed; the parsed strings are masked again, which catches a
    secret that JSON escaped (``\\"``, ``\\u...``). Text that is not JSON is cut to 2,000 characters.
    """
    text = content.decode(errors="replace")
    masked = redact(hide_secrets(text, masks))
    for candidate in (masked, text):  # masking could, rarely, break the JSON: then mask after parsing
        try:
            return _mask_strings(json.loads(candidate), masks)
        except (ValueError, RecursionError):
            continue
    return masked[:2000]


def _mask_strings(value: Any, masks: dict[str, str]) -> Any:
    """``value`` (parsed JSON) with every secret masked in its strings and keys."""
    if isinstance(value, str):
        return redact(hide_secrets(value, masks))
    if isinstance(value, list):
        return [_mask_strings(item, masks) for item in value]
    if isinstance(value, dict):
        return {_mask_strings(key, masks): _mask_strings(item, masks) for key, item in value.items()}
    return value


def _explain(status: int, size: int) -> str:
    if size > MAX_RESPONSE_BYTES:
        return "The response is larger than Creator Studio's 200 KB limit: ask for less (fewer fields or results)."
    if 200 <= status < 300:
        return "Creator Studio shows this response, and GENERATE FROM RESPONSE derives the output schema below."
    if 300 <= status < 400:
        return "The server redirected the request: check the Base URL (Test does not follow redirects)."
    return {
        400: "The request was rejected: check the body (for example a retired model name).",
        401: "Authorization failed (10107): check the API key and the Header Auth Value Pattern.",
        403: "The key may not do this: check its credits and status.",
        404: "Not found: check the Base URL and the path.",
        405: "This path does not accept this method: check the method.",
        429: "Rate limited: wait a moment and test again.",
    }.get(status, "The server failed: try again later." if status >= 500 else f"Unexpected HTTP {status}.")


def _mustache_value(value: Any) -> Any:
    return _JsonBool(value) if isinstance(value, bool) else value


class _JsonBool(str):
    """A boolean that Mustache prints as JSON (``true``/``false``) and sections still treat as a boolean."""

    def __new__(cls, value: bool) -> _JsonBool:
        text = super().__new__(cls, "true" if value else "false")
        text.value = value
        return text

    def __bool__(self) -> bool:
        return self.value


def _checked_base_url(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed [ of an IPv6 address
        raise ConnectorError(f"The Base URL '{base_url}' is not a valid address: write it as "
                             "https://host, for example https://api.perplexity.ai.") from None
    if "@" in parts.netloc:  # checked first, so no message below repeats a password
        raise ConnectorError("The Base URL cannot hold a user name or password (user:password@host): remove them, "
                             "and put them in Auth Config as Basic Auth.")
    try:
        check_transport(url)
    except TransportSecurityError:
        raise ConnectorError(f"The Base URL '{base_url}' must start with https:// (plain http:// is allowed "
                             "only for the sandbox on this computer, such as http://127.0.0.1:8000).") from None
    if parts.query or parts.fragment:
        raise ConnectorError("The Base URL cannot hold a query (?...) or a fragment (#...): put query "
                             "parameters in the action's Query Parameters table.")
    return url


def _check_header_name(name: str, what: str) -> None:
    if not _TOKEN.match(name or ""):
        raise ConnectorError(f"{what} '{name}' is not a valid HTTP header name: use letters, digits and "
                             "dashes only, for example 'Authorization' or 'X-API-Key'.")


def _check_single_line(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise ConnectorError(f"{what} contains a line break. Write it on one line.")


def _check_key(secret: str, what: str) -> None:
    if not secret or not secret.strip():
        raise ConnectorError(f"The {what} is required for this auth type: paste it, or choose No Auth.")
    _check_single_line(secret, f"The {what}")


def _pairs(table: dict[str, Any], separator: str) -> str:
    return ", ".join(f"{k}{separator}{v}" for k, v in table.items())
