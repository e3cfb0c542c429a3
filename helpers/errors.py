"""Errors: one class per cause, each with a sentence a learner can act on.

``str(error)`` is the learner-facing message. ``error.detail`` keeps what an expert needs
(status, error type, the server's own message), already redacted: no key ever appears in either.
:func:`error_from_status` maps an HTTP error answer to its class and sentence with one table
(perplexity-py's ``_exceptions.py`` style: one class per status);
:func:`describe_failure` turns *any* exception into that pair, so a widget never shows a traceback.
:func:`describe_network_failure` does the same for a failure to reach a server, raised by requests,
urllib3, httpx or an SDK in a learner's own cell.
Everything imports this module, so it stays light: no ``requests``, no IPython (other libraries'
exception classes are looked up only in modules already imported).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from helpers.masking import redact
from helpers.responses import BUILTIN_AGENT_MODELS, CURRENT_MODEL, LEGACY_MODELS
from helpers.text import clause, duration, ended
from helpers.trust import verification_advice


class TutorialError(Exception):
    """Base class of every error this project raises on purpose.

    The message and the detail pass through :func:`~helpers.masking.redact` here, once, so no
    sentence that quotes a learner's input (a cURL word, a URL, a server's echo) can show a key.
    Each class names its ``summary`` in its class line: a few words for tables and logs (the
    playground's history). The facts a class adds (``retry_after``, ``param``...) are declared on
    the class with their default and given as keywords.
    """

    summary = "error"

    def __init__(self, message: str, *, status: int | None = None, detail: str = "", **facts: Any) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.status, self.detail = status, detail
        for name, value in facts.items():
            if not hasattr(type(self), name):  # a typo must not become a silently ignored fact
                raise TypeError(f"{type(self).__name__} has no fact {name!r}")
            setattr(self, name, value)

    @property
    def detail(self) -> str:
        return self._detail

    @detail.setter
    def detail(self, value: str) -> None:  # redacted on every change too, whoever adds to it later
        self._detail = redact(value)

    def __init_subclass__(cls, summary: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.summary = summary or cls.summary


class InvalidKeyError(TutorialError, ValueError, summary="key not usable"):
    """A pasted or configured key cannot be used as it is."""


class KeyFileError(TutorialError, summary="key file unchanged"):
    """The key file cannot be changed safely (it was left as it was)."""


class PerplexityError(TutorialError, summary="API error"):
    """The API (or the way to it) did not give a usable answer."""


class AuthenticationError(PerplexityError, summary="key not accepted"):
    """The key is missing, malformed or not accepted (HTTP 401)."""


class PermissionDeniedError(PerplexityError, summary="forbidden"):
    """The key is known but may not do this (HTTP 403), e.g. revoked or out of credits."""


class InvalidModelError(PerplexityError, summary="invalid model"):
    """The model name is retired or unknown (HTTP 400, ``invalid_model``); ``alternatives`` lists current ones."""

    model = ""
    alternatives: tuple[str, ...] = ()


class InvalidRequestError(PerplexityError, summary="invalid request"):
    """The request body breaks a rule of the API (HTTP 400/413/422); ``param`` names the field."""

    param: str | None = None


class NotFoundError(PerplexityError, summary="not found"):
    """The path does not exist on this server (HTTP 404)."""


class RateLimitError(PerplexityError, summary="rate limited"):
    """Too many requests (HTTP 429); ``retry_after`` is the wait in seconds the server asked for."""

    retry_after: float | None = None


class ServiceError(PerplexityError, summary="service error"):
    """The service failed on its side (HTTP 5xx)."""


class RunFailedError(ServiceError, summary="run failed"):
    """The request was accepted but the run ended ``failed`` or ``cancelled`` (an HTTP 200 answer)."""


class APITimeoutError(PerplexityError, summary="timed out"):
    """No answer in time."""


class NetworkError(PerplexityError, summary="unreachable"):
    """The server could not be reached at all."""


class ConnectionDroppedError(NetworkError, summary="connection dropped"):
    """The server was reached but closed the connection before answering."""


class StreamInterruptedError(NetworkError, summary="stream cut"):
    """A streamed answer stopped before its end; ``partial_text`` holds what had arrived."""

    partial_text = ""


def stream_interrupted(detail: str = "the stream ended without a terminal event") -> StreamInterruptedError:
    """The error for a streamed answer that stopped before its end (``partial_text`` is set by who collected it)."""
    sentence = "The answer stopped half-way: the connection closed before it was complete."
    advice = "The text so far is kept; send the request again for the full answer."
    return StreamInterruptedError(f"{sentence} {advice}", detail=detail)


class EndpointRetiredError(PerplexityError, summary="endpoint retired"):
    """The legacy ``/chat/completions`` endpoint is no longer served."""


class UnexpectedResponseError(PerplexityError, summary="unexpected answer"):
    """The answer did not have the documented shape."""


class TransportSecurityError(PerplexityError, summary="unsafe address"):
    """Refused to send the key over an unsafe connection."""


# --- from an HTTP error answer to its class ------------------------------------------------

_REJECTED = (InvalidRequestError, "The request was rejected{field}: {reason} Fix it and send again.")
# Status -> (class, sentence). "legacy" is a 404 or 410 for /chat/completions: the endpoint is gone; 500
# stands for every 5xx. Any other status is an UnexpectedResponseError. The fields: see error_from_status.
_BY_STATUS: dict[int | str, tuple[type[PerplexityError], str]] = {
    400: _REJECTED,
    401: (
        AuthenticationError,
        "The API key was not accepted (HTTP 401). Check that you copied the whole key, or create a new one in the "
        "API portal and save it with notebook 01.",
    ),
    403: (
        PermissionDeniedError,
        "The key is valid but not allowed to do this (HTTP 403): check your API credits and the key's status in the "
        "API portal.",
    ),
    404: (NotFoundError, "The server has no {path} (HTTP 404). Check the base URL."),
    413: _REJECTED,
    422: _REJECTED,
    429: (RateLimitError, "Too many requests (HTTP 429): you hit the rate limit. Wait {wait}, then try again."),
    500: (ServiceError, "The service had a problem on its side (HTTP {status}). Wait a minute and try again."),
    "legacy": (
        EndpointRetiredError,
        "This server no longer offers /chat/completions (public support ended 2026-09-27). "
        "Use the Agent API: POST /v1/agent.",
    ),
}
_UNEXPECTED = (UnexpectedResponseError, "Unexpected answer: HTTP {status}.")


def error_from_status(
    status: int, info: Mapping[str, str], path: str, detail: str, *, retry_after: float | None = None
) -> PerplexityError:
    """The error for an HTTP error answer to ``path``, with a sentence saying what to do.

    ``info`` holds the fields of the answer's error envelope (``message``, ``type``, ``param``),
    ``detail`` the line for an expert, both already redacted; ``retry_after`` is the wait in seconds
    a 429 asked for. Reading these from a response is :func:`helpers.client.error_from_answer`.
    """
    message, param = info.get("message", ""), info.get("param")
    if status == 400 and info.get("type") == "invalid_model":
        return invalid_model_error(_quoted_name(message) or "that model", path, detail)
    key = "legacy" if status in (404, 410) and _is_legacy(path) else min(status, 500)
    cls, sentence = _BY_STATUS.get(key, _UNEXPECTED)
    words = {
        "status": status,
        "path": path,
        "wait": duration(retry_after) if retry_after is not None else "a little",
        "field": f" (field '{param}')" if param else "",
        "reason": ended(clause(message) or "invalid request"),  # the server's own stop is not doubled
    }
    facts = {name: value for name, value in (("retry_after", retry_after), ("param", param)) if hasattr(cls, name)}
    return cls(sentence.format(**words), status=status, detail=detail, **facts)


def invalid_model_error(
    name: str, path: str, detail: str, alternatives: Sequence[str] = BUILTIN_AGENT_MODELS
) -> InvalidModelError:
    """The model ``name`` is unknown: name ``alternatives`` (on the legacy endpoint, its own models)."""
    alternatives = LEGACY_MODELS if _is_legacy(path) else tuple(alternatives)
    names = ", ".join(f"'{model}'" for model in alternatives)
    if _is_legacy(path):
        advice = f"on /chat/completions use one of {names}; better, use the Agent API with '{CURRENT_MODEL}'"
    else:
        advice = f"use one of {names}, or a preset such as 'fast'"
    sentence = f"The model '{name}' is retired or unknown (HTTP 400, invalid_model): {advice}."
    return InvalidModelError(sentence, status=400, detail=detail, model=name, alternatives=alternatives)


def _is_legacy(path: str) -> bool:
    return path.endswith("/chat/completions")


def _quoted_name(message: str) -> str:
    """The first name in single quotes in the server's message ("The model 'x' is ..."), else ``""``."""
    return message.split("'")[1] if message.count("'") >= 2 else ""


# --- any exception, as a sentence -----------------------------------------------------------


def describe_failure(error: BaseException, secrets: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
    """``(sentence for the learner, detail for an expert)`` for any exception, secrets redacted.

    Our own errors already carry both. Anything else is a bug on our side: the learner gets a
    plain sentence and the expert the exception's type and text, never a traceback.
    """
    if isinstance(error, TutorialError):
        return redact(str(error), secrets), redact(error.detail, secrets)
    message = (
        "Something unexpected went wrong in this notebook's code (not in your request). "
        "Your edits are kept: try again, or restart the kernel."
    )
    return message, redact(f"{type(error).__name__}: {error}", secrets)


# --- a failure to reach a server, from any HTTP library -------------------------------------
# A learner's own cell (requests.post, an SDK) raises its library's exception, not ours. Each library
# wraps the operating system's error (refused, no such name, timed out, a certificate) in classes of
# its own, one inside the other; the cause is found by walking that chain.

OFFLINE_ADVICE = (
    "or set PERPLEXITY_MODE=sandbox to continue offline "
    "(in a notebook: `%env PERPLEXITY_MODE=sandbox`, then run it again from the top)"
)
_CAUSES = {
    "refused": "the connection was refused: nothing answers at that address",
    "name": "its name could not be resolved",
    "timeout": "it did not answer in time",
    "tls": "the secure (TLS) connection failed",
    "dropped": "it closed the connection before answering",
    "unreachable": "the connection failed",
}
# Other libraries' classes, as "module.Name": each is looked up only in a module already imported, since an
# exception of a library never imported cannot exist. What may start such a chain (an unsupported URL scheme
# is no failure to reach a server):
_TRANSPORT = (
    "builtins.ConnectionError socket.gaierror ssl.SSLError requests.exceptions.ConnectionError "
    "requests.exceptions.Timeout urllib3.exceptions.MaxRetryError urllib3.exceptions.NewConnectionError "
    "urllib3.exceptions.ProtocolError urllib3.exceptions.ReadTimeoutError urllib3.exceptions.SSLError "
    "httpx.NetworkError httpx.TimeoutException httpx.ProxyError httpx.RemoteProtocolError httpx2.NetworkError "
    "httpx2.TimeoutException httpx2.ProxyError httpx2.RemoteProtocolError perplexity.APIConnectionError "
    "openai.APIConnectionError urllib.error.URLError"
)
# What went wrong: the first kind with a class anywhere in the chain, the most telling cause first.
_KINDS = {
    "certificate": "ssl.SSLCertVerificationError",
    "proxy": "requests.exceptions.ProxyError urllib3.exceptions.ProxyError httpx.ProxyError httpx2.ProxyError",
    "tls": "ssl.SSLError",
    "name": "socket.gaierror urllib3.exceptions.NameResolutionError",
    "refused": "builtins.ConnectionRefusedError",
    # urllib3's NewConnectionError is (for history's sake) a ConnectTimeoutError: only its read timeout counts here.
    "timeout": "builtins.TimeoutError requests.exceptions.Timeout urllib3.exceptions.ReadTimeoutError "
    "httpx.TimeoutException httpx2.TimeoutException perplexity.APITimeoutError openai.APITimeoutError",
    "dropped": "builtins.ConnectionResetError builtins.ConnectionAbortedError builtins.BrokenPipeError "
    "urllib3.exceptions.ProtocolError httpx.RemoteProtocolError httpx2.RemoteProtocolError "
    "http.client.RemoteDisconnected",
}
DEFAULT_PORTS = {"http": 80, "https": 443}


def describe_network_failure(error: BaseException, *, sandbox_url: str | None = None) -> str | None:
    """One sentence for a failure to reach a server (what happened, which host, what to do), or None.

    ``error`` is what requests, urllib3, httpx or either SDK raised: connection refused, a name that
    does not resolve, a timeout, a certificate that cannot be verified, a proxy that refuses.
    ``sandbox_url`` is the class sandbox in use (sandbox mode with ``PERPLEXITY_BASE_URL``): a failure
    to reach it says that the class sandbox is down. None for any other exception, ours included.
    """
    if isinstance(error, TutorialError) or not _is_one_of(error, _TRANSPORT):
        return None
    chain = exception_chain(error)
    kind = next((kind for kind, names in _KINDS.items() if any(_is_one_of(item, names) for item in chain)), "")
    return redact(network_sentence(kind, _failed_url(chain), sandbox_url=sandbox_url))


def network_sentence(kind: str, url: str, *, sandbox_url: str | None = None) -> str:
    """The sentence for a ``kind`` of failure (``certificate``, ``proxy``, or a key of the causes) to reach ``url``."""
    where = _where(url)
    if kind == "certificate":
        return verification_advice(where)
    if kind == "proxy":
        variable = proxy_variable(url)
        proxy = f"The proxy in {variable}" if variable else "The proxy"
        return (
            f"{proxy} did not pass the request on to {where}: check the proxy's address, "
            f"or add {urlsplit(url).hostname or where} to NO_PROXY to connect directly, {OFFLINE_ADVICE}."
        )
    cause = _CAUSES.get(kind, _CAUSES["unreachable"])
    if sandbox_url and url and _origin(url) == _origin(sandbox_url):
        return (
            f"The class sandbox at {_origin(sandbox_url)} does not answer ({cause}): ask your instructor whether "
            "it is running, or unset PERPLEXITY_BASE_URL to use the sandbox built into this notebook."
        )
    return f"Could not reach {where} ({cause}): check {_checks(url)}, {OFFLINE_ADVICE}."


def exception_chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps (cause, context, an argument, urllib3's ``reason``), outermost first."""
    found: list[BaseException] = []
    waiting: list[object] = [error]
    while waiting and len(found) < 32:
        item = waiting.pop(0)
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        wrapped = (getattr(item, "reason", None), getattr(item, "original_error", None), *item.args)
        waiting += [item.__cause__, item.__context__, *wrapped]
    return found


def chain_summary(error: BaseException) -> str:
    """Each exception of the chain as ``Type: message``, one per line and redacted: the detail an expert reads."""
    lines = []
    for item in exception_chain(error):
        name = f"{type(item).__module__}.{type(item).__qualname__}".removeprefix("builtins.")
        text = " ".join(str(item).split())
        lines.append(f"{name}: {text[:300]}" if text else name)
    return redact("\n".join(lines))


def _is_one_of(error: BaseException, names: str) -> bool:
    """Whether ``error`` is an instance of one of the classes ``names`` (``"module.Name ..."``) of imported modules."""
    for name in names.split():
        module, _, class_name = name.rpartition(".")
        cls = getattr(sys.modules.get(module), class_name, None)
        if isinstance(cls, type) and isinstance(error, cls):
            return True
    return False


def _failed_url(chain: list[BaseException]) -> str:
    """The URL the request went to: from the exception's request (requests, httpx, the SDKs), else urllib3's pool."""
    for item in chain:
        try:
            url = getattr(getattr(item, "request", None), "url", None)
        except RuntimeError:  # httpx raises it for an exception created without its request
            url = None
        if url:
            return str(url)
    for item in chain:  # urllib3 alone: its pool (MaxRetryError) or connection (NewConnectionError)
        attributes = getattr(item, "__dict__", {})  # the attributes set, not urllib3's deprecated properties
        target = attributes.get("pool") or attributes.get("conn")
        if getattr(target, "host", None):
            scheme = getattr(target, "scheme", None) or ("https" if target.default_port == 443 else "http")
            return f"{scheme}://{target.host}:{target.port}"
    return ""


def _where(url: str) -> str:
    """``host`` or ``host:port`` (a port other than the scheme's own), for a sentence; "the server" when unknown."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the server"
    if not parts.hostname:
        return "the server"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port in (None, DEFAULT_PORTS.get(parts.scheme)) else f"{host}:{port}"


def _origin(url: str) -> str:
    return f"{urlsplit(url).scheme}://{_where(url)}"


def _checks(url: str) -> str:
    """What to check for a failure to reach ``url``: the network, and the variables that sent the request there."""
    checks = ["your network connection"]
    base_url = os.environ.get("PERPLEXITY_BASE_URL", "").strip()
    if url and base_url and _where(url) == _where(base_url):
        checks.append("PERPLEXITY_BASE_URL")
    if proxy := proxy_variable(url):
        checks.append(f"the proxy in {proxy}")
    return ", ".join(checks[:-1]) + f" and {checks[-1]}" if len(checks) > 1 else checks[0]


def proxy_variable(url: str) -> str:
    """The variable naming the proxy a request to ``url`` goes through by the environment's rule, or "".

    The one reading of the proxy variables' names: :func:`helpers.settings.proxy_for` names its proxy with it.
    """
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass_environment(parts.netloc):
        return ""
    for kind in (parts.scheme, "all"):
        names = sorted((n for n in os.environ if n.lower() == f"{kind}_proxy" and os.environ[n]), reverse=True)
        if names:
            return names[0]  # lower case first, as requests and urllib read them
    return ""
