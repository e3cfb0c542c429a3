"""Helpers for the Perplexity API onboarding notebooks: what the three steps teach, and nothing else.

Every notebook starts with :func:`setup_notebook` (friendly errors, log redaction, and the local
sandbox in sandbox mode). The rest, in the order the notebooks use it: keys (find, check, save,
remove), settings (which server, which key), the client, what a sent request looked like, and the
Creator Studio connector with its cURL import and exports. Errors raised on purpose are
:class:`TutorialError` subclasses whose message says what to do.

Importing this package changes nothing in the process, starts no server, and loads neither IPython
nor the widgets: the names below that need them are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from helpers.client import GUIDE_QUESTION, GUIDE_SYSTEM, PerplexityClient, connect, explain_response
from helpers.errors import PerplexityError, TutorialError
from helpers.keys import explain_key, key_sources, key_status, mask_key, practice_key_file, redact
from helpers.notebook import setup_notebook
from helpers.settings import resolve_settings

# Name -> module, for what needs IPython, ipywidgets, pystache or genson: loaded when first used.
_LAZY = {
    "check_setup": "helpers.doctor",
    "show_answer": "helpers.display",
    "show_request": "helpers.display",
    "key_entry": "helpers.widgets",
    "save_key_message": "helpers.widgets",
    "remove_key_message": "helpers.widgets",
    "playground": "helpers.widgets",
    "connector_form": "helpers.widgets",
    "guide_connector": "helpers.connector",
    "guide_legacy_action": "helpers.connector",
    "agent_action": "helpers.connector",
    "build_request": "helpers.connector",
    "render_request": "helpers.connector",
    "run_test": "helpers.connector",
    "show_fields": "helpers.connector_view",
    "show_execution": "helpers.connector_view",
    "GUIDE_CURL": "helpers.curl_import",
    "import_curl": "helpers.curl_import",
    "as_json": "helpers.exports",
    "to_curl": "helpers.exports",
    "to_openapi": "helpers.exports",
    "to_postman": "helpers.exports",
}

__all__ = [
    "GUIDE_QUESTION",
    "GUIDE_SYSTEM",
    "PerplexityClient",
    "PerplexityError",
    "TutorialError",
    "connect",
    "explain_key",
    "explain_response",
    "key_sources",
    "key_status",
    "mask_key",
    "practice_key_file",
    "redact",
    "resolve_settings",
    "setup_notebook",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import a heavier name on first use (PEP 562), so ``import helpers`` stays light."""
    if name not in _LAZY:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
