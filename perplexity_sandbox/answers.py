"""The sandbox's deterministic knowledge: realistic answers to the questions the notebooks ask.

Each known question has an answer that cites its sources inline as ``[web:N]`` (N matching the
source's ``id``), as the real Agent API does. Any other question gets an answer that is plainly
labelled as simulated, built from the question itself, so the same request always gives the
same answer.

Only the question's first :data:`QUESTION_HEAD_CHARS` characters are ever looked at: the answer quotes 120 of
them, and a question of megabytes split into words would otherwise cost seconds and hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from perplexity_sandbox.keys import scrub


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    snippet: str
    date: str
    last_updated: str


@dataclass(frozen=True)
class Answer:
    text: str
    sources: tuple[Source, ...] = field(default_factory=tuple)
    queries: tuple[str, ...] = field(default_factory=tuple)


GALAXY = Answer(
    text=(
        "The Milky Way contains an estimated **100 to 400 billion stars**[web:1][web:2]. "
        "The range is wide because most stars are faint red dwarfs that are hard to count, "
        "so astronomers infer the total from the galaxy's mass and its mix of star types[web:3]. "
        "A commonly quoted middle value is about 200 billion[web:2]."
    ),
    sources=(
        Source(
            "How Many Stars Are in the Milky Way? - NASA Science",
            "https://science.nasa.gov/universe/galaxies/how-many-stars-are-in-the-milky-way/",
            "Estimates of the number of stars in the Milky Way range from 100 billion to 400 billion.",
            "2025-03-14",
            "2025-06-02",
        ),
        Source(
            "Milky Way - Wikipedia",
            "https://en.wikipedia.org/wiki/Milky_Way",
            "The Milky Way is estimated to contain 100 to 400 billion stars and at least that many planets.",
            "2024-11-20",
            "2026-10-30",
        ),
        Source(
            "Gaia creates richest star map of our Galaxy - ESA",
            "https://www.esa.int/Science_Exploration/Space_Science/Gaia/Gaia_creates_richest_star_map_of_our_Galaxy_and_beyond",
            "Gaia has measured the positions of almost 1.7 billion stars, about one percent of the Galaxy's stars.",
            "2018-04-25",
            "2024-09-12",
        ),
    ),
    queries=("number of stars in the Milky Way", "Milky Way star count estimate"),
)

CAPITAL_OF_FRANCE = Answer(
    # Real non-ASCII text (accents, a dash), so clients' UTF-8 decoding is exercised.
    text="The capital of France is **Paris**[web:1], in the Île-de-France région. It is also the country’s "
    "largest city — about 2.1 million people live in the city proper[web:2].",
    sources=(
        Source(
            "Paris - Wikipedia",
            "https://en.wikipedia.org/wiki/Paris",
            "Paris is the capital and largest city of France.",
            "2024-01-10",
            "2026-10-01",
        ),
        Source(
            "France - The World Factbook",
            "https://www.cia.gov/the-world-factbook/countries/france/",
            "Capital: Paris. France is a country in Western Europe.",
            "2025-02-01",
            "2026-09-15",
        ),
    ),
    queries=("capital of France",),
)

API_KEY_SAFETY = Answer(
    text=(
        "Treat an API key like a password: keep it out of code and notebooks, store it in an "
        "environment variable or a git-ignored `.env` file, and revoke it at once if it leaks[web:1]. "
        "Rotate keys regularly and give each app its own key[web:2]."
    ),
    sources=(
        Source(
            "Best Practices for API Key Safety - OpenAI Help Center",
            "https://help.openai.com/en/articles/5112595-best-practices-for-api-key-safety",
            "Never deploy your key in client-side environments; use environment variables.",
            "2024-05-01",
            "2026-02-11",
        ),
        Source(
            "Secrets Management Cheat Sheet - OWASP",
            "https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html",
            "Rotate secrets regularly and limit each secret to one application.",
            "2023-09-18",
            "2026-04-22",
        ),
    ),
    queries=("how to keep an API key safe",),
)

WHAT_IS_AN_API_KEY = Answer(
    text=(
        "An API key is a secret string that identifies your account when a program calls an API[web:1]. "
        "Perplexity keys start with `pplx-` and are sent in the header `Authorization: Bearer <key>`; "
        "requests are billed to the key's API group[web:2]."
    ),
    sources=(
        Source(
            "What is an API key? - Cloudflare",
            "https://www.cloudflare.com/learning/security/api/what-is-api-key/",
            "An API key is a unique identifier used to authenticate a user, developer, or program to an API.",
            "2023-06-12",
            "2026-03-03",
        ),
        Source(
            "Agent API quickstart - Perplexity",
            "https://docs.perplexity.ai/docs/agent-api",
            "Navigate to the API Keys tab in the API Portal and generate a new key.",
            "2025-08-20",
            "2026-10-12",
        ),
    ),
    queries=("what is an API key",),
)

WHAT_IS_THE_AGENT_API = Answer(
    text=(
        "The Agent API (`POST /v1/agent`) is Perplexity's current API: one call picks a model, "
        "can search the web with the `web_search` tool, and returns a cited answer with its cost[web:1]. "
        "It replaced the Sonar `/chat/completions` endpoint, whose public support ended on 2026-09-27[web:2]."
    ),
    sources=(
        Source(
            "Agent API - Perplexity",
            "https://docs.perplexity.ai/docs/agent-api",
            "Access models from several providers with built-in web search and transparent pricing.",
            "2026-02-10",
            "2026-11-02",
        ),
        Source(
            "perplexityai/api-cookbook - GitHub",
            "https://github.com/perplexityai/api-cookbook",
            "Public support for Sonar chat completions ends on 2026-09-27; use the Agent API.",
            "2026-06-01",
            "2026-09-28",
        ),
    ),
    queries=("Perplexity Agent API", "Sonar chat completions end of support"),
)

KNOWN_ANSWERS: dict[str, Answer] = {
    "how many stars are there in our galaxy": GALAXY,
    "how many stars are in the milky way": GALAXY,
    "what is the capital of france": CAPITAL_OF_FRANCE,
    "how do i keep an api key safe": API_KEY_SAFETY,
    "how do i keep my api key safe": API_KEY_SAFETY,
    "what is an api key": WHAT_IS_AN_API_KEY,
    "what is the agent api": WHAT_IS_THE_AGENT_API,
    "what is the perplexity agent api": WHAT_IS_THE_AGENT_API,
}


QUESTION_HEAD_CHARS = 4096  # longer than any known question, and than the 120 characters an answer quotes


def normalise(question: str) -> str:
    """Lower-case, drop punctuation and extra spaces: small edits still find the answer."""
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", question.lower()).split())


def answer_for(question: str, with_search: bool = True) -> Answer:
    """The deterministic answer to ``question``; sources only when web search is on."""
    head = question_head(question)
    known = KNOWN_ANSWERS.get(normalise(head)) if head == question else None  # known questions are short
    answer = known or _simulated_answer(head)
    if with_search:
        return answer
    return Answer(text=re.sub(r"\[web:\d+\]", "", answer.text), sources=(), queries=())


def question_head(question: str) -> str:
    """The first QUESTION_HEAD_CHARS characters of ``question``, ending before the word the cut falls in.

    The word cut through is dropped whole, so a key that straddles the cut cannot be quoted in part: whole
    words are what :func:`~perplexity_sandbox.keys.scrub` masks.
    """
    if len(question) <= QUESTION_HEAD_CHARS:
        return question
    whole_words = _UP_TO_LAST_SPACE.match(question, 0, QUESTION_HEAD_CHARS + 1)  # one more: a cut between words?
    return whole_words[1] if whole_words else ""  # one word, cut through: none of it


_UP_TO_LAST_SPACE = re.compile(r"(.*)\s", re.DOTALL)  # \s: the spaces that end a key for scrub, too


def _simulated_answer(question: str) -> Answer:
    # The answer quotes the question: a key pasted into it comes back masked, never in full.
    topic = " ".join(scrub(question).split())[:120] or "(empty question)"
    # "surrogatepass": a lone surrogate must not make hashing fail (valid text hashes as before).
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")[:60] or "question"
    text = (
        f"[Sandbox answer] This is a simulated answer from the local sandbox, not from Perplexity. "
        f"You asked: \u201c{topic}\u201d. With a real API key, the live API would search the web "
        f"and answer with sources like this one[web:1]."
    )
    source = Source(
        f"Sandbox source for \u201c{topic[:60]}\u201d",
        f"https://sandbox.invalid/{digest}/{slug}",
        "A stand-in search result generated by the local sandbox.",
        "2026-01-01",
        "2026-01-01",
    )
    return Answer(text=text, sources=(source,), queries=(topic,))
