"""``python -m helpers check-live``: does the sandbox, and so every recorded notebook, still tell the truth?

Every test of this project runs against the sandbox, so the suite stays green while the real API drifts
away from it (a model retired, a field renamed). This command sends the same four small requests to the
live API, with the configured key, and to a sandbox (the command starts one), with its demo key: the model
list, one Agent API answer, one streamed answer, and the guide's retired-model request for the error
envelope. It compares what the notebooks rely on:

- the model ids: a model the sandbox lists that the live API does not is a difference;
- the shape of each answer: a schema of each, as genson infers it; a field the sandbox sends that is
  missing live, or has another type live, is a difference. A field only the live API sends is reported but
  not failed: one live sample cannot show that a field is required;
- the error envelope: its HTTP status, ``error.type`` and ``error.code``;
- the stream: which event types arrive and in which order (runs of one type counted once), and each
  event type's shape.

Exit status: 0 (no difference that matters), 1 (differences: one line each), 2 (no key, the host cannot be
reached, the key is refused: one sentence). ``--base-url`` is read as ``PERPLEXITY_BASE_URL`` in live mode,
so the one rule of :func:`helpers.settings.check_transport` decides whether the key may go there.
``--record DIR`` writes what the live API answered, headers and bodies, through
:func:`helpers.masking.redact`, for a maintainer who refreshes the sandbox's answers from real ones.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from genson import SchemaBuilder

from helpers import errors
from helpers.client import (
    DEFAULT_TIMEOUT,
    GUIDE_MODEL,
    STREAM_READ_BYTES,
    BearerAuth,
    agent_body,
    chat_body,
    guide_messages,
    open_session,
)
from helpers.keys import check_key_characters
from helpers.masking import Secret, mask_key, redact
from helpers.responses import CURRENT_MODEL
from helpers.settings import (
    BASE_URL_VARIABLE,
    MODE_VARIABLE,
    SANDBOX_DEMO_KEY,
    Settings,
    check_transport,
    proxy_for,
    resolve_settings,
)
from helpers.sse import DONE_EVENTS, iter_sse

NO_DIFFERENCE, DIFFERENCES, CANNOT_CHECK = 0, 1, 2
# A question the live model answers by searching (the sandbox always adds its search results), in one sentence:
# the answer's shape is what is compared, never its text. The output cap leaves room for that sentence (a cut
# answer ends with response.incomplete, not response.completed) and keeps the cost under a cent.
QUESTION = "How many stars are there in our galaxy? Search the web, then answer in one sentence."
MAX_OUTPUT_TOKENS = 300
AGENT_REQUEST = agent_body(QUESTION, model=CURRENT_MODEL, web_search=True, max_output_tokens=MAX_OUTPUT_TOKENS)
# Events after which a stream has nothing more to say (the documented terminals, and a bare error).
LAST_EVENTS = (*DONE_EVENTS, "response.failed", "response.cancelled", "error")
# Headers that carry credentials: never written to a record, whatever their value looks like.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
LIVE_ONLY_LEGEND = (
    "Sent only live (reported, not failed: one live sample cannot show that a field is required; "
    "the sandbox may add them):"
)


@dataclass(frozen=True, eq=False)  # eq=False: each probe is itself (a dict key), whatever its body
class Probe:
    """One request sent to both servers. ``name`` starts each line that reports on it."""

    name: str
    method: str
    path: str
    body: dict | None = None
    stream: bool = False
    record_as: str = ""


PROBES = (
    Probe("/v1/models", "GET", "/v1/models", record_as="1-models"),
    Probe("/v1/agent", "POST", "/v1/agent", AGENT_REQUEST, record_as="2-agent"),
    Probe("stream", "POST", "/v1/agent", {**AGENT_REQUEST, "stream": True}, stream=True, record_as="3-stream"),
    Probe(
        "/chat/completions (the guide's retired model)",
        "POST",
        "/chat/completions",
        chat_body(guide_messages(), model=GUIDE_MODEL),
        record_as="4-retired-model",
    ),
)
MODELS, AGENT, STREAM, RETIRED = PROBES


class CannotCheckError(Exception):
    """Nothing can be compared (no key, no connection, a refused key, an outage): one sentence, exit status 2."""


@dataclass
class Answer:
    """What one server answered to one probe: status, headers and the body as text (a stream's SSE text)."""

    probe: Probe
    url: str
    request_headers: dict[str, str]
    status: int
    headers: dict[str, str]
    text: str
    events: list[dict] = field(default_factory=list)
    stream_problem: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").partition(";")[0].strip() or "no content type"

    @property
    def is_stream(self) -> bool:
        return self.content_type == "text/event-stream"

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def error_info(self) -> dict:
        """The documented error envelope's ``error`` object, or {} when the body has another shape."""
        body = self.json()
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, dict) else {}

    def final_response(self) -> dict:
        """The full response a finished answer carries: the body itself, or a stream's terminal event's."""
        if not self.probe.stream:
            body = self.json()
            return body if isinstance(body, dict) else {}
        response = self.events[-1].get("response") if self.events else None
        return response if isinstance(response, dict) else {}


@dataclass
class Findings:
    """Differences that matter (one line each), and what only the live API sends (reported, not failed)."""

    differences: list[str] = field(default_factory=list)
    live_only: list[str] = field(default_factory=list)

    def add(self, other: Findings) -> Findings:
        self.differences += other.differences
        self.live_only += other.live_only
        return self


# --- the command ----------------------------------------------------------------------------


def run_check_live(sandbox_url: str, base_url: str | None = None, record: Path | None = None) -> int:
    """Compare the live API with the sandbox at ``sandbox_url``; print each difference and the cost; return the
    exit status. The sandbox gets its demo key: the configured key never goes to a sandbox."""
    try:
        return _check(sandbox_url, base_url, record)
    except CannotCheckError as error:
        print(str(error), file=sys.stderr)
        return CANNOT_CHECK


def _check(sandbox_url: str, base_url: str | None, record: Path | None) -> int:
    with live_environment(base_url):
        settings = live_settings()
        key = settings.api_key
        record = prepared_record_folder(record)
        print(
            f"Comparing the live API at {settings.base_url} (key {mask_key(key)} from the {settings.key.source}) "
            "with a local sandbox: the model list, an Agent API answer, a streamed answer, the guide's retired model."
        )
        live = ask_all(settings.base_url, key)
    if record is not None:
        write_record(record, live, key)
    local = ask_all(sandbox_url, Secret(SANDBOX_DEMO_KEY))
    findings = compare(local, live)
    report(findings, live)
    return DIFFERENCES if findings.differences else NO_DIFFERENCE


@contextmanager
def live_environment(base_url: str | None) -> Iterator[None]:
    """Live mode, with ``base_url`` as ``PERPLEXITY_BASE_URL``, for as long as the check runs.

    Set in the environment, not passed around: :func:`check_transport` reads the mode and the base URL in
    force from there, so ``--base-url`` is held to exactly the rule ``PERPLEXITY_BASE_URL`` is held to.
    Without ``--base-url``, a ``PERPLEXITY_BASE_URL`` is kept only when the set-up is in live mode already:
    in sandbox mode it names a sandbox (a class's, perhaps), and switching to live mode must not make it a
    place the key goes. The check then goes to the API itself.
    """
    saved = {name: os.environ.get(name) for name in (MODE_VARIABLE, BASE_URL_VARIABLE)}
    already_live = _mode_in_force() == "live"
    os.environ[MODE_VARIABLE] = "live"
    if base_url is not None:
        os.environ[BASE_URL_VARIABLE] = base_url
    elif not already_live:
        os.environ.pop(BASE_URL_VARIABLE, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _mode_in_force() -> str:
    """The mode the set-up resolves to as it is ("" when it does not resolve: no mode is in force then)."""
    try:
        return resolve_settings().mode
    except (errors.TutorialError, OSError):
        return ""


def live_settings(needs_key: str = "check-live compares the live API with the sandbox") -> Settings:
    """The live settings (key and base URL), or one sentence saying why the check cannot run.

    ``needs_key`` says why a key is needed, in the sentence for a missing one.
    """
    try:
        return resolve_settings()
    except errors.AuthenticationError:
        raise CannotCheckError(
            f"No API key is configured, and {needs_key}: save a key with notebook 01 or set PERPLEXITY_API_KEY, "
            "then run it again."
        ) from None
    except (errors.TutorialError, OSError) as error:  # a base URL that cannot be read, an unreadable key file
        raise CannotCheckError(redact(str(error))) from None


def prepared_record_folder(folder: Path | None) -> Path | None:
    """``--record DIR``, created now: a folder that cannot be written stops the check before anything is spent."""
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise CannotCheckError(
            f"--record {folder}: that folder cannot be written ({error.strerror or error}); give another one."
        ) from None
    return folder


# --- asking ---------------------------------------------------------------------------------


def ask_all(base_url: str, key: Secret) -> dict[Probe, Answer]:
    """Each probe's answer from one server: the key goes only where :func:`check_transport` allows."""
    try:
        check_key_characters(key)
        base = check_transport(base_url, key)
        proxy = proxy_for(base.url, secret=key.reveal() != SANDBOX_DEMO_KEY)
    except errors.TutorialError as error:  # a key no header can carry, an address the key may not go to
        raise CannotCheckError(redact(str(error), [key])) from None
    with open_session(proxy) as session:
        return {probe: ask(session, base.url, key, probe) for probe in PROBES}


def ask(session: requests.Session, base_url: str, key: Secret, probe: Probe) -> Answer:
    """Send one probe; a transport failure, a refused key or an outage is one sentence (:class:`CannotCheckError`)."""
    url = base_url + probe.path
    try:
        with session.request(
            probe.method,
            url,
            json=probe.body,
            auth=BearerAuth(key),
            timeout=DEFAULT_TIMEOUT,
            allow_redirects=False,  # the key goes to this address only
            stream=True,
        ) as response:
            answer = _read(response, probe, url)
    except requests.RequestException as error:
        raise CannotCheckError(unreachable_sentence(error, key)) from None
    refusal = refusal_sentence(answer)
    if refusal:
        raise CannotCheckError(refusal)
    return answer


def _read(response: requests.Response, probe: Probe, url: str) -> Answer:
    sent = {name: value for name, value in response.request.headers.items() if name.lower() != "authorization"}
    answer = Answer(probe, url, sent, response.status_code, dict(response.headers), "")
    if not (probe.stream and answer.is_stream):
        answer.text = response.content.decode("utf-8", errors="replace")
        return answer
    received = bytearray()

    def chunks() -> Iterator[bytes]:
        for chunk in response.iter_content(chunk_size=STREAM_READ_BYTES):
            received.extend(chunk)
            yield chunk

    try:
        for event in iter_sse(chunks()):
            answer.events.append(event)
            if event.get("type") in LAST_EVENTS:
                break  # a server may keep the connection open after the last event
    except ValueError:
        answer.stream_problem = "an event is not a JSON object"
    answer.text = received.decode("utf-8", errors="replace")
    return answer


def unreachable_sentence(error: requests.RequestException, key: Secret) -> str:
    """One sentence for a server that could not be reached: what failed, and what to check."""
    sentence = errors.describe_network_failure(error)
    if sentence is None:
        return redact(f"The request could not be sent ({type(error).__name__}): check --base-url.", [key])
    # The shared sentence ends with advice for notebooks (sandbox mode); a maintainer here checks the address.
    advice = "or the address in --base-url or PERPLEXITY_BASE_URL, then run check-live again"
    return redact(sentence.replace(errors.OFFLINE_ADVICE, advice), [key])


def refusal_sentence(answer: Answer) -> str:
    """One sentence when the answer says nothing about the API's shape (a refused key, a limit, an outage)."""
    status, where = answer.status, answer.probe.path
    if status in (401, 403):
        return (
            f"The live API refused the key (HTTP {status} on {where}): check it in the API portal "
            "(console.perplexity.ai) and its credits, then run check-live again."
        )
    if status == 429:
        return f"The live API asked to slow down (HTTP 429 on {where}): run check-live again in a few minutes."
    if status >= 500:
        return f"The live API failed (HTTP {status} on {where}), an outage rather than a change: try again later."
    failure = run_failed(answer)
    if failure:
        return f"The live API's run did not finish ({failure}), an outage rather than a change: try again later."
    if 300 <= status < 400:
        return (
            f"The server redirected {where} to another address (HTTP {status}); the key is not sent there: "
            "check --base-url."
        )
    return ""


def run_failed(answer: Answer) -> str:
    """What a run that failed on the server said (HTTP 200 with status failed or cancelled, or a stream's bare
    error event), else ""."""
    last = answer.events[-1] if answer.events else {}
    response = answer.final_response()
    if last.get("type") == "error" or response.get("status") in ("failed", "cancelled"):
        error = last.get("error") or response.get("error") or last
        message = error.get("message") if isinstance(error, dict) else error
        return redact(str(message or response.get("status") or "an error event"))[:100]
    return ""


# --- comparing ------------------------------------------------------------------------------


def compare(sandbox: dict[Probe, Answer], live: dict[Probe, Answer]) -> Findings:
    """Every difference between the sandbox's answers and the live ones, probe by probe."""
    findings = Findings()
    findings.add(compare_models(sandbox[MODELS], live[MODELS]))
    findings.add(compare_answers(sandbox[AGENT], live[AGENT]))
    findings.add(compare_streams(sandbox[STREAM], live[STREAM]))
    findings.add(compare_errors(sandbox[RETIRED], live[RETIRED]))
    return findings


def compare_models(sandbox: Answer, live: Answer) -> Findings:
    """The model ids each lists (a model the sandbox lists must be listed live), then the list's shape."""
    problem = status_difference(sandbox, live) or not_json_difference(live)
    if problem:
        return Findings([problem])
    sandbox_ids, live_ids = model_ids(sandbox.json()), model_ids(live.json())
    findings = Findings(
        [f"model {model} not listed live" for model in sandbox_ids if model not in live_ids],
        [f"model {model} listed only live" for model in live_ids if model not in sandbox_ids],
    )
    return findings.add(compare_shapes(sandbox.probe.name, sandbox.json(), live.json()))


def model_ids(body: Any) -> list[str]:
    """The ``data[].id`` of a model list, in order; [] for a body of another shape."""
    data = body.get("data") if isinstance(body, dict) else None
    return [str(item["id"]) for item in data or [] if isinstance(item, dict) and "id" in item]


def compare_answers(sandbox: Answer, live: Answer) -> Findings:
    """An Agent API answer: the same status, then the same shape."""
    problem = status_difference(sandbox, live) or not_json_difference(live)
    if problem:
        return Findings([problem])
    return compare_shapes(sandbox.probe.name, sandbox.json(), live.json())


def compare_streams(sandbox: Answer, live: Answer) -> Findings:
    """A streamed answer: an event stream both times, the same event types in the same order, each the same shape."""
    name = sandbox.probe.name
    status = status_difference(sandbox, live)
    if status:
        return Findings([status])
    if not live.is_stream:
        return Findings([f"{name}: {live.content_type} live, an event stream in the sandbox"])
    if live.stream_problem:
        return Findings([f"{name}: {live.stream_problem} live"])
    sandbox_types, live_types = event_types(sandbox.events), event_types(live.events)
    findings = Findings(
        [f"{name}: event {kind} not sent live" for kind in sandbox_types if kind not in live_types],
        [f"{name}: event {kind}" for kind in live_types if kind not in sandbox_types],
    )
    in_both = [kind for kind in sandbox_types if kind in live_types]
    live_order = [kind for kind in live_types if kind in sandbox_types]
    if in_both != live_order:
        findings.differences.append(
            f"{name}: events in another order live: {', '.join(live_order)} (sandbox: {', '.join(in_both)})"
        )
    for kind in in_both:
        findings.add(compare_shapes(f"{name} {kind}", *(events_of(answer.events, kind) for answer in (sandbox, live))))
    return findings


def event_types(events: list[dict]) -> list[str]:
    """The event types in order of first arrival (a run of deltas, or any repeat, counted once)."""
    return list(dict.fromkeys(str(event.get("type", "")) for event in events))


def events_of(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event.get("type") == kind]


def compare_errors(sandbox: Answer, live: Answer) -> Findings:
    """The error envelope: its HTTP status, its shape, ``error.type`` and ``error.code``."""
    name = sandbox.probe.name
    findings = Findings()
    if live.status != sandbox.status:
        findings.differences.append(f"{name}: HTTP {live.status} live, {sandbox.status} in the sandbox")
    if live.json() is None:
        findings.differences.append(not_json_difference(live))
        return findings
    findings.add(compare_shapes(name, sandbox.json(), live.json()))
    sandbox_error, live_error = sandbox.error_info(), live.error_info()
    for part in ("type", "code"):
        if part in sandbox_error and part in live_error and sandbox_error[part] != live_error[part]:
            findings.differences.append(
                f"{name}: error.{part} {live_error[part]} live, {sandbox_error[part]} in the sandbox"
            )
    return findings


def status_difference(sandbox: Answer, live: Answer) -> str:
    """One line when the live status is not the sandbox's (with the live error's type and message), else ""."""
    if live.status == sandbox.status:
        return ""
    error = live.error_info()
    said = f"{error.get('type', '')}: {error.get('message', '')}".strip(": ")
    said = said if len(said) <= 100 else said[:97] + "..."
    return f"{sandbox.probe.name}: HTTP {live.status} live, {sandbox.status} in the sandbox" + (
        f" ({said})" if said else ""
    )


def not_json_difference(live: Answer) -> str:
    """One line when the live answer is not JSON (an HTML page from a proxy, say), else ""."""
    if live.json() is not None:
        return ""
    return f"{live.probe.name}: the answer is not JSON live ({live.content_type})"


# --- shapes -----------------------------------------------------------------------------


def schema_of(*samples: Any) -> dict:
    """The JSON schema genson infers from ``samples`` (several are merged: fields of any, types of all)."""
    builder = SchemaBuilder()
    for sample in samples:
        builder.add_object(sample)
    return builder.to_schema()


def field_types(schema: dict) -> dict[str, set[str]]:
    """Each field's path (``usage.cost``, ``output[].content[].text``) and its types, parents before children.

    The whole answer is the path "". Array items of several shapes (genson's ``anyOf``) are merged, as a
    reader of ``output[]`` meets them all. ``integer`` counts as ``number``: 0 and 0.5 are both a cost.
    """
    found: dict[str, set[str]] = {}

    def visit(node: dict, path: str) -> None:
        for member in node.get("anyOf", [node]):
            kinds = member.get("type", [])
            kinds = [kinds] if isinstance(kinds, str) else kinds
            found.setdefault(path, set()).update("number" if kind == "integer" else kind for kind in kinds)
            for name, child in member.get("properties", {}).items():
                visit(child, f"{path}.{name}" if path else name)
            if isinstance(member.get("items"), dict):
                visit(member["items"], f"{path}[]")

    visit(schema, "")
    return found


def compare_shapes(name: str, sandbox: Any, live: Any) -> Findings:
    """Fields the sandbox sends that are missing live or typed otherwise (differences), and fields only live sends.

    A field that is only ever null on one side says nothing about its type, so it is compared by presence only.
    Under a field already reported, nothing more is said about its own fields.
    """
    sandbox_fields = field_types(schema_of(*(sandbox if isinstance(sandbox, list) else [sandbox])))
    live_fields = field_types(schema_of(*(live if isinstance(live, list) else [live])))
    findings, reported = Findings(), []
    for path, kinds in sandbox_fields.items():
        if any(is_under(path, done) for done in reported):
            continue
        shown = path or "the answer"
        if path not in live_fields:
            findings.differences.append(f"{name}: {shown} missing live")
        elif (kinds - {"null"}) and (live_fields[path] - {"null"}) and kinds - {"null"} != live_fields[path] - {"null"}:
            findings.differences.append(
                f"{name}: {shown} is {' or '.join(sorted(live_fields[path] - {'null'}))} live, "
                f"{' or '.join(sorted(kinds - {'null'}))} in the sandbox"
            )
        else:
            continue
        reported.append(path)
    extra = [path for path in live_fields if path not in sandbox_fields]
    findings.live_only += [
        f"{name}: {path}" for path in extra if not any(is_under(path, other) for other in extra if other != path)
    ]
    return findings


def is_under(path: str, parent: str) -> bool:
    """Whether ``path`` is a field inside ``parent`` (``usage.cost`` in ``usage``, ``output[].id`` in ``output``)."""
    if parent == "":
        return path != ""
    return path.startswith(parent + ".") or path.startswith(parent + "[]")


# --- reporting ------------------------------------------------------------------------------


def report(findings: Findings, live: dict[Probe, Answer]) -> None:
    """Each difference in one line, what only live sends, what the live answers cost, and the verdict."""
    for line in findings.differences:
        print(line)
    if findings.live_only:
        print(LIVE_ONLY_LEGEND)
        for line in findings.live_only:
            print(f"  {line}")
    print(cost_line([live[AGENT], live[STREAM]]))
    if findings.differences:
        count = len(findings.differences)
        print(
            f"{count} difference{'s' if count > 1 else ''}: the sandbox no longer answers as the live API does. "
            "Change perplexity_sandbox to match (--record DIR keeps the live answers), then run `make record`."
        )
    else:
        print("No difference that matters: the sandbox still answers as the live API does.")


def cost_line(answers: list[Answer]) -> str:
    """What the live answers cost: the sum of their ``usage.cost.total_cost``."""
    costs = [total_cost(answer.final_response()) for answer in answers]
    known = [cost for cost in costs if cost is not None]
    if not known:
        return "Cost: unknown (no live answer reported usage.cost)."
    missing = len(costs) - len(known)
    unknown = f"; {missing} answer{'s' if missing > 1 else ''} reported no cost" if missing else ""
    answers_word = "answer" if len(known) == 1 else "answers"
    return f"Cost of the live requests: ${sum(known):.5f} (usage.cost of {len(known)} {answers_word}{unknown})."


def total_cost(response: dict) -> float | None:
    cost = (response.get("usage") or {}).get("cost") if isinstance(response.get("usage"), dict) else None
    value = cost.get("total_cost") if isinstance(cost, dict) else None
    return float(value) if isinstance(value, int | float) else None


# --- recording ------------------------------------------------------------------------------


def write_record(folder: Path, live: dict[Probe, Answer], key: Secret) -> list[Path]:
    """Write each live exchange (request and answer, headers and bodies) as JSON; return the files written.

    Credential headers (``Authorization``, cookies) are left out, and the whole text passes through
    :func:`redact` with the key itself as a secret, so neither the key nor anything shaped like one is written.
    """
    written = []
    for probe, answer in live.items():
        path = folder / f"{probe.record_as}.json"
        path.write_text(
            redact(json.dumps(exchange_record(answer), indent=2, ensure_ascii=False), [key]) + "\n", encoding="utf-8"
        )
        written.append(path)
    return written


def exchange_record(answer: Answer) -> dict:
    """One exchange as a maintainer reads it: the body as JSON where it is JSON, else as text (a stream's SSE)."""
    body = answer.json() if not answer.is_stream else None
    return {
        "request": {
            "method": answer.probe.method,
            "url": answer.url,
            "headers": without_credentials(answer.request_headers),
            "body": answer.probe.body,
        },
        "response": {
            "status": answer.status,
            "headers": without_credentials(answer.headers),
            "body": answer.text if body is None else body,
        },
    }


def without_credentials(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in CREDENTIAL_HEADERS}
