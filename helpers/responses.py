"""What the Perplexity API offers and answers: its model names, and the responses a learner reads.

The model lists change often, so they carry the date they were checked (``MODELS_AS_OF``); a client
asks the server (``GET /v1/models``) first and falls back to them. :class:`AgentResponse` (the Agent
API) and :class:`ChatCompletion` (the guide's legacy endpoint) keep the server's JSON in ``raw`` and
pull out the parts a learner reads, with the same names on both.
The dated prices (:func:`price_of`) live here too, next to the cost each answer reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

CURRENT_MODEL = "perplexity/sonar"
CURRENT_LEGACY_MODEL = "sonar"
# Used only when GET /v1/models cannot be reached.
MODELS_AS_OF = "2026-11-25"
BUILTIN_AGENT_MODELS = ("perplexity/sonar", "openai/gpt-5.5", "anthropic/claude-sonnet-4-6")
AGENT_PRESETS = ("fast", "low", "medium", "high", "xhigh")
LEGACY_MODELS = ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")
# USD, dated: prices change often. Only the documented ones; other models get no estimate.
PRICES_AS_OF = "2026-11-25"
PRICES_PER_MILLION_TOKENS = {"perplexity/sonar": (0.25, 2.50), "sonar": (1.0, 1.0)}
WEB_SEARCH_PRICE = 0.005  # the top of the documented $0.0025-$0.005 per search
LEGACY_REQUEST_PRICE = 0.005  # $5 per 1K requests (low search context)


def price_of(
    model: str, input_tokens: int, output_tokens: int, *, searches: int = 0, legacy: bool = False
) -> float | None:
    """What a request costs at the dated prices (USD, 5 decimals), or None when no price is on file for ``model``.

    The legacy endpoint charges a request fee instead of a fee per web search.
    """
    if model not in PRICES_PER_MILLION_TOKENS:
        return None
    input_price, output_price = PRICES_PER_MILLION_TOKENS[model]
    fees = LEGACY_REQUEST_PRICE if legacy else searches * WEB_SEARCH_PRICE
    return round((input_tokens * input_price + output_tokens * output_price) / 1e6 + fees, 5)


@dataclass(frozen=True)
class Source:
    """One numbered web source; ``[web:N]`` markers in the answer point at ``number``."""

    number: int
    title: str
    url: str
    date: str = ""


@dataclass(frozen=True)
class APIResponse:
    """What every answer has, whichever endpoint gave it: text, model, sources, usage and cost.

    Each endpoint's class adds ``text`` and the numbering of its search results (``_numbered_results``).
    """

    raw: dict = field(repr=False)

    @property
    def model(self) -> str:
        return self.raw.get("model", "")

    @property
    def sources(self) -> list[Source]:
        return [
            Source(number, result.get("title", ""), result.get("url", ""), result.get("date", ""))
            for number, result in self._numbered_results()
        ]

    @property
    def usage(self) -> dict:
        return self.raw.get("usage") or {}

    @property
    def total_cost(self) -> float | None:
        return (self.usage.get("cost") or {}).get("total_cost")


@dataclass(frozen=True)
class AgentResponse(APIResponse):
    """An Agent API (``POST /v1/agent``) response."""

    @property
    def id(self) -> str:
        """The run's id: ``retrieve_response(id)`` reads a stored or background run again."""
        return self.raw.get("id", "")

    @property
    def status(self) -> str:
        return self.raw.get("status", "")

    @property
    def text(self) -> str:
        """All ``output_text`` parts of the message items, joined (the SDK's ``output_text``)."""
        parts = (part for item in self._output("message") for part in item.get("content", []))
        return "".join(part.get("text", "") for part in parts if part.get("type") == "output_text")

    def _numbered_results(self) -> Iterator[tuple[int, dict]]:
        """Each search result with the number the answer's ``[web:N]`` markers use: its id, else its place."""
        for item in self._output("search_results"):
            for position, result in enumerate(item.get("results", []), start=1):
                yield result.get("id", position), result

    def _output(self, kind: str) -> Iterator[dict]:
        return (item for item in self.raw.get("output", []) if item.get("type") == kind)


@dataclass(frozen=True)
class ChatCompletion(APIResponse):
    """A legacy ``/chat/completions`` response."""

    @property
    def text(self) -> str:
        choices = self.raw.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content", "")

    def _numbered_results(self) -> Iterator[tuple[int, dict]]:
        # Older answers list bare URLs in ``citations`` instead of ``search_results``.
        results = self.raw.get("search_results") or [{"url": url} for url in self.raw.get("citations", [])]
        return enumerate(results, start=1)


# Either endpoint's answer: what a stream is folded into and what a notebook shows.
Answer = AgentResponse | ChatCompletion
