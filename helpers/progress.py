"""Progress reports to a class sandbox, so that the instructor sees who is stuck.

Reports go out only when both hold: the notebook talks to a class sandbox (a sandbox started with
``--class``, on the instructor's machine) and the learner chose a display name
(``PERPLEXITY_LEARNER_NAME``, or the name box in notebook 01). A report holds that name and a step
reached or an error sentence, which is all the instructor page shows: never a key, never a
question or an answer. Reporting never gets in the learner's way: it gives up silently after two
seconds and never raises.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import requests

from helpers.keys import env_file_path, read_env_file, save_setting
from helpers.masking import redact
from helpers.settings import Settings, resolve_settings

LEARNER_VARIABLE = "PERPLEXITY_LEARNER_NAME"
REPORT_TIMEOUT = (1.0, 2.0)
log = logging.getLogger(__name__)
_class_sandboxes: dict[str, bool] = {}  # base URL -> whether it answered GET /class/hello


def learner_name() -> str:
    """The display name the learner chose (the environment, else the key file), or "": then nothing is reported."""
    name = os.environ.get(LEARNER_VARIABLE) or read_env_file(env_file_path()).get(LEARNER_VARIABLE, "")
    return clean_name(name)


def clean_name(name: str) -> str:
    """Letters, digits, spaces and ``.-_'`` only, at most 40 characters: a name, not a message."""
    kept = "".join(ch for ch in str(name) if ch.isalnum() or ch in " .-_'")
    return " ".join(kept.split())[:40]


def set_learner_name(name: str, env_file: Path | None = None) -> str:
    """Save ``name`` as the display name on the instructor page (in the key file, for every notebook)."""
    cleaned = clean_name(name)
    if not cleaned:
        return "Type a name first: letters, digits and spaces, at most 40 characters."
    os.environ[LEARNER_VARIABLE] = cleaned
    save_setting(LEARNER_VARIABLE, cleaned, env_file)
    return f"Your display name is '{cleaned}'. A class sandbox shows your progress under it, never your key."


def report_progress(step: str = "", error: str = "", settings: Settings | None = None) -> bool:
    """Tell the class sandbox about a step reached or an error; returns whether a report was sent."""
    name = learner_name()
    if not name or not (step or error):
        return False
    try:
        settings = settings or resolve_settings()
    except Exception:  # a settings problem is reported by the notebook itself
        return False
    url = class_sandbox_url(settings)
    if url is None:
        return False
    report = {"learner": name, **({"step": step} if step else {}), **({"error": redact(error)} if error else {})}
    try:
        return requests.post(url + "/class/progress", json=report, timeout=REPORT_TIMEOUT).ok
    except requests.RequestException as problem:
        log.debug("progress report not sent: %s", problem)
        return False


def class_sandbox_url(settings: Settings) -> str | None:
    """The base URL when it is a class sandbox (asked once per kernel), else None."""
    if not settings.is_sandbox or settings.local_sandbox or not settings.base_url:
        return None
    if settings.base_url not in _class_sandboxes:
        try:
            reply = requests.get(settings.base_url + "/class/hello", timeout=REPORT_TIMEOUT)
            _class_sandboxes[settings.base_url] = reply.status_code == 200
        except requests.RequestException:
            return None  # not cached: the sandbox may start later
    return settings.base_url if _class_sandboxes[settings.base_url] else None
