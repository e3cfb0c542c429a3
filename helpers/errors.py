"""Errors: one class per cause, each with a sentence a learner can act on.

``str(error)`` is the learner-facing message. ``error.detail`` keeps what an expert needs
(status, error type, the server's own message), already redacted: no key ever appears in either.
"""

from __future__ import annotations


class TutorialError(Exception):
    """Base class of every error this project raises on purpose."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail


class InvalidKeyError(TutorialError, ValueError):
    """A pasted or configured key cannot be used as it is."""


class PerplexityError(TutorialError):
    """The API (or the way to it) did not give a usable answer."""


class AuthenticationError(PerplexityError):
    """The key is missing, malformed or not accepted (HTTP 401)."""


class PermissionDeniedError(PerplexityError):
    """The key is known but may not do this (HTTP 403), e.g. revoked or out of credits."""


class InvalidModelError(PerplexityError):
    """The model name is retired or unknown (HTTP 400, ``invalid_model``)."""


class InvalidRequestError(PerplexityError):
    """The request body breaks a rule of the API (HTTP 400/413/422)."""


class NotFoundError(PerplexityError):
    """The path does not exist on this server (HTTP 404)."""


class RateLimitError(PerplexityError):
    """Too many requests (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceError(PerplexityError):
    """The service failed on its side (HTTP 5xx, or a run that ended with ``status: failed``)."""


class APITimeoutError(PerplexityError):
    """No answer in time."""


class NetworkError(PerplexityError):
    """The server could not be reached at all."""


class EndpointRetiredError(PerplexityError):
    """The legacy ``/chat/completions`` endpoint is no longer served."""


class UnexpectedResponseError(PerplexityError):
    """The answer did not have the documented shape."""


class TransportSecurityError(PerplexityError):
    """Refused to send the key over an unsafe connection."""
