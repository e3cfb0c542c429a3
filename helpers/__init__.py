"""Helpers for the Perplexity API onboarding notebooks.

The public API, in the order the notebooks use it: keys (find, validate, mask, save), the
client (:func:`connect`, the Agent API and the guide's legacy endpoint), the sandbox, and the
Creator Studio connector. Errors raised on purpose are :class:`TutorialError` subclasses whose
message says what to do; in a notebook they are shown as that one sentence, not a traceback.
"""

from helpers.client import (
    CURRENT_LEGACY_MODEL,
    CURRENT_MODEL,
    GUIDE_MODEL,
    GUIDE_QUESTION,
    GUIDE_SYSTEM,
    PerplexityClient,
    connect,
    guide_messages,
)
from helpers.errors import PerplexityError, TutorialError
from helpers.keys import (
    check_key,
    find_api_key,
    install_log_redaction,
    key_status,
    mask_key,
    redact,
    remove_api_key,
    save_api_key,
    validate_api_key,
)
from helpers.notebook import install_friendly_errors
from helpers.sandbox import Sandbox
from helpers.settings import resolve_settings

__all__ = [
    "CURRENT_LEGACY_MODEL",
    "CURRENT_MODEL",
    "GUIDE_MODEL",
    "GUIDE_QUESTION",
    "GUIDE_SYSTEM",
    "PerplexityClient",
    "PerplexityError",
    "Sandbox",
    "TutorialError",
    "check_key",
    "connect",
    "find_api_key",
    "guide_messages",
    "key_status",
    "mask_key",
    "redact",
    "remove_api_key",
    "resolve_settings",
    "save_api_key",
    "validate_api_key",
]

install_friendly_errors()
install_log_redaction()
