"""The instructor's view of a class: who reached which step, and the last error each learner hit.

A class sandbox (``python -m perplexity_sandbox --class``) keeps a :class:`Roster`. Learners'
notebooks report to it (``POST /class/progress``) only what the page shows: a display name the
learner chose, a step reached, or an error sentence.

An error report may say where it came from (``notebook``, and ``during``: the step it happened at)
and that the notebook made it fail on purpose (``on_purpose``: the guide's retired model, or a
failure staged with the sandbox's fault header). The page shows such an error as expected, in grey,
and counts only the others: learners whose last report is a real error are stuck, and the page
groups them by error ("3 learners: <sentence>"). Reports without these fields (older notebooks)
count as real errors from an unknown place.

Who may do what:

- A row belongs to the notebook kernel that created it. The first report of a name gets a
  ``learner_token`` back; a report that changes the row must carry it, so no classmate can tick or
  overwrite another learner's row. A name that looks like one already in the class ("Ann" and a
  Cyrillic "Аnn", "ann", "A nn") is refused, so nobody can pass for someone else (:func:`look_alike_keys`).
- One address holds at most :data:`NEW_LEARNERS_PER_ADDRESS` rows: on a hub every learner shares one
  address, so that is no lower than a large class; one client still cannot fill the roster.
- The page (``GET /class``), its data (``GET /class/progress.json``) and removing a row
  (``POST /class/remove``) are the instructor's: the page is opened with a one-time sign-in link
  (:meth:`Roster.sign_in_path`, printed when the sandbox starts) or by pasting the class token
  into the page's prompt. Either sets an HttpOnly cookie, so the token is never on the projected screen.
- Posts are JSON only (415) and same-origin only (403: ``Origin`` and ``Sec-Fetch-Site``), so no
  web page a learner or instructor visits can post for them; a client without ``Origin`` (a notebook) is fine.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
# The same steps, as the place an error happened at: the page's "Error from" column.
ERROR_STEPS = {
    "answer": "sending a request",
    "test": "Test",
    "exercise:01.1": "Exercise 01.1",
    "exercise:02.1": "Exercise 02.1",
    "exercise:03.1": "Exercise 03.1",
}
MAX_LEARNERS = 1000  # a class, not the internet: beyond this, new names are refused
NEW_LEARNERS_PER_ADDRESS = 400  # a hub's whole class shares one address; still below MAX_LEARNERS
MAX_NAME_CHARS = 40
MAX_ERROR_CHARS = 300
MAX_NOTEBOOK_CHARS = 60  # a notebook's file name, without its folder or .ipynb
MAX_TOKEN_CHARS = 64
MAX_POST_BYTES = 4096  # a report is a name and a sentence
SIGN_IN_LINKS_KEPT = 20  # unused one-time links beyond these are forgotten, oldest first
SESSION_COOKIE = "class_session"
PAGE_HEADERS = {  # the instructor's pages: never cached, never framed, never sent on as a referrer
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# The routes a class sandbox adds (see core.ROUTES): those that take a JSON body, and the instructor's.
POST_ROUTES = ("class_report", "class_login", "class_remove")
INSTRUCTOR_POSTS = ("class_remove",)


# --- look-alike names ---------------------------------------------------------------------------

# Letters of other scripts drawn like Latin ones (Unicode's confusables.txt, the common cases), and the
# digits and capital I that pass for letters. A small documented rule rather than a dependency.
_DRAWN_ALIKE = str.maketrans(
    {
        **dict(zip("аеорсухѕіјԁһӏԛԝү", "aeopcyxsijdhlqwy", strict=True)),  # Cyrillic small
        **dict(zip("АВЕКМНОРСТУХЅІЈԚԜҮӀ", "ABEKMHOPCTYXSlJQWYl", strict=True)),  # Cyrillic capital
        **dict(zip("ανικορυχϲϳ", "avikopuxcj", strict=True)),  # Greek small
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ", "ABEZHlKMNOPTYXC", strict=True)),  # Greek capital
        **dict(zip("օսոıɑɡ", "ouniag", strict=True)),  # Armenian, and Latin letters outside ASCII
        "0": "o",  # digits and the capital I drawn like letters
        "1": "l",
        "I": "l",
    }
)


def look_alike_keys(name: str) -> frozenset[str]:
    """What ``name`` looks like on the page: two names that share a key are refused as look-alikes.

    The rule: NFKC (full-width and styled letters become plain ones), then case, spacing, punctuation
    and letters drawn alike in other scripts stop counting. Two keys, because casefolding first
    ("Iris" -> "iris") and mapping the capital I to l first ("Iris" -> "lris") each catch a different
    look-alike ("iris", "lris"); "iris" and "lris" themselves share neither and stay apart.
    """
    text = unicodedata.normalize("NFKC", name)
    return frozenset({_skeleton(text.casefold()), _skeleton(text).casefold()})


def _skeleton(text: str) -> str:
    """Letters and digits only, each drawn-alike one replaced by the Latin one it passes for."""
    mapped = unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).translate(_DRAWN_ALIKE))
    return "".join(ch for ch in mapped if ch.isalnum())


# --- the roster -----------------------------------------------------------------------------------


@dataclass
class Learner:
    """One row of the page, owned by the kernel that holds ``token``."""

    name: str
    token: str
    address: str  # where the row was created from: counted against NEW_LEARNERS_PER_ADDRESS
    looks: frozenset[str]
    steps: set[str] = field(default_factory=set)
    last_error: str = ""
    error_notebook: str = ""  # where the last error came from, when the report said so
    error_during: str = ""  # the step it happened at (one of STEPS), when the report said so
    error_on_purpose: bool = False  # the notebook made it fail on purpose: expected, never "stuck"
    stuck: bool = False  # the last report was a real error: no step reached since
    last_seen: float = 0.0


class Roster:
    """The learners of one class sandbox. Thread-safe: reports arrive from many connections at once."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(16)
        self._session = secrets.token_urlsafe(24)  # the cookie's value: a signed-in browser, never the token
        self._sign_in_codes: OrderedDict[str, None] = OrderedDict()
        self._by_token: dict[str, Learner] = {}
        self._by_look: dict[str, Learner] = {}
        self._rows_from: dict[str, int] = {}  # address -> rows created from it and still on the page
        self._lock = threading.Lock()

    # --- over HTTP (called by the sandbox's core) -------------------------------------------------

    def from_head(self, route: str, target: str, headers: Mapping[str, str]) -> Reply | None:
        """The reply to a class route known from its head; None: read the (JSON) body, then :meth:`from_body`."""
        if route in POST_ROUTES:
            return _post_refusal(self, route, target, headers)
        query = _query(target)
        if route == "class_hello":
            return Reply(200, {"class": True})
        if route == "class_open":
            return self._open(query.get("code", ""))
        if route == "class_json":
            return self.progress_json(target, headers)
        return self.page(target, headers)

    def from_body(self, route: str, body: Any, headers: Mapping[str, str], address: str) -> Reply:
        """The reply to a class post once its JSON body is in (its head passed :meth:`from_head`)."""
        if route == "class_login":
            return self._sign_in(body)
        if route == "class_remove":
            return self.remove(body)
        return self.report(body, address)

    def sign_in_path(self) -> str:
        """A new one-time sign-in link (path and query) for the instructor's browser: it works once."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._sign_in_codes[code] = None
            while len(self._sign_in_codes) > SIGN_IN_LINKS_KEPT:
                self._sign_in_codes.popitem(last=False)
        return f"/class/open?code={code}"

    def allows(self, token: str | None) -> bool:
        """Whether ``token`` is this class's instructor token."""
        return isinstance(token, str) and secrets.compare_digest(token.encode(), self.token.encode())

    # --- the learners' reports ----------------------------------------------------------------------

    def report(self, body: Any, address: str = "-") -> Reply:
        """``POST /class/progress``: ``{"learner": name, "step" or "error": ..., "learner_token"?: ...}``.

        The reply carries the row's ``learner_token``: the kernel sends it with every later report. A
        known token with another name renames its own row (a learner who corrected their name).
        """
        problem = _report_problem(body)
        if problem:
            return error_reply(400, problem, "invalid_request")
        name, token = " ".join(body["learner"].split()), body.get("learner_token")
        with self._lock:
            learner = self._by_token.get(token) if token else None
            refusal = self._name_refusal(name, learner) or (self._room_refusal(address) if learner is None else None)
            if refusal is not None:
                return refusal
            learner = self._rename(learner, name) if learner is not None else self._add(name, address)
            _apply(learner, body)
            return Reply(200, {"ok": True, "learner_token": learner.token})

    def remove(self, body: Any) -> Reply:
        """``POST /class/remove``, the instructor's: ``{"learner": name}`` takes that row off the page."""
        if not isinstance(body, dict) or not isinstance(body.get("learner"), str):
            return error_reply(400, 'Say which row to remove: {"learner": name}.', "invalid_request")
        with self._lock:
            learner = next((one for one in self._by_token.values() if one.name == body["learner"]), None)
            if learner is None:
                return error_reply(404, "No learner of that name is on the page.", "not_found")
            self._drop(learner)
        return Reply(200, {"removed": learner.name})

    def snapshot(self) -> list[dict]:
        """Every learner, most recently seen first, as the page's script reads it (never a learner's token)."""
        with self._lock:
            learners = sorted(self._by_token.values(), key=lambda one: -one.last_seen)
            return [_as_row(one) for one in learners]

    def _name_refusal(self, name: str, learner: Learner | None) -> Reply | None:
        """A 409 when another row holds ``name`` or a name that looks like it."""
        holder = next((self._by_look[key] for key in look_alike_keys(name) if key in self._by_look), None)
        if holder is None or holder is learner:
            return None
        if holder.name == name:
            message = f"'{name}' is already on the class page, from another notebook"
        else:
            message = f"'{name}' looks too much like '{holder.name}', already on the class page"
        return error_reply(
            409, message + ": choose another display name (notebook 01's Your name box).", "name_taken", "learner"
        )

    def _room_refusal(self, address: str) -> Reply | None:
        """A 429 when the class, or this address's share of it, is full."""
        if len(self._by_token) >= MAX_LEARNERS:
            return error_reply(429, f"This class already has {MAX_LEARNERS} learners.", "class_full")
        if self._rows_from.get(address, 0) >= NEW_LEARNERS_PER_ADDRESS:
            message = (
                f"This address already has {NEW_LEARNERS_PER_ADDRESS} learners on the class page, the most one "
                "address may: the instructor can remove rows that are not used."
            )
            return error_reply(429, message, "class_full")
        return None

    def _add(self, name: str, address: str) -> Learner:
        learner = Learner(name, secrets.token_urlsafe(18), address, look_alike_keys(name))
        self._by_token[learner.token] = learner
        self._by_look.update(dict.fromkeys(learner.looks, learner))
        self._rows_from[address] = self._rows_from.get(address, 0) + 1
        return learner

    def _rename(self, learner: Learner, name: str) -> Learner:
        for key in learner.looks:
            del self._by_look[key]
        learner.name, learner.looks = name, look_alike_keys(name)
        self._by_look.update(dict.fromkeys(learner.looks, learner))
        return learner

    def _drop(self, learner: Learner) -> None:
        del self._by_token[learner.token]
        for key in learner.looks:
            del self._by_look[key]
        left = self._rows_from[learner.address] - 1
        if left:
            self._rows_from[learner.address] = left
        else:
            del self._rows_from[learner.address]

    # --- the instructor's page ----------------------------------------------------------------------

    def page(self, target: str, headers: Mapping[str, str]) -> Reply:
        """``GET /class``: the page for a signed-in browser, else a prompt for the class token.

        ``?token=`` in the address (older links) signs the browser in and redirects to plain ``/class``,
        so the token does not stay in the address bar.
        """
        token = _query(target).get("token")
        if token is not None:
            return self._signed_in() if self.allows(token) else _sign_in_page(403, WRONG_TOKEN)
        if not self._has_session(headers):
            return _sign_in_page(401, "")
        return Reply(200, PAGE, content_type="text/html; charset=utf-8", headers=dict(PAGE_HEADERS))

    def progress_json(self, target: str, headers: Mapping[str, str]) -> Reply:
        """``GET /class/progress.json``: for a signed-in browser, or ``Authorization: Bearer <class token>``."""
        if not self.is_instructor(target, headers):
            return _not_signed_in()
        learners = self.snapshot()
        data = {"steps": STEPS, "error_steps": ERROR_STEPS, "learners": learners, "stuck": stuck_groups(learners)}
        return Reply(200, data, headers={"Cache-Control": "no-store"})

    def _open(self, code: str) -> Reply:
        """``GET /class/open?code=...``: a one-time sign-in link; used once, it is gone."""
        with self._lock:
            known = code in self._sign_in_codes
            if known:
                del self._sign_in_codes[code]
        if not known:
            return _sign_in_page(403, USED_LINK)
        return self._signed_in()

    def _sign_in(self, body: Any) -> Reply:
        """``POST /class/login``, the page's prompt: ``{"token": class token}``."""
        if not isinstance(body, dict) or not self.allows(body.get("token")):
            return error_reply(403, WRONG_TOKEN, "forbidden")
        reply = Reply(200, {"ok": True}, headers={"Cache-Control": "no-store"})
        reply.headers["Set-Cookie"] = self._cookie()
        return reply

    def _signed_in(self) -> Reply:
        """Sign this browser in (the cookie) and show the page at an address without any secret."""
        headers = {**PAGE_HEADERS, "Location": "/class", "Set-Cookie": self._cookie()}
        return Reply(303, "", content_type="text/plain; charset=utf-8", headers=headers)

    def _cookie(self) -> str:
        # HttpOnly: no script reads it. SameSite=Lax: other sites' posts never carry it (the one-time
        # link may still be opened from another site). Path: only the class pages get it.
        return f"{SESSION_COOKIE}={self._session}; Path=/class; HttpOnly; SameSite=Lax"

    def _has_session(self, headers: Mapping[str, str]) -> bool:
        try:
            cookie = SimpleCookie(headers.get("Cookie") or "").get(SESSION_COOKIE)
        except CookieError:
            return False
        return cookie is not None and secrets.compare_digest(cookie.value.encode(), self._session.encode())

    def is_instructor(self, target: str, headers: Mapping[str, str]) -> bool:
        """Whether the request comes from the instructor: a signed-in browser, or the token (header or query)."""
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        return self._has_session(headers) or self.allows(bearer) or self.allows(_query(target).get("token"))


def _post_refusal(roster: Roster, route: str, target: str, headers: Mapping[str, str]) -> Reply | None:
    """Why a class post is refused from its head alone, or None when its body may be read."""
    media_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        message = "Send the body as JSON with 'Content-Type: application/json'."
        return error_reply(415, message, "unsupported_media_type")
    if not _same_origin(headers):
        message = "Posts to the class sandbox come from its own page or from a notebook, not from another site."
        return error_reply(403, message, "forbidden")
    if _declared_length(headers) > MAX_POST_BYTES:
        return error_reply(413, f"Request body is larger than {MAX_POST_BYTES} bytes.", "payload_too_large")
    if route in INSTRUCTOR_POSTS and not roster.is_instructor(target, headers):
        return _not_signed_in()
    return None


# --- checking a report ----------------------------------------------------------------------------


def _report_problem(body: Any) -> str:
    """Why a report cannot be taken, in one sentence; "" when it can."""
    if not isinstance(body, dict) or not isinstance(body.get("learner"), str):
        return "A progress report is a JSON object with a 'learner' name and a 'step' or an 'error'."
    name = " ".join(body["learner"].split())
    if not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        return f"The learner name must be 1 to {MAX_NAME_CHARS} printable characters."
    if not any(ch.isalnum() for ch in name):
        return "The learner name needs a letter or a digit."
    if scrub(name) != name:
        return "That learner name looks like an API key: choose a display name instead."
    token = body.get("learner_token")
    if token is not None and not (isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN_CHARS):
        return "The 'learner_token' is the string this class sandbox sent back with an earlier report."
    if "step" in body and not (isinstance(body["step"], str) and body["step"] in STEPS):
        return f"Unknown step: use one of {', '.join(STEPS)}."
    if "error" in body and not isinstance(body["error"], str):
        return "The 'error' must be a sentence (a string)."
    if "step" not in body and "error" not in body:
        return "Report a 'step' or an 'error'."
    return _origin_problem(body)


def _origin_problem(body: dict) -> str:
    """Why an error's ``notebook``, ``during`` or ``on_purpose`` cannot be taken, in one sentence; else ""."""
    notebook = body.get("notebook")
    if notebook is not None and not _is_notebook_name(notebook):
        return f"The 'notebook' is a notebook's file name without '.ipynb', at most {MAX_NOTEBOOK_CHARS} characters."
    if "during" in body and not (isinstance(body["during"], str) and body["during"] in STEPS):
        return f"The 'during' of an error is the step it happened at: one of {', '.join(STEPS)}."
    if "on_purpose" in body and not isinstance(body["on_purpose"], bool):
        return "The 'on_purpose' of an error is true or false."
    return ""


def _is_notebook_name(name: Any) -> bool:
    """A file name's stem: letters, digits, spaces and ``._-``, no key."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NOTEBOOK_CHARS:
        return False
    return all(ch.isalnum() or ch in " ._-" for ch in name) and scrub(name) == name


def _apply(learner: Learner, body: dict) -> None:
    learner.last_seen = time.time()
    if "step" in body:
        learner.steps.add(body["step"])
        learner.stuck = False  # a step reached after an error: the learner got past it
    if "error" in body:
        # Masked like every echo of the sandbox: a learner may paste a key into anything.
        learner.last_error = scrub(" ".join(body["error"].split()))[:MAX_ERROR_CHARS]
        learner.error_notebook = body.get("notebook") or ""
        learner.error_during = body.get("during") or ""
        learner.error_on_purpose = body.get("on_purpose") is True
        learner.stuck = not learner.error_on_purpose


def _as_row(learner: Learner) -> dict:
    return {
        "learner": learner.name,
        "steps": [step for step in STEPS if step in learner.steps],
        "last_error": learner.last_error,
        "error_notebook": learner.error_notebook,
        "error_during": learner.error_during,
        "error_on_purpose": learner.error_on_purpose,
        "stuck": learner.stuck,
        "seconds_ago": round(time.time() - learner.last_seen),
    }


def stuck_groups(rows: list[dict]) -> list[dict]:
    """Learners stuck on the same error, most learners first: what the page's summary lines say.

    An error the notebook causes on purpose never counts, nor one a learner got past (a step since).
    """
    groups: dict[str, dict] = {}
    for row in rows:
        if not row["stuck"]:
            continue
        group = groups.setdefault(row["last_error"], {"error": row["last_error"], "learners": 0, "notebooks": []})
        group["learners"] += 1
        if row["error_notebook"] and row["error_notebook"] not in group["notebooks"]:
            group["notebooks"].append(row["error_notebook"])
    return sorted(groups.values(), key=lambda group: (-group["learners"], group["error"]))


# --- requests and replies -------------------------------------------------------------------------


def _query(target: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(target).query).items()}


def _same_origin(headers: Mapping[str, str]) -> bool:
    """Not a post from another site: browsers say where a request comes from, other clients say nothing.

    ``Sec-Fetch-Site`` (every current browser) must be ``same-origin``; an ``Origin``, when sent, must be
    this sandbox's own address (the ``Host`` the browser asked for).
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    return origin is None or origin.strip().lower() == f"http://{headers.get('Host', '')}".lower()


def _declared_length(headers: Mapping[str, str]) -> int:
    return int((headers.get("Content-Length") or "0").strip(" \t") or 0)  # plain digits: screened by the server


def _not_signed_in() -> Reply:
    return error_reply(403, "Open the class page with the sign-in link or the class token first.", "forbidden")


WRONG_TOKEN = "That is not this class's token: it is printed when the class sandbox starts."
USED_LINK = (
    "This sign-in link was already used (each one works once): paste the class token below, the one "
    "printed when the class sandbox started."
)


def _sign_in_page(status: int, problem: str) -> Reply:
    body = SIGN_IN_PAGE.replace("{PROBLEM}", html.escape(problem))
    return Reply(status, body, content_type="text/html; charset=utf-8", headers=dict(PAGE_HEADERS))


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class progress: sign in</title>
<style>body { font-family: system-ui, sans-serif; margin: 2em; } #problem { color: #a50e0e; }</style></head>
<body>
<h1>Class progress</h1>
<p>Paste the class token printed when the class sandbox started, or open the one-time sign-in link it printed.</p>
<p id="problem">{PROBLEM}</p>
<form id="sign-in">
<label>Class token <input id="token" type="password" autocomplete="off" required></label>
<button type="submit">Open the page</button>
</form>
<script>
document.getElementById("sign-in").addEventListener("submit", async event => {
  event.preventDefault();
  const field = document.getElementById("token");
  const reply = await fetch("/class/login", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token: field.value}),
  });
  field.value = "";
  if (reply.ok) { location.replace("/class"); return; }
  document.getElementById("problem").textContent = (await reply.json()).error.message;
});
</script>
</body></html>
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class progress</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
td.done { background: #e6f4ea; } td.error { color: #a50e0e; max-width: 30em; }
td.expected, td.earlier { color: #6b6b6b; max-width: 30em; } td.from { color: #444; font-size: .9em; }
#stuck li { color: #a50e0e; }
</style></head>
<body>
<h1>Class progress</h1>
<p id="summary">Waiting for the first learner&hellip;</p>
<ul id="stuck"></ul>
<p><small>Red: the learner's last report is an error. Grey: an error the notebook causes on purpose
(expected), or one the learner got past (earlier).</small></p>
<table><thead id="head"></thead><tbody id="rows"></tbody></table>
<script>
function cell(text, kind) {
  const td = document.createElement("td");
  td.textContent = text;
  if (kind) td.className = kind;
  return td;
}
function removeButton(name) {
  const button = document.createElement("button");
  button.textContent = "Remove";
  button.className = "remove";
  button.addEventListener("click", async () => {
    if (!confirm("Remove " + name + " from the page?")) return;
    await fetch("/class/remove", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({learner: name}),
    });
    refresh();
  });
  const td = document.createElement("td");
  td.append(button);
  return td;
}
function errorCell(one) {
  if (!one.last_error) return cell("", "");
  if (one.stuck) return cell(one.last_error, "error");
  if (one.error_on_purpose) return cell("expected: " + one.last_error, "expected");
  return cell("earlier: " + one.last_error, "earlier");
}
function fromCell(one, errorSteps) {
  const parts = [one.error_notebook, errorSteps[one.error_during]].filter(Boolean);
  return cell(one.last_error ? parts.join(" \u00b7 ") : "", "from");
}
function stuckLine(group) {
  const li = document.createElement("li");
  const where = group.notebooks.length ? " (" + group.notebooks.join(", ") + ")" : "";
  li.textContent = group.learners + (group.learners === 1 ? " learner: " : " learners: ") + group.error + where;
  return li;
}
async function refresh() {
  const reply = await fetch("/class/progress.json");
  if (!reply.ok) {
    document.getElementById("summary").textContent = "Signed out: reload the page to sign in again.";
    return;
  }
  const data = await reply.json();
  const head = document.createElement("tr");
  for (const title of ["Learner", ...Object.values(data.steps), "Last error", "Error from", "Last seen", ""]) {
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
    tr.append(errorCell(one), fromCell(one, data.error_steps));
    tr.append(cell(one.seconds_ago + " s ago"), removeButton(one.learner));
    return tr;
  });
  document.getElementById("rows").replaceChildren(...rows);
  document.getElementById("summary").textContent = data.learners.length + " learner(s)";
  document.getElementById("stuck").replaceChildren(...data.stuck.map(stuckLine));
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>
"""
