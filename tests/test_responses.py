"""The response objects: the same names on both endpoints' answers, read from the documented JSON."""

from __future__ import annotations

from helpers.responses import AgentResponse, ChatCompletion, Source

USAGE = {"input_tokens": 3, "cost": {"total_cost": 0.006}}


def test_an_agent_response_numbers_its_sources_by_their_ids() -> None:
    results = [{"id": 4, "title": "Four", "url": "https://a.example"}, {"url": "https://b.example"}]
    answer = AgentResponse(
        {
            "model": "perplexity/sonar",
            "usage": USAGE,
            "output": [
                {"type": "search_results", "results": results},
                {
                    "type": "message",
                    "content": [
                        {"type": "output_text", "text": "One "},
                        {"type": "other"},
                        {"type": "output_text", "text": "two"},
                    ],
                },
            ],
        }
    )
    assert answer.text == "One two" and answer.model == "perplexity/sonar" and answer.total_cost == 0.006
    assert answer.sources == [Source(4, "Four", "https://a.example"), Source(2, "", "https://b.example")]


def test_a_chat_completion_falls_back_to_bare_citations() -> None:
    answer = ChatCompletion(
        {"model": "sonar", "citations": ["https://a.example"], "choices": [{"message": {"content": "Hi"}}]}
    )
    assert answer.text == "Hi" and answer.sources == [Source(1, "", "https://a.example")]
    assert answer.usage == {} and answer.total_cost is None


def test_empty_answers_have_empty_parts() -> None:
    for answer in (AgentResponse({}), ChatCompletion({})):
        assert (answer.text, answer.model, answer.sources, answer.usage, answer.total_cost) == ("", "", [], {}, None)
    assert "raw" not in repr(AgentResponse({"model": "m"}))
