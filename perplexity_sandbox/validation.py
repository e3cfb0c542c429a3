"""Strict request validation for the Agent API, as the real service does it.

The real ``/v1/agent`` decodes bodies like Go's ``json.Decoder`` with ``DisallowUnknownFields``:
an unknown or leftover field, top-level or nested, is HTTP 400 ``invalid request body: json:
unknown field "X"`` with ``param: "X"``. Values of the wrong type or out of range are 400
``invalid_parameter`` naming the field. Sonar-only fields (``messages``, ``max_tokens``, ...)
are unknown here, which is exactly how the real API rejects them.

Each object is described by a ``{field: check}`` table; a check raises :class:`RejectedRequestError`.

Before any of that, :func:`parse_body` reads the bytes as JSON and refuses (400) what no later step should
have to handle: nesting deeper than :data:`MAX_JSON_DEPTH`, a lone surrogate (``"\\ud800"``: valid JSON
text, but no UTF-8 can carry it), and ``NaN``/``Infinity`` or a number too big for a float (Python reads
them, but echoed back they would make the reply invalid JSON).

How much work a body is, :func:`json_work`, is counted on its bytes before any of that: it decides whether the body
is answered on the event loop or in the worker thread (``perplexity_sandbox.wire_request``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from perplexity_sandbox.replies import RejectedRequestError, reject

Check = Callable[[Any, str], None]

AGENT_MODELS = ("perplexity/sonar", "openai/gpt-5.5", "anthropic/claude-sonnet-4-6")


@dataclass(frozen=True)
class Preset:
    """What a preset bundles, as far as the sandbox's answers go: the model it runs and its default limits."""

    model: str
    max_output_tokens: int
    max_steps: int


# The documented presets (docs.perplexity.ai/docs/agent-api/presets): each bundles a model, limits, web search and
# tools, and the docs list no extra required field for any preset. Their models change without
# notice ("check response.model"), so the sandbox serves each from its own catalogue, cheapest to richest. Limits:
# the docs' preset table (docs/grounded-llm/responses/presets) gives Max Tokens 8K for each preset and Max Steps
# 1 / 3 / 10 for fast-search / pro-search / deep-research; none is published for high or xhigh, which keep 10.
PRESETS: dict[str, Preset] = {
    "fast": Preset("perplexity/sonar", 8192, 1),
    "low": Preset("perplexity/sonar", 8192, 3),
    "medium": Preset("openai/gpt-5.5", 8192, 10),
    "high": Preset("openai/gpt-5.5", 8192, 10),
    "xhigh": Preset("anthropic/claude-sonnet-4-6", 8192, 10),
}
# The presets' previous names, still accepted (perplexityai/api-platform-developers, models-and-presets.md).
PRESET_ALIASES = {
    "fast-search": "fast",
    "pro-search": "low",
    "deep-research": "medium",
    "advanced-deep-research": "high",
}
MAX_FALLBACK_MODELS = 5
MAX_DOMAIN_FILTERS = 20
MIN_OUTPUT_TOKENS = 16  # the real API floors max_output_tokens to 16
INVALID_MODEL = (
    "Invalid model '{}'. Permitted models can be found in the documentation "
    "at https://docs.perplexity.ai/guides/model-cards."
)
_DATE = re.compile(r"^(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/\d{4}$")  # MM/DD/YYYY
MAX_JSON_DEPTH = 64  # arrays and objects inside one another; a real request (JSON schemas too) stays far below
_SURROGATE = re.compile("[\ud800-\udfff]")  # after json.loads, only a lone one is left: a pair is one character
# The JSON work answered on the event loop at most: about 1.5 ms of parsing, validating and answering on the
# project's 2-core machine (dev/benchmarks/sandbox_bench.py), which every other client waits for. Measured per value
# (an array item, a member, a scalar) and per BYTES_PER_VALUE bytes of text, which cost about as much as one value.
LOOP_JSON_WORK = 1_000
BYTES_PER_VALUE = 100


# --- how much work a body is --------------------------------------------------------------


def json_work(raw: bytes | bytearray) -> int:
    """An upper bound on the work of parsing, checking and answering ``raw``, in values (see LOOP_JSON_WORK).

    Counted on the bytes, before parsing, since parsing is the work to be placed: every value after the first in
    an array or object follows a comma, and every array or object (so every level of nesting) opens with a
    bracket, so commas and opening brackets bound the values; text adds one per BYTES_PER_VALUE bytes. A comma
    inside a string counts too: an over-count only sends a body to the worker thread.
    """
    by_size = len(raw) // BYTES_PER_VALUE
    if by_size > LOOP_JSON_WORK:  # the worker's anyway: no need to count
        return by_size
    return by_size + raw.count(b",") + raw.count(b"[") + raw.count(b"{")


def fits_on_the_loop(raw: bytes | bytearray) -> bool:
    """Whether ``raw`` is little enough work to answer on the event loop (else: in the worker thread)."""
    return json_work(raw) <= LOOP_JSON_WORK


# --- the body as JSON ---------------------------------------------------------------------


def parse_body(raw: bytes) -> Any:
    """The body as JSON (an empty body is ``null``); raise :class:`RejectedRequestError` (400) for anything else.

    Checked once, here, so that validation, ids, echoed settings and SSE frames never meet a value they
    could choke on (recursion, UTF-8 encoding) and a client gets a sentence instead of a 500.
    """
    try:
        body = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:  # the parser's own limit (about 1000 levels) is reached before ours is checked
        raise _too_deep() from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise reject(400, "Request body is not valid JSON.", "invalid_request") from None
    _check_tree(body)
    return body


def _check_tree(body: Any) -> None:
    """Walk the parsed body depth first with a stack, not recursion: its depth is what is being checked.

    The stack holds one iterator per level being walked, so the walk takes memory for its depth (64 at most), not
    for the body's width: a body of a million small objects does not become a million pending entries. Only
    non-ASCII strings and floats can be at fault, so other values are passed over at the cost of a type test.
    """
    levels: list[Iterator[Any]] = [iter((body,))]
    while levels:
        for item in levels[-1]:  # an iterator: coming back to this level carries on where it left off
            kind = type(item)
            if kind is dict or kind is list:
                if len(levels) > MAX_JSON_DEPTH:  # the body is level 1
                    raise _too_deep()
                if item:
                    levels.append(iter(item) if kind is list else chain(item, item.values()))
                    break  # down a level
            elif (kind is str and not item.isascii()) or kind is float:
                _check_scalar(item)
        else:
            levels.pop()  # this level is done


def _check_scalar(value: Any) -> None:
    """Refuse a string UTF-8 cannot encode, or a float that would be echoed as the non-JSON ``Infinity``."""
    if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        raise reject(400, "The request body holds an invalid Unicode escape (a lone surrogate).", "invalid_request")
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 is read as inf
        raise reject(400, "The request body holds a number too large for a 64-bit float.", "invalid_request")


def _no_constant(name: str) -> None:
    """``parse_constant`` hook: Python's parser reads ``NaN`` and ``Infinity``, JSON (and the real API) does not."""
    raise reject(400, f"Request body is not valid JSON: {name} is not a JSON number.", "invalid_request")


def _too_deep() -> RejectedRequestError:
    return reject(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", "invalid_request")


# --- checks (public first: the API's request shape) ----------------------------------------


@dataclass(frozen=True)
class AgentRequest:
    """The parts of a valid Agent API request that shape the answer and the run's life."""

    question: str
    instructions: str | None
    model: str
    search: bool
    max_output_tokens: int | None
    max_steps: int | None = None
    store: bool = True  # omitted means stored, as in the OpenAI Responses API
    background: bool = False
    stream: bool = False


def validate_agent(body: Any) -> AgentRequest:
    """Check ``body`` field by field; raise :class:`RejectedRequestError` on the first problem."""
    if not isinstance(body, dict):
        raise reject(400, "invalid request body: expected a JSON object", "invalid_request")
    _check_object(body, AGENT_FIELDS)
    if body.get("input") is None:
        raise _invalid("input", "is required: a question string or a list of {role, content} items")
    model, preset = _engine(body)
    limit = body.get("max_output_tokens")
    if limit is None and preset is not None:
        limit = preset.max_output_tokens  # request over preset: the preset's default only fills a gap
    if model.startswith("anthropic/") and limit is None:
        raise _invalid("max_output_tokens", f"is required for {model}")  # only reached when the learner named it
    store = body.get("store") is not False  # omitted (or null) means stored
    background, stream = body.get("background") is True, body.get("stream") is True
    _check_background(background, store, stream)
    tools = body.get("tools") or []
    return AgentRequest(
        question=_question(body["input"]),
        instructions=body.get("instructions"),
        model=model,
        # A preset bundles web search, and its tools cannot be switched off with ``tools: []``.
        search=preset is not None or any(tool["type"] == "web_search" for tool in tools),
        max_output_tokens=max(MIN_OUTPUT_TOKENS, limit) if limit is not None else None,
        max_steps=body.get("max_steps") or (preset.max_steps if preset else None),
        store=store,
        background=background,
        stream=stream,
    )


def _check_background(background: bool, store: bool, stream: bool) -> None:
    """A background run is read by polling its stored copy, so it needs ``store`` and is not streamed.

    OpenAI's Responses API refuses ``background`` with ``store: false`` for the same reason; Perplexity documents
    background runs only with ``stream: false`` and the sandbox cannot resume a stream, so it refuses that pair too.
    """
    if background and not store:
        raise _invalid(
            "background",
            "needs store: a background run is read by polling GET /v1/agent/{id}, and store: false makes it "
            "unretrievable; omit store (or set it to true)",
        )
    if background and stream:
        raise _invalid(
            "background",
            "cannot be combined with stream: true; either stream the answer without background, "
            "or start a background run and poll GET /v1/agent/{id} until its status is final",
        )


def _invalid(param: str, problem: str) -> RejectedRequestError:
    return reject(400, f"invalid request body: {param} {problem}", "invalid_parameter", param)


def _check_object(value: Any, fields: dict[str, Check], param: str = "body", required: Iterable[str] = ()) -> None:
    if not isinstance(value, dict):
        raise _invalid(param, "must be a JSON object")
    for name, item in value.items():
        if name not in fields:
            raise reject(400, f'invalid request body: json: unknown field "{name}"', "invalid_request", name)
        if item is not None:  # null means "not set", as with Go's pointer fields
            fields[name](item, name)
    for name in required:  # ... so a required field that is null is as missing as an absent one
        if value.get(name) is None:
            raise _invalid(name, "is required")


def _obj(fields: dict[str, Check], required: Iterable[str] = ()) -> Check:
    needed = tuple(required)
    return lambda value, param: _check_object(value, fields, param, needed)


def _string(value: Any, param: str) -> None:
    if not isinstance(value, str):
        raise _invalid(param, "must be a string")


def _boolean(value: Any, param: str) -> None:
    if not isinstance(value, bool):
        raise _invalid(param, "must be true or false")


def _anything(value: Any, param: str) -> None:
    """Accepted and ignored: the sandbox has no behaviour for it."""


def _number(low: float, high: float) -> Check:
    def check(value: Any, param: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise _invalid(param, f"must be a number from {low:g} to {high:g}")

    return check


def _integer(low: int, high: int | None = None) -> Check:
    def check(value: Any, param: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bounds = f"from {low} to {high}" if high else f"of at least {low}"
            raise _invalid(param, f"must be a whole number {bounds}")

    return check


def _one_of(values: Iterable[str]) -> Check:
    allowed = tuple(values)

    def check(value: Any, param: str) -> None:
        if value not in allowed:
            raise _invalid(param, f"must be one of: {', '.join(allowed)}")

    return check


def _list_of(item: Check, most: int | None = None, least: int = 0) -> Check:
    def check(value: Any, param: str) -> None:
        if not isinstance(value, list) or len(value) < least or (most is not None and len(value) > most):
            size = f" of {least} to {most} items" if most else ""
            raise _invalid(param, f"must be a list{size}")
        for element in value:
            item(element, param)

    return check


def _date(value: Any, param: str) -> None:
    if not isinstance(value, str) or not _DATE.match(value):
        raise _invalid(param, "must be a date written MM/DD/YYYY")


def _domain(value: Any, param: str) -> None:
    if not isinstance(value, str) or not value.strip("-") or "://" in value or " " in value:
        raise _invalid(param, "must list domains without a scheme, such as 'nasa.gov' (or '-nasa.gov' to exclude)")


# --- the Agent API's schema ---------------------------------------------------------------

_PART_FIELDS: dict[str, Check] = {
    "type": _one_of(("input_text", "input_image", "input_file")),
    "text": _string,
    "image_url": _string,
    "file_url": _string,
    "file_data": _string,
    "filename": _string,
}


def _content_part(value: Any, param: str) -> None:
    """A part needs its ``type``, and a text part its ``text`` (the question is read from it)."""
    text_part = isinstance(value, dict) and value.get("type") == "input_text"
    _check_object(value, _PART_FIELDS, param, ("type", "text") if text_part else ("type",))


def _content(value: Any, param: str) -> None:
    if not isinstance(value, str):
        _list_of(_content_part, least=1)(value, param)


_INPUT_ITEM = _obj(
    {"role": _one_of(("user", "assistant", "system", "developer")), "content": _content, "type": _one_of(("message",))},
    required=("role", "content"),
)


def _input(value: Any, param: str) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise _invalid(param, "must not be empty: ask a question")
        return
    _list_of(_INPUT_ITEM, least=1)(value, param)


_FILTERS = _obj(
    {
        "search_domain_filter": _list_of(_domain, most=MAX_DOMAIN_FILTERS),
        "search_recency_filter": _one_of(("hour", "day", "week", "month", "year")),
        "search_after_date_filter": _date,
        "search_before_date_filter": _date,
        "last_updated_after_filter": _date,
        "last_updated_before_filter": _date,
    }
)
_LOCATION = _obj(
    {
        "city": _string,
        "country": _string,
        "region": _string,
        "latitude": _number(-90, 90),
        "longitude": _number(-180, 180),
    }
)
_TOOLS = {
    "web_search": {
        "type": _string,
        "filters": _FILTERS,
        "search_context_size": _one_of(("low", "medium", "high")),
        "max_results": _integer(1, 50),
        "max_tokens": _integer(1),
        "max_tokens_per_page": _integer(1),
        "search_type": _one_of(("web", "fast")),
        "user_location": _LOCATION,
    },
    "fetch_url": {"type": _string, "max_urls": _integer(1, 50)},
}


def _tool(value: Any, param: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or value["type"] not in _TOOLS:
        kinds = " or ".join(_TOOLS)
        raise _invalid(param, f'items must be tools of type {kinds}, such as {{"type": "web_search"}}')
    _check_object(value, _TOOLS[value["type"]], param)


AGENT_FIELDS: dict[str, Check] = {
    "input": _input,
    "instructions": _string,
    "model": _string,
    "models": _list_of(_string, MAX_FALLBACK_MODELS, 1),
    "preset": _string,
    "effort": _string,
    "tools": _list_of(_tool),
    "max_output_tokens": _integer(1),
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "stream": _boolean,
    "store": _boolean,
    "background": _boolean,
    "max_steps": _integer(1, 100),
    "reasoning": _obj({"effort": _one_of(("none", "minimal", "low", "medium", "high", "xhigh"))}),
    "response_format": _obj(
        {"type": _one_of(("text", "json_schema", "regex")), "json_schema": _anything, "regex": _anything}
    ),
    "language_preference": _string,
    "previous_response_id": _string,
    "prompt_cache_key": _string,
    "service_tier": _one_of(("auto", "default", "flex", "priority", "fast")),
    "tool_choice": _anything,
    "step_budget_reminder": _boolean,
    "skills": _anything,
    "profile": _anything,
}


def _engine(body: dict) -> tuple[str, Preset | None]:
    """The model that answers, and the preset asked for (if any).

    A model named in the request (``models`` first, then ``model``) overrides the preset's, as every request field
    overrides the preset's value for it; otherwise the preset's model answers.
    """
    preset = _preset(body)
    models = body.get("models") or ([body["model"]] if body.get("model") is not None else [])
    if not models:
        if preset is not None:
            return preset.model, preset
        raise reject(
            400, "invalid request body: one of model, models or preset is required", "invalid_request", "model"
        )
    for model in models:
        if model not in AGENT_MODELS:
            raise reject(400, INVALID_MODEL.format(model), "invalid_model", "model")
    return models[0], preset


def _preset(body: dict) -> Preset | None:
    """``effort`` (the newer name of ``preset``) wins over ``preset``, as in the SDK; older names are accepted."""
    for name in ("effort", "preset"):
        if body.get(name) is not None:
            chosen = PRESET_ALIASES.get(body[name], body[name])
            if chosen not in PRESETS:
                raise _invalid(name, f"must be one of: {', '.join(PRESETS)}")
            return PRESETS[chosen]
    return None


def _question(value: str | list[dict]) -> str:
    """The question the answer is about: the text, or the last user item's text."""
    if isinstance(value, str):
        return value
    for item in reversed(value):
        if item["role"] == "user":
            content = item["content"]
            if isinstance(content, str):
                return content
            return " ".join(part.get("text") or "" for part in content)
    raise _invalid("input", "needs at least one item with role 'user'")
