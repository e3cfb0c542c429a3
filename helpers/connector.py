"""Creator Studio's connector and HTTP action, as plain data, and the request they produce.

A connector holds the Base URL and the auth config (No Auth, API Key Auth with Header Auth or
Param Auth, Bearer Token Auth, Basic Auth). An HTTP action adds the method, the path, the
headers and query tables, and a body that is a Mustache template filled with example values,
as Creator Studio does. :func:`build_request` joins them into the exact HTTP request Creator
Studio sends; :func:`render_request` shows it with every secret masked; :func:`run_test` sends
it, as the Test button does, within Creator Studio's limits, and derives an output schema.

A field may hold ``$PERPLEXITY_API_KEY`` (:data:`~helpers.settings.CONFIGURED_KEY`) instead of a
key: it stands for the configured key, and stays a reference in the fields, in what is shown and
exported, and in every ``repr``. Only Test puts a key in its place, the one
:func:`~helpers.settings.check_transport` allows where the request goes: the sandbox's demo key in
sandbox mode, the learner's own key in live mode and only to the Perplexity API (or the
``PERPLEXITY_BASE_URL`` in force).
"""

from __future__ import annotations

import base64
import json
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import quote_plus, unquote_plus, urlencode

import pystache
import requests
import urllib3
from genson import SchemaBuilder
from pystache.context import KeyNotFoundError

from helpers import events
from helpers.client import GUIDE_MODEL, GUIDE_QUESTION, GUIDE_SYSTEM, guide_messages, open_session
from helpers.display import request_text
from helpers.errors import TransportSecurityError, TutorialError, describe_failure, describe_network_failure
from helpers.keys import find_api_key
from helpers.masking import MaskedHeaderValue, Secret, mask_key, redact
from helpers.settings import (
    CONFIGURED_KEY,
    SANDBOX_DEMO_KEY,
    check_transport,
    configured_key_for,
    proxy_for,
    read_base_url,
    split_url,
)
from helpers.text import ended

GUIDE_BASE_URL = "https://api.perplexity.ai"
TEST_TIMEOUT_SECONDS = 60  # Creator Studio's limit
MAX_RESPONSE_BYTES = 200 * 1024  # Creator Studio's limit
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
AUTH_CONFIGS = ("No Auth", "Api Key Auth", "Bearer Token Auth", "Basic Auth")
MISSING_EXAMPLE_10111 = (
    "Failed to construct request. Please make sure that all variables denoted by {{{}}} "
    "have corresponding example values (error 10111)."
)
HIDDEN = "****"  # how the form and describe() show a saved password
OTHER_SERVER = (
    "Once its example values are filled in, the path would send the request to another server than "
    "the Base URL: the path must start with '/' and hold no '@' or '\\'."
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
# Header, query and input names that say their value is a credential: X-API-Key, api_key, accessToken...
# A name is split into words (at '-', '_', and camelCase); a word of _SECRET_WORDS, or a word ending in one of
# _SECRET_ENDINGS (token, xapikey, accesstoken), makes it a credential. "max_output_tokens" and "keyword" are not.
_SECRET_WORDS = {"key", "pwd", "auth", "authorization", "bearer", "signature", "sig", "session", "cookie"}
_SECRET_ENDINGS = ("apikey", "token", "secret", "password", "passwd", "credential", "credentials")


class ConnectorError(TutorialError, ValueError):
    """A connector or HTTP action field that Creator Studio would refuse, or a request it cannot build."""


# --- auth configs ---------------------------------------------------------------------------


class _AuthConfig:
    """What each Auth Config shares: it adds nothing unless it says so, and its one secret is ``secret_field``."""

    config: ClassVar[str]
    secret_field: ClassVar[str] = ""  # the field that holds the key or password ("" for No Auth)

    def headers(self) -> dict[str, str]:
        return {}

    def query(self) -> dict[str, str]:
        return {}

    def secrets(self) -> tuple[str, ...]:
        """Each secret this auth puts into a request, for :func:`~helpers.masking.redact` to mask."""
        return ordered_secrets([getattr(self, self.secret_field)]) if self.secret_field else ()

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config}


@dataclass(frozen=True)
class NoAuth(_AuthConfig):
    """Auth Config "No Auth": nothing is added to the request."""

    config = "No Auth"


@dataclass(frozen=True)
class HeaderAuth(_AuthConfig):
    """API Key Auth with Auth Type "Header Auth": the key, put into a header through a ``%s`` pattern."""

    api_key: str = field(repr=False)
    header_key: str = "Authorization"
    value_pattern: str = "Bearer %s"
    config = "Api Key Auth"
    secret_field = "api_key"

    def __post_init__(self) -> None:
        _check_header_name(self.header_key, "Header Auth Key")
        if self.value_pattern.count("%s") != 1:
            raise ConnectorError(
                f"The Header Auth Value Pattern '{self.value_pattern}' must contain %s exactly "
                "once, where the key goes (for example 'Bearer %s')."
            )
        _check_single_line(self.value_pattern, "Header Auth Value Pattern")
        _check_key(self.api_key, "Api Key")

    def headers(self) -> dict[str, str]:
        return {self.header_key: self.value_pattern.replace("%s", self.api_key)}

    @property
    def is_plain_bearer(self) -> bool:
        """Exactly ``Authorization: Bearer %s``, which other tools call bearer auth."""
        return self.header_key.lower() == "authorization" and self.value_pattern == "Bearer %s"

    def describe(self) -> dict[str, str]:
        return {
            "Auth Config": self.config,
            "Api Key Auth Auth Type": "Header Auth",
            "Header Auth Key": self.header_key,
            "Header Auth Value Pattern": self.value_pattern,
            "Api Key": shown_key(self.api_key),
        }


@dataclass(frozen=True)
class ParamAuth(_AuthConfig):
    """API Key Auth with Auth Type "Param Auth": the key as a query parameter (``?name=KEY``)."""

    api_key: str = field(repr=False)
    param_name: str = "api_key"
    config = "Api Key Auth"
    secret_field = "api_key"

    def __post_init__(self) -> None:
        if not self.param_name or not _TOKEN.match(self.param_name):
            raise ConnectorError(
                f"The Param Auth parameter name '{self.param_name}' must be one word without "
                "spaces, for example 'api_key'."
            )
        _check_key(self.api_key, "Api Key")

    def query(self) -> dict[str, str]:
        return {self.param_name: self.api_key}

    def secrets(self) -> tuple[str, ...]:
        # The key as typed, and as the URL carries it (percent-encoded), which an echoing server shows.
        return ordered_secrets([self.api_key, quote_plus(self.api_key)])

    def describe(self) -> dict[str, str]:
        return {
            "Auth Config": self.config,
            "Api Key Auth Auth Type": "Param Auth",
            "Param Auth Key": self.param_name,
            "Api Key": shown_key(self.api_key),
        }


@dataclass(frozen=True)
class BearerTokenAuth(_AuthConfig):
    """Bearer Token Auth: ``Authorization: Bearer <token>`` (a header-only subset of API Key Auth)."""

    token: str = field(repr=False)
    config = "Bearer Token Auth"
    secret_field = "token"

    def __post_init__(self) -> None:
        _check_key(self.token, "Bearer Token")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Bearer Token": shown_key(self.token)}


@dataclass(frozen=True)
class BasicAuth(_AuthConfig):
    """Basic Auth: ``Authorization: Basic base64(username:password)``."""

    username: str
    password: str = field(repr=False)
    config = "Basic Auth"
    secret_field = "password"

    def __post_init__(self) -> None:
        if not self.username or ":" in self.username:
            raise ConnectorError("The Basic Auth username is required and cannot contain ':'.")
        _check_key(self.password, "Basic Auth password")

    @property
    def _token(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._token}"}

    def secrets(self) -> tuple[str, ...]:
        return ordered_secrets([self._token, self.password])

    def describe(self) -> dict[str, str]:
        return {"Auth Config": self.config, "Username": self.username, "Password": HIDDEN}


Auth = NoAuth | HeaderAuth | ParamAuth | BearerTokenAuth | BasicAuth


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
            raise ConnectorError(
                f"The method '{self.method}' is not one Creator Studio offers: use one of {', '.join(METHODS)}."
            )
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

    def secrets(self) -> tuple[str, ...]:
        """Credential-named header, query and example values (``X-API-Key``, ``api_key``...), as typed.

        A template such as ``{{{key}}}`` is no secret (its example value may be one, and is listed).
        """
        named = {name: str(value) for name, value in self.inputs.items() if value is not None}
        values = (*secret_values(self.headers), *secret_values(self.query), *secret_values(named))
        return ordered_secrets(value for value in values if "{{" not in value)

    def describe(self) -> dict[str, str]:
        """The fields as Creator Studio shows them, with every secret masked."""
        fields = {
            "Method": self.method,
            "Path": self.path,
            "Headers": _pairs(self.headers, ": "),
            "Query Parameters": _pairs(self.query, "="),
            "Request Body": " ".join(self.body.split()),
            "Input variables (example values)": _pairs(self.inputs, " = "),
        }
        return {name: redact(value, self.secrets()) for name, value in fields.items()}


@dataclass(frozen=True)
class BuiltRequest:
    """The HTTP request a connector and an action make; ``secrets`` lists what must be masked to show it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"BuiltRequest({self.method} {redact(self.url, self.secrets)})"


@dataclass(frozen=True)
class Execution:
    """What Creator Studio's Test shows: status, time, response, and the schema derived from it."""

    status: int | None
    elapsed_ms: float
    body: Any
    successful: bool
    explanation: str = ""
    output_schema: dict | None = None
    # The connector Test sent through (kept in memory, never shown): exercise 03.1 checks the result is its own.
    connector: Connector | None = field(default=None, repr=False, compare=False)


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


def practice_action() -> HttpAction:
    """The exercise of notebook 03: the sandbox's practice endpoint, which accepts an X-API-Key header or Basic Auth."""
    return HttpAction("Practice: which auth arrived", "/practice/auth", "GET")


def guide_legacy_action() -> HttpAction:
    """The guide's original action: ``POST /chat/completions`` with ``mistral-7b-instruct``, as written."""
    return HttpAction("Chat completion (guide, 2024)", "/chat/completions", "POST", dict(JSON_HEADERS), body=GUIDE_BODY)


def agent_action() -> HttpAction:
    """The same question through today's Agent API, with the question and instructions as input variables."""
    inputs = {"instructions": GUIDE_SYSTEM, "question": GUIDE_QUESTION, "max_output_tokens": 1024}
    return HttpAction(
        "Ask Perplexity (Agent API)", "/v1/agent", "POST", dict(JSON_HEADERS), body=AGENT_BODY_TEMPLATE, inputs=inputs
    )


# --- building, showing and testing the request ----------------------------------------------


def render_template(template: str, examples: dict[str, Any]) -> str:
    """Fill a Mustache template with example values, as Creator Studio does before Test.

    A variable without an example value (missing, or None) is refused with error 10111.
    """
    context = {k: _JsonBool(v) if isinstance(v, bool) else v for k, v in examples.items() if v is not None}
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
            raise ConnectorError(
                f"The template is not valid Mustache ({detail}). Check that every "
                "{{#section}} has its {{/section}}."
            ) from None
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
                'Check the commas, and that string variables are quoted: "{{{name}}}".'
            ) from None
    return text


def build_request(
    connector: Connector, action: HttpAction, *, send_to: str | None = None, key: Secret | None = None
) -> BuiltRequest:
    """The HTTP request that the connector and the action produce together.

    ``send_to`` puts another server (the sandbox) in place of the Base URL. ``key`` is what each
    ``$PERPLEXITY_API_KEY`` field becomes; without it the reference stays as it is written, which is
    how the request is shown and exported. Refused when the filled-in path would take the request to
    another server than the Base URL.
    """
    base_url = read_base_url(send_to).url if send_to else connector.base_url
    auth = _resolved_auth(connector.auth, key)
    path = render_template(action.path, action.inputs)
    if not path.startswith("/"):
        raise ConnectorError(OTHER_SERVER)
    action_query = {k: _resolved(render_template(v, action.inputs), key) for k, v in action.query.items()}
    query = action_query | auth.query()
    url = base_url + path + (f"?{urlencode(query)}" if query else "")
    check_destination(base_url, action.method, url)
    action_headers = {k: _resolved(render_template(v, action.inputs), key) for k, v in action.headers.items()}
    auth_names = {name.lower() for name in auth.headers()}
    headers = {k: v for k, v in action_headers.items() if k.lower() not in auth_names} | auth.headers()
    body = render_body(action)
    secrets = (*known_secrets(connector, action), *auth.secrets(), *secret_values(action_headers))
    secrets += (*secret_values(action_query), *([key.reveal()] if key else []))
    return BuiltRequest(action.method, url, headers, body.encode() if body else None, ordered_secrets(secrets))


def prepare_test(connector: Connector, action: HttpAction, send_to: str | None = None) -> BuiltRequest:
    """The request Test sends, after every check Test makes; nothing is sent.

    ``$PERPLEXITY_API_KEY`` becomes the key this mode sends, where it may go; then every key the
    request carries (the auth's, credential-named values, the configured key wherever it sits) must
    be one :func:`~helpers.settings.check_transport` allows at the address the request goes to.
    """
    target = read_base_url(send_to, what="The address Test sends to").url if send_to else connector.base_url
    # A field that holds $PERPLEXITY_API_KEY: the auth's key or password, a header, query or example value.
    auth_field = getattr(connector.auth, connector.auth.secret_field, "")
    values = [auth_field, *action.headers.values(), *action.query.values(), *map(str, action.inputs.values())]
    key = configured_key_for(target) if CONFIGURED_KEY in values else None
    request = build_request(connector, action, send_to=target, key=key)
    for secret in keys_carried(request):
        check_transport(target, secret)
    return request


def keys_carried(request: BuiltRequest) -> tuple[str, ...]:
    """Every secret the request carries, and the configured key wherever it sits (a body, any header),
    since a key typed or pasted into a field is the learner's own key all the same."""
    found = find_api_key()
    if found is None or found.value in request.secrets:
        return request.secrets
    body = request.body.decode(errors="replace") if request.body else ""
    texts = [request.url, unquote_plus(request.url), body, *request.headers.values()]
    texts += [_basic_credentials(value) for value in request.headers.values()]
    return (*request.secrets, found.value) if any(found.value in text for text in texts) else request.secrets


def shown_key(value: str) -> str:
    """A key as a field shows it: masked, or the reference as written (it is no secret)."""
    return f"{CONFIGURED_KEY} (your configured key)" if value == CONFIGURED_KEY else mask_key(value)


def check_destination(base_url: str, method: str, url: str) -> None:
    """Refuse ``url`` unless requests would connect to the scheme, host and port of ``base_url``.

    The path is a template filled with example values, so ``@evil.example/`` or ``:8443`` in a value
    could move the connection, and the key with it. ``url`` is read as requests prepares and urllib3
    parses it, which is what actually connects.
    """
    base = read_base_url(base_url)
    try:
        target = split_url(url, method=method)
    except ValueError:  # unreadable, or two parsers read different hosts: either way not provably this server
        target = None
    same = target is not None and (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
    if not same or target.auth:
        raise ConnectorError(OTHER_SERVER)


def check_request(connector: Connector, action: HttpAction, *, send_to: str | None = None) -> str:
    """One sentence: ready to test (and where the request goes), or what to fix first. Never raises.

    It makes every check Test makes (``send_to`` as for :func:`run_test`), and names the connector's
    own Base URL. Every secret in the URL (the auth's, a credential-named query value, anything
    shaped like a key) is masked, because the sentence is shown under the form and saved with the notebook.
    """
    try:
        request = build_request(connector, action)
        prepare_test(connector, action, send_to)
    except Exception as error:  # documented never to raise
        return f"Not ready: {error_sentence(error, known_secrets(connector, action))}"
    return f"Ready: {request.method} {redact(request.url, request.secrets)} through '{connector.name}'."


def render_request(request: BuiltRequest, secrets: Iterable[str] = ()) -> str:
    """The request as HTTP text, with every secret masked (the request's own and ``secrets``)."""
    return request_text(request, ordered_secrets([*request.secrets, *secrets]))


def run_test(connector: Connector, action: HttpAction, *, send_to: str | None = None) -> Execution:
    """Send the action through the connector, as Test does: 60 s at most, 200 KB at most.

    ``send_to`` tests against another server (the sandbox, perhaps a class sandbox over plain
    http) while the connector keeps its own Base URL, so that nothing shown or exported names a
    sandbox port that is gone once the kernel stops. Every key the request carries must be one
    :func:`~helpers.settings.check_transport` allows there, and the full URL must connect to that
    same server: both are checked on the request that is then sent, before anything leaves this computer.
    """
    result = replace(_execute(connector, action, send_to), connector=connector)
    if result.successful:
        events.emit(events.STEP, step="test")  # a class sandbox's page shows it (helpers.progress)
    else:
        # The guide's legacy action (its retired model), or a fault header: what it carried says it failed on purpose.
        events.emit(
            events.ERROR, error=result.explanation, during="test", headers=action.headers, body=render_body(action)
        )
    return result


def _execute(connector: Connector, action: HttpAction, send_to: str | None) -> Execution:
    """Test's request and its outcome; the checks are made on the request that is then sent."""
    request = prepare_test(connector, action, send_to)
    target = read_base_url(send_to).url if send_to else connector.base_url
    started = time.perf_counter()
    try:
        status, content = _send(request)
    except requests.Timeout:
        sentence = f"No answer within Creator Studio's {TEST_TIMEOUT_SECONDS}-second limit. Try again later."
        return Execution(None, _since(started), None, False, sentence)
    except requests.RequestException as error:
        # The cause and what to do (a certificate names the CA variables), as in a notebook cell; else the Base URL.
        fallback = f"Could not reach {target}. Check the Base URL and your connection."
        return Execution(None, _since(started), None, False, describe_network_failure(error) or fallback)
    elapsed, too_large = _since(started), len(content) > MAX_RESPONSE_BYTES
    body = None if too_large else _parse_body(content, request.secrets)
    ok = not too_large and 200 <= status < 300
    schema = generate_output_schema(body) if ok and not isinstance(body, str) else None
    return Execution(status, elapsed, body, ok, _explain(status, len(content)), schema)


def generate_output_schema(body: Any) -> dict:
    """An output JSON schema derived from one response, like Creator Studio's GENERATE FROM RESPONSE."""
    builder = SchemaBuilder()
    builder.add_object(body)
    return builder.to_schema()


def error_sentence(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """Any error as one line with ``secrets`` (and anything key-shaped) masked, for a status line.

    The words come from :func:`~helpers.errors.describe_failure`, the one error-to-sentence path;
    an error that is not ours also gets its kind and first line, so a learner can report it.
    """
    sentence, detail = describe_failure(error, ordered_secrets(secrets))
    if not isinstance(error, TutorialError):
        first = next(iter(detail.strip().splitlines()), "").strip()[:200]
        sentence = f"{sentence} Detail: {ended(first)}" if first else sentence
    return " ".join(sentence.split())


def known_secrets(connector: Connector, action: HttpAction) -> tuple[str, ...]:
    """The secrets a message about this connector and action could quote, before any template is filled in."""
    return ordered_secrets([*connector.auth.secrets(), *action.secrets()])


def is_secret_name(name: str) -> bool:
    """Whether a header, query parameter or input named ``name`` carries a credential (X-API-Key, api_key...)."""
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(word in _SECRET_WORDS or word.endswith(_SECRET_ENDINGS) for word in words)


def secret_values(table: dict[str, str]) -> tuple[str, ...]:
    """The values in ``table`` whose name says they are credentials, also as a URL carries them.

    ``Bearer abc`` gives ``abc`` too, so that the credential is masked wherever it appears alone.
    """
    values = [value.strip() for name, value in table.items() if is_secret_name(name) and value.strip()]
    values += [value.split()[-1] for value in values if len(value.split()) == 2]
    return ordered_secrets([*values, *(quote_plus(value) for value in values)])


def ordered_secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret once, longest first: masking a short secret inside a longer one would leave the rest of it.

    ``$PERPLEXITY_API_KEY`` (as written or URL-encoded) is no secret but a reference, which every
    sentence and export may show.
    """
    kept = {secret for secret in secrets if secret and secret not in _REFERENCE_FORMS}
    return tuple(sorted(kept, key=lambda secret: (-len(secret), secret)))


# --- private helpers ------------------------------------------------------------------------


def _send(request: BuiltRequest) -> tuple[int, bytes]:
    """Send once, within Creator Studio's time limit for the whole request (not for each read).

    Reads stop just past the size limit, so a huge answer cannot fill memory. The proxy is the one
    the environment names for the URL, by :func:`~helpers.settings.proxy_for`'s rule (the demo key
    alone is no secret); ``.netrc`` is never read.
    """
    deadline = time.monotonic() + TEST_TIMEOUT_SECONDS
    secret = any(value != SANDBOX_DEMO_KEY for value in keys_carried(request))
    headers = {name: MaskedHeaderValue(value) for name, value in request.headers.items()}  # masked in any repr
    options = {"headers": headers, "data": request.body, "allow_redirects": False, "stream": True}
    session = open_session(proxy_for(request.url, secret=secret))
    with session, session.request(request.method, request.url, timeout=TEST_TIMEOUT_SECONDS, **options) as response:
        content = b""
        while len(content) <= MAX_RESPONSE_BYTES and (chunk := _read_some(response, deadline)):
            content += chunk
        return response.status_code, content


def _read_some(response: requests.Response, deadline: float) -> bytes:
    """What has arrived (up to 64 KB) as soon as anything has; ``b""`` at the end of the body.

    ``iter_content`` would wait for a whole chunk, and the socket's timeout restarts with each byte,
    so a server that trickles could keep Test running for ever: each wait is cut to the time left.
    """
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    try:
        if (remaining := deadline - time.monotonic()) <= 0:
            raise TimeoutError
        if sock is not None:
            sock.settimeout(remaining)
        return response.raw.read1(64 * 1024, decode_content=True)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise requests.Timeout(f"The response took longer than {TEST_TIMEOUT_SECONDS} seconds in all.") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise requests.ConnectionError(str(error)) from None


_REFERENCE_FORMS = {CONFIGURED_KEY, quote_plus(CONFIGURED_KEY)}


def _resolved(value: str, key: Secret | None) -> str:
    """``value``, or the key when the value is the reference ``$PERPLEXITY_API_KEY`` and a key is given."""
    return key.reveal() if key is not None and value == CONFIGURED_KEY else value


def _resolved_auth(auth: Auth, key: Secret | None) -> Auth:
    """``auth`` with ``key`` in place of a ``$PERPLEXITY_API_KEY`` key or password (their ``repr`` hides them)."""
    if key is None or not auth.secret_field:
        return auth
    return replace(auth, **{auth.secret_field: _resolved(getattr(auth, auth.secret_field), key)})


def _basic_credentials(value: str) -> str:
    """``user:password`` from a ``Basic ...`` header value, else ""."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(token.strip(), validate=True).decode(errors="replace")
    except ValueError:
        return ""


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _parse_body(content: bytes, secrets: tuple[str, ...]) -> Any:
    """The response as Test shows it, every secret masked (a server may echo the request, as httpbin does).

    The text is masked before it is parsed; the parsed strings are masked again, which catches a
    secret that JSON escaped (``\\"``, ``\\u...``). Text that is not JSON is cut to 2,000 characters.
    """
    text = content.decode(errors="replace")
    masked = redact(text, secrets)
    for candidate in (masked, text):  # masking could, rarely, break the JSON: then mask after parsing
        try:
            return map_strings(json.loads(candidate), lambda text: redact(text, secrets))
        except (ValueError, RecursionError):
            continue
    return masked[:2000]


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` (parsed JSON) with ``change`` applied to every string, keys included."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {map_strings(key, change): map_strings(item, change) for key, item in value.items()}
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


class _JsonBool(str):
    """A boolean that Mustache prints as JSON (``true``/``false``) and sections still treat as a boolean."""

    def __new__(cls, value: bool) -> _JsonBool:
        text = super().__new__(cls, "true" if value else "false")
        text.value = value
        return text

    def __bool__(self) -> bool:
        return self.value


def _checked_base_url(base_url: str) -> str:
    """``base_url`` as :func:`~helpers.settings.read_base_url` reads it (the one reading), or one sentence.

    Creator Studio's field rule: https, or plain http to this computer (the sandbox). Which key may
    go where is not decided here but when Test sends, by :func:`~helpers.settings.check_transport`.
    User info is checked first and a query second, and neither sentence quotes the URL, so that no
    sentence repeats a password or a key that sits in either.
    """
    url = base_url.strip()
    if "@" in re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]:
        raise ConnectorError(
            "The Base URL cannot hold a user name or password (user:password@host): remove them, "
            "and put them in Auth Config as Basic Auth."
        )
    if "?" in url or "#" in url:
        raise ConnectorError(
            "The Base URL cannot hold a query (?...) or a fragment (#...): put query "
            "parameters in the action's Query Parameters table."
        )
    try:
        base = read_base_url(url, what="The Base URL") if url.lower().startswith(("http://", "https://")) else None
    except TransportSecurityError as error:
        raise ConnectorError(str(error)) from None
    if base is None or (base.scheme != "https" and not base.is_loopback):
        raise ConnectorError(
            f"The Base URL '{url}' must start with https:// (plain http:// is allowed only for the sandbox "
            "on this computer, such as http://127.0.0.1:8000)."
        )
    return base.url


def _check_header_name(name: str, what: str) -> None:
    if not _TOKEN.match(name or ""):
        raise ConnectorError(
            f"{what} '{name}' is not a valid HTTP header name: use letters, digits and "
            "dashes only, for example 'Authorization' or 'X-API-Key'."
        )


def _check_single_line(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise ConnectorError(f"{what} contains a line break. Write it on one line.")


def _check_key(secret: str, what: str) -> None:
    if not secret or not secret.strip():
        raise ConnectorError(f"The {what} is required for this auth type: paste it, or choose No Auth.")
    _check_single_line(secret, f"The {what}")


def _pairs(table: dict[str, Any], separator: str) -> str:
    return ", ".join(f"{k}{separator}{v}" for k, v in table.items())


def __getattr__(name: str) -> type:
    """``BearerAuth``, the old name of :class:`BearerTokenAuth`: kept for learners' older notebooks.

    It was renamed because :class:`helpers.client.BearerAuth` is another thing (requests' auth for the client).
    """
    if name == "BearerAuth":
        warnings.warn(
            "helpers.connector.BearerAuth is now BearerTokenAuth (Creator Studio's 'Bearer Token Auth').",
            DeprecationWarning,
            stacklevel=2,
        )
        return BearerTokenAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
