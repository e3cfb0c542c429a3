"""What the Perplexity API offers and answers: its model names, and the responses a learner reads.

The model lists change often, so they carry the date they were checked (``MODELS_AS_OF``); a client
asks the server (``GET /v1/models``) first and falls back to them. :class:`AgentResponse` (the Agent
API) and :class:`ChatCompletion` (the guide's legacy endpoint) keep the server's JSON in ``raw`` and
pull out the parts a learner reads, with the same names on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

CURRENT_MODEL = "perplexity/sonar"
CURRENT_LEGACY_MODEL = "sonar"
# Used only when GET /v1/models cannot be reached.
MODELS_AS_OF = "2026-11-25"
BUILTIN_AGENT_MODELS = ("perplexity/sonar", "openai/gpt-5.5", "anthropic/claude-sonnet-4-6")
AGENT_PRESETS = ("fast", "low", "medium", "high", "xhigh")
LEGACY_MODELS = ("sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research")


@dataclass(frozen=True)
class Source:
    """One numbered web source; ``[web:N]`` markers in the answer point at ``number``."""

    number: int
    title: str
    url: str
    date: str = ""


@dataclass(frozen=True)
class APIResponse(ABC):
    """What every answer has, whichever endpoint gave it: text, model, sources, usage and cost."""

    raw: dict = field(repr=False)

    @property
    @abstractmethod
    def text(self) -> str:
        """The answer's text."""

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

    @abstractmethod
    def _numbered_results(self) -> Iterator[tuple[int, dict]]:
        """Each search result of ``raw`` with the number the answer's markers use for it."""


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
        return "".join(
            part.get("text", "")
            for item in self._output("message")
            for part in item.get("content", [])
            if part.get("type") == "output_text"
        )

    def _numbered_results(self) -> Iterator[tuple[int, dict]]:
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
