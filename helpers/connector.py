"""Creator Studio's connector and HTTP action, as plain data, and the request they produce.

A connector holds the Base URL and the auth config (here API Key Auth -> Header Auth: a header
name and a ``%s`` value pattern that the key fills in). An HTTP action adds the path, method,
headers and body. :func:`build_request` joins them into the exact HTTP request Creator Studio
sends; :func:`render_request` shows it with the key masked; :func:`run_test` sends it, as
Creator Studio's Test button does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from helpers.client import check_transport, guide_messages
from helpers.keys import mask_key, redact

GUIDE_BASE_URL = "https://api.perplexity.ai"
TEST_TIMEOUT_SECONDS = 60  # Creator Studio's limit
MAX_RESPONSE_BYTES = 200 * 1024  # Creator Studio's limit


@dataclass(frozen=True)
class HeaderAuth:
    """API Key Auth with Auth Type "Header Auth"."""

    api_key: str = field(repr=False)
    header_key: str = "Authorization"
    value_pattern: str = "Bearer %s"

    def headers(self) -> dict[str, str]:
        return {self.header_key: self.value_pattern.replace("%s", self.api_key)}

    def describe(self) -> dict[str, str]:
        return {"Auth Config": "Api Key Auth", "Api Key Auth Auth Type": "Header Auth",
                "Header Auth Key": self.header_key, "Header Auth Value Pattern": self.value_pattern,
                "Api Key": mask_key(self.api_key)}


@dataclass(frozen=True)
class Connector:
    """A Creator Studio connector: where to send requests and how to authenticate."""

    name: str
    base_url: str
    auth: HeaderAuth

    def with_base_url(self, base_url: str) -> Connector:
        return replace(self, base_url=base_url.rstrip("/"))

    def describe(self) -> dict[str, str]:
        return {"Name": self.name, "Base URL": self.base_url, **self.auth.describe()}


@dataclass(frozen=True)
class HttpAction:
    """A Creator Studio HTTP action: what to send through a connector."""

    name: str
    path: str
    method: str = "POST"
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        body = json.dumps(self.body) if self.body is not None else ""
        return {"Path": self.path, "Method": self.method, "Headers": json.dumps(self.headers), "Request Body": body}


@dataclass(frozen=True)
class BuiltRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True)
class TestResult:
    """What Creator Studio's Test shows."""

    status: int
    elapsed_ms: float
    body: Any
    successful: bool
    explanation: str = ""


def guide_connector(api_key: str) -> Connector:
    """The guide's connector, field for field."""
    return Connector("Perplexity", GUIDE_BASE_URL, HeaderAuth(api_key, "Authorization", "Bearer %s"))


def guide_legacy_action() -> HttpAction:
    """The guide's original action: ``POST /chat/completions`` with ``mistral-7b-instruct``."""
    return HttpAction("Chat completion (guide, 2024)", "/chat/completions", "POST",
                      {"model": "mistral-7b-instruct", "messages": guide_messages()},
                      {"accept": "application/json", "content-type": "application/json"})


def agent_action() -> HttpAction:
    """The same question through today's Agent API."""
    system, question = (m["content"] for m in guide_messages())
    body = {"model": "perplexity/sonar", "instructions": system, "input": question,
            "tools": [{"type": "web_search"}]}
    return HttpAction("Ask Perplexity (Agent API)", "/v1/agent", "POST", body,
                      {"accept": "application/json", "content-type": "application/json"})


def build_request(connector: Connector, action: HttpAction) -> BuiltRequest:
    """The HTTP request that the connector and the action produce together."""
    if not action.path.startswith("/"):
        raise ValueError(f"The path '{action.path}' must start with '/'.")
    headers = {**action.headers, **connector.auth.headers()}
    body = json.dumps(action.body, indent=2).encode() if action.body is not None else None
    return BuiltRequest(action.method.upper(), connector.base_url.rstrip("/") + action.path, headers, body)


def render_request(request: BuiltRequest, secrets: list[str]) -> str:
    """The request as HTTP text, with every secret masked."""
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    text = "\n".join(lines)
    if request.body is not None:
        text += "\n\n" + request.body.decode()
    return redact(text, secrets)


def run_test(connector: Connector, action: HttpAction) -> TestResult:
    """Send the action through the connector, with Creator Studio's time and size limits."""
    request = build_request(connector, action)
    check_transport(request.url)
    started = time.perf_counter()
    response = requests.request(request.method, request.url, headers=request.headers, data=request.body,
                                timeout=TEST_TIMEOUT_SECONDS, allow_redirects=False)
    elapsed = (time.perf_counter() - started) * 1000
    content = response.content[: MAX_RESPONSE_BYTES + 1]
    try:
        body: Any = json.loads(content)
    except ValueError:
        body = redact(content.decode(errors="replace")[:2000], [connector.auth.api_key])
    ok = 200 <= response.status_code < 300 and len(content) <= MAX_RESPONSE_BYTES
    return TestResult(response.status_code, elapsed, body, ok, _explain(response.status_code, len(content)))


def _explain(status: int, size: int) -> str:
    if size > MAX_RESPONSE_BYTES:
        return "The response is larger than Creator Studio's 200 KB limit."
    if 200 <= status < 300:
        return "Creator Studio shows this response; GENERATE FROM RESPONSE would derive an output schema from it."
    return {
        400: "The request was rejected: check the body (for example a retired model name).",
        401: "Authorization failed (10107): check the API key and the Header Auth Value Pattern.",
        403: "The key may not do this: check its credits and status.",
        404: "Not found: check the Base URL and the path.",
        429: "Rate limited: wait a moment and test again.",
    }.get(status, "The server failed: try again later." if status >= 500 else f"Unexpected HTTP {status}.")
