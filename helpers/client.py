"""A small ``requests`` client for the Perplexity API: the Agent API and the guide's legacy endpoint.

The same code talks to the live API and to the sandbox; only the base URL differs.
:func:`connect` applies the mode rule (see :mod:`helpers.settings`) and returns a client.
Every failure becomes one :mod:`helpers.errors` class with a sentence a learner can act on.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3

from helpers import errors
from helpers.keys import check_key_characters
from helpers.masking import MaskedHeaderValue, Secret, mask_key, redact
from helpers.sandbox import shared_sandbox
from helpers.settings import SANDBOX_DEMO_KEY, Settings, check_transport, resolve_settings

GUIDE_SYSTEM = "Be precise and concise."
GUIDE_QUESTION = "How many stars are there in our galaxy?"
GUIDE_MODEL = "mistral-7b-instruct"
CURRENT_MODEL = "perplexity/sonar"
CURRENT_LEGACY_MODEL = "sonar"
DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
RETRY_STATUSES = {429, 500, 502, 503, 504}
DONE_EVENTS = ("response.completed", "response.incomplete")
# The models on offer change often: this list is only used when GET /v1/models cannot be reached.
MODELS_AS_OF = "2026-11-25"
BUILTIN_AGENT_MODELS = ("perplexity/sonar", "openai/gpt-5.5", "anthropic/claude-sonnet-4-6")
AGENT_PRESETS = ("fast", "low", "medium", "high", "xhigh")
LEGACY_MODELS = ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")
SEARCH_RECENCY = ("hour", "day", "week", "month", "year")


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
    """Talks to one Perplexity-compatible server. Use as a context manager to close its sockets.

    Failures: 429 and 5xx answers are retried ``max_retries`` times with exponential backoff and
    jitter (``retry_base_delay`` doubling per try), waiting at least what ``Retry-After`` asks; a
    wait longer than ``retry_max_delay``, or one that would pass the total ``deadline`` (seconds),
    is not made: the error is raised at once so the learner decides. Other 4xx are never retried.
    ``timeout`` is ``(connect, read)`` seconds. ``headers`` are sent with every request (the
    sandbox's fault switches, for example); ``on_retry(retry_number, wait_seconds, error)`` is
    called before each wait, so a notebook can say what is happening.
    """

    def __init__(self, api_key: str | Secret, base_url: str, *, mode: str = "live",
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, max_retries: int = 2,
                 deadline: float = 120.0, retry_base_delay: float = 0.5, retry_max_delay: float = 8.0,
                 headers: Mapping[str, str] | None = None,
                 on_retry: Callable[[int, float, errors.PerplexityError], None] | None = None) -> None:
        self._key = Secret(api_key)  # masked in every repr, so no traceback frame shows the key
        check_key_characters(self._key.reveal())  # a line break or smart quote cannot go into a header
        # The URL is read once, and what was checked is what is used.
        self.base_url = check_transport(base_url, secret=self._key.reveal() != SANDBOX_DEMO_KEY).url
        self.mode = mode
        self.timeout, self.max_retries, self.deadline = timeout, max_retries, deadline
        self.retry_base_delay, self.retry_max_delay = retry_base_delay, retry_max_delay
        self.headers = dict(headers or {})
        self.on_retry = on_retry
        self._models: list[str] | None = None
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

    @property
    def masked_key(self) -> str:
        return mask_key(self._key)

    def redact(self, text: str) -> str:
        """``text`` with this client's key (and anything key-shaped) masked."""
        return redact(text, [self._key])

    def with_options(self, **changes: Any) -> PerplexityClient:
        """A new client to the same server with the same key, some options changed.

        ``headers`` are added to this client's headers, not put in their place.
        """
        options = {"mode": self.mode, "timeout": self.timeout, "max_retries": self.max_retries,
                   "deadline": self.deadline, "retry_base_delay": self.retry_base_delay,
                   "retry_max_delay": self.retry_max_delay, "on_retry": self.on_retry}
        headers = {**self.headers, **changes.pop("headers", {})}
        return PerplexityClient(self._key, self.base_url, **{**options, **changes, "headers": headers})

    # --- Agent API ----------------------------------------------------------------------

    def create_response(self, input: str | list[dict], *, model: str | None = CURRENT_MODEL,  # noqa: A002
                        instructions: str | None = None, web_search: bool = False,
                        preset: str | None = None, **fields: Any) -> AgentResponse:
        """``POST /v1/agent``. Raises a :mod:`helpers.errors` class on any failure, including a
        200 answer whose ``status`` is ``failed`` or ``cancelled``."""
        body = agent_body(input, model=model, instructions=instructions, web_search=web_search,
                          preset=preset, **fields)
        response = AgentResponse(self._post_json("/v1/agent", body))
        if response.status in ("failed", "cancelled"):
            raise self._run_failed(response.status, response.raw.get("error"))
        return response

    def stream_response(self, input: str | list[dict], **options: Any) -> Iterator[dict]:  # noqa: A002
        """``POST /v1/agent`` with ``stream: true``: yields each SSE event as a dict.

        Unknown event types are yielded too, for the caller to ignore. The stream ends after
        ``response.completed`` or ``response.incomplete``. Raises :class:`errors.RunFailedError`
        for ``response.failed`` / ``response.cancelled``, :class:`errors.ServiceError` for a bare
        ``error`` event, and :class:`errors.StreamInterruptedError` when no terminal event arrives.
        """
        body = agent_body(input, stream=True, **options)
        with self._send("POST", "/v1/agent", body, stream=True) as response:
            for event in self._events(response):
                kind = event.get("type", "")
                if kind in ("response.failed", "response.cancelled"):
                    details = event.get("error") or (event.get("response") or {}).get("error")
                    raise self._run_failed(kind.split(".")[1], details)
                if kind == "error":
                    raise errors.ServiceError(
                        "The server reported an error in the middle of the answer. Try again in a moment.",
                        detail=redact(json.dumps(event), [self._key]))
                yield event
                if kind in DONE_EVENTS:
                    return
        raise _interrupted()

    def stream_answer(self, input: str | list[dict], *, on_delta: Callable[[str], None] | None = None,  # noqa: A002
                      **options: Any) -> AgentResponse:
        """Stream an answer, calling ``on_delta(text)`` as each piece arrives; return the final response.

        On a broken stream the :class:`errors.StreamInterruptedError` carries the text received so far.
        """
        collector = AnswerCollector()
        try:
            for event in self.stream_response(input, **options):
                delta = collector.add(event)
                if delta and on_delta:
                    on_delta(delta)
        except errors.StreamInterruptedError as error:
            error.partial_text = collector.text
            raise
        return collector.response

    def list_models(self) -> list[str]:
        """``GET /v1/models``: the model ids the server offers."""
        return [m["id"] for m in self._request_json("GET", "/v1/models").get("data", [])]

    def available_models(self) -> tuple[list[str], str]:
        """The Agent API models and where the list came from: the server, else the dated built-in list."""
        if self._models is None:
            try:
                with self.with_options(timeout=(3.0, 5.0), max_retries=0) as quick:
                    self._models = quick.list_models()
            except errors.PerplexityError:
                return list(BUILTIN_AGENT_MODELS), f"built-in list of {MODELS_AS_OF} (server list unreachable)"
        return list(self._models), "from GET /v1/models"

    # --- legacy chat completions --------------------------------------------------------

    def chat_completion(self, messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL,
                        **fields: Any) -> ChatCompletion:
        """``POST /chat/completions``, the endpoint the guide used (public support ended 2026-09-27)."""
        return ChatCompletion(self._post_json("/chat/completions", chat_body(messages, model=model, **fields)))

    def stream_chat_completion(self, messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL,
                               on_delta: Callable[[str], None] | None = None, **fields: Any) -> ChatCompletion:
        """``POST /chat/completions`` with ``stream: true``; the last chunk (with ``finish_reason``) ends it."""
        body = chat_body(messages, model=model, stream=True, **fields)
        text = ""
        with self._send("POST", "/chat/completions", body, stream=True) as response:
            try:
                for chunk in self._events(response):
                    choice = (chunk.get("choices") or [{}])[0]
                    delta = (choice.get("delta") or {}).get("content") or ""
                    text += delta
                    if delta and on_delta:
                        on_delta(delta)
                    if choice.get("finish_reason"):
                        message = {"role": "assistant", "content": text}
                        final = {**choice, "message": message}
                        return ChatCompletion({**chunk, "object": "chat.completion", "choices": [final]})
            except errors.StreamInterruptedError as error:
                error.partial_text = text
                raise
        raise _interrupted(text)

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
        """Send with retries for 429 and 5xx (exponential backoff, jitter, ``Retry-After``, deadline)."""
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            remaining = self.deadline - (time.monotonic() - started)
            # A stream's read timeout applies to every chunk: cutting it to the deadline would end a healthy one.
            read_timeout = self.timeout[1] if stream else max(0.1, min(self.timeout[1], remaining))
            response = self._send_once(method, path, body, stream, read_timeout)
            if response.status_code < 400:
                return response
            error = self._error_for(response, path)
            wait = retry_delay(attempt, error, self.retry_base_delay, self.retry_max_delay)
            too_long = wait is not None and (wait > self.retry_max_delay
                                             or time.monotonic() - started + wait > self.deadline)
            if wait is None or too_long or attempt == self.max_retries:
                if attempt:
                    error.detail += f" (after {attempt + 1} attempts)"
                raise error
            if self.on_retry:
                self.on_retry(attempt + 1, wait, error)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _send_once(self, method: str, path: str, body: dict | None, stream: bool,
                   read_timeout: float) -> requests.Response:
        accept = "text/event-stream" if stream else "application/json"
        headers = {**self.headers, "Accept": accept}
        connect_timeout = self.timeout[0]
        try:
            response = self._session.request(method, self.base_url + path, json=body, headers=headers,
                                             auth=BearerAuth(self._key),
                                             timeout=(connect_timeout, read_timeout), stream=stream,
                                             allow_redirects=False)
        except requests.ConnectTimeout as exc:
            raise errors.APITimeoutError(
                f"Could not connect to {self.base_url} within {_seconds(connect_timeout)}. Check your internet "
                "connection, then try again.", detail=redact(str(exc), [self._key])) from None
        except requests.Timeout as exc:
            raise errors.APITimeoutError(
                f"No answer from {self.base_url} within {_seconds(read_timeout)}. Try again, or ask for a "
                "shorter answer (fewer max output tokens).", detail=redact(str(exc), [self._key])) from None
        except requests.ConnectionError as exc:
            raise self._connection_error(exc) from None
        except requests.RequestException as exc:  # anything else requests refuses, e.g. a malformed URL
            raise errors.UnexpectedResponseError(
                f"The request to {self.base_url} could not be sent. Check PERPLEXITY_BASE_URL.",
                detail=redact(str(exc), [self._key])) from None
        if 300 <= response.status_code < 400:
            response.close()
            raise errors.UnexpectedResponseError(
                f"The server redirected to {redact(response.headers.get('Location', '?'), [self._key])}. "
                "The key is not sent to another address; check the base URL.", status=response.status_code)
        return response

    def _connection_error(self, exc: requests.ConnectionError) -> errors.NetworkError:
        detail = redact(str(exc), [self._key])
        if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ProtocolError):
            return errors.ConnectionDroppedError(
                f"{self.base_url} closed the connection before answering. Try again in a moment.", detail=detail)
        return errors.NetworkError(
            f"Could not reach {self.base_url}. Check your internet connection (or PERPLEXITY_BASE_URL), "
            "or run without a key to use the sandbox.", detail=detail)

    def _error_for(self, response: requests.Response, path: str) -> errors.PerplexityError:
        error = error_from_response(response, path, [self._key])
        # The current models come from /v1/models: asking it while it fails would never end.
        if isinstance(error, errors.InvalidModelError) and path not in ("/chat/completions", "/v1/models"):
            models, _ = self.available_models()
            error = _invalid_model(path, error.model, error.detail, tuple(models))
        return error

    def _events(self, response: requests.Response) -> Iterator[dict]:
        """The SSE events of a streamed answer; a broken connection becomes one of our errors."""
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            raise errors.UnexpectedResponseError(
                f"A streamed answer was expected, but the server sent {content_type or 'no content type'}. "
                "Check PERPLEXITY_BASE_URL.", status=response.status_code)
        try:
            yield from iter_sse(response)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _interrupted(detail=redact(str(exc), [self._key])) from None
        except requests.ConnectionError as exc:
            if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ReadTimeoutError):
                raise errors.APITimeoutError(
                    f"The answer stalled for more than {_seconds(self.timeout[1])}. Try again in a moment.",
                    detail=redact(str(exc), [self._key])) from None
            raise _interrupted(detail=redact(str(exc), [self._key])) from None
        except ValueError as exc:
            raise errors.UnexpectedResponseError(
                "The stream held an event that is not JSON. Check PERPLEXITY_BASE_URL.",
                detail=redact(str(exc), [self._key])) from None

    def _run_failed(self, status: str, error: dict | None) -> errors.RunFailedError:
        reason = (error or {}).get("message") or "no reason given"
        detail = redact(json.dumps(error), [self._key])
        if status == "cancelled":
            return errors.RunFailedError("The run was cancelled before it finished. Send the request again.",
                                         status=200, detail=detail)
        return errors.RunFailedError(
            f"The request arrived, but the run failed on the server ({redact(reason, [self._key])}). "
            "Try again in a moment.", status=200, detail=detail)


class BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer <key>`` on a prepared request: the one place the plain key becomes text.

    requests calls it at the last moment, so none of our frames ever holds the plain header; the
    header value itself masks its ``repr``, for the frames of requests and urllib3 below us.
    """

    def __init__(self, key: Secret) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = MaskedHeaderValue("Bearer " + self.key.reveal())
        return request

    def __repr__(self) -> str:
        return f"BearerAuth({self.key!r})"


class AnswerCollector:
    """Folds Agent API stream events into the text so far and, at the end, the final response.

    Only the events it needs are read; any other type (new or unknown ones) is ignored.
    """

    def __init__(self) -> None:
        self.text = ""
        self.response: AgentResponse | None = None

    def add(self, event: dict) -> str:
        """Take one event; return the new text it carries (often empty)."""
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = event.get("delta") or ""
            self.text += delta
            return delta
        if kind in DONE_EVENTS:
            self.response = AgentResponse(event.get("response") or {})
        return ""


def _interrupted(partial_text: str = "", detail: str = "") -> errors.StreamInterruptedError:
    return errors.StreamInterruptedError(
        "The answer stopped half-way: the connection closed before it was complete. "
        "The text so far is kept; send the request again for the full answer.",
        partial_text=partial_text, detail=detail or "the stream ended without a terminal event")


def agent_body(input: str | list[dict], *, model: str | None = CURRENT_MODEL,  # noqa: A002
               instructions: str | None = None, web_search: bool = False, preset: str | None = None,
               search_recency: str | None = None, search_domains: list[str] | None = None,
               **fields: Any) -> dict:
    """The JSON body for ``POST /v1/agent``; ``preset`` replaces ``model`` when given.

    The search filters (``search_recency``: hour, day, week, month or year; ``search_domains``:
    up to 20 domains without ``https://``, ``-`` in front to exclude one) apply to the web search tool.
    """
    body: dict[str, Any] = {"input": input}
    if preset:
        body["preset"] = preset
    elif model:
        body["model"] = model
    if instructions:
        body["instructions"] = instructions
    if web_search:
        tool: dict[str, Any] = {"type": "web_search"}
        filters = {"search_recency_filter": search_recency, "search_domain_filter": search_domains or None}
        if any(filters.values()):
            tool["filters"] = {k: v for k, v in filters.items() if v}
        body["tools"] = [tool]
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def chat_body(messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL, **fields: Any) -> dict:
    """The JSON body for the legacy ``POST /chat/completions``; fields set to None are left out."""
    return {"model": model, "messages": messages, **{k: v for k, v in fields.items() if v is not None}}


def retry_delay(attempt: int, error: errors.PerplexityError, base: float = 0.5,
                cap: float = 8.0) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``, or None when this error is not worth retrying.

    Exponential backoff (``base`` doubling, at most ``cap``) with jitter, so that many learners
    hitting a limit together do not all come back at the same instant; never less than ``Retry-After``.
    """
    if error.status not in RETRY_STATUSES:
        return None
    backoff = min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
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
        name = message.split("'")[1] if message.count("'") >= 2 else "that model"
        return _invalid_model(path, redact(name, secrets), detail)
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
            "Fix it and send again.", status=status, detail=detail, param=param)
    if status >= 500:
        return errors.ServiceError(
            f"The service had a problem on its side (HTTP {status}). Wait a minute and try again.",
            status=status, detail=detail)
    return errors.UnexpectedResponseError(f"Unexpected answer: HTTP {status}.", status=status, detail=detail)


def _error_info(response: requests.Response) -> dict[str, str]:
    """The documented error envelope's fields as strings; empty when the body has another shape."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(error, dict):
        return {"message": str(error)} if error else {}
    return {name: str(value) for name, value in error.items() if value is not None}


def _invalid_model(path: str, name: str, detail: str,
                   alternatives: tuple[str, ...] = BUILTIN_AGENT_MODELS) -> errors.InvalidModelError:
    if path.endswith("/chat/completions"):
        alternatives = LEGACY_MODELS
        advice = (f"on /chat/completions use one of {_quoted(alternatives)}; "
                  f"better, use the Agent API with '{CURRENT_MODEL}'")
    else:
        advice = f"use one of {_quoted(alternatives)}, or a preset such as 'fast'"
    return errors.InvalidModelError(
        f"The model '{name}' is retired or unknown (HTTP 400, invalid_model): {advice}.",
        status=400, detail=detail, model=name, alternatives=tuple(alternatives))


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _rate_limited(response: requests.Response, detail: str) -> errors.RateLimitError:
    retry_after = _retry_after_seconds(response.headers)
    wait = f" Wait {_seconds(retry_after)}, then" if retry_after is not None else " Wait a little, then"
    return errors.RateLimitError(
        f"Too many requests (HTTP 429): you hit the rate limit.{wait} try again.",
        status=429, detail=detail, retry_after=retry_after)


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def _retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms``, or ``Retry-After`` as seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                continue
    return None


def iter_sse(response: requests.Response) -> Iterator[dict]:
    """Parse ``event:`` / ``data:`` frames into dicts; unknown event types pass through untouched.

    An event whose data has no ``type`` gets the frame's ``event:`` name as its type.
    """
    name, data_lines = "", []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip())
        elif not line and data_lines:
            payload = "\n".join(data_lines)
            if payload != "[DONE]":
                event = json.loads(payload)
                if isinstance(event, dict) and name and "type" not in event:
                    event["type"] = name
                yield event
            name, data_lines = "", []


def base_url_for(settings: Settings) -> str:
    """Where requests go for these settings; starts the built-in sandbox when that is the answer."""
    return settings.base_url or shared_sandbox().url


def connect(*, quiet: bool = False) -> PerplexityClient:
    """A client for the mode the environment asks for; starts the sandbox when needed."""
    settings = resolve_settings()
    if not quiet:
        print(settings.describe())
    try:
        return PerplexityClient(settings.api_key, base_url_for(settings), mode=settings.mode)
    except errors.InvalidKeyError as error:
        source = settings.key.source if settings.key else "configuration"
        raise errors.InvalidKeyError(f"The key from the {source} cannot be used. {error}") from None
