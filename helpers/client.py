"""A small ``requests`` client for the Perplexity API: the Agent API and the guide's legacy endpoint.

The same code talks to the live API and to the sandbox; only the base URL differs.
:func:`connect` applies the mode rule (see :mod:`helpers.settings`) and returns a client.
Every failure becomes one :mod:`helpers.errors` class with a sentence a learner can act on.
"""

from __future__ import annotations

import ipaddress
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from helpers import errors
from helpers.keys import mask_key, redact
from helpers.sandbox import shared_sandbox
from helpers.settings import Settings, resolve_settings

GUIDE_SYSTEM = "Be precise and concise."
GUIDE_QUESTION = "How many stars are there in our galaxy?"
GUIDE_MODEL = "mistral-7b-instruct"
CURRENT_MODEL = "perplexity/sonar"
CURRENT_LEGACY_MODEL = "sonar"
DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
RETRY_STATUSES = {429, 500, 502, 503, 504}


def guide_messages(question: str = GUIDE_QUESTION, system: str = GUIDE_SYSTEM) -> list[dict[str, str]]:
    """The guide's chat messages: a system instruction, then the user's question."""
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


@dataclass(frozen=True)
class Source:
    """One numbered web source; ``[web:N]`` markers in the answer point at ``number``."""

    number: int
    title: str
    url: str
    date: str = ""


@dataclass(frozen=True)
class AgentResponse:
    """An Agent API response, with the parts a learner reads pulled out of ``raw``."""

    raw: dict = field(repr=False)

    @property
    def status(self) -> str:
        return self.raw.get("status", "")

    @property
    def model(self) -> str:
        return self.raw.get("model", "")

    @property
    def text(self) -> str:
        """All ``output_text`` parts of the message items, joined (the SDK's ``output_text``)."""
        parts = [c.get("text", "") for item in self.raw.get("output", []) if item.get("type") == "message"
                 for c in item.get("content", []) if c.get("type") == "output_text"]
        return "".join(parts)

    @property
    def sources(self) -> list[Source]:
        return [Source(r.get("id", n), r.get("title", ""), r.get("url", ""), r.get("date", ""))
                for item in self.raw.get("output", []) if item.get("type") == "search_results"
                for n, r in enumerate(item.get("results", []), start=1)]

    @property
    def usage(self) -> dict:
        return self.raw.get("usage") or {}

    @property
    def total_cost(self) -> float | None:
        return (self.usage.get("cost") or {}).get("total_cost")


@dataclass(frozen=True)
class ChatCompletion:
    """A legacy ``/chat/completions`` response."""

    raw: dict = field(repr=False)

    @property
    def model(self) -> str:
        return self.raw.get("model", "")

    @property
    def text(self) -> str:
        choices = self.raw.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content", "")

    @property
    def sources(self) -> list[Source]:
        results = self.raw.get("search_results") or [{"url": u} for u in self.raw.get("citations", [])]
        return [Source(n, r.get("title", ""), r.get("url", ""), r.get("date", "")) for n, r in enumerate(results, 1)]

    @property
    def usage(self) -> dict:
        return self.raw.get("usage") or {}

    @property
    def total_cost(self) -> float | None:
        return (self.usage.get("cost") or {}).get("total_cost")


class PerplexityClient:
    """Talks to one Perplexity-compatible server. Use as a context manager to close its sockets."""

    def __init__(self, api_key: str, base_url: str, *, mode: str = "live",
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, max_retries: int = 2,
                 deadline: float = 120.0) -> None:
        check_transport(base_url)
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.mode = mode
        self.timeout, self.max_retries, self.deadline = timeout, max_retries, deadline
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or .netrc credentials picked up silently

    def __repr__(self) -> str:
        return f"PerplexityClient(mode={self.mode!r}, base_url={self.base_url!r}, key={mask_key(self._key)!r})"

    def __enter__(self) -> PerplexityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # --- Agent API ----------------------------------------------------------------------

    def create_response(self, input: str | list[dict], *, model: str | None = CURRENT_MODEL,  # noqa: A002
                        instructions: str | None = None, web_search: bool = False,
                        preset: str | None = None, **fields: Any) -> AgentResponse:
        """``POST /v1/agent``. Raises a :mod:`helpers.errors` class on any failure, including a
        200 answer whose ``status`` is ``failed``."""
        body = agent_body(input, model=model, instructions=instructions, web_search=web_search,
                          preset=preset, **fields)
        response = AgentResponse(self._post_json("/v1/agent", body))
        if response.status in ("failed", "cancelled"):
            error = response.raw.get("error") or {}
            raise errors.ServiceError(
                f"The run ended with status '{response.status}': {error.get('message', 'no reason given')}. "
                "Try again in a moment.", status=200, detail=redact(json.dumps(error), [self._key]))
        return response

    def stream_response(self, input: str | list[dict], **options: Any) -> Iterator[dict]:  # noqa: A002
        """``POST /v1/agent`` with ``stream: true``: yields each SSE event as a dict."""
        body = agent_body(input, stream=True, **options)
        with self._send("POST", "/v1/agent", body, stream=True) as response:
            yield from iter_sse(response)

    def list_models(self) -> list[str]:
        """``GET /v1/models``: the model ids the server offers."""
        return [m["id"] for m in self._request_json("GET", "/v1/models").get("data", [])]

    # --- legacy chat completions --------------------------------------------------------

    def chat_completion(self, messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL,
                        **fields: Any) -> ChatCompletion:
        """``POST /chat/completions``, the endpoint the guide used (public support ended 2026-09-27)."""
        return ChatCompletion(self._post_json("/chat/completions", {"model": model, "messages": messages, **fields}))

    # --- transport ----------------------------------------------------------------------

    def _post_json(self, path: str, body: dict) -> dict:
        return self._request_json("POST", path, body)

    def _request_json(self, method: str, path: str, body: dict | None = None) -> dict:
        with self._send(method, path, body) as response:
            try:
                return response.json()
            except ValueError as exc:
                raise errors.UnexpectedResponseError(
                    "The server answered with something that is not JSON. Check PERPLEXITY_BASE_URL.",
                    status=response.status_code, detail=redact(response.text[:300], [self._key])) from exc

    def _send(self, method: str, path: str, body: dict | None, stream: bool = False) -> requests.Response:
        """Send with retries for 429 and 5xx (exponential backoff, jitter, ``Retry-After``)."""
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            response = self._send_once(method, path, body, stream)
            if response.status_code < 400:
                return response
            error = error_from_response(response, path, [self._key])
            wait = retry_delay(attempt, error)
            out_of_time = time.monotonic() - started + (wait or 0) > self.deadline
            if wait is None or attempt == self.max_retries or out_of_time:
                raise error
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _send_once(self, method: str, path: str, body: dict | None, stream: bool) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        try:
            response = self._session.request(method, self.base_url + path, json=body, headers=headers,
                                             timeout=self.timeout, stream=stream, allow_redirects=False)
        except requests.Timeout as exc:
            raise errors.APITimeoutError(
                f"No answer from {self.base_url} within {self.timeout[1]:.0f} seconds. Try again, "
                "or ask a shorter question.", detail=redact(str(exc), [self._key])) from None
        except requests.ConnectionError as exc:
            raise errors.NetworkError(
                f"Could not reach {self.base_url}. Check your internet connection (or PERPLEXITY_BASE_URL), "
                "or run without a key to use the sandbox.", detail=redact(str(exc), [self._key])) from None
        if 300 <= response.status_code < 400:
            response.close()
            raise errors.UnexpectedResponseError(
                f"The server redirected to {response.headers.get('Location', '?')}. The key is not sent "
                "to another address; check the base URL.", status=response.status_code)
        return response


def agent_body(input: str | list[dict], *, model: str | None = CURRENT_MODEL,  # noqa: A002
               instructions: str | None = None, web_search: bool = False, preset: str | None = None,
               **fields: Any) -> dict:
    """The JSON body for ``POST /v1/agent``; ``preset`` replaces ``model`` when given."""
    body: dict[str, Any] = {"input": input}
    if preset:
        body["preset"] = preset
    elif model:
        body["model"] = model
    if instructions:
        body["instructions"] = instructions
    if web_search:
        body["tools"] = [{"type": "web_search"}]
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def check_transport(base_url: str) -> None:
    """The key travels only over https, or plain http to this computer (the sandbox)."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return
    raise errors.TransportSecurityError(
        f"Refusing to send your key to {parts.scheme or '?'}://{parts.hostname or '?'}: use an https:// "
        "address (plain http is allowed only for the local sandbox on 127.0.0.1).")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_delay(attempt: int, error: errors.PerplexityError) -> float | None:
    """Seconds to wait before the next try, or None when this error is not worth retrying."""
    if error.status not in RETRY_STATUSES:
        return None
    backoff = min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
    retry_after = getattr(error, "retry_after", None)
    return max(backoff, retry_after) if retry_after is not None else backoff


def error_from_response(response: requests.Response, path: str, secrets: list[str]) -> errors.PerplexityError:
    """Map an HTTP error answer to one error class with a learner-facing message."""
    status = response.status_code
    info = _error_info(response)
    message = info.get("message", "")
    detail = redact(f"HTTP {status} {info.get('type', '')}: {message or response.text[:200]}", secrets)
    response.close()
    kind = info.get("type", "")
    if status == 401:
        return errors.AuthenticationError(
            "The API key was not accepted (HTTP 401). Check that you copied the whole key, or create a new "
            "one in the API portal and save it with notebook 01.", status=status, detail=detail)
    if status == 403:
        return errors.PermissionDeniedError(
            "The key is valid but not allowed to do this (HTTP 403): check your API credits and the key's "
            "status in the API portal.", status=status, detail=detail)
    if status == 400 and kind == "invalid_model":
        return _invalid_model(path, message, detail)
    if status == 429:
        return _rate_limited(response, detail)
    if status in (404, 410) and path.endswith("/chat/completions"):
        return errors.EndpointRetiredError(
            "This server no longer offers /chat/completions (public support ended 2026-09-27). "
            "Use the Agent API: POST /v1/agent.", status=status, detail=detail)
    if status == 404:
        return errors.NotFoundError(f"The server has no {path} (HTTP 404). Check the base URL.",
                                    status=status, detail=detail)
    if status in (400, 413, 422):
        param = info.get("param")
        field_hint = f" (field '{param}')" if param else ""
        return errors.InvalidRequestError(
            f"The request was rejected{field_hint}: {redact(message, secrets) or 'invalid request'}. "
            "Fix it and send again.", status=status, detail=detail)
    if status >= 500:
        return errors.ServiceError(
            f"The service had a problem on its side (HTTP {status}). Wait a minute and try again.",
            status=status, detail=detail)
    return errors.UnexpectedResponseError(f"Unexpected answer: HTTP {status}.", status=status, detail=detail)


def _error_info(response: requests.Response) -> dict:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {"message": str(error)}


def _invalid_model(path: str, message: str, detail: str) -> errors.InvalidModelError:
    name = message.split("'")[1] if message.count("'") >= 2 else "that model"
    if path.endswith("/chat/completions"):
        alternatives = "on /chat/completions use 'sonar' or 'sonar-pro'; on the Agent API use 'perplexity/sonar'"
    else:
        alternatives = "use 'perplexity/sonar' or a preset such as 'fast' (see list_models())"
    return errors.InvalidModelError(
        f"The model '{name}' is retired or unknown (HTTP 400, invalid_model): {alternatives}.",
        status=400, detail=detail)


def _rate_limited(response: requests.Response, detail: str) -> errors.RateLimitError:
    retry_after = _retry_after_seconds(response.headers)
    wait = f" Wait {retry_after:g} seconds, then" if retry_after is not None else " Wait a little, then"
    return errors.RateLimitError(
        f"Too many requests (HTTP 429): you hit the rate limit.{wait} try again.",
        status=429, detail=detail, retry_after=retry_after)


def _retry_after_seconds(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        try:
            return float(value) / scale if value is not None else None
        except ValueError:
            continue
    return None


def iter_sse(response: requests.Response) -> Iterator[dict]:
    """Parse ``event:`` / ``data:`` frames into dicts; unknown event types pass through untouched."""
    data_lines: list[str] = []
    for line in response.iter_lines(decode_unicode=True):
        if line:
            if line.startswith("data:"):
                data_lines.append(line[5:].lstrip())
            continue
        if data_lines:
            payload = "\n".join(data_lines)
            data_lines = []
            if payload != "[DONE]":
                yield json.loads(payload)


def base_url_for(settings: Settings) -> str:
    """Where requests go for these settings; starts the built-in sandbox when that is the answer."""
    return settings.base_url or shared_sandbox().url


def connect(*, quiet: bool = False) -> PerplexityClient:
    """A client for the mode the environment asks for; starts the sandbox when needed."""
    settings = resolve_settings()
    if not quiet:
        print(settings.describe())
    return PerplexityClient(settings.api_key, base_url_for(settings), mode=settings.mode)
