"""Errors: one class per cause, each with a sentence a learner can act on.

``str(error)`` is the learner-facing message. ``error.detail`` keeps what an expert needs
(status, error type, the server's own message), already redacted: no key ever appears in either.
:func:`describe_failure` turns *any* exception into that pair, so a widget never shows a traceback.
"""

from __future__ import annotations

from helpers.masking import redact


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


def describe_failure(error: BaseException, secrets: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
    """``(sentence for the learner, detail for an expert)`` for any exception, secrets redacted.

    Our own errors already carry both. Anything else is a bug on our side: the learner gets a
    plain sentence and the expert the exception's type and text, never a traceback.
    """
    if isinstance(error, TutorialError):
        return redact(str(error), secrets), redact(error.detail, secrets)
    message = ("Something unexpected went wrong in this notebook's code (not in your request). "
               "Your edits are kept: try again, or restart the kernel.")
    return message, redact(f"{type(error).__name__}: {error}", secrets)
