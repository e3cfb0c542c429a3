"""One request to the sandbox, from its head to the last byte of its answer (a tornado message delegate).

Checks come in the documented order: route (404, 405), key (401, 403), rate limit (429), content type (415),
size (413, and the class-wide body budget: 503), then the JSON body (400), the fault, and the endpoint.
What can be answered from the head alone is answered at once, before the body: a small body (up to 1 MiB) is
then read and dropped, so the connection stays usable; a larger or chunked one is drained unread and the
connection closed. Every request leaves one line on the ``perplexity_sandbox`` logger, with ``key#<8 hex>``
and never the key.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tornado import httputil

from perplexity_sandbox import api
from perplexity_sandbox.classroom import ClassRoster
from perplexity_sandbox.faults import DEFAULT_DELAY_SECONDS, DELAY_HEADER, FAULT_HEADER, FAULTS, status_fault_reply
from perplexity_sandbox.http1 import (
    ClassServer,
    RefusalError,
    RefusedBody,
    ServerConnection,
    StrictConnection,
    head_lines,
    log_request,
    printable,
    whole_reply,
)
from perplexity_sandbox.keys import is_well_formed, key_fingerprint, key_owner, scrub
from perplexity_sandbox.limits import MiB, RateLimiter
from perplexity_sandbox.pacer import PacedStream, Pacer
from perplexity_sandbox.replies import RejectedRequestError, Reply, error_reply
from perplexity_sandbox.runs import RunStore
from perplexity_sandbox.validation import fits_on_the_loop, parse_body

SKIP_BODY_BYTES = 1 * MiB  # an unwanted body up to this size is read and dropped, keeping the connection
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
# Stored runs: /v1/agent/{id} and /v1/responses/{id} (GET), and their /cancel (POST).
RUN_PATH = re.compile(r"/v1/(?:agent|responses)/(?P<id>[^/]+)(?P<cancel>/cancel)?")


@dataclass(frozen=True)
class Behaviour:
    """What a sandbox does with requests, beyond the API: its fault, its rate limit, the pace of streamed events."""

    fault: str | None = None
    limiter: RateLimiter | None = None
    pacer: Pacer | None = None  # paces streamed events; None: no pause between them
    runs: RunStore = field(default_factory=RunStore)  # this sandbox's stored and background runs
    roster: ClassRoster | None = None  # a class sandbox's learners; None: not a class sandbox


class Exchange(httputil.HTTPMessageDelegate):
    """One request: tornado calls ``headers_received``, ``data_received`` for each piece of body, ``finish``."""

    def __init__(
        self, behaviour: Behaviour, server: ClassServer, connection: ServerConnection, request: StrictConnection
    ) -> None:
        self.behaviour, self.server, self.connection, self.request = behaviour, server, connection, request
        self.method = self.target = self.key_id = "-"
        self.owner = ""  # a digest of the key: whose stored runs this request may make, read or cancel
        self.started = time.perf_counter()
        self.body: bytearray | None = None  # None: no body wanted (answered from the head), or handed on
        self.received = self.held = 0  # bytes of body received, and reserved in the class-wide budget
        self.answered = False

    # --- the head ---------------------------------------------------------------------------

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        self.started = time.perf_counter()
        self.method, self.target, version = start_line  # a request line: screened before we get it
        self.http10 = version == "HTTP/1.0"
        self.headers = headers
        self.fault = headers.get(FAULT_HEADER) or self.behaviour.fault
        self.server.waiting(self.connection, self.server.bodies)  # for the body, if any
        if self.behaviour.pacer is not None:
            self.behaviour.pacer.note_arrival()
        try:
            early = self._check_head()
        except Exception as error:  # the server never dies and never leaks a traceback
            early = self._crashed(error)
        if early is not None:
            try:
                self._answer_from_head(early)
            except Exception as error:
                self.server.record(error, f"the answer to {printable(self.method)[:16]} {self._safe_target()}")
                self.request.stream.close()

    def _check_head(self) -> Reply | None:
        path = self.target.split("?", 1)[0].rstrip("/") or "/"
        run = RUN_PATH.fullmatch(path)
        found = ROUTES.get((self.method, path)) or _run_route(self.method, run)
        if found is None:
            return no_route(self.method, path)
        self.route, needs_key = found
        if needs_key and (refused := self._check_key(legacy=self.route == "legacy")) is not None:
            return refused
        # Routes without a body: one that comes anyway is read and dropped.
        if self.route == "models":
            return api.list_models()
        if self.route in ("run", "cancel"):
            act = api.retrieve_run if self.route == "run" else api.cancel_run
            return act(run["id"], self.behaviour.runs, self.owner)
        if self.route.startswith("class") or self.route == "practice":
            return self._sandbox_page()
        return self._admit_body()

    def _sandbox_page(self) -> Reply | None:
        """The sandbox's own endpoints: the practice one, and a class sandbox's page and progress."""
        if self.route == "practice":
            return api.practice_auth(self.headers)
        roster = self.behaviour.roster
        if roster is None:
            return no_route(self.method, self.target.split("?", 1)[0])
        return roster.from_head(self.route, self.target, self.headers) or self._admit_body()

    def _check_key(self, legacy: bool) -> Reply | None:
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not is_well_formed(key):
            if legacy:  # the real legacy endpoint answered with openresty's HTML page
                return Reply(401, LEGACY_401_PAGE, content_type="text/html")
            return error_reply(401, "Missing or invalid API key. Send 'Authorization: Bearer <key>'.", "unauthorized")
        self.key_id, self.owner = key_fingerprint(key), key_owner(key)
        if "revoked" in key:
            message = "This API key has been revoked. Create a new key in the API portal."
            return error_reply(401, message, "invalid_api_key")
        if "blocked" in key:
            return error_reply(403, "This API key is not allowed to use this API (no credits or blocked).", "forbidden")
        return self._check_rate()

    def _check_rate(self) -> Reply | None:
        limiter = self.behaviour.limiter
        wait = limiter.wait_needed(self.key_id) if limiter else 0.0
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

    def _admit_body(self) -> Reply | None:
        """None when the body may come (room is reserved for it), else the reply that refuses it."""
        media_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            return error_reply(
                415,
                f"Content-Type '{media_type}' is not supported: send the body as JSON with "
                "'Content-Type: application/json'.",
                "unsupported_media_type",
            )
        if "Transfer-Encoding" in self.headers:  # chunked (screened): room is taken as the chunks arrive
            self.body = bytearray()
            return None
        length = self._declared_length()
        if length > self.server.limits.max_body_size:  # answered from the header alone: the body is never read
            self._refuse(self._too_large())
        elif not self.server.budget.take(length):
            self._refuse(self._budget_spent())
        else:
            self.held, self.body = length, bytearray(length)
        return None

    def _declared_length(self) -> int:
        return int(self.headers.get("Content-Length", "0").strip(" \t") or 0)  # plain digits: screened

    def _answer_from_head(self, reply: Reply) -> None:
        """Answer now; then a small body is read and dropped (the connection stays), a larger one refused unread."""
        self.answered = True
        chunked = "Transfer-Encoding" in self.headers
        # tornado answers "Expect: 100-continue" after this method: it would follow our final answer, so close.
        expects = self.headers.get("Expect") == "100-continue"
        if chunked or expects or self._declared_length() > SKIP_BODY_BYTES:
            self._refuse(reply)
        else:
            self._write_whole(reply)

    def _refuse(self, reply: Reply) -> None:
        self.body = None
        self.request.refuse(RefusalError(reply, self.method, self.target, self._log_line))

    def _too_large(self) -> Reply:
        shown = _size(self.server.limits.max_body_size)
        return error_reply(413, f"Request body is larger than {shown}.", "payload_too_large")

    def _budget_spent(self) -> Reply:
        total = _size(self.server.limits.max_total_body_size)
        reply = error_reply(
            503,
            f"The sandbox is receiving other large request bodies ({total} at most at once): retry in a moment.",
            "service_unavailable",
        )
        reply.headers["Retry-After"] = "1"
        return reply

    # --- the body ---------------------------------------------------------------------------

    def data_received(self, chunk: bytes) -> None:
        if self.body is None:  # answered from the head: the body is read and dropped
            return
        size = len(chunk)
        if self.held >= self.received + size:  # within the declared Content-Length, room reserved
            self.body[self.received : self.received + size] = chunk
        elif self.received + size > self.server.limits.max_body_size:
            raise RefusedBody(RefusalError(self._too_large(), self.method, self.target, self._log_line))
        elif not self.server.budget.take(size):
            raise RefusedBody(RefusalError(self._budget_spent(), self.method, self.target, self._log_line))
        else:
            self.held += size
            self.body += chunk
        self.received += size

    def on_connection_close(self) -> None:
        """The client went away, or the request was refused, while its body was being read."""
        self.body = None
        self._release()

    def _release(self) -> None:
        if self.held:
            self.server.budget.give_back(self.held)
            self.held = 0

    # --- the answer -------------------------------------------------------------------------

    def finish(self) -> None:
        """The whole body is in: answer it, here for a small one, in a task for a large one or a ``slow`` fault."""
        if self.answered:
            self.request.finish()
            return
        self.server.working(self.connection)
        body, self.body = self.body or bytearray(), None
        if self.fault == "slow" or not fits_on_the_loop(body):  # much JSON work: in the worker thread
            self.server.spawn(self._answer_later(body))
            return
        try:
            reply = self._answer(body)
        except Exception as error:
            reply = self._crashed(error)
        finally:
            self._release()
        self._deliver(reply)

    def _deliver(self, reply: Reply | None) -> None:
        """Send ``reply``; should sending itself fail, the error is kept and the connection closed."""
        try:
            self._send_reply(reply)
        except Exception as error:
            self.server.record(error, f"the reply to {printable(self.method)[:16]} {self._safe_target()}")
            if self.request.stream is not None:
                self.request.stream.close()

    def _answer(self, body: bytearray) -> Reply | None:
        """The reply to a complete body (None: hang up without one). Thread-safe: it only reads ``self``."""
        try:
            parsed = parse_body(body)
        except RejectedRequestError as rejected:
            return rejected.reply
        return self._outcome(parsed)

    async def _answer_later(self, body: bytearray) -> None:
        large = not fits_on_the_loop(body)
        try:
            if self.fault == "slow":
                parsed = await self._run(parse_body, body, large)
                await self._pause(_delay(self.headers.get(DELAY_HEADER)))
                reply = await self._run(self._outcome, parsed, large)
            else:
                reply = await self._run(self._answer, body, large)
        except RejectedRequestError as rejected:
            reply = rejected.reply
        except Exception as error:
            reply = self._crashed(error)
        finally:
            self._release()
        self._deliver(reply)

    async def _run(self, work: Any, argument: Any, in_worker: bool) -> Any:
        return await self.server.in_worker(work, argument) if in_worker else work(argument)

    async def _pause(self, seconds: float) -> None:
        """The ``slow`` fault's pause; meanwhile the connection only waits, and may be replaced at the cap."""
        self.server.waiting(self.connection, self.server.pauses)
        await asyncio.sleep(seconds)
        self.server.working(self.connection)

    def _outcome(self, parsed: Any) -> Reply | None:
        if self.route.startswith("class_"):  # the instructor's page and the reports: never a staged failure
            return self.behaviour.roster.from_body(self.route, parsed, self.headers, self.connection.peer)
        fault = self._fault_reply()
        if fault is not None or self.fault == "drop":
            return fault
        if self.route == "agent":
            return api.agent(parsed, fail=self.fault == "failed", runs=self.behaviour.runs, owner=self.owner)
        if self.fault == "failed":
            return error_reply(500, "Internal server error.", "internal_error")
        return api.chat_completions(parsed)

    def _fault_reply(self) -> Reply | None:
        """A reply that replaces the normal one, or None to answer normally (after any pause)."""
        if self.fault is None:
            return None
        if self.fault not in FAULTS:
            return error_reply(
                400,
                f"Unknown {FAULT_HEADER} '{self.fault}'. Faults: {', '.join(FAULTS)}.",
                "invalid_request",
                FAULT_HEADER,
            )
        return status_fault_reply(self.fault)

    def _crashed(self, error: Exception) -> Reply:
        self.server.record(error, f"{printable(self.method)[:16]} {self._safe_target()}")
        self.request.close_after_reply()
        return error_reply(500, "Internal server error.", "internal_error")

    def _send_reply(self, reply: Reply | None) -> None:
        if self.request.stream is None or self.request.stream.closed():  # gone, or replaced at the cap
            return
        if reply is None:  # the "drop" fault: hang up without a word
            self._log_line("dropped", 0)
            self.request.stream.close()
        elif reply.events is not None:
            self._stream(reply)
        else:
            self._write_whole(reply)
            self.request.finish()

    def _write_whole(self, reply: Reply) -> None:
        data, size = whole_reply(
            reply, close=self.request.closes_after_reply, http10=self.http10, head_only=self.method == "HEAD"
        )
        self._log_line(reply.status, size)  # before the write, so the line exists once the client has the reply
        if not self.server.send(self.connection, data):
            # The rest is queued in the stream, and the reply's end (finish) waits for it; should the client stop
            # taking it, the server makes its connection replaceable, then hangs up (ClassServer.send).
            self.request.write(b"")

    def _stream(self, reply: Reply) -> None:
        """Server-Sent Events: one HTTP chunk each, or for HTTP/1.0 a body that ends when we close.

        The head and the first event leave together, at once; the others at the sandbox's pace (see
        :mod:`perplexity_sandbox.pacer`), or all together when there is no pause between events.
        """
        chunked = not self.http10
        if not chunked:
            self.request.close_after_reply()
        head = head_lines(reply, close=self.request.closes_after_reply, http10=self.http10)
        head += ["Cache-Control: no-cache", *(["Transfer-Encoding: chunked"] if chunked else [])]
        events = reply.events[: len(reply.events) // 2] if self.fault == "truncate_stream" else reply.events
        self.streamed = (chunked, len(events) < len(reply.events), events)
        opening = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        self.request.stream.set_nodelay(True)  # each event leaves at once, not after the client's delayed ACK
        send = functools.partial(self.server.send, self.connection)
        paced = PacedStream(self.request.stream, events, chunked, self._end_stream, send, next=0)
        pacer = self.behaviour.pacer
        if pacer is None or len(events) < 2:
            self._end_stream(opening + paced.frames(len(events)))
            return
        self.server.send(self.connection, opening + paced.frames(1))
        paced.next = 1
        pacer.add(paced)

    def _end_stream(self, final: bytes) -> None:
        """Send the last frame, then end the reply: the closing chunk, or hanging up (HTTP/1.0, truncate_stream)."""
        chunked, truncated, events = self.streamed
        sent = sum(len(event) for event in events)
        if truncated:  # hang up mid-answer: no terminal event, no closing chunk
            self._log_line("200 truncated", sent)
            stream = self.request.stream
            self.server.send(self.connection, final)
            self.request.write(b"").add_done_callback(lambda _: stream.close())  # once what is queued has left
            return
        self._log_line(200, sent)  # before the last write, so the line exists once the client has the reply
        if not self.server.send(self.connection, final + b"0\r\n\r\n" if chunked else final):
            self.request.write(b"")  # the reply's end waits for what is queued
        self.request.finish()

    # --- logging: one line per request, never the key --------------------------------------

    def _log_line(self, status: int | str, size: int) -> None:
        log_request(self.connection.peer, self.method, self.target, status, size, self.started, self.key_id)

    def _safe_target(self) -> str:
        return scrub(printable(self.target.split("?", 1)[0]))[:200]


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
    shown = scrub(printable(path))[:200]
    if not allowed:
        return error_reply(404, f"No route for {printable(method)[:16]} {shown}.", "not_found")
    reply = error_reply(
        405,
        f"Method {printable(method)[:16]} is not allowed on {shown}: use {' or '.join(allowed)}.",
        "method_not_allowed",
    )
    reply.headers["Allow"] = ", ".join(allowed)
    return reply


def _size(size: int) -> str:
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size} bytes"


def _delay(value: str | None) -> float:
    try:
        seconds = float(value) if value else DEFAULT_DELAY_SECONDS
    except ValueError:
        return DEFAULT_DELAY_SECONDS
    return min(max(seconds, 0.0), 120.0) if math.isfinite(seconds) else DEFAULT_DELAY_SECONDS
