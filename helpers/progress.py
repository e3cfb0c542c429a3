"""Progress reports to a class sandbox, so that the instructor sees who is stuck.

The teaching core knows nothing of this: it emits events (:mod:`helpers.events`), and notebook setup
subscribes :func:`report_event` when, and only when, a class sandbox is in use
(:func:`follow_class_sandbox`). :func:`report_progress` sends one report, and a cell can call it directly.

Reports go out only when both hold: the notebook talks to a class sandbox (a sandbox started with
``--class``, on the instructor's machine) and the learner chose a display name
(``PERPLEXITY_LEARNER_NAME``, or the name box in notebook 01). A report holds that name and a step
reached or an error sentence, which is all the instructor page shows: never a key, never a
question or an answer. An error also says where it came from (the notebook, and the step it
happened at) and whether the course made it fail on purpose (:func:`staged_failure`), so the
page shows those as expected rather than as a learner who is stuck.

The first report of a name gets a learner token back: the row on the page is then this learner's,
and nobody else's reports can change it. The kernel keeps the token in memory, and the key file
keeps it for the learner's other notebooks (``PERPLEXITY_CLASS_SEAT``).

Reporting never gets in the learner's way: it gives up after two seconds, whatever the server
does, and never raises. It reads nothing from the environment that requests would add by itself:
a ``.netrc`` password never rides along.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from helpers import events
from helpers.client import GUIDE_MODEL, open_session
from helpers.errors import TutorialError
from helpers.keys import env_file_path, read_env_file, save_setting
from helpers.masking import find_key_shaped, redact
from helpers.settings import Settings, proxy_for, resolve_settings

LEARNER_VARIABLE = "PERPLEXITY_LEARNER_NAME"
SEAT_VARIABLE = "PERPLEXITY_CLASS_SEAT"  # the learner token of the class sandbox, for the other notebooks
REPORT_SECONDS = 2.0  # the whole report, however the server answers (or does not)
REQUEST_TIMEOUT = (1.0, REPORT_SECONDS)  # each request's connect and read timeouts
# The header that makes the sandbox fail on purpose (the playground's Simulate sends it): the same
# name as perplexity_sandbox.faults.FAULT_HEADER, written here because the helpers reach it over HTTP only.
FAULT_HEADER = "X-Sandbox-Fault"
# jupyter_server tells each kernel which notebook it runs for (the path of the notebook file).
NOTEBOOK_VARIABLE = "JPY_SESSION_NAME"
# Where each step is taught: the notebook an error at that step came from when the kernel does not say.
STEP_NOTEBOOKS = {
    "answer": "02_authenticate",
    "test": "03_creator_studio_connector",
    "exercise:01.1": "01_create_api_key",
    "exercise:02.1": "02_authenticate",
    "exercise:03.1": "03_creator_studio_connector",
}
log = logging.getLogger(__name__)
_class_sandboxes: dict[str, bool] = {}  # base URL -> whether it answered GET /class/hello
_seats: dict[tuple[str, str], str] = {}  # (class sandbox URL, display name) -> its learner token, for this kernel
_warned: set[tuple[str, str]] = set()  # (class sandbox URL, display name) refused: said once, not at every step


def learner_name() -> str:
    """The display name the learner chose (the environment, else the key file), or "": then nothing is reported."""
    name = os.environ.get(LEARNER_VARIABLE) or read_env_file(env_file_path()).get(LEARNER_VARIABLE, "")
    return clean_name(name)


def clean_name(name: str) -> str:
    """Letters, digits, spaces and ``.-_'`` only, at most 40 characters: a name, not a message; never a key."""
    kept = "".join(ch for ch in str(name) if ch.isalnum() or ch in " .-_'")
    cleaned = " ".join(kept.split())[:40]
    return "" if find_key_shaped(cleaned) else cleaned


def set_learner_name(name: str, env_file: Path | None = None) -> str:
    """Save ``name`` as the display name on the instructor page (in the key file, for every notebook)."""
    cleaned = clean_name(name)
    if not cleaned:
        if find_key_shaped(" ".join(str(name).split())):
            return "That looks like an API key, not a name: type the name your instructor should see."
        return "Type a name first: letters, digits and spaces, at most 40 characters."
    os.environ[LEARNER_VARIABLE] = cleaned
    save_setting(LEARNER_VARIABLE, cleaned, env_file)
    return f"Your display name is '{cleaned}'. A class sandbox shows your progress under it, never your key."


def report_progress(
    step: str = "", error: str = "", settings: Settings | None = None, *, during: str = "", on_purpose: bool = False
) -> bool:
    """Tell the class sandbox about a step reached or an error; returns whether it took the report.

    The report holds the name, and a step or an error sentence with every key masked. With an error,
    ``during`` names the step it happened at (one of :data:`STEP_NOTEBOOKS`), and ``on_purpose`` says
    the notebook made it fail on purpose (decided by :func:`staged_failure`); older class sandboxes
    ignore these fields, and the notebook the error came from.

    At most :data:`REPORT_SECONDS`: the report runs in a daemon thread that is left behind when the
    server is slower than that (a server that sends its answer a byte at a time included).
    """
    if not (step or error):
        return False
    try:
        name = learner_name()  # the key file may be unreadable: then nothing is reported, and nothing raised
        if not name:
            return False
        settings = settings or resolve_settings()
        if remote_sandbox(settings) is None:
            return False
        # Everything the report needs is read here, so a report left behind reads nothing later.
        report: dict[str, Any] = {"learner": name}
        if step:
            report["step"] = step
        if error:
            report.update(error=redact(error, [settings.api_key]), on_purpose=bool(on_purpose))
            if during in STEP_NOTEBOOKS:
                report["during"] = during
            if notebook := notebook_name(during):
                report["notebook"] = notebook
        taken: list[bool] = []
        key_file = env_file_path()
        worker = threading.Thread(
            target=lambda: taken.append(_send(report, settings, key_file)), name="class-progress", daemon=True
        )
        worker.start()
    except Exception:  # a settings or key file problem is reported by the notebook itself
        return False
    worker.join(REPORT_SECONDS)
    return bool(taken and taken[0])


def report_event(kind: str, **facts: Any) -> None:
    """The listener notebook setup subscribes in a class sandbox: a step or an error event becomes a report.

    The facts are :mod:`helpers.events`' own; whether an error was made on purpose is decided here
    (:func:`staged_failure`) from what the failed request carried, unless the emitter said it.
    """
    settings = facts.get("settings")
    if kind == events.STEP:
        report_progress(step=str(facts.get("step") or ""), settings=settings)
    elif kind == events.ERROR:
        sentence, during = str(facts.get("error") or ""), str(facts.get("during") or "")
        report_progress(error=sentence, settings=settings, during=during, on_purpose=staged_event(facts))


def follow_class_sandbox(settings: Settings) -> bool:
    """Notebook setup's choice: report this kernel's events when ``settings`` name a class sandbox, else not.

    A class sandbox is sandbox mode with a ``PERPLEXITY_BASE_URL`` that answers ``GET /class/hello``
    (:func:`class_sandbox_url`). One that does not answer yet (the instructor starts it later) may
    still be one: the reporter is then subscribed too, and asks again before each report.
    Returns whether the reporter now listens; running notebook setup again decides again.
    """
    url = remote_sandbox(settings)
    if url is not None and (class_sandbox_url(settings) is not None or url not in _class_sandboxes):
        events.subscribe(report_event)
        return True
    events.unsubscribe(report_event)
    return False


def remote_sandbox(settings: Settings | None) -> str | None:
    """The URL of a sandbox other than the one notebook setup started here: only such a one can be a class's."""
    if settings is None or not settings.is_sandbox or settings.local_sandbox:
        return None
    return settings.base_url or None


def class_sandbox_url(settings: Settings) -> str | None:
    """The base URL when it is a class sandbox (asked once per kernel), else None."""
    url = remote_sandbox(settings)
    if url is not None and url not in _class_sandboxes:
        try:
            # The client's kind of session: never .netrc, the CA variables (a TLS-inspecting proxy), any proxy
            # the environment names for the URL (a report carries no secret, so any proxy may carry it).
            with open_session(proxy_for(url, secret=False)) as session:
                reply = session.get(url + "/class/hello", timeout=REQUEST_TIMEOUT, allow_redirects=False)
            _class_sandboxes[url] = reply.status_code == 200
        except (requests.RequestException, ValueError, TutorialError):  # TutorialError: a CA file that is not there
            return None  # not cached: the sandbox may start later
    return url if _class_sandboxes.get(url) else None


def staged_failure(headers: Mapping[str, Any] | None, body: Any) -> bool:
    """Whether a request was made to fail on purpose, from what it carried (never from the error's words).

    Two facts mark it: the sandbox's fault header (the playground's Simulate, or a learner's own
    ``X-Sandbox-Fault``), or the guide's retired model (notebook 02's and 03's legacy cells, the
    playground's "the guide, 2024" entry), which every server refuses, as the notebooks show.
    ``body`` is the JSON sent: bytes, text or an already parsed object.
    """
    faulted = any(
        str(name).lower() == FAULT_HEADER.lower() and str(value).strip() for name, value in (headers or {}).items()
    )
    if isinstance(body, bytes | str):
        with contextlib.suppress(ValueError):  # not JSON: no model in it
            body = json.loads(body)
    return faulted or (isinstance(body, dict) and body.get("model") == GUIDE_MODEL)


def notebook_name(during: str = "") -> str:
    """The notebook this kernel runs (its file name without ``.ipynb``), else the one that teaches ``during``.

    Only the file's name is kept, never its folder (which may hold the learner's user name), cleaned
    like a display name.
    """
    path = os.environ.get(NOTEBOOK_VARIABLE, "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in path.removesuffix(".ipynb") if ch.isalnum() or ch in "._- ")[:60].strip()
    return kept if kept and not find_key_shaped(kept) else STEP_NOTEBOOKS.get(during, "")


# --- sending a report -----------------------------------------------------------------------------


def staged_event(facts: Mapping[str, Any]) -> bool:
    """Whether an error event was staged: as its emitter said, else from what the failed request carried.

    That is the ``request`` (requests' ``PreparedRequest`` holds ``body``, httpx's ``Request``
    ``content``), else the one the ``exception`` failed on (requests' and httpx's exceptions carry it;
    httpx's property raises when there is none), else the ``headers`` and ``body`` themselves. An odd
    object is not staged, and never an error of its own: whatever it raises stays here.
    """
    if facts.get("on_purpose") is not None:
        return bool(facts["on_purpose"])
    try:
        request = facts["exception"].request if facts.get("exception") is not None else facts.get("request")
        if request is None:
            return staged_failure(facts.get("headers"), facts.get("body"))
        body = getattr(request, "body", None)
        return staged_failure(
            getattr(request, "headers", None), getattr(request, "content", None) if body is None else body
        )
    except Exception:
        return False


def _send(report: dict[str, Any], settings: Settings, key_file: Path) -> bool:
    """Send one report, with the learner token when there is one; any failure is a quiet False.

    Nothing of a report may reach the learner's cell: it runs in a thread of its own, and logs only
    the kind of a failure, at debug level.
    """
    try:
        url = class_sandbox_url(settings)
        if url is None:
            return False
        name = report["learner"]
        seat = _seats.get((url, name)) or read_env_file(key_file).get(SEAT_VARIABLE, "")
        with open_session(proxy_for(url, secret=False)) as session:  # as in class_sandbox_url
            sent = {**report, "learner_token": seat} if seat else report
            reply = session.post(url + "/class/progress", json=sent, timeout=REQUEST_TIMEOUT, allow_redirects=False)
        if reply.status_code == 409:
            _say_once(url, name, reply)
        # The learner token, kept for this kernel and in the key file for the learner's other notebooks.
        token = reply.json().get("learner_token") if reply.ok else None
        if isinstance(token, str) and token.replace("-", "").replace("_", "").isalnum():  # a token, never other text
            _seats[(url, name)] = token
            if token != seat:
                with contextlib.suppress(OSError):  # a read-only key file: this kernel still has the token
                    save_setting(SEAT_VARIABLE, token, key_file)
        return reply.ok
    except Exception as problem:
        log.debug("progress report not sent: %s", type(problem).__name__)
        return False


def _say_once(url: str, name: str, reply: requests.Response) -> None:
    """The class sandbox refused the name (taken, or a look-alike): the learner is told once, in its sentence."""
    if (url, name) in _warned:
        return
    _warned.add((url, name))
    try:
        sentence = str(reply.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        sentence = f"The class sandbox refused the name '{name}': choose another display name."
    log.warning("%s", redact(sentence))
