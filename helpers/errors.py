"""Errors: one class per cause, each with a sentence a learner can act on.

``str(error)`` is the learner-facing message. ``error.detail`` keeps what an expert needs
(status, error type, the server's own message), already redacted: no key ever appears in either.
:func:`error_from_status` maps an HTTP error answer to its class, in one screen;
:func:`describe_failure` turns *any* exception into that pair, so a widget never shows a traceback.
:func:`describe_network_failure` does the same for a failure to reach a server, raised by requests,
urllib3, httpx or an SDK in a learner's own cell.
Everything imports this module, so it stays light: no ``requests``, no IPython (other libraries'
exception classes are looked up only in modules already imported).
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from helpers.masking import redact
from helpers.responses import BUILTIN_AGENT_MODELS, CURRENT_MODEL, LEGACY_MODELS
from helpers.text import clause, duration, ended
from helpers.trust import verification_advice


class TutorialError(Exception):
    """Base class of every error this project raises on purpose.

    The message and the detail pass through :func:`~helpers.masking.redact` here, once, so no
    sentence that quotes a learner's input (a cURL word, a URL, a server's echo) can show a key.
    """

    summary = "error"  # a few words for tables and logs, e.g. the playground's history

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self._detail = redact(detail)

    @property
    def detail(self) -> str:
        return self._detail

    @detail.setter
    def detail(self, value: str) -> None:
        self._detail = redact(value)


class InvalidKeyError(TutorialError, ValueError):
    """A pasted or configured key cannot be used as it is."""

    summary = "key not usable"


class KeyFileError(TutorialError):
    """The key file cannot be changed safely (it was left as it was)."""

    summary = "key file unchanged"


class PerplexityError(TutorialError):
    """The API (or the way to it) did not give a usable answer."""

    summary = "API error"


class AuthenticationError(PerplexityError):
    """The key is missing, malformed or not accepted (HTTP 401)."""

    summary = "key not accepted"


class PermissionDeniedError(PerplexityError):
    """The key is known but may not do this (HTTP 403), e.g. revoked or out of credits."""

    summary = "forbidden"


class InvalidModelError(PerplexityError):
    """The model name is retired or unknown (HTTP 400, ``invalid_model``); ``alternatives`` lists current ones."""

    summary = "invalid model"

    def __init__(self, message: str, *, model: str = "", alternatives: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.model = model
        self.alternatives = alternatives


class InvalidRequestError(PerplexityError):
    """The request body breaks a rule of the API (HTTP 400/413/422); ``param`` names the field."""

    summary = "invalid request"

    def __init__(self, message: str, *, param: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.param = param


class NotFoundError(PerplexityError):
    """The path does not exist on this server (HTTP 404)."""

    summary = "not found"


class RateLimitError(PerplexityError):
    """Too many requests (HTTP 429)."""

    summary = "rate limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceError(PerplexityError):
    """The service failed on its side (HTTP 5xx)."""

    summary = "service error"


class RunFailedError(ServiceError):
    """The request was accepted but the run ended ``failed`` or ``cancelled`` (an HTTP 200 answer)."""

    summary = "run failed"


class APITimeoutError(PerplexityError):
    """No answer in time."""

    summary = "timed out"


class NetworkError(PerplexityError):
    """The server could not be reached at all."""

    summary = "unreachable"


class ConnectionDroppedError(NetworkError):
    """The server was reached but closed the connection before answering."""

    summary = "connection dropped"


class StreamInterruptedError(NetworkError):
    """A streamed answer stopped before its end; ``partial_text`` holds what had arrived."""

    summary = "stream cut"

    def __init__(self, message: str, *, partial_text: str = "", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text


class EndpointRetiredError(PerplexityError):
    """The legacy ``/chat/completions`` endpoint is no longer served."""

    summary = "endpoint retired"


class UnexpectedResponseError(PerplexityError):
    """The answer did not have the documented shape."""

    summary = "unexpected answer"


class TransportSecurityError(PerplexityError):
    """Refused to send the key over an unsafe connection."""

    summary = "unsafe address"


# --- from an HTTP error answer to its class ------------------------------------------------


def error_from_status(
    status: int, info: Mapping[str, str], path: str, detail: str, *, retry_after: float | None = None
) -> PerplexityError:
    """The error for an HTTP error answer to ``path``, with a sentence saying what to do.

    ``info`` holds the fields of the answer's error envelope (``message``, ``type``, ``param``),
    ``detail`` the line for an expert, both already redacted; ``retry_after`` is the wait in seconds
    a 429 asked for. Reading these from a response is :func:`helpers.client.error_from_response`.
    """
    message, kind = info.get("message", ""), info.get("type", "")
    if status == 401:
        return AuthenticationError(
            "The API key was not accepted (HTTP 401). Check that you copied the whole key, or create a new "
            "one in the API portal and save it with notebook 01.",
            status=status,
            detail=detail,
        )
    if status == 403:
        return PermissionDeniedError(
            "The key is valid but not allowed to do this (HTTP 403): check your API credits and the key's "
            "status in the API portal.",
            status=status,
            detail=detail,
        )
    if status == 400 and kind == "invalid_model":
        return invalid_model_error(_quoted_name(message) or "that model", path, detail)
    if status == 429:
        return RateLimitError(
            f"Too many requests (HTTP 429): you hit the rate limit. Wait {_wait(retry_after)}, then try again.",
            status=status,
            detail=detail,
            retry_after=retry_after,
        )
    if status in (404, 410) and _is_legacy(path):
        return EndpointRetiredError(
            "This server no longer offers /chat/completions (public support ended 2026-09-27). "
            "Use the Agent API: POST /v1/agent.",
            status=status,
            detail=detail,
        )
    if status == 404:
        return NotFoundError(f"The server has no {path} (HTTP 404). Check the base URL.", status=status, detail=detail)
    if status in (400, 413, 422):
        return InvalidRequestError(
            f"The request was rejected{_field_hint(info.get('param'))}: {ended(clause(message) or 'invalid request')} "
            "Fix it and send again.",
            status=status,
            detail=detail,
            param=info.get("param"),
        )
    if status >= 500:
        return ServiceError(
            f"The service had a problem on its side (HTTP {status}). Wait a minute and try again.",
            status=status,
            detail=detail,
        )
    return UnexpectedResponseError(f"Unexpected answer: HTTP {status}.", status=status, detail=detail)


def invalid_model_error(
    name: str, path: str, detail: str, alternatives: Sequence[str] = BUILTIN_AGENT_MODELS
) -> InvalidModelError:
    """The model ``name`` is unknown: name ``alternatives`` (on the legacy endpoint, its own models)."""
    if _is_legacy(path):
        alternatives = LEGACY_MODELS
        advice = (
            f"on /chat/completions use one of {_quoted(alternatives)}; better, use the Agent API with '{CURRENT_MODEL}'"
        )
    else:
        advice = f"use one of {_quoted(alternatives)}, or a preset such as 'fast'"
    return InvalidModelError(
        f"The model '{name}' is retired or unknown (HTTP 400, invalid_model): {advice}.",
        status=400,
        detail=detail,
        model=name,
        alternatives=tuple(alternatives),
    )


def _is_legacy(path: str) -> bool:
    return path.endswith("/chat/completions")


def _quoted_name(message: str) -> str:
    """The first name in single quotes in the server's message ("The model 'x' is ..."), else ``""``."""
    return message.split("'")[1] if message.count("'") >= 2 else ""


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _wait(retry_after: float | None) -> str:
    return duration(retry_after) if retry_after is not None else "a little"


def _field_hint(param: str | None) -> str:
    return f" (field '{param}')" if param else ""


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
# its own, one inside the other; the cause is found by walking that chain. Another library's class is
# looked up only in a module already imported: an exception of a library never imported cannot exist.

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
# What may start such a chain: a failure to reach a server (an unsupported URL scheme is not one).
_TRANSPORT_CLASSES = {
    "requests.exceptions": ("ConnectionError", "Timeout"),
    "urllib3.exceptions": ("MaxRetryError", "NewConnectionError", "ProtocolError", "ReadTimeoutError", "SSLError"),
    "httpx": ("NetworkError", "TimeoutException", "ProxyError", "RemoteProtocolError"),
    "httpx2": ("NetworkError", "TimeoutException", "ProxyError", "RemoteProtocolError"),
    "perplexity": ("APIConnectionError",),
    "openai": ("APIConnectionError",),
    "urllib.error": ("URLError",),
}
_BUILTIN_TRANSPORT = (ConnectionError, socket.gaierror, ssl.SSLError)
_PROXY_CLASSES = {
    "requests.exceptions": ("ProxyError",),
    "urllib3.exceptions": ("ProxyError",),
    "httpx": ("ProxyError",),
    "httpx2": ("ProxyError",),
}
_NAME_CLASSES = {"urllib3.exceptions": ("NameResolutionError",)}
# urllib3's NewConnectionError is (for history's sake) a ConnectTimeoutError: only its read timeout counts here.
_TIMEOUT_CLASSES = {
    "requests.exceptions": ("Timeout",),
    "urllib3.exceptions": ("ReadTimeoutError",),
    "httpx": ("TimeoutException",),
    "httpx2": ("TimeoutException",),
    "perplexity": ("APITimeoutError",),
    "openai": ("APITimeoutError",),
}
_DROPPED_CLASSES = {
    "urllib3.exceptions": ("ProtocolError",),
    "httpx": ("RemoteProtocolError",),
    "httpx2": ("RemoteProtocolError",),
    "http.client": ("RemoteDisconnected",),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def describe_network_failure(error: BaseException, *, sandbox_url: str | None = None) -> str | None:
    """One sentence for a failure to reach a server (what happened, which host, what to do), or None.

    ``error`` is what requests, urllib3, httpx or either SDK raised: connection refused, a name that
    does not resolve, a timeout, a certificate that cannot be verified, a proxy that refuses.
    ``sandbox_url`` is the class sandbox in use (sandbox mode with ``PERPLEXITY_BASE_URL``): a failure
    to reach it says that the class sandbox is down. None for any other exception, ours included.
    """
    if isinstance(error, TutorialError) or not _is_transport_failure(error):
        return None
    chain = exception_chain(error)
    return redact(network_sentence(_failure_kind(chain), _failed_url(chain), sandbox_url=sandbox_url))


def network_sentence(kind: str, url: str, *, sandbox_url: str | None = None) -> str:
    """The sentence for a ``kind`` of failure (``certificate``, ``proxy``, or a key of the causes) to reach ``url``."""
    where = _where(url)
    if kind == "certificate":
        return verification_advice(where)
    if kind == "proxy":
        variable = _proxy_variable(url)
        proxy = f"The proxy in {variable}" if variable else "The proxy"
        host = urlsplit(url).hostname or where
        return (
            f"{proxy} did not pass the request on to {where}: check the proxy's address, "
            f"or add {host} to NO_PROXY to connect directly, {OFFLINE_ADVICE}."
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


def _is_transport_failure(error: BaseException) -> bool:
    return isinstance(error, _BUILTIN_TRANSPORT) or _is_one_of(error, _TRANSPORT_CLASSES)


def _failure_kind(chain: list[BaseException]) -> str:
    """What went wrong, the most telling cause first: a certificate, a proxy, TLS, a name, a refusal, a timeout."""
    checks = (
        ("certificate", lambda e: isinstance(e, ssl.SSLCertVerificationError)),
        ("proxy", lambda e: _is_one_of(e, _PROXY_CLASSES)),
        ("tls", lambda e: isinstance(e, ssl.SSLError)),
        ("name", lambda e: isinstance(e, socket.gaierror) or _is_one_of(e, _NAME_CLASSES)),
        ("refused", lambda e: isinstance(e, ConnectionRefusedError)),
        ("timeout", lambda e: isinstance(e, TimeoutError) or _is_one_of(e, _TIMEOUT_CLASSES)),
        ("dropped", lambda e: isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError)),
        ("dropped", lambda e: _is_one_of(e, _DROPPED_CLASSES)),
    )
    return next((kind for kind, matches in checks if any(matches(item) for item in chain)), "unreachable")


def _is_one_of(error: BaseException, classes: Mapping[str, tuple[str, ...]]) -> bool:
    for module_name, names in classes.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        found = tuple(cls for cls in (getattr(module, name, None) for name in names) if isinstance(cls, type))
        if found and isinstance(error, found):
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
            scheme = getattr(target, "scheme", None) or (
                "https" if getattr(target, "default_port", 0) == 443 else "http"
            )
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
    return host if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f"{host}:{port}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{_where(url)}"


def _checks(url: str) -> str:
    """What to check for a failure to reach ``url``: the network, and the variables that sent the request there."""
    checks = ["your network connection"]
    base_url = os.environ.get("PERPLEXITY_BASE_URL", "").strip()
    if url and base_url and _where(url) == _where(base_url):
        checks.append("PERPLEXITY_BASE_URL")
    proxy = _proxy_variable(url)
    if proxy:
        checks.append(f"the proxy in {proxy}")
    return ", ".join(checks[:-1]) + f" and {checks[-1]}" if len(checks) > 1 else checks[0]


def _proxy_variable(url: str) -> str:
    """The variable naming the proxy a request to ``url`` goes through by the environment's rule, or ""."""
    parts = urlsplit(url) if url else None
    if parts is None or not parts.hostname or urllib.request.proxy_bypass_environment(parts.netloc):
        return ""
    for kind in (parts.scheme, "all"):
        names = sorted((n for n in os.environ if n.lower() == f"{kind}_proxy" and os.environ[n].strip()), reverse=True)
        if names:
            return names[0]  # lower case first, as requests and urllib read them
    return ""
