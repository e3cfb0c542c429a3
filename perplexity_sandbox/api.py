"""The sandbox's endpoints as plain functions: request in, :class:`Reply` out, no sockets.

Shapes follow Perplexity's public API (sources in docs/sandbox.md): the Agent API (``POST /v1/agent`` and its
alias ``/v1/responses``), its stored runs (``GET /v1/agent/{id}``, ``POST /v1/agent/{id}/cancel`` and the
``/v1/responses`` aliases), the legacy Sonar ``POST /chat/completions`` the guide used, and
``GET /v1/models``. Answers are deterministic (the same request, the same answer and sources); ids are random, one per
request, and timestamps are the time.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perplexity_sandbox.answers import Answer, answer_for
from perplexity_sandbox.keys import scrub
from perplexity_sandbox.replies import RejectedRequestError, Reply, error_reply, json_bytes, reject, scrub_all
from perplexity_sandbox.runs import QUEUED, UNFINISHED, RunStore, pending_view, stored_form
from perplexity_sandbox.validation import AGENT_MODELS, INVALID_MODEL, AgentRequest, validate_agent

__all__ = ["Reply", "RunStore", "agent", "cancel_run", "chat_completions", "error_reply", "list_models", "retrieve_run"]

LEGACY_MODELS = ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")
# USD per 1M tokens (input, output), dated 2026-11; the sandbox's own figures for non-Perplexity models.
PRICES = {"perplexity/sonar": (0.25, 2.50), "openai/gpt-5.5": (1.25, 10.0), "anthropic/claude-sonnet-4-6": (3.0, 15.0)}
SEARCH_CALL_PRICE = 0.005
LEGACY_PRICES = {
    "sonar": (1.0, 1.0),
    "sonar-pro": (3.0, 15.0),
    "sonar-reasoning-pro": (2.0, 8.0),
    "sonar-deep-research": (2.0, 8.0),
}
LEGACY_REQUEST_PRICE = 0.005  # $5 per 1K requests, low search context
LEGACY_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "temperature",
    "top_p",
    "stream",
    "search_domain_filter",
    "search_recency_filter",
    "return_images",
    "return_related_questions",
    "web_search_options",
    "search_mode",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
}
# The runs of a caller that passes no store of its own (the server, until it keeps one per sandbox).
DEFAULT_RUNS = RunStore()
# The settings a response echoes, in the order a stored run keeps them when they must be cut (runs.stored_form).
ECHOED_SETTINGS = (
    "instructions",
    "tools",
    "text",
    "reasoning",
    "models",
    "effort",
    "preset",
    "previous_response_id",
    "prompt_cache_key",
    "service_tier",
)


def new_ids() -> tuple[str, str]:
    """A fresh response id and message id, ``resp_<uuid4>`` and ``msg_<uuid4>`` like the real API's: random.

    In a class every learner sends the same demo key and often the same request: the id is what tells their runs
    apart, so it must be one nobody else can guess or make again (122 random bits from ``os.urandom``, as
    ``uuid.uuid4`` takes them). Both from one call, formatted here: this is on every request's path.
    """
    digits = os.urandom(32).hex()
    return "resp_" + _uuid4_text(digits[:32]), "msg_" + _uuid4_text(digits[32:])


def _uuid4_text(digits: str) -> str:
    """32 random hex digits as a version 4, variant 1 UUID (what ``str(uuid.uuid4())`` gives)."""
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return max(1, round(len(text) / 4))


# --- GET /v1/models -----------------------------------------------------------------------


def list_models() -> Reply:
    created = 1767225600  # 2026-01-01, fixed so the list never changes
    data = [{"id": m, "object": "model", "created": created, "owned_by": m.split("/")[0]} for m in AGENT_MODELS]
    return Reply(200, {"object": "list", "data": data})


# --- POST /v1/agent -----------------------------------------------------------------------


def agent(body: Any, fail: bool = False, runs: RunStore | None = None, owner: str = "") -> Reply:
    """Answer an Agent API request (validated strictly, as the real API does).

    ``fail`` turns the run into a 200-wrapped ``status: failed`` (fault injection). Unless the request says
    ``store: false`` the run is kept in ``runs`` (:data:`DEFAULT_RUNS` if None) for :func:`retrieve_run`, for
    ``owner`` alone (a digest of the key that sent it); a ``background: true`` run answers ``queued`` at once and
    finishes later (see :mod:`perplexity_sandbox.runs`). Every request gets ids of its own, so the same body sent
    twice makes two runs.
    """
    rendered = _render_agent(body, fail)
    if isinstance(rendered, Reply):
        return rendered
    run_id, message_id = new_ids()
    request = rendered.request
    if request.store:
        stored = _with_ids(rendered.stored, run_id, message_id)
        _store(runs).add(stored, background=request.background, owner=owner, size=rendered.size)
    if request.stream:
        return Reply(200, content_type="text/event-stream", events=rendered.events_for(run_id, message_id))
    response = _with_ids(rendered.response, run_id, message_id)
    return Reply(200, pending_view(response, QUEUED) if request.background else response)


@dataclass(frozen=True)
class Rendered:
    """One answer, built once and shared by identical requests within a second; each request puts its own ids in.

    ``response`` and ``frames`` carry ``ids``, placeholders that are themselves random and never sent; ``stored``
    is what a run store keeps of the response, and ``size`` its footprint. ``frames`` is the stream's SSE events
    joined by NUL, which no frame holds (JSON escapes control characters): one replacement per id serves them all.
    """

    request: AgentRequest
    response: dict
    stored: dict
    size: int
    frames: bytes | None
    ids: tuple[str, str]  # the placeholder response and message ids

    def events_for(self, run_id: str, message_id: str) -> list[bytes]:
        """The SSE frames with this request's ids (a byte replacement: no frame is built again)."""
        run_placeholder, message_placeholder = (placeholder.encode("ascii") for placeholder in self.ids)
        frames = self.frames.replace(run_placeholder, run_id.encode("ascii"))
        return frames.replace(message_placeholder, message_id.encode("ascii")).split(b"\0")


def _with_ids(response: dict, run_id: str, message_id: str) -> dict:
    """``response`` with its own ids: a shallow copy, sharing everything else with the answer it was built from."""
    output = [{**item, "id": message_id} if item["type"] == "message" else item for item in response["output"]]
    return {**response, "id": run_id, "output": output}


# A class presses Send together, mostly with the same request: identical requests within the same
# second (``created_at`` counts seconds) share one rendered answer instead of each building it again.
# Only small requests are shared (a class's are): a large one would hold its key and its answer in memory for nothing.
_RENDERED: dict[str, Rendered] = {}
_RENDERED_SECOND = [0]
_RENDERED_LOCK = threading.Lock()
MAX_RENDERED = 256
MAX_SHARED_CHARS = 4096  # the largest request, as JSON, whose answer is shared


def _render_agent(body: Any, fail: bool) -> Reply | Rendered:
    """The validated request, the response and (for a stream) its SSE frames, or the 400 reply."""
    key = _sharing_key(body, fail)
    now = int(time.time())
    with _RENDERED_LOCK:
        if _RENDERED_SECOND[0] != now:
            _RENDERED.clear()
            _RENDERED_SECOND[0] = now
        if key is not None and key in _RENDERED:
            return _RENDERED[key]
    try:
        request = validate_agent(body)
    except RejectedRequestError as rejected:
        return rejected.reply
    ids = new_ids()
    response = _agent_response(body, request, *ids)
    if fail:
        response = failed_run(response)
    stored, size = stored_form(response, ECHOED_SETTINGS)
    frames = b"\0".join(agent_events(response)) if request.stream else None
    rendered = Rendered(request, response, stored, size, frames, ids)
    with _RENDERED_LOCK:
        if key is not None and len(_RENDERED) < MAX_RENDERED:
            _RENDERED[key] = rendered
    return rendered


def _sharing_key(body: Any, fail: bool) -> str | None:
    """The request as canonical JSON, for sharing its answer; None when it is too large to share (or not JSON)."""
    if not _at_most(body, MAX_SHARED_CHARS):
        return None
    try:
        return json.dumps([body, fail], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _at_most(value: Any, room: int) -> bool:
    """Whether ``value`` as JSON takes about ``room`` characters at most; stops counting as soon as it does not.

    On every request's path, hence ``type(...) is`` (JSON gives exactly these types) rather than ``isinstance``.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            room -= len(item) + 2
        elif kind is dict or kind is list or kind is tuple:
            room -= 2 * len(item) + 2
            if room < 0:  # before looking inside: a million items are not walked
                return False
            if kind is dict:
                room -= sum(len(name) for name in item)
                pending.extend(item.values())
            else:
                pending.extend(item)
        else:
            room -= 8
        if room < 0:
            return False
    return True


def retrieve_run(run_id: str, runs: RunStore | None = None, owner: str = "") -> Reply:
    """``GET /v1/agent/{id}`` (and ``GET /v1/responses/{id}``): the stored run as it stands now, or 404.

    A run made with another key is a 404 too, with the same sentence: a stranger learns nothing about it.
    """
    run = _store(runs).get(run_id, owner)
    return _no_such_run(run_id, _store(runs)) if run is None else Reply(200, run)


def cancel_run(run_id: str, runs: RunStore | None = None, owner: str = "") -> Reply:
    """``POST /v1/agent/{id}/cancel`` (and ``/v1/responses/{id}/cancel``): stop a queued or in_progress run.

    As documented (docs.perplexity.ai api-reference agent-cancel-post, and the SDK's ResponseCancelResponse):
    200 ``{"response_id", "status": "cancelling"}`` acknowledges it, and a later GET shows ``cancelled``; a run that
    is already final is 400; an unknown (or ``store: false``) id is 404.
    """
    before = _store(runs).cancel(run_id, owner)
    if before is None:
        return _no_such_run(run_id, _store(runs))
    if before not in UNFINISHED:
        message = f"Response '{_shown(run_id)}' is already {before}: only a queued or in_progress run can be cancelled."
        return error_reply(400, message, "invalid_request")
    return Reply(200, {"response_id": run_id, "status": "cancelling"})


def _store(runs: RunStore | None) -> RunStore:
    return DEFAULT_RUNS if runs is None else runs  # not ``runs or ...``: an empty store is falsy


def _no_such_run(run_id: str, runs: RunStore) -> Reply:
    message = (
        f"No stored response with id '{_shown(run_id)}'. Only responses created with store omitted or true can be "
        f"retrieved, with the key that created them, and the sandbox keeps its latest {runs.max_runs:,} runs at most."
    )
    return error_reply(404, message, "not_found")


def _shown(run_id: str) -> str:
    """The id as quoted in a message: printable and short (it comes from a URL; a key in it is masked later)."""
    printable = "".join(c for c in run_id if c.isprintable())
    return printable if len(printable) <= 80 else printable[:80] + "..."


def _agent_response(body: dict, request: AgentRequest, run_id: str, message_id: str) -> dict:
    answer = answer_for(request.question, with_search=request.search)
    text, status, incomplete = _maybe_truncate(answer.text, request.max_output_tokens)
    output: list[dict] = []
    if request.search:
        output.append(_search_results_item(answer))
    output.append(
        {
            "type": "message",
            "id": message_id,
            "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    )
    now = int(time.time())
    return {
        "id": run_id,
        "object": "response",
        "created_at": now,
        "completed_at": now,
        "status": status,
        "model": request.model,
        "output": output,
        "error": None,
        "incomplete_details": incomplete,
        "usage": _agent_usage(request, answer, text),
        **_echoed_settings(body, request),
    }


def _echoed_settings(body: dict, request: AgentRequest) -> dict:
    """The request's settings, echoed back with their defaults as the real response does."""
    echoed = {
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,  # a preset's default when the request sets none
        "tools": body.get("tools") or [],
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "store": request.store,
        "text": {"format": body.get("response_format") or {"type": "text"}},
        "background": request.background,
        "max_steps": request.max_steps,
        "reasoning": body.get("reasoning"),
    }
    for name in ("effort", "preset", "models", "previous_response_id", "prompt_cache_key", "service_tier"):
        if body.get(name) is not None:
            echoed[name] = body[name]
    return scrub_all(echoed)  # a key pasted into the instructions (or a tool's settings) is never echoed


def failed_run(response: dict) -> dict:
    """Turn a finished response into a 200-wrapped failed run, as the real API reports one."""
    # In a response object ``error.code`` is a string (the SDK's ErrorInfo), unlike the HTTP error envelope.
    error = {"message": "The agent run failed on the server.", "type": "internal_error", "code": "internal_error"}
    return {**response, "status": "failed", "output": [], "error": error, "usage": None}


def _maybe_truncate(text: str, limit: int | None) -> tuple[str, str, dict | None]:
    if limit is None or count_tokens(text) <= limit:
        return text, "completed", None
    return _cut(text, limit * 4), "incomplete", {"reason": "max_output_tokens"}


def _cut(text: str, size: int) -> str:
    """The first ``size`` characters, ending on a whole word and never inside a ``[web:N]`` marker."""
    cut = text[:size]
    if len(cut) < len(text) and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return re.sub(r"\[[^\]]*$", "", cut)


def _search_results_item(answer: Answer) -> dict:
    results = [
        {
            "id": i,
            "url": s.url,
            "title": s.title,
            "snippet": s.snippet,
            "date": s.date,
            "last_updated": s.last_updated,
            "source": "web",
        }
        for i, s in enumerate(answer.sources, start=1)
    ]
    return {"type": "search_results", "queries": list(answer.queries), "results": results}


def _agent_usage(request: AgentRequest, answer: Answer, text: str) -> dict:
    prompt = (request.instructions or "") + request.question
    snippets = " ".join(s.snippet for s in answer.sources) if request.search else ""
    input_tokens, output_tokens = count_tokens(prompt + snippets), count_tokens(text)
    input_price, output_price = PRICES[request.model]
    input_cost = round(input_tokens * input_price / 1e6, 5)
    output_cost = round(output_tokens * output_price / 1e6, 5)
    tool_cost = SEARCH_CALL_PRICE if request.search else 0.0
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cost": {
            "currency": "USD",
            "input_cost": input_cost,
            "output_cost": output_cost,
            "tool_calls_cost": tool_cost,
            "total_cost": round(input_cost + output_cost + tool_cost, 5),
        },
    }
    if request.search:
        usage["tool_calls_details"] = {"search_web": {"invocation": 1}}
    return usage


def sse_frame(event_type: str, data: dict) -> bytes:
    """One typed SSE event, in UTF-8 (SSE's only encoding); :func:`json_bytes` cannot fail on echoed text."""
    return b"event: %s\ndata: %s\n\n" % (event_type.encode("ascii"), json_bytes(data))


def agent_events(response: dict) -> list[bytes]:
    """The documented typed SSE events for a finished response, in order."""
    events: list[tuple[str, dict]] = []
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    events.append(("response.created", {"response": pending}))
    events.append(("response.in_progress", {"response": pending}))
    events.extend(_reasoning_events(response["output"]))
    for index, item in enumerate(response["output"]):
        events.extend(_item_events(index, item))
    terminal = "response.completed" if response["status"] == "completed" else f"response.{response['status']}"
    final = {"response": response}
    if response.get("error"):
        final["error"] = response["error"]
    events.append((terminal, final))
    return [sse_frame(kind, {"type": kind, "sequence_number": n, **data}) for n, (kind, data) in enumerate(events)]


def _reasoning_events(output: list[dict]) -> list[tuple[str, dict]]:
    """The optional ``response.reasoning.*`` events a web search produces before the answer."""
    searches = [item for item in output if item["type"] == "search_results"]
    if not searches:
        return []
    queries, results = searches[0]["queries"], searches[0]["results"]
    return [
        ("response.reasoning.started", {"thought": "Searching the web."}),
        ("response.reasoning.search_queries", {"queries": queries}),
        ("response.reasoning.search_results", {"results": results}),
        ("response.reasoning.stopped", {}),
    ]


def _item_events(index: int, item: dict) -> list[tuple[str, dict]]:
    if item["type"] != "message":
        return [
            ("response.output_item.added", {"output_index": index, "item": item}),
            ("response.output_item.done", {"output_index": index, "item": item}),
        ]
    text = item["content"][0]["text"]
    start = {**item, "status": "in_progress", "content": []}
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    events = [("response.output_item.added", {"output_index": index, "item": start})]
    events += [("response.output_text.delta", {**where, "delta": piece}) for piece in _pieces(text)]
    events.append(("response.output_text.done", {**where, "text": text}))
    events.append(("response.output_item.done", {"output_index": index, "item": item}))
    return events


def _pieces(text: str, words: int = 3) -> list[str]:
    """Deltas of a few words each, roughly as a model streams tokens."""
    tokens = re.findall(r"\s*\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [text]


# --- POST /chat/completions (legacy) ------------------------------------------------------


def chat_completions(body: Any) -> Reply:
    """Answer a legacy Sonar chat-completions request, as the guide's endpoint did."""
    try:
        model, question, max_tokens = _validate_legacy(body)
    except RejectedRequestError as rejected:
        return rejected.reply
    completion = _legacy_completion(body, model, question, max_tokens)
    if body.get("stream"):
        return Reply(200, content_type="text/event-stream", events=legacy_chunks(completion))
    return Reply(200, completion)


def _validate_legacy(body: Any) -> tuple[str, str, int | None]:
    if not isinstance(body, dict):
        raise reject(400, "Request body must be a JSON object.", "invalid_request")
    model = body.get("model")
    if model not in LEGACY_MODELS:
        raise reject(400, INVALID_MODEL.format(model), "invalid_model")
    for name in body:
        if name not in LEGACY_FIELDS:
            raise reject(400, f"Unknown field '{name}'.", "invalid_request", name)
    question = _legacy_question(body.get("messages"))
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise reject(400, "max_tokens must be a positive integer.", "invalid_parameter", "max_tokens")
    if not isinstance(body.get("stream", False), bool):
        raise reject(400, "stream must be true or false.", "invalid_parameter", "stream")
    return model, question, max_tokens


def _legacy_question(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        raise reject(400, "messages must be a non-empty list.", "invalid_message", "messages")
    if any(not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in messages):
        raise reject(400, "Each message needs a role and a string content.", "invalid_message", "messages")
    roles = [m.get("role") for m in messages]
    while roles and roles[0] == "system":
        roles.pop(0)
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
    if not roles or roles != expected or roles[-1] != "user":
        raise reject(
            400,
            "After the (optional) system message(s), user and assistant roles should be "
            "alternating, ending with a user message.",
            "invalid_message",
            "messages",
        )
    return messages[-1]["content"]


def _legacy_completion(body: dict, model: str, question: str, max_tokens: int | None) -> dict:
    answer = answer_for(question)
    text = re.sub(r"\[web:(\d+)\]", r"[\1]", answer.text)  # the legacy API cited as [1], [2]
    finish = "stop"
    if max_tokens is not None and count_tokens(text) > max_tokens:
        text, finish = _cut(text, max_tokens * 4), "length"
    prompt = " ".join(m["content"] for m in body["messages"])
    prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens(text)
    in_price, out_price = LEGACY_PRICES[model]
    in_cost, out_cost = round(prompt_tokens * in_price / 1e6, 5), round(completion_tokens * out_price / 1e6, 5)
    message = {"role": "assistant", "content": text}
    return {
        "id": str(uuid.uuid4()),
        "model": model,
        "created": int(time.time()),
        "object": "chat.completion",
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "search_context_size": "low",
            "cost": {
                "input_tokens_cost": in_cost,
                "output_tokens_cost": out_cost,
                "request_cost": LEGACY_REQUEST_PRICE,
                "total_cost": round(in_cost + out_cost + LEGACY_REQUEST_PRICE, 5),
            },
        },
        "citations": [s.url for s in answer.sources],
        "search_results": [
            {"title": s.title, "url": s.url, "date": s.date, "last_updated": s.last_updated, "snippet": s.snippet}
            for s in answer.sources
        ],
        "choices": [
            {"index": 0, "finish_reason": finish, "message": message, "delta": {"role": "assistant", "content": ""}}
        ],
    }


def legacy_chunks(completion: dict) -> list[bytes]:
    """``data: {...}`` chunks carrying the running message and the delta; cost only at the end."""
    text = completion["choices"][0]["message"]["content"]
    chunks, running = [], ""
    pieces = _pieces(text)
    for n, piece in enumerate(pieces):
        running += piece
        last = n == len(pieces) - 1
        usage = completion["usage"] if last else {k: v for k, v in completion["usage"].items() if k != "cost"}
        choice = {
            "index": 0,
            "finish_reason": completion["choices"][0]["finish_reason"] if last else None,
            "message": {"role": "assistant", "content": running},
            "delta": {"role": "assistant", "content": piece},
        }
        chunk = {**completion, "object": "chat.completion.chunk", "usage": usage, "choices": [choice]}
        chunks.append(b"data: %s\n\n" % json_bytes(chunk))
    return chunks


# --- the practice endpoint (notebook 03's exercise) ---------------------------------------------


def practice_auth(headers: Mapping[str, str]) -> Reply:
    """``GET /practice/auth``: which auth arrived, for connectors built for other APIs' styles.

    Not part of the Perplexity API: a sandbox-only endpoint for the exercise of notebook 03. It accepts
    an ``X-API-Key`` header or Basic Auth (any non-empty values) and says which; it never echoes a secret.
    """
    if (headers.get("X-API-Key") or "").strip():
        return Reply(200, {"ok": True, "auth": "X-API-Key header"})
    user = _basic_user(headers.get("Authorization") or "")
    if user:
        return Reply(200, {"ok": True, "auth": "Basic Auth", "username": scrub(user)})
    return error_reply(
        401, "Send an X-API-Key header, or Basic Auth with a user name and a password.", "authentication_error"
    )


def _basic_user(authorization: str) -> str:
    """The user name of a well-formed ``Basic`` header with a non-empty password, else ""."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        user, colon, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return ""
    return user if colon and user and password else ""
