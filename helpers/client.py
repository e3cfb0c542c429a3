"""A small ``requests`` client for the Perplexity API: the Agent API and the guide's legacy endpoint.

The same code talks to the live API and to the sandbox; only the base URL differs.
:func:`connect` applies the mode rule (see :mod:`helpers.settings`) and returns a client.
Every failure becomes one :mod:`helpers.errors` class with a sentence a learner can act on.

This module sends requests and reads answers. :class:`PerplexityClient` is what a notebook calls: one
method per endpoint. Below it, in requests' own model, :class:`ClientTransport` holds the session
(:func:`open_session`: the proxy, the CA bundle and, on its adapter, the retries of :class:`ClientRetry`,
urllib3's ``Retry`` with the client's rules) and the one request path every endpoint shares. Next door:
the model names and the response objects in :mod:`helpers.responses`, stream parsing in
:mod:`helpers.sse`, and the error classes with the HTTP status table in :mod:`helpers.errors`.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import DEFAULT_RETRIES, HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError, ResponseError
from urllib3.util import Retry

from helpers import errors, events, responses
from helpers.keys import check_key_characters
from helpers.masking import MaskedHeaderValue, Secret, mask_key, redact
from helpers.responses import CURRENT_LEGACY_MODEL, CURRENT_MODEL, AgentResponse, ChatCompletion
from helpers.settings import SANDBOX_DEMO_KEY, Proxy, Settings, check_transport, proxy_for, resolve_settings
from helpers.sse import DONE_EVENTS, collect_answer, iter_sse
from helpers.text import clause, duration
from helpers.trust import ca_bundle_from_environment

GUIDE_SYSTEM = "Be precise and concise."
GUIDE_QUESTION = "How many stars are there in our galaxy?"
GUIDE_MODEL = "mistral-7b-instruct"
SEARCH_RECENCY = ("hour", "day", "week", "month", "year")
DEFAULT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
RETRY_STATUSES = {429, 500, 502, 503, 504}
# Notebook setup checks that the server answers, and says so at once when it does not: within 2 seconds.
REACHABLE_WITHIN = 1.8
# Bytes asked for per read of a stream (requests' own default). A chunked answer, as the API sends,
# is handed over chunk by chunk without waiting for this many bytes.
STREAM_READ_BYTES = 512
FINISHED_BADLY = ("failed", "cancelled")


def connect(*, quiet: bool = False) -> PerplexityClient:
    """A client for the mode the environment asks for (in sandbox mode, the sandbox notebook setup started)."""
    settings = resolve_settings()
    if not quiet:
        print(settings.describe())
    try:
        return PerplexityClient(settings.api_key, base_url_for(settings), mode=settings.mode)
    except errors.InvalidKeyError as error:
        source = settings.key.source if settings.key else "configuration"
        raise errors.InvalidKeyError(f"The key from the {source} cannot be used. {error}") from None


def base_url_for(settings: Settings) -> str:
    """Where requests go for these settings. It never starts a sandbox: notebook setup does that."""
    if settings.base_url is None:
        raise errors.TutorialError(
            "No sandbox is running in this kernel: run the notebook's first cell (`helpers.setup_notebook()`), "
            "or set PERPLEXITY_BASE_URL to a running sandbox."
        )
    return settings.base_url


@dataclass(frozen=True)
class ClientOptions:
    """How a client sends, given to :class:`PerplexityClient` as keywords.

    429 and 5xx answers are retried ``max_retries`` times with exponential backoff and jitter
    (``retry_base_delay`` doubling per try), waiting at least what ``Retry-After`` asks; a wait longer
    than ``retry_max_delay``, or one that would pass the total ``deadline`` (seconds), is not made: the
    error is raised at once so the learner decides. Other 4xx are never retried. ``timeout`` is
    ``(connect, read)`` seconds. ``headers`` are sent with every request (the sandbox's fault switches,
    for example); ``on_retry(retry_number, wait_seconds, error)`` is called before each wait, so a
    notebook can say what is happening.
    """

    mode: str = "live"
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    max_retries: int = 2
    deadline: float = 120.0
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0
    headers: Mapping[str, str] = field(default_factory=dict)
    on_retry: Callable[[int, float, errors.PerplexityError], None] | None = None


class PerplexityClient:
    """Talks to one Perplexity-compatible server. Use as a context manager to close its sockets.

    Options (keywords): see :class:`ClientOptions`. Every endpoint goes through its :class:`ClientTransport`.
    """

    def __init__(self, api_key: str | Secret, base_url: str, **options: Any) -> None:
        # First, and rebinding the argument: from here on no traceback frame (%xmode Verbose) shows the key.
        api_key = self._key = Secret(api_key)
        check_key_characters(api_key)  # a line break or smart quote cannot go into a header
        self.options = ClientOptions(**options)
        self.mode, self.max_retries = self.options.mode, self.options.max_retries
        self._transport = ClientTransport(self._key, base_url, self.options, self.available_models)
        self.base_url, self.proxy = self._transport.base_url, self._transport.proxy
        self._models: list[str] | None = None

    def __repr__(self) -> str:
        # getattr: a traceback may show a client whose __init__ refused its key before setting the rest.
        mode, base_url = getattr(self, "mode", None), getattr(self, "base_url", None)
        return f"PerplexityClient(mode={mode!r}, base_url={base_url!r}, key={mask_key(self._key)!r})"

    def __enter__(self) -> PerplexityClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.session.close()

    @property
    def masked_key(self) -> str:
        return mask_key(self._key)

    def redact(self, text: str) -> str:
        """``text`` with this client's key, the proxy's password (and anything key-shaped) masked."""
        return self._transport.redact(text)

    def with_options(self, **changes: Any) -> PerplexityClient:
        """A new client to the same server with the same key, some options changed.

        ``headers`` are added to this client's headers, not put in their place.
        """
        headers = {**self.options.headers, **changes.pop("headers", {})}
        return PerplexityClient(self._key, self.base_url, **{**vars(self.options), **changes, "headers": headers})

    # --- Agent API ----------------------------------------------------------------------

    def create_response(self, input: str | list[dict], **options: Any) -> AgentResponse:  # noqa: A002 - the API's name
        """``POST /v1/agent`` (``options``: see :func:`agent_body`). Raises a :mod:`helpers.errors` class on any
        failure, including a 200 answer whose ``status`` is ``failed`` or ``cancelled``."""
        response = AgentResponse(self._transport.request_json("POST", "/v1/agent", agent_body(input, **options)))
        self._check_run(response.status, response.raw.get("error"))
        return response

    def stream_response(self, input: str | list[dict], **options: Any) -> Iterator[dict]:  # noqa: A002
        """``POST /v1/agent`` with ``stream: true``: yields each SSE event as a dict.

        Unknown event types are yielded too, for the caller to ignore. The stream ends after
        ``response.completed`` or ``response.incomplete``. Raises :class:`errors.RunFailedError`
        for ``response.failed`` / ``response.cancelled``, :class:`errors.ServiceError` for a bare
        ``error`` event, and :class:`errors.StreamInterruptedError` when no terminal event arrives.
        """
        for event in self._transport.events("/v1/agent", agent_body(input, stream=True, **options)):
            kind = event.get("type", "")
            failure = event.get("error") or (event.get("response") or {}).get("error")
            self._check_run(kind.removeprefix("response."), failure)
            if kind == "error":
                sentence = "The server reported an error in the middle of the answer. Try again in a moment."
                raise errors.ServiceError(sentence, detail=self.redact(json.dumps(event)))
            yield event
            if kind in DONE_EVENTS:
                return
        raise errors.stream_interrupted()

    def stream_answer(
        self,
        input: str | list[dict],  # noqa: A002 - the API's own name
        *,
        on_delta: Callable[[str], None] | None = None,
        **options: Any,
    ) -> AgentResponse:
        """Stream an answer, calling ``on_delta(text)`` as each piece arrives; return the final response.

        On a broken stream the :class:`errors.StreamInterruptedError` carries the text received so far.
        """
        return collect_answer(self.stream_response(input, **options), on_delta)

    def retrieve_response(self, response_id: str) -> AgentResponse:
        """``GET /v1/agent/{id}``: a stored run as it is now (``queued``, ``in_progress``, or finished)."""
        return AgentResponse(self._transport.request_json("GET", f"/v1/agent/{quote(response_id, safe='')}"))

    def cancel_response(self, response_id: str) -> str:
        """``POST /v1/responses/{id}/cancel``: stop a background run; returns the status the server acknowledged."""
        acknowledged = self._transport.request_json("POST", f"/v1/responses/{quote(response_id, safe='')}/cancel")
        return acknowledged.get("status", "")

    def wait_for_response(
        self, response_id: str, *, poll_every: float = 0.5, timeout: float = 300.0, on_status: Callable | None = None
    ) -> AgentResponse:
        """Poll a background run (``create_response(..., background=True)``) until it finishes.

        ``on_status(status)`` is called when the status changes, so a notebook can say what is
        happening. Raises :class:`errors.RunFailedError` for a failed or cancelled run, and
        :class:`errors.APITimeoutError` when it is still running after ``timeout`` seconds.
        """
        deadline, seen = time.monotonic() + timeout, ""
        while True:
            run = self.retrieve_response(response_id)
            if run.status != seen and on_status:
                on_status(run.status)
            seen = run.status
            if seen not in ("queued", "in_progress"):
                self._check_run(seen, run.raw.get("error"))
                return run
            if time.monotonic() + poll_every > deadline:
                sentence = f"The background run is still {seen.replace('_', ' ')} after {duration(timeout)}."
                raise errors.APITimeoutError(f"{sentence} Ask again later with wait_for_response('{response_id}').")
            time.sleep(poll_every)

    def list_models(self) -> list[str]:
        """``GET /v1/models``: the model ids the server offers."""
        return [m["id"] for m in self._transport.request_json("GET", "/v1/models").get("data", [])]

    def available_models(self) -> tuple[list[str], str]:
        """The Agent API models and where the list came from: the server, else the dated built-in list."""
        if self._models is None:
            try:
                with self.with_options(timeout=(3.0, 5.0), max_retries=0) as quick:
                    self._models = quick.list_models()
            except errors.PerplexityError:
                built_in = f"built-in list of {responses.MODELS_AS_OF} (server list unreachable)"
                return list(responses.BUILTIN_AGENT_MODELS), built_in
        return list(self._models), "from GET /v1/models"

    # --- legacy chat completions --------------------------------------------------------

    def chat_completion(self, messages: list[dict], **fields: Any) -> ChatCompletion:
        """``POST /chat/completions``, the endpoint the guide used (public support ended 2026-09-27)."""
        return ChatCompletion(self._transport.request_json("POST", "/chat/completions", chat_body(messages, **fields)))

    def stream_chat_completion(
        self, messages: list[dict], *, on_delta: Callable[[str], None] | None = None, **fields: Any
    ) -> ChatCompletion:
        """``POST /chat/completions`` with ``stream: true``; the last chunk (with ``finish_reason``) ends it."""
        return collect_answer(
            self._transport.events("/chat/completions", chat_body(messages, stream=True, **fields)), on_delta
        )

    # --- streams and runs ---------------------------------------------------------------

    def _check_run(self, status: str, error: dict | str | None) -> None:
        """Raise :class:`errors.RunFailedError` when a run ended ``failed`` or ``cancelled`` (in an HTTP 200 answer)."""
        if status not in FINISHED_BADLY:
            return
        detail = self.redact(json.dumps(error))
        if status == "cancelled":
            sentence = "The run was cancelled before it finished. Send the request again."
            raise errors.RunFailedError(sentence, status=200, detail=detail)
        message = error.get("message") if isinstance(error, dict) else error
        reason = self.redact(clause(str(message or "")) or "no reason given")  # inside parentheses: no stop
        sentence = f"The request arrived, but the run failed on the server ({reason}). Try again in a moment."
        raise errors.RunFailedError(sentence, status=200, detail=detail)


class ClientTransport:
    """How one client's requests travel: its requests session, and the one path every endpoint's request takes.

    The session (:func:`open_session`) carries the proxy, the CA bundle, the key (set at the last moment
    by :class:`BearerAuth`) and, on its adapter, the retries (:class:`ClientRetry`). :meth:`send` never
    follows a redirect (the key is not sent elsewhere) and turns every answer it cannot use into one
    :mod:`helpers.errors` class. ``models()`` gives the server's current models, named for an unknown one.
    """

    def __init__(self, key: Secret, base_url: str, options: ClientOptions, models: Callable[[], tuple]) -> None:
        self.key, self.options, self.models = key, options, models
        # The URL is read once, and what was checked (where this key may go) is what is used; so is the proxy.
        self.base_url = check_transport(base_url, key).url
        self.proxy = proxy_for(self.base_url, secret=key.reveal() != SANDBOX_DEMO_KEY)
        retry = ClientRetry(
            options.max_retries,
            base_delay=options.retry_base_delay,
            max_delay=options.retry_max_delay,
            deadline=options.deadline,
            on_retry=self._announce_retry,
        )
        self.session = open_session(self.proxy, retry=retry)
        self.session.auth = BearerAuth(key)
        self.session.headers.update(options.headers)

    def redact(self, text: str) -> str:
        """``text`` with the key, the proxy's password (and anything key-shaped) masked."""
        return redact(text, [self.key, *(self.proxy.secrets() if self.proxy else ())])

    def request_json(self, method: str, path: str, body: dict | None = None) -> dict:
        with self.send(method, path, body) as response:
            try:
                return response.json()
            except ValueError:
                sentence = "The server answered with something that is not JSON. Check PERPLEXITY_BASE_URL."
                detail = self.redact(response.text[:300])
                raise errors.UnexpectedResponseError(sentence, status=response.status_code, detail=detail) from None

    def events(self, path: str, body: dict) -> Iterator[dict]:
        """The SSE events of a streamed answer; a broken connection becomes one of our errors."""
        with self.send("POST", path, body, stream=True) as response:
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith("text/event-stream"):
                sent = content_type or "no content type"
                sentence = f"A streamed answer was expected, but the server sent {sent}. Check PERPLEXITY_BASE_URL."
                raise errors.UnexpectedResponseError(sentence, status=response.status_code)
            try:
                # Bytes, not response.iter_lines(decode_unicode=True): requests would decode a
                # text/event-stream without a charset as Latin-1, and SSE is always UTF-8.
                yield from iter_sse(response.iter_content(chunk_size=STREAM_READ_BYTES))
            except requests.RequestException as exc:  # a chunk cut, the connection closed, a read timeout
                if not isinstance(_wrapped(exc), ReadTimeoutError):
                    raise errors.stream_interrupted(self.redact(str(exc))) from None
                sentence = (
                    f"The answer stalled for more than {duration(self.options.timeout[1])}. Try again in a moment."
                )
                raise errors.APITimeoutError(sentence, detail=self.redact(str(exc))) from None
            except ValueError as exc:
                sentence = "The stream held an event that is not JSON. Check PERPLEXITY_BASE_URL."
                raise errors.UnexpectedResponseError(sentence, detail=self.redact(str(exc))) from None

    def send(self, method: str, path: str, body: dict | None, stream: bool = False) -> requests.Response:
        """Send; the session's adapter retries 429 and 5xx answers (see :class:`ClientRetry`)."""
        connect, read = self.options.timeout
        # urllib3 sends every retry with the same timeouts: only the first try's read timeout can be cut to
        # the deadline. A stream's read timeout applies to every chunk: cutting it would end a healthy one.
        timeout = (connect, read if stream else max(0.1, min(read, self.options.deadline)))
        accept = {"Accept": "text/event-stream" if stream else "application/json"}
        started = _STARTED.set(time.monotonic())
        try:
            url = self.base_url + path
            response = self.session.request(
                method, url, json=body, headers=accept, timeout=timeout, stream=stream, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise self._failure(exc, timeout[1]) from None
        finally:
            _STARTED.reset(started)
        if 300 <= response.status_code < 400:
            response.close()
            location = self.redact(response.headers.get("Location", "?"))
            advice = "The key is not sent to another address; check the base URL."
            raise errors.UnexpectedResponseError(
                f"The server redirected to {location}. {advice}", status=response.status_code
            )
        if response.status_code >= 400:
            raise self._error_for(response, path)
        return response

    def _failure(self, exc: requests.RequestException, read_timeout: float) -> errors.PerplexityError:
        """Our error for a request that got no answer: a failure to reach the server says so as a cell does."""
        detail = self.redact(str(exc))
        if isinstance(exc, requests.exceptions.ProxyError) and self.proxy:
            sentence = f"Could not reach {self.base_url} through the proxy {self.proxy.describe()}."
            advice = f"Check the proxy's address, or unset {self.proxy.source} to connect directly."
            return errors.NetworkError(f"{sentence} {advice}", detail=detail)
        if isinstance(exc, requests.ReadTimeout):
            sentence = f"No answer from {self.base_url} within {duration(read_timeout)}."
            advice = "Try again, or ask for a shorter answer (fewer max output tokens)."
            return errors.APITimeoutError(f"{sentence} {advice}", detail=detail)
        sentence = errors.describe_network_failure(exc)
        if sentence is None:  # not a failure to reach the server: requests refused to send, e.g. a malformed URL
            sentence = f"The request to {self.base_url} could not be sent. Check PERPLEXITY_BASE_URL."
            return errors.UnexpectedResponseError(sentence, detail=detail)
        if isinstance(exc, requests.ConnectTimeout):
            return errors.APITimeoutError(sentence, detail=detail)
        dropped = isinstance(_wrapped(exc), ProtocolError)
        return (errors.ConnectionDroppedError if dropped else errors.NetworkError)(sentence, detail=detail)

    def _error_for(self, response: requests.Response, path: str) -> errors.PerplexityError:
        """The error for an HTTP error answer (closed here); an unknown model names the server's current ones."""
        with response:
            error = error_from_answer(response.status_code, response.headers, response.text, path, [self.key])
        if (tries := attempts_made(response)) > 1:
            error.detail += f" (after {tries} attempts)"
        # The current models come from /v1/models: asking it while it fails would never end.
        if isinstance(error, errors.InvalidModelError) and path not in ("/chat/completions", "/v1/models"):
            error = errors.invalid_model_error(error.model, path, error.detail, self.models()[0])
        return error

    def _announce_retry(self, number: int, wait: float, answer: urllib3.BaseHTTPResponse) -> None:
        """Hand ``on_retry`` the error this answer would have raised, before urllib3 waits and retries."""
        if self.options.on_retry is not None:
            text = answer.read(decode_content=True).decode("utf-8", "replace")
            path = urlsplit(answer.url or "").path
            error = error_from_answer(answer.status, answer.headers, text, path, [self.key])
            self.options.on_retry(number, wait, error)


def open_session(proxy: Proxy | None, *, retry: Retry | None = None) -> requests.Session:
    """A session that uses ``proxy`` (from :func:`proxy_for`) if any, and the CA bundle the environment names.

    ``retry``: the urllib3 ``Retry`` its adapters follow (the client's :class:`ClientRetry`); without
    one, requests' default (no retry).

    ``trust_env`` stays off because requests would then also read ``.netrc``, whose password silently
    replaces the Authorization header; the proxy variables are read by :func:`proxy_for`, with its rule,
    and the CA variables here (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``), so that
    behind a TLS-inspecting proxy the package's requests trust what the learner's own ``requests.post`` does.
    Without them: certifi's bundle, or the operating system's store once :func:`helpers.setup_notebook`
    has put truststore in place.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy.url, "https": proxy.url} if proxy else {}
    path, variable = ca_bundle_from_environment() or (True, "")
    if variable and not os.path.exists(path):  # requests would raise a bare OSError at the first https request
        raise errors.NetworkError(
            f"{variable} names {path}, which does not exist: point it at the file that holds your network's "
            "root certificate (PEM), or unset it."
        )
    session.verify = path
    adapter = HTTPAdapter(max_retries=retry or DEFAULT_RETRIES)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def reachability_problem(url: str, *, sandbox_url: str | None = None, within: float = REACHABLE_WITHIN) -> str:
    """ "" when the server at ``url`` answers within ``within`` seconds (any HTTP status), else one sentence.

    No key is sent: no Authorization header, and ``.netrc`` is never read. The request goes through the
    proxy :func:`proxy_for` names and trusts what :func:`open_session` trusts, as the real requests will.
    It runs in a thread so that nothing (a name lookup hanging, say) makes it take longer than ``within``.
    ``sandbox_url``: the class sandbox in use, for :func:`errors.describe_network_failure`.
    """
    outcome: list[BaseException | None] = []

    def knock() -> None:
        try:
            with open_session(proxy_for(url, secret=False)) as session:
                session.get(url, timeout=within, allow_redirects=False, stream=True).close()  # the status is enough
            outcome.append(None)
        except Exception as error:  # reported below, as one sentence
            outcome.append(error)

    worker = threading.Thread(target=knock, name="reachability check", daemon=True)
    worker.start()
    worker.join(within)
    if not outcome:
        return errors.network_sentence("timeout", url, sandbox_url=sandbox_url)
    if outcome[0] is None:
        return ""
    if isinstance(outcome[0], errors.TutorialError):  # an unusable proxy or CA variable: its own sentence
        return str(outcome[0])
    sentence = errors.describe_network_failure(outcome[0], sandbox_url=sandbox_url)
    return sentence or errors.network_sentence("unreachable", url, sandbox_url=sandbox_url)


@dataclass
class BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer <key>`` on a prepared request: the one place the plain key becomes text.

    requests calls it at the last moment, so none of our frames ever holds the plain header; the
    header value itself masks its ``repr``, for the frames of requests and urllib3 below us.
    """

    key: Secret  # its repr is the mask, and so is the dataclass's

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = MaskedHeaderValue("Bearer " + self.key.reveal())
        return request


# --- request bodies -------------------------------------------------------------------------


def guide_messages(question: str = GUIDE_QUESTION, system: str = GUIDE_SYSTEM) -> list[dict[str, str]]:
    """The guide's chat messages: a system instruction, then the user's question."""
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def agent_body(
    input: str | list[dict],  # noqa: A002 - the API's own name
    *,
    model: str | None = CURRENT_MODEL,
    instructions: str | None = None,
    web_search: bool = False,
    preset: str | None = None,
    search_recency: str | None = None,
    search_domains: list[str] | None = None,
    **fields: Any,
) -> dict:
    """The JSON body for ``POST /v1/agent``; ``preset`` replaces ``model`` when given; fields set to None are left out.

    The search filters (``search_recency``: hour, day, week, month or year; ``search_domains``:
    up to 20 domains without ``https://``, ``-`` in front to exclude one) apply to the web search tool.
    """
    filters = {"search_recency_filter": search_recency, "search_domain_filter": search_domains}
    tool = {"type": "web_search", "filters": {name: value for name, value in filters.items() if value}}
    optional = {
        **({"preset": preset} if preset else {"model": model or None}),
        "instructions": instructions or None,
        "tools": [tool if tool["filters"] else {"type": "web_search"}] if web_search else None,
        **fields,
    }
    return {"input": input, **{name: value for name, value in optional.items() if value is not None}}


def chat_body(messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL, **fields: Any) -> dict:
    """The JSON body for the legacy ``POST /chat/completions``; fields set to None are left out."""
    return {"model": model, "messages": messages, **{k: v for k, v in fields.items() if v is not None}}


# --- retries --------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff (``base`` doubling, at most ``cap``) with jitter in proportion, so that many
    learners hitting a limit together do not all come back at the same instant."""
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)


# When the request in flight was first sent (for the deadline), set by PerplexityClient._send:
# urllib3 runs the retries in the caller's thread.
_STARTED: ContextVar[float] = ContextVar("request first sent")


class ClientRetry(Retry):
    """urllib3's ``Retry``, on the client session's adapter, with what the client promises and Retry lacks.

    urllib3 counts the tries, reads the status list and the methods, drains the answer and sends the
    request again. This subclass chooses the wait and may give up:

    - the wait is :func:`backoff_delay`'s: ``base_delay`` doubling per retry with jitter in proportion,
      never less than ``Retry-After``. Retry's own backoff is 0 before the first retry and adds a fixed
      jitter, and its ``Retry-After`` replaces the backoff, refuses "1.5" with an exception and knows no
      ``retry-after-ms``: :meth:`increment` chooses the wait, :meth:`sleep` makes it.
    - a wait longer than ``max_delay``, or one that would pass the request's ``deadline`` (seconds),
      is not made: Retry would cap a long ``Retry-After`` and wait anyway; here the answer comes back
      at once, and the learner decides.
    - ``on_retry(retry_number, wait_seconds, answer)`` is called before each wait: Retry has no callback.
    """

    # A 413 with Retry-After is the learner's to fix, not to wait for: no status beyond the status list.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
    RULES = ("base_delay", "max_delay", "deadline", "on_retry")  # what new() hands on to the next try's Retry

    def __init__(
        self,
        total: int = 2,
        *,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        deadline: float | None = None,
        on_retry: Callable[[int, float, urllib3.BaseHTTPResponse], None] | None = None,
        **policy: Any,
    ) -> None:
        # Only answers are retried, for every method, POST included: the server said it produced no answer.
        # A dropped connection or a timeout is never retried (connect=0, read=False: urllib3 then raises it
        # as requests' default adapter does), since a POST may have been processed already. The last answer
        # comes back (raise_on_status=False), and becomes one of our errors.
        policy = {"connect": 0, "read": False, "other": 0, "allowed_methods": None, "raise_on_status": False, **policy}
        super().__init__(total, **{"status_forcelist": RETRY_STATUSES, **policy})
        self.base_delay, self.max_delay, self.deadline, self.on_retry = base_delay, max_delay, deadline, on_retry
        self.wait = 0.0  # chosen by increment(), made by sleep()

    def new(self, **changes: Any) -> ClientRetry:
        return super().new(**{name: getattr(self, name) for name in self.RULES}, **changes)

    def increment(self, method: str | None = None, url: str | None = None, **details: Any) -> ClientRetry:
        # urllib3 passes the rest by keyword: the answer (response=) or the error, and the pool.
        retry = super().increment(method, url, **details)  # raises once the tries are used up
        answer = details.get("response")
        if answer is None:
            return retry
        backoff = backoff_delay(len(retry.history) - 1, self.base_delay, self.max_delay)
        retry.wait = max(backoff, _retry_after_seconds(answer.headers) or 0.0)
        started = _STARTED.get(None)
        late = None not in (started, self.deadline) and time.monotonic() - started + retry.wait > self.deadline
        if retry.wait > self.max_delay or late:
            raise MaxRetryError(details.get("_pool"), url, ResponseError(f"a wait of {retry.wait:.1f} s is too long"))
        if self.on_retry:
            self.on_retry(len(retry.history), retry.wait, answer)
        return retry

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        time.sleep(self.wait)


def attempts_made(response: requests.Response) -> int:
    """How many times the request behind this answer was sent (urllib3 keeps the retries' history on it)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


# --- reading an answer ----------------------------------------------------------------------


def error_from_answer(
    status: int, headers: Mapping[str, str], text: str, path: str, secrets: list
) -> errors.PerplexityError:
    """The error for an HTTP error answer (from requests or, while retrying, urllib3): its error envelope's
    fields, redacted, and ``Retry-After``; the class and sentence come from :func:`errors.error_from_status`."""
    try:
        envelope = json.loads(text).get("error")
    except (ValueError, AttributeError):  # not JSON, or JSON of another shape
        envelope = None
    if not isinstance(envelope, dict):  # {"error": "text"}: its text is the message
        envelope = {"message": envelope} if envelope else {}
    info = {name: redact(str(value), secrets) for name, value in envelope.items() if value is not None}
    detail = redact(f"HTTP {status} {info.get('type', '')}: {info.get('message') or text[:200]}", secrets)
    return errors.error_from_status(status, info, path, detail, retry_after=_retry_after_seconds(headers))


def explain_response(response: requests.Response) -> str:
    """One sentence for any answer to a request sent by hand: accepted, or what went wrong and what to do."""
    if response.status_code < 300:
        events.emit(events.STEP, step="answer")
        return f"HTTP {response.status_code}: the server accepted the key and answered."
    with response:  # it names the status
        sentence = str(
            error_from_answer(response.status_code, response.headers, response.text, urlsplit(response.url).path, [])
        )
    # Notebook 02's legacy cell sends the guide's retired model to fail: the request tells a listener so.
    events.emit(events.ERROR, error=sentence, during="answer", request=response.request)
    return sentence


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``, or ``Retry-After`` as seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name, "")
        with suppress(ValueError):
            return max(0.0, float(value) / scale)
        with suppress(ValueError):
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return None


def _wrapped(error: BaseException) -> object:
    """The exception requests wrapped in ``error`` (urllib3's), if any."""
    return error.args[0] if error.args else None
