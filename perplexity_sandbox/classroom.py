"""The instructor's view of a class: who reached which step, and the last error each learner hit.

A class sandbox (``python -m perplexity_sandbox --class``) keeps a :class:`ClassRoster`. Learners'
notebooks report to it (``POST /class/progress``) only what the page shows: a display name the
learner chose, a step reached, or an error sentence. The page (``GET /class``) and its data
(``GET /class/progress.json``) need the token printed when the sandbox starts, so that learners
cannot read each other's errors.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from perplexity_sandbox.keys import scrub
from perplexity_sandbox.replies import Reply, error_reply

# What a learner can reach, in the order of the notebooks; the page has one column for each.
STEPS = {
    "answer": "First answer (02)",
    "test": "Test passed (03)",
    "exercise:01.1": "Exercise 01.1",
    "exercise:02.1": "Exercise 02.1",
    "exercise:03.1": "Exercise 03.1",
}
MAX_LEARNERS = 1000  # a class, not the internet: beyond this, new names are refused
MAX_NAME_CHARS = 40
MAX_ERROR_CHARS = 300


@dataclass
class Learner:
    """One learner as the page shows them."""

    name: str
    steps: set[str] = field(default_factory=set)
    last_error: str = ""
    last_seen: float = 0.0


class ClassRoster:
    """The learners of one class sandbox. Thread-safe: reports arrive from many connections at once."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(16)
        self._learners: dict[str, Learner] = {}
        self._lock = threading.Lock()

    def report(self, body: Any) -> Reply:
        """``POST /class/progress``: ``{"learner": name, "step": ...}`` or ``{"learner": name, "error": ...}``."""
        problem = _report_problem(body)
        if problem:
            return error_reply(400, problem, "invalid_request")
        with self._lock:
            learner = self._learners.get(body["learner"].strip())
            if learner is None:
                if len(self._learners) >= MAX_LEARNERS:
                    return error_reply(429, f"This class already has {MAX_LEARNERS} learners.", "class_full")
                learner = self._learners.setdefault(body["learner"].strip(), Learner(body["learner"].strip()))
            _apply(learner, body)
        return Reply(200, {"ok": True})

    def snapshot(self) -> list[dict]:
        """Every learner, most recently seen first, as the page's script reads it."""
        with self._lock:
            learners = sorted(self._learners.values(), key=lambda one: -one.last_seen)
            return [_as_row(one) for one in learners]

    def allows(self, token: str | None) -> bool:
        return token is not None and secrets.compare_digest(token, self.token)

    def progress_json(self, token: str | None) -> Reply:
        """``GET /class/progress.json?token=...``."""
        if not self.allows(token):
            return _wrong_token()
        return Reply(200, {"steps": STEPS, "learners": self.snapshot()})

    def page(self, token: str | None) -> Reply:
        """``GET /class?token=...``: the instructor page, which refreshes itself every two seconds."""
        if not self.allows(token):
            return _wrong_token()
        return Reply(200, PAGE.replace("{TOKEN}", html.escape(self.token)), content_type="text/html; charset=utf-8")


def _report_problem(body: Any) -> str:
    """Why a report cannot be taken, in one sentence; "" when it can."""
    if not isinstance(body, dict) or not isinstance(body.get("learner"), str):
        return "A progress report is a JSON object with a 'learner' name and a 'step' or an 'error'."
    name = body["learner"].strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        return f"The learner name must be 1 to {MAX_NAME_CHARS} printable characters."
    if "step" in body and body["step"] not in STEPS:
        return f"Unknown step: use one of {', '.join(STEPS)}."
    if "error" in body and not isinstance(body["error"], str):
        return "The 'error' must be a sentence (a string)."
    if "step" not in body and "error" not in body:
        return "Report a 'step' or an 'error'."
    return ""


def _apply(learner: Learner, body: dict) -> None:
    learner.last_seen = time.time()
    if "step" in body:
        learner.steps.add(body["step"])
    if "error" in body:
        # Masked like every echo of the sandbox: a learner may paste a key into anything.
        learner.last_error = scrub(" ".join(body["error"].split()))[:MAX_ERROR_CHARS]


def _as_row(learner: Learner) -> dict:
    return {
        "learner": learner.name,
        "steps": [step for step in STEPS if step in learner.steps],
        "last_error": learner.last_error,
        "seconds_ago": round(time.time() - learner.last_seen),
    }


def _wrong_token() -> Reply:
    return error_reply(403, "This page needs the class token printed when the sandbox started.", "forbidden")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class progress</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
td.done { background: #e6f4ea; } td.error { color: #a50e0e; max-width: 30em; }
</style></head>
<body>
<h1>Class progress</h1>
<p id="summary">Waiting for the first learner&hellip;</p>
<table><thead id="head"></thead><tbody id="rows"></tbody></table>
<script>
const token = "{TOKEN}";
function cell(text, kind) {
  const td = document.createElement("td");
  td.textContent = text;
  if (kind) td.className = kind;
  return td;
}
async function refresh() {
  const reply = await fetch("/class/progress.json?token=" + encodeURIComponent(token));
  if (!reply.ok) return;
  const data = await reply.json();
  const head = document.createElement("tr");
  for (const title of ["Learner", ...Object.values(data.steps), "Last error", "Last seen"]) {
    const th = document.createElement("th");
    th.textContent = title;
    head.append(th);
  }
  document.getElementById("head").replaceChildren(head);
  const rows = data.learners.map(one => {
    const tr = document.createElement("tr");
    tr.dataset.learner = one.learner;
    tr.append(cell(one.learner));
    for (const step of Object.keys(data.steps)) {
      const done = one.steps.includes(step);
      tr.append(cell(done ? "\\u2713" : "", done ? "done" : ""));
    }
    tr.append(cell(one.last_error, "error"), cell(one.seconds_ago + " s ago"));
    return tr;
  });
  document.getElementById("rows").replaceChildren(...rows);
  document.getElementById("summary").textContent = data.learners.length + " learner(s)";
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>
"""
