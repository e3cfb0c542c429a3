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

import sys

# First, before anything that needs 3.11 (tomllib, typing.Self): on an older Python, one sentence
# instead of a traceback from deep inside. Nothing above this line may need more than Python 3.8.
if sys.version_info < (3, 11):  # noqa: UP036 - pip refuses 3.10, but a checkout can still be imported on it
    _TOO_OLD = (
        f"This tutorial needs Python 3.11 or newer, and this is Python {sys.version.split()[0]}: "
        "install Python 3.11, 3.12 or 3.13 and create the virtual environment again with it."
    )
    if sys.argv[:1] == ["-m"]:  # `python -m helpers doctor`: the sentence alone, with no traceback
        raise SystemExit(_TOO_OLD)
    raise ImportError(_TOO_OLD)

if sys.argv[:1] == ["-m"]:  # `python -m helpers ...` with a Python that lacks our packages: one sentence, no traceback
    from helpers.cli import require_dependencies

    require_dependencies()

from importlib import import_module
from typing import Any

from helpers.client import GUIDE_QUESTION, GUIDE_SYSTEM, PerplexityClient, connect, explain_response
from helpers.errors import PerplexityError, TutorialError
from helpers.keys import explain_key, key_sources, key_status, mask_key, practice_key_file, redact
from helpers.notebook import practice_url, setup_notebook
from helpers.settings import resolve_settings

# Module -> the names it gives (space-separated): what needs IPython, ipywidgets, pystache or genson, loaded
# when first used.
_LAZY_MODULES = {
    "helpers.doctor": "check_setup",
    "helpers.display": "show_answer show_request",
    "helpers.widgets": "key_entry save_key_message remove_key_message playground connector_form learner_name_entry",
    "helpers.progress": "set_learner_name",
    "helpers.exercises": "check_exercise KEY_CANDIDATES",
    "helpers.keys": "key_file_status",
    "helpers.connector": (
        "guide_connector practice_action Connector HeaderAuth BasicAuth guide_legacy_action agent_action "
        "build_request render_request run_test"
    ),
    "helpers.connector_view": "show_fields show_execution",
    "helpers.curl_import": "GUIDE_CURL import_curl",
    "helpers.exports": "as_json to_curl to_openapi to_postman",
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names.split()}  # name -> module

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
    "practice_url",
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
