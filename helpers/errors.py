"""Errors: one class per cause, each with a sentence a learner can act on.

``str(error)`` is the learner-facing message. ``error.detail`` keeps what an expert needs
(status, error type, the server's own message), already redacted: no key ever appears in either.
:func:`error_from_status` maps an HTTP error answer to its class, in one screen;
:func:`describe_failure` turns *any* exception into that pair, so a widget never shows a traceback.
Everything imports this module, so it stays light: no ``requests``, no IPython.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from helpers.masking import redact
from helpers.responses import BUILTIN_AGENT_MODELS, CURRENT_MODEL, LEGACY_MODELS


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


def duration(seconds: float) -> str:
    """``seconds`` in words: "1 second", "0.3 seconds"."""
    return f"{seconds:g} second" + ("" if seconds == 1 else "s")


def clause(text: str) -> str:
    """``text`` (a server's message) to quote inside a sentence: without the full stops it ended with.

    The sentence around it adds its own stop; the server's would make "truncate_stream.." of it.
    """
    return text.strip().rstrip(".").rstrip()


def ended(text: str) -> str:
    """``text`` ending with exactly one stop: its own "!", "?" or "…", else one full stop."""
    text = clause(text)
    return text if text.endswith(("!", "?", "…")) else text + "."


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
