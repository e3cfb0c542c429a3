"""A small ``requests`` client for the Perplexity API: the Agent API and the guide's legacy endpoint.

The same code talks to the live API and to the sandbox; only the base URL differs.
:func:`connect` applies the mode rule (see :mod:`helpers.settings`) and returns a client.
Every failure becomes one :mod:`helpers.errors` class with a sentence a learner can act on.

This module sends requests and reads answers; the rest lives next door: the model names and the
response objects in :mod:`helpers.responses`, stream parsing in :mod:`helpers.sse`, and the error
classes with the HTTP status mapping in :mod:`helpers.errors`.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util import Retry

from helpers import errors, events
from helpers.keys import check_key_characters
from helpers.masking import MaskedHeaderValue, Secret, mask_key, redact
from helpers.responses import (
    BUILTIN_AGENT_MODELS,
    CURRENT_LEGACY_MODEL,
    CURRENT_MODEL,
    MODELS_AS_OF,
    AgentResponse,
    ChatCompletion,
)
from helpers.settings import SANDBOX_DEMO_KEY, Proxy, Settings, check_transport, proxy_for, resolve_settings
from helpers.sse import DONE_EVENTS, AnswerCollector, iter_sse
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

    def __init__(
        self,
        api_key: str | Secret,
        base_url: str,
        *,
        mode: str = "live",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        deadline: float = 120.0,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        headers: Mapping[str, str] | None = None,
        on_retry: Callable[[int, float, errors.PerplexityError], None] | None = None,
    ) -> None:
        # First, and rebinding the argument: from here on no traceback frame (%xmode Verbose) shows the key.
        api_key = self._key = Secret(api_key)
        check_key_characters(api_key)  # a line break or smart quote cannot go into a header
        # The URL is read once, and what was checked (where this key may go) is what is used; so is the proxy.
        self.base_url = check_transport(base_url, self._key).url
        self.proxy = proxy_for(self.base_url, secret=self._key.reveal() != SANDBOX_DEMO_KEY)
        self.mode = mode
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = deadline
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.headers = dict(headers or {})
        self.on_retry = on_retry
        self._models: list[str] | None = None
        self._session = open_session(self.proxy, retry=self._retry_policy())

    def __repr__(self) -> str:
        # getattr: a traceback may show a client whose __init__ refused its key before setting the rest.
        mode, base_url = getattr(self, "mode", None), getattr(self, "base_url", None)
        return f"PerplexityClient(mode={mode!r}, base_url={base_url!r}, key={mask_key(self._key)!r})"

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
        """``text`` with this client's key, the proxy's password (and anything key-shaped) masked."""
        return redact(text, [self._key, *(self.proxy.secrets() if self.proxy else ())])

    def with_options(self, **changes: Any) -> PerplexityClient:
        """A new client to the same server with the same key, some options changed.

        ``headers`` are added to this client's headers, not put in their place.
        """
        options = {
            "mode": self.mode,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "deadline": self.deadline,
            "retry_base_delay": self.retry_base_delay,
            "retry_max_delay": self.retry_max_delay,
            "on_retry": self.on_retry,
        }
        headers = {**self.headers, **changes.pop("headers", {})}
        return PerplexityClient(self._key, self.base_url, **{**options, **changes, "headers": headers})

    # --- Agent API ----------------------------------------------------------------------

    def create_response(
        self,
        input: str | list[dict],  # noqa: A002 - the API's own name
        *,
        model: str | None = CURRENT_MODEL,
        instructions: str | None = None,
        web_search: bool = False,
        preset: str | None = None,
        **fields: Any,
    ) -> AgentResponse:
        """``POST /v1/agent``. Raises a :mod:`helpers.errors` class on any failure, including a
        200 answer whose ``status`` is ``failed`` or ``cancelled``."""
        body = agent_body(input, model=model, instructions=instructions, web_search=web_search, preset=preset, **fields)
        response = AgentResponse(self._request_json("POST", "/v1/agent", body))
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
                        detail=self.redact(json.dumps(event)),
                    )
                yield event
                if kind in DONE_EVENTS:
                    return
        raise _interrupted()

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

    def retrieve_response(self, response_id: str) -> AgentResponse:
        """``GET /v1/agent/{id}``: a stored run as it is now (``queued``, ``in_progress``, or finished)."""
        return AgentResponse(self._request_json("GET", f"/v1/agent/{quote(response_id, safe='')}"))

    def cancel_response(self, response_id: str) -> str:
        """``POST /v1/responses/{id}/cancel``: stop a background run; returns the status the server acknowledged."""
        return self._request_json("POST", f"/v1/responses/{quote(response_id, safe='')}/cancel").get("status", "")

    def wait_for_response(
        self,
        response_id: str,
        *,
        poll_every: float = 0.5,
        timeout: float = 300.0,
        on_status: Callable[[str], None] | None = None,
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
            if run.status in ("failed", "cancelled"):
                raise self._run_failed(run.status, run.raw.get("error"))
            if run.status not in ("queued", "in_progress"):
                return run
            if time.monotonic() + poll_every > deadline:
                raise errors.APITimeoutError(
                    f"The background run is still {seen.replace('_', ' ')} after {duration(timeout)}. "
                    f"Ask again later with wait_for_response('{response_id}')."
                )
            time.sleep(poll_every)

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

    def chat_completion(
        self, messages: list[dict], *, model: str = CURRENT_LEGACY_MODEL, **fields: Any
    ) -> ChatCompletion:
        """``POST /chat/completions``, the endpoint the guide used (public support ended 2026-09-27)."""
        body = chat_body(messages, model=model, **fields)
        return ChatCompletion(self._request_json("POST", "/chat/completions", body))

    def stream_chat_completion(
        self,
        messages: list[dict],
        *,
        model: str = CURRENT_LEGACY_MODEL,
        on_delta: Callable[[str], None] | None = None,
        **fields: Any,
    ) -> ChatCompletion:
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
                        final = {**choice, "message": {"role": "assistant", "content": text}}
                        return ChatCompletion({**chunk, "object": "chat.completion", "choices": [final]})
            except errors.StreamInterruptedError as error:
                error.partial_text = text
                raise
        raise _interrupted(text)

    # --- transport ----------------------------------------------------------------------

    def _request_json(self, method: str, path: str, body: dict | None = None) -> dict:
        with self._send(method, path, body) as response:
            try:
                return response.json()
            except ValueError as exc:
                raise errors.UnexpectedResponseError(
                    "The server answered with something that is not JSON. Check PERPLEXITY_BASE_URL.",
                    status=response.status_code,
                    detail=self.redact(response.text[:300]),
                ) from exc

    def _retry_policy(self) -> ClientRetry:
        """What urllib3 follows on this client's session: 429 and 5xx answers, at most ``max_retries`` times.

        Only answers are retried, for every method, POST included: the server said it produced no answer.
        A dropped connection or a timeout is never retried (``connect=0``, ``read=False``: urllib3 then
        raises it as requests' default adapter does), since a POST may have been processed already.
        """
        return ClientRetry(
            total=self.max_retries,
            connect=0,
            read=False,
            other=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # every method: see above
            raise_on_status=False,  # the last answer comes back, and becomes one of our errors
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
            deadline=self.deadline,
            on_retry=self._announce_retry,
        )

    def _send(self, method: str, path: str, body: dict | None, stream: bool = False) -> requests.Response:
        """Send; the session's adapter retries 429 and 5xx answers (see :class:`ClientRetry`)."""
        # urllib3 sends every retry with the same timeouts: only the first try's read timeout can be cut to
        # the deadline. A stream's read timeout applies to every chunk: cutting it would end a healthy one.
        read_timeout = self.timeout[1] if stream else max(0.1, min(self.timeout[1], self.deadline))
        in_flight = _IN_FLIGHT.set(_InFlight(time.monotonic(), path))
        try:
            response = self._send_once(method, path, body, stream, read_timeout)
        finally:
            _IN_FLIGHT.reset(in_flight)
        if response.status_code < 400:
            return response
        tries = attempts_made(response)
        error = self._error_for(response, path)
        if tries > 1:
            error.detail += f" (after {tries} attempts)"
        raise error

    def _announce_retry(self, number: int, wait: float, answer: urllib3.BaseHTTPResponse) -> None:
        """Hand ``on_retry`` the error this answer would have raised, before urllib3 waits and retries."""
        if self.on_retry is None:
            return
        body = answer.read(decode_content=True).decode("utf-8", "replace")
        path = _IN_FLIGHT.get().path
        self.on_retry(number, wait, error_from_parts(answer.status, answer.headers, body, path, [self._key]))

    def _send_once(
        self, method: str, path: str, body: dict | None, stream: bool, read_timeout: float
    ) -> requests.Response:
        accept = "text/event-stream" if stream else "application/json"
        connect_timeout = self.timeout[0]
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=body,
                headers={**self.headers, "Accept": accept},
                auth=BearerAuth(self._key),
                timeout=(connect_timeout, read_timeout),
                stream=stream,
                allow_redirects=False,
            )
        except requests.ConnectTimeout as exc:
            raise errors.APITimeoutError(
                f"Could not connect to {self.base_url} within {duration(connect_timeout)}. "
                "Check your internet connection, then try again.",
                detail=self.redact(str(exc)),
            ) from None
        except requests.Timeout as exc:
            raise errors.APITimeoutError(
                f"No answer from {self.base_url} within {duration(read_timeout)}. "
                "Try again, or ask for a shorter answer (fewer max output tokens).",
                detail=self.redact(str(exc)),
            ) from None
        except requests.ConnectionError as exc:
            raise self._connection_error(exc) from None
        except requests.RequestException as exc:  # anything else requests refuses, e.g. a malformed URL
            raise errors.UnexpectedResponseError(
                f"The request to {self.base_url} could not be sent. Check PERPLEXITY_BASE_URL.",
                detail=self.redact(str(exc)),
            ) from None
        if 300 <= response.status_code < 400:
            response.close()
            raise errors.UnexpectedResponseError(
                f"The server redirected to {self.redact(response.headers.get('Location', '?'))}. "
                "The key is not sent to another address; check the base URL.",
                status=response.status_code,
            )
        return response

    def _connection_error(self, exc: requests.ConnectionError) -> errors.NetworkError:
        detail = self.redact(str(exc))
        if isinstance(exc, requests.exceptions.ProxyError) and self.proxy:
            return errors.NetworkError(
                f"Could not reach {self.base_url} through the proxy {self.proxy.describe()}. "
                f"Check the proxy's address, or unset {self.proxy.source} to connect directly.",
                detail=detail,
            )
        if isinstance(exc, requests.exceptions.SSLError):  # a certificate no CA we trust signed: say what to set
            sentence = errors.describe_network_failure(exc) or f"The secure connection to {self.base_url} failed."
            return errors.NetworkError(sentence, detail=detail)
        if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ProtocolError):
            return errors.ConnectionDroppedError(
                f"{self.base_url} closed the connection before answering. Try again in a moment.", detail=detail
            )
        return errors.NetworkError(
            f"Could not reach {self.base_url}. Check your internet connection (or PERPLEXITY_BASE_URL), "
            "or run without a key to use the sandbox.",
            detail=detail,
        )

    def _error_for(self, response: requests.Response, path: str) -> errors.PerplexityError:
        error = error_from_response(response, path, [self._key])
        # The current models come from /v1/models: asking it while it fails would never end.
        if isinstance(error, errors.InvalidModelError) and path not in ("/chat/completions", "/v1/models"):
            models, _ = self.available_models()
            error = errors.invalid_model_error(error.model, path, error.detail, models)
        return error

    def _events(self, response: requests.Response) -> Iterator[dict]:
        """The SSE events of a streamed answer; a broken connection becomes one of our errors."""
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            raise errors.UnexpectedResponseError(
                f"A streamed answer was expected, but the server sent {content_type or 'no content type'}. "
                "Check PERPLEXITY_BASE_URL.",
                status=response.status_code,
            )
        try:
            # Bytes, not response.iter_lines(decode_unicode=True): requests would decode a
            # text/event-stream without a charset as Latin-1, and SSE is always UTF-8.
            yield from iter_sse(response.iter_content(chunk_size=STREAM_READ_BYTES))
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _interrupted(detail=self.redact(str(exc))) from None
        except requests.ConnectionError as exc:
            if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ReadTimeoutError):
                raise errors.APITimeoutError(
                    f"The answer stalled for more than {duration(self.timeout[1])}. Try again in a moment.",
                    detail=self.redact(str(exc)),
                ) from None
            raise _interrupted(detail=self.redact(str(exc))) from None
        except ValueError as exc:
            raise errors.UnexpectedResponseError(
                "The stream held an event that is not JSON. Check PERPLEXITY_BASE_URL.",
                detail=self.redact(str(exc)),
            ) from None

    def _run_failed(self, status: str, error: dict | str | None) -> errors.RunFailedError:
        message = error.get("message") if isinstance(error, dict) else error
        reason = clause(str(message or "")) or "no reason given"  # inside parentheses: no stop of its own
        detail = self.redact(json.dumps(error))
        if status == "cancelled":
            return errors.RunFailedError(
                "The run was cancelled before it finished. Send the request again.", status=200, detail=detail
            )
        return errors.RunFailedError(
            f"The request arrived, but the run failed on the server ({self.redact(reason)}). Try again in a moment.",
            status=200,
            detail=detail,
        )


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
    if proxy is not None:
        session.proxies = {"http": proxy.url, "https": proxy.url}
    session.verify = _ca_bundle()
    if retry is not None:
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session


def _ca_bundle() -> str | bool:
    """The CA file (or folder) the environment names, for ``verify``; True (the default store) without one."""
    bundle = ca_bundle_from_environment()
    if bundle is None:
        return True
    path, variable = bundle
    if not os.path.exists(path):  # requests would raise a bare OSError at the first https request
        raise errors.NetworkError(
            f"{variable} names {path}, which does not exist: point it at the file that holds your network's "
            "root certificate (PEM), or unset it."
        )
    return path


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
        except Exception as error:  # reported below, as one sentence
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=knock, name="reachability check", daemon=True)
    worker.start()
    worker.join(within)
    if not outcome:
        return errors.network_sentence("timeout", url, sandbox_url=sandbox_url)
    problem = outcome[0]
    if problem is None:
        return ""
    if isinstance(problem, errors.TutorialError):  # an unusable proxy or CA variable: its own sentence
        return str(problem)
    return errors.describe_network_failure(problem, sandbox_url=sandbox_url) or errors.network_sentence(
        "unreachable", url, sandbox_url=sandbox_url
    )


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


# --- retries --------------------------------------------------------------------------------


def retry_delay(attempt: int, error: errors.PerplexityError, base: float = 0.5, cap: float = 8.0) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``, or None when this error is not worth retrying.

    The wait :class:`ClientRetry` makes: :func:`backoff_delay`, and never less than ``Retry-After``.
    """
    if error.status not in RETRY_STATUSES:
        return None
    retry_after = getattr(error, "retry_after", None)
    return _longest(backoff_delay(attempt, base, cap), retry_after)


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff (``base`` doubling, at most ``cap``) with jitter in proportion, so that many
    learners hitting a limit together do not all come back at the same instant."""
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)


def _longest(backoff: float, retry_after: float | None) -> float:
    return max(backoff, retry_after) if retry_after is not None else backoff


@dataclass(frozen=True)
class _InFlight:
    """The request urllib3 may retry: when it started (for the deadline) and its path (for the sentence)."""

    started: float
    path: str


# Set by PerplexityClient._send around each request: urllib3 runs the retries in the caller's thread.
_IN_FLIGHT: ContextVar[_InFlight] = ContextVar("request in flight")


class ClientRetry(Retry):
    """urllib3's ``Retry``, on the client session's adapter, with what the client promises and Retry lacks.

    urllib3 counts the tries, reads the status list and the methods, drains the answer and sends the
    request again. This subclass chooses the wait and may give up:

    - the wait is :func:`retry_delay`'s: ``base_delay`` doubling per retry with jitter in proportion,
      never less than ``Retry-After``. Retry's own backoff is 0 before the first retry and adds a fixed
      jitter, and its ``Retry-After`` replaces the backoff, refuses "1.5" with an exception and knows no
      ``retry-after-ms``: :meth:`get_backoff_time`, :meth:`get_retry_after` and :meth:`sleep` say ours.
    - a wait longer than ``max_delay``, or one that would pass the request's ``deadline`` (seconds),
      is not made: Retry would cap a long ``Retry-After`` and wait anyway; here the answer comes back
      at once, and the learner decides.
    - ``on_retry(retry_number, wait_seconds, answer)`` is called before each wait: Retry has no callback.
    """

    # A 413 with Retry-After is the learner's to fix, not to wait for: no status beyond the status list.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(
        self,
        *args: Any,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        deadline: float | None = None,
        on_retry: Callable[[int, float, urllib3.BaseHTTPResponse], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.base_delay, self.max_delay, self.deadline, self.on_retry = base_delay, max_delay, deadline, on_retry
        self.wait = 0.0  # chosen by increment(), made by sleep()

    def new(self, **changes: Any) -> ClientRetry:
        retry = super().new(**changes)
        retry.base_delay, retry.max_delay = self.base_delay, self.max_delay
        retry.deadline, retry.on_retry = self.deadline, self.on_retry
        return retry

    def get_backoff_time(self) -> float:
        return backoff_delay(len(self.history) - 1, self.base_delay, self.max_delay)

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        return _retry_after_seconds(response.headers)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: urllib3.BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> ClientRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises once exhausted
        if response is None:
            return retry
        retry.wait = _longest(retry.get_backoff_time(), retry.get_retry_after(response))
        in_flight = _IN_FLIGHT.get(None)
        late = (
            in_flight
            and self.deadline is not None
            and time.monotonic() - in_flight.started + retry.wait > self.deadline
        )
        if retry.wait > self.max_delay or late:
            raise MaxRetryError(_pool, url, ResponseError(f"a wait of {retry.wait:.1f} s is too long"))
        if self.on_retry:
            self.on_retry(len(retry.history), retry.wait, response)
        return retry

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        time.sleep(self.wait)


def attempts_made(response: requests.Response) -> int:
    """How many times the request behind this answer was sent (urllib3 keeps the retries' history on it)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


# --- reading an error answer ----------------------------------------------------------------


def error_from_response(response: requests.Response, path: str, secrets: list[str]) -> errors.PerplexityError:
    """Read an HTTP error answer (its error envelope, ``Retry-After``) and close it; the class and
    sentence come from :func:`helpers.errors.error_from_status`."""
    text = response.text
    response.close()
    return error_from_parts(response.status_code, response.headers, text, path, secrets)


def error_from_parts(
    status: int, headers: Mapping[str, str], text: str, path: str, secrets: list[str]
) -> errors.PerplexityError:
    """The error for an answer's status, headers and body text (from requests or, while retrying, urllib3)."""
    info = _error_info(text, secrets)
    detail = redact(f"HTTP {status} {info.get('type', '')}: {info.get('message') or text[:200]}", secrets)
    return errors.error_from_status(status, info, path, detail, retry_after=_retry_after_seconds(headers))


def explain_response(response: requests.Response) -> str:
    """One sentence for any answer to a request sent by hand: accepted, or what went wrong and what to do."""
    if response.status_code < 300:
        events.emit(events.STEP, step="answer")
        return f"HTTP {response.status_code}: the server accepted the key and answered."
    sentence = str(error_from_response(response, urlsplit(response.url).path, []))  # it names the status
    # Notebook 02's legacy cell sends the guide's retired model to fail: the request tells a listener so.
    events.emit(events.ERROR, error=sentence, during="answer", request=response.request)
    return sentence


def _error_info(text: str, secrets: list[str]) -> dict[str, str]:
    """The documented error envelope's fields as redacted strings; empty when the body has another shape."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(error, dict):
        return {"message": redact(str(error), secrets)} if error else {}
    return {name: redact(str(value), secrets) for name, value in error.items() if value is not None}


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
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


# --- a stream that stopped early ------------------------------------------------------------


def _interrupted(partial_text: str = "", detail: str = "") -> errors.StreamInterruptedError:
    return errors.StreamInterruptedError(
        "The answer stopped half-way: the connection closed before it was complete. "
        "The text so far is kept; send the request again for the full answer.",
        partial_text=partial_text,
        detail=detail or "the stream ended without a terminal event",
    )
