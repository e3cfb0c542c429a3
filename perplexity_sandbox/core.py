"""The sandbox's answer to one request, with no socket in it: a request goes in, a response or a stream comes out.

:meth:`SandboxCore.handle` is the whole of it for a caller that has the request in hand (a test, or the browser
edition's requests adapter): routing, the key, the rate limit, validation, the answer, the staged fault, stored
runs and a class's roster. It needs no event loop, no thread and no tornado. A streamed answer is an
:class:`EventStream`, an iterator of ``(pause, event)`` that the caller paces; a ``slow`` fault is a ``delay``
the caller waits before sending; the ``drop`` fault is a :class:`HangUp`.

The HTTP server (:mod:`perplexity_sandbox.connection`) is one caller. It asks in two steps, because it answers
what it can from a request's head before reading the body (a missing key, an unknown path, a wrong content type):
:meth:`SandboxCore.admit` with the head, then :meth:`SandboxCore.answer` with the body, which is thread-safe, so
that a large body can be answered in a worker thread.

Checks come in the documented order: route (404, 405), key (401, 403), rate limit (429), content type (415),
then the JSON body (400), the fault, and the endpoint. The HTTP server adds the size checks (413, and the
class-wide body budget: 503) between the content type and the body, since only it holds bodies as they arrive.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from perplexity_sandbox import api
from perplexity_sandbox.classroom import Roster
from perplexity_sandbox.faults import DEFAULT_DELAY_SECONDS, DELAY_HEADER, FAULT_HEADER, FAULTS, status_fault_reply
from perplexity_sandbox.keys import is_well_formed, key_fingerprint, key_owner, scrub
from perplexity_sandbox.limits import RateLimiter
from perplexity_sandbox.replies import RejectedRequestError, Reply, error_reply
from perplexity_sandbox.runs import RunStore
from perplexity_sandbox.validation import parse_body

log = logging.getLogger("perplexity_sandbox")

LEGACY_401_PAGE = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.25.3.1</center>\r\n"
    "</body>\r\n</html>\r\n"
)
ROUTES = {
    ("GET", "/v1/models"): ("models", False),
    ("POST", "/v1/agent"): ("agent", True),
    ("POST", "/v1/responses"): ("agent", True),
    ("POST", "/chat/completions"): ("legacy", True),
    ("POST", "/v1/chat/completions"): ("legacy", True),
    ("GET", "/practice/auth"): ("practice", False),  # the sandbox's own: notebook 03's exercise
    ("GET", "/class/hello"): ("class_hello", False),  # the class sandbox's own (``--class``)
    ("GET", "/class"): ("class_page", False),
    ("GET", "/class/open"): ("class_open", False),  # the instructor's one-time sign-in link
    ("POST", "/class/login"): ("class_login", False),
    ("GET", "/class/progress.json"): ("class_json", False),
    ("POST", "/class/progress"): ("class_report", False),
    ("POST", "/class/remove"): ("class_remove", False),
}
# The notebooks' sandbox streams at a readable pace, so a learner sees the answer arrive (over HTTP or in-process).
NOTEBOOK_STREAM_DELAY = 0.04
# Stored runs: /v1/agent/{id} and /v1/responses/{id} (GET), and their /cancel (POST).
RUN_PATH = re.compile(r"/v1/(?:agent|responses)/(?P<id>[^/]+)(?P<cancel>/cancel)?")


# --- what goes in ---------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Request headers, found by name in any case; a repeated header's values joined with ", " (RFC 9110)."""

    def __init__(self, fields: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._fields: dict[str, tuple[str, str]] = {}  # lower-case name: (name as sent, value)
        for name, value in fields.items() if isinstance(fields, Mapping) else fields:
            known = self._fields.get(name.lower())
            self._fields[name.lower()] = (known[0], f"{known[1]}, {value}") if known else (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)


@dataclass
class SandboxRequest:
    """One request as the core reads it: no socket, no framing. ``client`` is the client's address, if any."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=Headers)
    body: bytes = b""
    client: str = "-"

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: Any = (), body: bytes = b"", client: str = "-"
    ) -> SandboxRequest:
        """A request from its request-target (the path and query as an HTTP request line carries them)."""
        path, _, query = target.partition("?")
        return cls(method, path, query, headers, body, client)

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


# --- what comes out -------------------------------------------------------------------------


@dataclass
class SandboxResponse:
    """A whole answer. ``delay``: seconds the caller waits before sending it (the ``slow`` fault).

    ``closes``: the connection should end after it (the answer to a request that broke the sandbox).
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    closes: bool = False


@dataclass
class EventStream:
    """A streamed answer: Server-Sent Events, each ``pace`` seconds after the previous one, the first after ``delay``.

    ``truncated``: the ``truncate_stream`` fault: the events stop half-way, and the caller then hangs up without
    ending the answer properly. Iterating gives ``(pause before it, event)``, for a caller that paces it itself.
    """

    status: int
    events: list[bytes]
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    pace: float = 0.0
    delay: float = 0.0
    truncated: bool = False

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        for index, event in enumerate(self.events):
            yield (self.pace if index else self.delay), event


@dataclass(frozen=True)
class HangUp:
    """No answer at all: the ``drop`` fault. The caller ends the connection, after ``delay`` seconds."""

    delay: float = 0.0


Outcome = SandboxResponse | EventStream | HangUp


@dataclass
class Admission:
    """A request's head as the core has checked it: ``early`` is its answer when the head alone decides it."""

    request: SandboxRequest
    fault: str | None
    route: str = ""
    run_id: str = ""
    key_id: str = "-"  # key#<8 hex> for the request log, never the key
    owner: str = ""  # a digest of the key: whose stored runs this request may make, read or cancel
    early: SandboxResponse | None = None


def response_of(reply: Reply) -> SandboxResponse:
    """The bytes of a :class:`~perplexity_sandbox.replies.Reply` (the endpoints' own, richer form)."""
    return SandboxResponse(reply.status, reply.payload(), reply.content_type, reply.headers)


# --- the core -------------------------------------------------------------------------------


class SandboxCore:
    """What a sandbox does with a request: its API, its fault, rate limit and pace, its stored runs and roster.

    ``errors`` keeps every unexpected exception (each also logged with its traceback on the ``perplexity_sandbox``
    logger), so that none is lost; the request that met it gets a ``500``.
    """

    def __init__(
        self,
        *,
        fault: str | None = None,
        limiter: RateLimiter | None = None,
        pace: float = 0.0,
        runs: RunStore | None = None,
        roster: Roster | None = None,
    ) -> None:
        self.fault, self.limiter, self.pace = fault, limiter, pace
        self.runs = runs if runs is not None else RunStore()
        self.roster = roster  # a class sandbox's learners; None: not a class sandbox
        self.errors: list[BaseException] = []

    def handle(self, request: SandboxRequest) -> Outcome:
        """The answer to a whole request (for a caller that has it all in hand)."""
        try:
            admission = self.admit(request)
            return admission.early or self.answer(admission, request.body)
        except Exception as error:  # the sandbox never dies and never leaks a traceback
            return self.crashed(error, request)

    def admit(self, request: SandboxRequest) -> Admission:
        """Check the head: route, key, rate limit and content type; answer now what needs no body."""
        admission = Admission(request, request.headers.get(FAULT_HEADER) or self.fault)
        early = _Checks(self, admission).run()
        admission.early = response_of(early) if early is not None else None
        return admission

    def answer(self, admission: Admission, body: bytes | bytearray) -> Outcome:
        """The answer to an admitted request's body. Thread-safe: the HTTP server may call it in a worker thread."""
        try:
            parsed = parse_body(body)
        except RejectedRequestError as rejected:
            return response_of(rejected.reply)
        delay = _delay(admission.request.headers.get(DELAY_HEADER)) if admission.fault == "slow" else 0.0
        reply = self._outcome(admission, parsed)
        if reply is None:
            return HangUp(delay)
        if reply.events is None:
            return SandboxResponse(reply.status, reply.payload(), reply.content_type, reply.headers, delay)
        truncated = admission.fault == "truncate_stream"
        events = reply.events[: len(reply.events) // 2] if truncated else reply.events
        return EventStream(reply.status, events, reply.content_type, reply.headers, self.pace, delay, truncated)

    def crashed(self, error: BaseException, request: SandboxRequest) -> SandboxResponse:
        """Keep and log an unexpected exception; the ``500`` that answers the request instead."""
        self.record(error, f"{_printable(request.method)[:16]} {scrub(_printable(request.path))[:200]}")
        response = response_of(error_reply(500, "Internal server error.", "internal_error"))
        response.closes = True
        return response

    def record(self, error: BaseException, where: str) -> None:
        self.errors.append(error)
        log.error("sandbox error in %s", where, exc_info=(type(error), error, error.__traceback__))

    def _outcome(self, admission: Admission, parsed: Any) -> Reply | None:
        request, fault = admission.request, admission.fault
        if admission.route.startswith("class_"):  # the instructor's page and the reports: never a staged failure
            return self.roster.from_body(admission.route, parsed, request.headers, request.client)
        staged = _fault_reply(fault)
        if staged is not None or fault == "drop":
            return staged
        if admission.route == "agent":
            return api.agent(parsed, fail=fault == "failed", runs=self.runs, owner=admission.owner)
        if fault == "failed":
            return error_reply(500, "Internal server error.", "internal_error")
        return api.chat_completions(parsed)


class _Checks:
    """The checks of one request's head, in the documented order; :meth:`run` gives the early answer or None."""

    def __init__(self, core: SandboxCore, admission: Admission) -> None:
        self.core, self.admission = core, admission
        self.request, self.headers = admission.request, admission.request.headers

    def run(self) -> Reply | None:
        method, path = self.request.method, self.request.path.rstrip("/") or "/"
        run = RUN_PATH.fullmatch(path)
        found = ROUTES.get((method, path)) or _run_route(method, run)
        if found is None:
            return no_route(method, path)
        route, needs_key = found
        self.admission.route = route
        if needs_key and (refused := self._key(legacy=route == "legacy")) is not None:
            return refused
        if route == "models":  # routes without a body: one that comes anyway is read and dropped
            return api.list_models()
        if route in ("run", "cancel"):
            act = api.retrieve_run if route == "run" else api.cancel_run
            return act(run["id"], self.core.runs, self.admission.owner)
        if route == "practice":
            return api.practice_auth(self.headers)
        if route.startswith("class"):
            roster = self.core.roster
            if roster is None:
                return no_route(method, path)
            early = roster.from_head(route, self.request.target, self.headers)
            if early is not None:
                return early
        return _media_type_problem(self.headers)

    def _key(self, legacy: bool) -> Reply | None:
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not is_well_formed(key):
            if legacy:  # the real legacy endpoint answered with openresty's HTML page
                return Reply(401, LEGACY_401_PAGE, content_type="text/html")
            return error_reply(401, "Missing or invalid API key. Send 'Authorization: Bearer <key>'.", "unauthorized")
        self.admission.key_id, self.admission.owner = key_fingerprint(key), key_owner(key)
        if "revoked" in key:
            message = "This API key has been revoked. Create a new key in the API portal."
            return error_reply(401, message, "invalid_api_key")
        if "blocked" in key:
            return error_reply(403, "This API key is not allowed to use this API (no credits or blocked).", "forbidden")
        return self._rate()

    def _rate(self) -> Reply | None:
        limiter = self.core.limiter
        wait = limiter.wait_needed(self.admission.key_id) if limiter else 0.0
        if not wait:
            return None
        reply = error_reply(
            429,
            f"Rate limit exceeded: at most {limiter.limit} requests per {limiter.window:g} s per key. "
            "Retry after a short wait.",
            "request_rate_limit_exceeded",
        )
        reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        reply.headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return reply


def _media_type_problem(headers: Mapping[str, str]) -> Reply | None:
    media_type = (headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return None
    return error_reply(
        415,
        f"Content-Type '{media_type}' is not supported: send the body as JSON with 'Content-Type: application/json'.",
        "unsupported_media_type",
    )


def _run_route(method: str, run: re.Match | None) -> tuple[str, bool] | None:
    """The route of a stored-run path, which needs the key like the request that made the run."""
    if run is None:
        return None
    if method == "GET" and not run["cancel"]:
        return ("run", True)
    if method == "POST" and run["cancel"]:
        return ("cancel", True)
    return None


def no_route(method: str, path: str) -> Reply:
    allowed = sorted(m for m, p in ROUTES if p == path)
    shown = scrub(_printable(path))[:200]
    if not allowed:
        return error_reply(404, f"No route for {_printable(method)[:16]} {shown}.", "not_found")
    reply = error_reply(
        405,
        f"Method {_printable(method)[:16]} is not allowed on {shown}: use {' or '.join(allowed)}.",
        "method_not_allowed",
    )
    reply.headers["Allow"] = ", ".join(allowed)
    return reply


def _fault_reply(fault: str | None) -> Reply | None:
    """A reply that replaces the normal one, or None to answer normally (after any pause)."""
    if fault is None:
        return None
    if fault not in FAULTS:
        message = f"Unknown {FAULT_HEADER} '{fault}'. Faults: {', '.join(FAULTS)}."
        return error_reply(400, message, "invalid_request", FAULT_HEADER)
    return status_fault_reply(fault)


def _delay(value: str | None) -> float:
    try:
        seconds = float(value) if value else DEFAULT_DELAY_SECONDS
    except ValueError:
        return DEFAULT_DELAY_SECONDS
    return min(max(seconds, 0.0), 120.0) if math.isfinite(seconds) else DEFAULT_DELAY_SECONDS


def _printable(text: str) -> str:
    if text.isprintable():  # nearly always: one C call instead of a loop over the characters
        return text
    return "".join(c if c.isprintable() else "?" for c in text)
