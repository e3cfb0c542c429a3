"""The request playground of notebook 02: edit a request, see it as curl or JSON, send it, read the answer.

The widget is a thin layer over plain functions, one per action, that a notebook cell or a test
can call directly: :func:`model_choices` (the model list), :func:`request_from_values` (editor values
to a request), :func:`request_as_curl` / :func:`request_as_json` (the exact request, key masked),
:func:`estimate_cost` (before sending), :func:`send_request` (streams the answer; never raises)
and :func:`history_entry` (the session's history). A failure shows one sentence, with the
expert details behind a toggle; the editor's values are never touched by a send.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from html import escape

import ipywidgets as widgets

from helpers import display, events, responses
from helpers.client import (
    GUIDE_MODEL,
    GUIDE_QUESTION,
    GUIDE_SYSTEM,
    SEARCH_RECENCY,
    PerplexityClient,
    agent_body,
    chat_body,
    connect,
    guide_messages,
)
from helpers.errors import InvalidRequestError, PerplexityError, describe_failure
from helpers.exports import curl_command
from helpers.keys import KEY_VARIABLE, redact
from helpers.progress import FAULT_HEADER

# The sandbox's fault switches, part of its documented HTTP interface (docs/sandbox.md, "Faults"):
# written in helpers, not imported, because the playground reaches the sandbox over HTTP only.
DELAY_HEADER = "X-Sandbox-Delay"
# The variable a curl command for the sandbox reads: never PERPLEXITY_API_KEY, which may hold your own key.
SANDBOX_KEY_VARIABLE = "PERPLEXITY_SANDBOX_KEY"

DEFAULT_MAX_OUTPUT_TOKENS = 512
MAX_DOMAINS = 20
HISTORY_LENGTH = 5
SEARCH_RESULT_TOKENS = 2000  # a rough size of the search results added to the input
# Failures the sandbox can stage on request: label -> (headers, client option changes).
SIMULATIONS: dict[str, tuple[dict[str, str], dict]] = {
    "no failure": ({}, {}),
    "rate limit (HTTP 429)": ({FAULT_HEADER: "rate_limit"}, {}),
    "service error (HTTP 500)": ({FAULT_HEADER: "server_error"}, {}),
    "service unavailable (HTTP 503)": ({FAULT_HEADER: "unavailable"}, {}),
    "timeout (no answer in 1 s)": ({FAULT_HEADER: "slow", DELAY_HEADER: "3"}, {"timeout": (5.0, 1.0)}),
    "dropped connection": ({FAULT_HEADER: "drop"}, {}),
    "answer cut mid-stream": ({FAULT_HEADER: "truncate_stream"}, {}),
    "failed run (HTTP 200, status failed)": ({FAULT_HEADER: "failed"}, {}),
}
# The playground, top to bottom, by attribute name; names joined by "+" sit side by side.
LAYOUT = (
    "model+max_output_tokens models_note instructions question web_search+recency domains extra_fields check "
    "view request_view estimate send_button+background+simulate status details answer history_view"
)


# --- the request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: a model or a preset, and the endpoint it goes to."""

    label: str
    endpoint: str  # "agent" (POST /v1/agent) or "legacy" (POST /chat/completions)
    model: str | None = None
    preset: str | None = None


@dataclass(frozen=True)
class EditorValues:
    """Everything the learner can edit; the defaults are the guide's request on today's API."""

    choice: ModelChoice
    instructions: str = GUIDE_SYSTEM
    question: str = GUIDE_QUESTION
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    web_search: bool = True
    recency: str = ""  # "" means any time
    domains: str = ""  # comma-separated, e.g. "nasa.gov, esa.int"
    extra_fields: str = ""  # a JSON object merged into the body, e.g. {"temperature": 0.2}


@dataclass(frozen=True)
class ApiRequest:
    """A request ready to send: the endpoint and the keyword arguments of the client's stream method."""

    endpoint: str
    arguments: dict = field(default_factory=dict)
    label: str = ""

    @property
    def path(self) -> str:
        return "/chat/completions" if self.endpoint == "legacy" else "/v1/agent"

    @property
    def body(self) -> dict:
        """The exact JSON body the client sends (built by the same functions)."""
        return (chat_body if self.endpoint == "legacy" else agent_body)(stream=True, **self.arguments)


def model_choices(client: PerplexityClient) -> tuple[list[ModelChoice], str]:
    """The model menu and a sentence on where its list came from (the server, else the built-in list).

    The guide's ``mistral-7b-instruct`` on the legacy endpoint stays in the menu on purpose:
    choosing it shows what the guide's request gets today.
    """
    models, source = client.available_models()
    choices = [ModelChoice(name, "agent", model=name) for name in models]
    choices += [ModelChoice(f"preset: {name}", "agent", preset=name) for name in responses.AGENT_PRESETS]
    choices += [
        ModelChoice(f"{GUIDE_MODEL} on /chat/completions (the guide, 2024)", "legacy", model=GUIDE_MODEL),
        ModelChoice("sonar on /chat/completions (support ended 2026-09-27)", "legacy", model="sonar"),
    ]
    return choices, f"Models {source}."


def default_choice(choices: list[ModelChoice]) -> ModelChoice:
    """Today's model for the guide's request, when on the list."""
    return next((c for c in choices if c.model == responses.CURRENT_MODEL), choices[0])


def request_from_values(values: EditorValues) -> ApiRequest:
    """Turn the editor's values into a request; raise :class:`InvalidRequestError` for what cannot be sent."""
    if not values.question.strip():
        raise InvalidRequestError("The question is empty. Type a question, then send.", param="input")
    choice, domains, recency = values.choice, parse_domains(values.domains) or None, values.recency or None
    if choice.endpoint == "legacy":  # Sonar models always search; the filters were top-level fields
        arguments = {
            "messages": guide_messages(values.question, values.instructions),
            "model": choice.model,
            "max_tokens": values.max_output_tokens,
            "search_recency_filter": recency,
            "search_domain_filter": domains,
        }
    else:
        arguments = {
            "input": values.question,
            "model": choice.model,
            "preset": choice.preset,
            "instructions": values.instructions.strip() or None,
            "web_search": values.web_search,
            "search_recency": recency,
            "search_domains": domains,
            "max_output_tokens": values.max_output_tokens,
        }
    arguments.update(parse_extra_fields(values.extra_fields))
    return ApiRequest(choice.endpoint, arguments, choice.model or f"preset {choice.preset}")


def parse_domains(text: str) -> list[str]:
    """``"https://nasa.gov/, -example.com"`` -> ``["nasa.gov", "-example.com"]`` (the API wants no scheme)."""
    domains = []
    for raw in filter(str.strip, text.replace("\n", ",").split(",")):
        domain = raw.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        if domain and (" " in domain or "/" in domain or "." not in domain):
            problem = f"'{raw.strip()}' is not a domain. Write domains like nasa.gov, separated by commas."
            raise InvalidRequestError(problem, param="search_domain_filter")
        domains += [domain.lower()] if domain else []
    if len(domains) > MAX_DOMAINS:
        problem = f"You listed {len(domains)} domains, but the API accepts at most {MAX_DOMAINS}. Remove some."
        raise InvalidRequestError(problem, param="search_domain_filter")
    return domains


def parse_extra_fields(text: str) -> dict:
    """The optional extra fields: a JSON object such as ``{"temperature": 0.2}``."""
    example = 'such as {"temperature": 0.2}'
    try:
        extra = json.loads(text) if text.strip() else {}
    except ValueError as error:
        problem = f"The extra fields are not valid JSON ({error.msg}, column {error.colno}). Write an object {example}."
        raise InvalidRequestError(problem, param="extra fields") from None
    if not isinstance(extra, dict):
        raise InvalidRequestError(f"The extra fields must be a JSON object, {example}.", param="extra fields")
    if "stream" in extra:
        problem = "The playground always streams: remove 'stream' from the extra fields."
        raise InvalidRequestError(problem, param="stream")
    return extra


# --- showing the request --------------------------------------------------------------------


def request_as_curl(request: ApiRequest, client: PerplexityClient) -> str:
    """The request as a curl command; the key is read from the environment, and shown only masked.

    Against a sandbox the command reads another variable than ``PERPLEXITY_API_KEY``: a shell that
    holds the learner's own key must not send it to a sandbox when the command is pasted there.
    """
    if client.mode == "sandbox":
        variable = SANDBOX_KEY_VARIABLE
        first = f"The sandbox takes its demo key, never yours (docs/sandbox.md): export {variable}=..."
    else:
        variable = KEY_VARIABLE
        first = f"First put your key ({client.masked_key}) in the shell: export {variable}=..."
    headers = {"Authorization": f"Bearer ${variable}", "Content-Type": "application/json"}
    body = json.dumps(request.body, indent=2, ensure_ascii=False)
    comments = [first, "--no-buffer prints the answer as it streams."]
    url = client.base_url + request.path
    return curl_command("POST", url, headers, body, variable=f"${variable}", options=["--no-buffer"], comments=comments)


def request_as_json(request: ApiRequest, client: PerplexityClient) -> str:
    """The request as method, URL, headers (key masked) and body."""
    headers = {"Authorization": f"Bearer {client.masked_key}", "Content-Type": "application/json"}
    shown = {"method": "POST", "url": client.base_url + request.path, "headers": headers, "body": request.body}
    return redact(json.dumps(shown, indent=2, ensure_ascii=False))


# --- cost, before and after -----------------------------------------------------------------


def _cost_basis(request: ApiRequest) -> dict:
    """What the most a request can cost depends on: its model, its input with the searches, a full answer.

    The keyword arguments of :func:`helpers.responses.price_of`, where the dated prices live.
    """
    arguments, legacy = request.arguments, request.endpoint == "legacy"
    searches = 1 if legacy or arguments.get("web_search") else 0
    if legacy:
        prompt = " ".join(m["content"] for m in arguments["messages"])
    else:
        prompt = (arguments.get("instructions") or "") + arguments["input"]
    return {
        "model": arguments.get("model"),
        "input_tokens": max(1, len(prompt) // 4) + searches * SEARCH_RESULT_TOKENS,
        "output_tokens": arguments.get("max_tokens" if legacy else "max_output_tokens") or DEFAULT_MAX_OUTPUT_TOKENS,
        "searches": searches,
        "legacy": legacy,
    }


def estimate_cost(request: ApiRequest) -> float | None:
    """What the request can cost at most (USD), or None when no price is on file for its model (or preset)."""
    return responses.price_of(**_cost_basis(request))


def estimate_sentence(request: ApiRequest, mode: str) -> str:
    """What the learner reads before sending: an estimate with a real key; in the sandbox, what its prices mean."""
    if mode == "sandbox":
        # The sandbox reports a cost with each answer (as the API does): say what that number is.
        return "Sandbox mode: nothing is charged, and a cost shown is what the request would cost live."
    at_most, basis = estimate_cost(request), _cost_basis(request)
    if at_most is None:
        return f"No price on file for {request.label}: see Perplexity's pricing page before sending."
    searched = f", {basis['searches']} web search" if basis["searches"] else ""
    return (
        f"Estimated cost: at most ${at_most:.5f} (about {basis['input_tokens']:,} tokens in, at most "
        f"{basis['output_tokens']:,} out{searched}), at {basis['model']} prices of {responses.PRICES_AS_OF}."
    )


# --- sending --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a send went: the answer, or one sentence for the learner plus the expert's detail."""

    answer: responses.APIResponse | None = None
    message: str = ""
    detail: str = ""
    summary: str = ""  # a few words, for the history
    partial_text: str = ""

    @property
    def ok(self) -> bool:
        return self.answer is not None


def send_request(
    client: PerplexityClient,
    request: ApiRequest,
    on_delta: Callable[[str], None] | None = None,
    *,
    background: bool = False,
    on_status: Callable[[str], None] | None = None,
) -> Outcome:
    """Send with streaming, calling ``on_delta`` as text arrives. Never raises: failures become an Outcome.

    ``background=True`` (Agent API only) starts a background run instead, then polls it until it
    finishes, calling ``on_status`` with each new status (``queued``, ``in_progress``, ...).
    """
    try:
        if request.endpoint == "legacy":
            return Outcome(client.stream_chat_completion(on_delta=on_delta, **request.arguments))
        if background:
            started = client.create_response(background=True, **request.arguments)
            return Outcome(client.wait_for_response(started.id, poll_every=0.2, on_status=on_status))
        return Outcome(client.stream_answer(on_delta=on_delta, **request.arguments))
    except Exception as error:  # any failure, ours or not, becomes a sentence (never a traceback)
        message, detail = describe_failure(error)
        summary, partial_text = getattr(error, "summary", "unexpected error"), getattr(error, "partial_text", "")
        return Outcome(None, client.redact(message), client.redact(detail), summary, partial_text)


def history_entry(number: int, request: ApiRequest, question: str, outcome: Outcome) -> display.HistoryEntry:
    """One row of the session's history."""
    if not outcome.ok:
        return display.HistoryEntry(number, request.label, question, f"\u26a0\ufe0f {outcome.summary}")
    answer = outcome.answer
    status, tokens = getattr(answer, "status", "") or "completed", answer.usage.get("total_tokens")
    return display.HistoryEntry(number, answer.model or request.label, question, status, tokens, answer.total_cost)


def final_markdown(outcome: Outcome, mode: str = "live") -> str:
    """The answer with its numbered sources and its usage, or the text that arrived before a failure."""
    if outcome.ok:
        return display.answer_markdown(outcome.answer) + "\n\n" + display.usage_markdown(outcome.answer, mode)
    return outcome.partial_text + "\n\n*(The answer stopped here.)*" if outcome.partial_text else ""


# --- the widget -----------------------------------------------------------------------------


class Playground:
    """The editor, the request view, the answer and the history, wired to the plain functions above.

    ``widget`` is the box to display (displaying the Playground shows it). Every editor is an
    attribute (``question``, ``model``, ...), so a test can set ``.value`` and ``send_button.click()``.
    """

    def __init__(self, client: PerplexityClient) -> None:
        self.client = client
        self.history: list[display.HistoryEntry] = []
        self._sent = 0
        choices, models_note = model_choices(client)
        self._build_editor(choices)
        self._build_views(models_note)
        # The editors by the EditorValues field each gives (the Model menu gives the choice), from its defaults.
        self.editors = {f.name: getattr(self, "model" if f.name == "choice" else f.name) for f in fields(EditorValues)}
        for name, value in vars(EditorValues(default_choice(choices))).items():
            self.editors[name].value = value
        rows = [[getattr(self, name) for name in row.split("+")] for row in LAYOUT.split()]
        self.widget = widgets.VBox([row[0] if len(row) == 1 else widgets.HBox(row) for row in rows])
        for editor in [*self.editors.values(), self.view]:
            editor.observe(self._refresh, names="value")
        self.send_button.on_click(lambda _: self.send())
        self._refresh()

    def __repr__(self) -> str:
        choice = self.values().choice
        return f"Playground(model={choice.label!r}, endpoint={choice.endpoint!r}, mode={self.client.mode!r})"

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        # The widget's view, with a short text/plain (which nbval compares) instead of every child's repr.
        return {**self.widget._repr_mimebundle_(**kwargs), "text/plain": repr(self)}

    # --- building ---

    def _build_editor(self, choices: list[ModelChoice]) -> None:
        wide = widgets.Layout(width="95%")
        self.model = fit_choices(widgets.Dropdown(options=[(c.label, c) for c in choices], description="Model"))
        self.max_output_tokens = widgets.BoundedIntText(min=16, max=8192, description="Max tokens")
        self.instructions = widgets.Textarea(description="Instructions", rows=2, layout=wide)
        self.question = widgets.Textarea(description="Question", rows=3, layout=wide)
        self.web_search = widgets.Checkbox(description="Web search", indent=False)
        recency = [("any time", ""), *((f"past {r}", r) for r in SEARCH_RECENCY)]
        self.recency = widgets.Dropdown(options=recency, description="Recency")
        hint = "nasa.gov, esa.int (at most 20; -example.com excludes one)"
        self.domains = widgets.Text(description="Domains", layout=wide, placeholder=hint)
        self.extra_fields = widgets.Text(description="Extra JSON", layout=wide, placeholder='{"temperature": 0.2}')

    def _build_views(self, models_note: str) -> None:
        shown = widgets.Layout(display=None if self.client.mode == "sandbox" else "none")  # only the sandbox stages
        self.simulate = fit_choices(widgets.Dropdown(options=list(SIMULATIONS), description="Simulate", layout=shown))
        # A background run (Agent API): Send starts it, then polls until it finishes.
        self.background = widgets.Checkbox(description="Background run", indent=False)
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.view = widgets.ToggleButtons(options=["hide request", "curl", "JSON"])
        self.models_note = widgets.HTML(f"<small>{escape(models_note)}</small>")
        self.check, self.request_view, self.estimate, self.status, self.detail = (widgets.HTML() for _ in range(5))
        hidden, title = widgets.Layout(display="none"), ("Details (for experts)",)
        self.details = widgets.Accordion([self.detail], titles=title, selected_index=None, layout=hidden)
        self.answer, self.history_view = widgets.Output(), widgets.Output()

    # --- actions ---

    def values(self) -> EditorValues:
        """The editor's current values."""
        return EditorValues(**{name: editor.value for name, editor in self.editors.items()})

    def request(self) -> ApiRequest:
        """The request the editor describes now; raises InvalidRequestError with one sentence if it cannot."""
        return request_from_values(self.values())

    def as_curl(self) -> str:
        """What the **curl** view shows: the request as a curl command, the key masked."""
        return request_as_curl(self.request(), self.client)

    def cost_estimate(self) -> str:
        """What the playground says before Send: the most a request can cost (live mode only)."""
        return estimate_sentence(self.request(), self.client.mode)

    def send(self) -> Outcome | None:
        """What the Send button does; returns the outcome, or None when the request could not be built."""
        values = self.values()
        try:
            request = request_from_values(values)
        except InvalidRequestError as error:
            self._show_failure(str(error), error.detail)
            return None
        self._show_failure("", "")
        self.status.value = "Sending..."
        text: list[str] = []

        def on_delta(delta: str) -> None:
            text.append(delta)
            self._show_markdown(self.answer, display.partial_answer_markdown("".join(text)))

        headers, changes = SIMULATIONS[self.simulate.value]
        background = self.background.value and request.endpoint == "agent"
        self.send_button.disabled = True
        try:
            with self.client.with_options(headers=headers, on_retry=self._on_retry, **changes) as sender:
                outcome = send_request(sender, request, on_delta, background=background, on_status=self._on_status)
        finally:
            self.send_button.disabled = False
        self._show_markdown(self.answer, final_markdown(outcome, self.client.mode))
        self._show_failure(outcome.message, outcome.detail)
        self._remember(request, values.question, outcome)
        if outcome.ok:
            events.emit(events.STEP, step="answer")  # a class sandbox's page shows it (helpers.progress)
        else:  # Simulate's fault header, or the guide's retired model: what it carried says it failed on purpose
            events.emit(events.ERROR, error=outcome.message, during="answer", headers=headers, body=request.body)
        return outcome

    def _on_status(self, status: str) -> None:
        self.status.value = escape(f"Background run: {status.replace('_', ' ')}...")

    def _on_retry(self, number: int, wait: float, error: PerplexityError) -> None:
        retry = f"retry {number} of {self.client.max_retries}"
        self.status.value = escape(f"HTTP {error.status}: trying again in {wait:.1f} s ({retry})...")

    # --- showing ---

    def _refresh(self, _change: object = None) -> None:
        """Redraw the request view and the estimate after any edit."""
        try:
            request = request_from_values(self.values())
        except InvalidRequestError as error:
            self.check.value = escape(f"\u26a0\ufe0f {error}")
            self.request_view.value = self.estimate.value = ""
            return
        self.check.value = ""
        shown = {"curl": request_as_curl, "JSON": request_as_json}.get(self.view.value)
        self.request_view.value = f"<pre>{escape(shown(request, self.client))}</pre>" if shown else ""
        self.estimate.value = escape(estimate_sentence(request, self.client.mode))

    def _show_failure(self, message: str, detail: str) -> None:
        """The failure's sentence in the status line and its detail behind the toggle; empty strings clear them."""
        self.status.value = escape(f"\u26a0\ufe0f {message}") if message else ""
        self.detail.value = f"<pre>{escape(detail)}</pre>" if detail else ""
        self.details.layout.display = None if detail else "none"
        self.details.selected_index = None

    def _remember(self, request: ApiRequest, question: str, outcome: Outcome) -> None:
        self._sent += 1
        self.history = [*self.history, history_entry(self._sent, request, question, outcome)][-HISTORY_LENGTH:]
        markdown = display.history_markdown(self.history, self.client.mode)
        self._show_markdown(self.history_view, "**This session**\n\n" + markdown)

    @staticmethod
    def _show_markdown(output: widgets.Output, markdown: str) -> None:
        # Set the outputs directly: this works in a button callback and outside a kernel alike.
        data = {"text/plain": markdown, "text/markdown": markdown}
        output.outputs = ({"output_type": "display_data", "metadata": {}, "data": data},) if markdown else ()


def fit_choices(dropdown: widgets.Dropdown) -> widgets.Dropdown:
    """``dropdown``, as wide as its label and its longest choice: the default 300px cut the guide's model short.

    In ``ch`` (the width of a digit), which holds as many letters of a sans-serif font; four more for the arrow.
    """
    # Options are (label, value) pairs or plain strings, as ipywidgets takes them.
    longest = max(len(option[0] if isinstance(option, tuple) else str(option)) for option in dropdown.options)
    dropdown.layout.width = f"calc(var(--jp-widgets-inline-label-width) + {longest + 4}ch)"
    return dropdown


def playground(client: PerplexityClient | None = None) -> Playground:
    """The playground on ``client``, or on :func:`connect`'s client (live with a key, else the sandbox)."""
    return Playground(client or connect(quiet=True))
